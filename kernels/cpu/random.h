// CPU random fills from the shared Philox stream (bit-identical to the CUDA kernels).
#pragma once
#include <cmath>
#include <cstdint>

#include "kernels/cpu/parallel.h"
#include "kernels/scalar/random.h"

namespace orbit::cpu {

template <class T>
void random_fill(T* out, int64_t n, uint64_t seed, uint64_t stream, uint64_t run, bool normal) {
  parallel_for(n, 1 << 14, [&](int64_t i) {
    out[i] = normal ? scalar::random_normal<T>(seed, stream, run, i)
                    : scalar::random_uniform<T>(seed, stream, run, i);
  });
}

}  // namespace orbit::cpu
