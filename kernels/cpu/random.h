// CPU random fills from the shared Philox stream (bit-identical to the CUDA kernels).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "kernels/cpu/parallel.h"
#include "kernels/scalar/random.h"

namespace orbit::cpu {

// scalar::random_normal<double>(seed, stream, run, first + i) for i in [0, count), at the CPU's vector
// width (kernels/cpu/isa/random_normal.h); the same bits on every instruction-set variant.
void random_normals_f64(uint64_t seed, uint64_t stream, uint64_t run, uint64_t first, int64_t count, double* out);

template <class T>
void random_fill(T* out, int64_t n, uint64_t seed, uint64_t stream, uint64_t run, bool normal) {
  if (!normal) {
    parallel_for(n, 1 << 14, [&](int64_t i) { out[i] = scalar::random_uniform<T>(seed, stream, run, i); });
    return;
  }
  constexpr int64_t kBlock = 1024;
  parallel_for((n + kBlock - 1) / kBlock, 16, [&](int64_t blk) {
    double buf[kBlock];
    const int64_t i0 = blk * kBlock, m = std::min(kBlock, n - i0);
    random_normals_f64(seed, stream, run, static_cast<uint64_t>(i0), m, buf);
    for (int64_t i = 0; i < m; ++i) out[i0 + i] = static_cast<T>(buf[i]);
  });
}

}  // namespace orbit::cpu
