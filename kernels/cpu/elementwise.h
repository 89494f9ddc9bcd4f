// CPU elementwise kernels: unary maps and broadcasting binary / ternary maps.
#pragma once
#include <cstdint>

#include "kernels/cpu/parallel.h"

namespace orbit::cpu {

constexpr int64_t kElementGrain = 1 << 15;

// f(b, e) over [0, n) in blocks of 1024 elements, on the thread pool.
template <class F>
void for_element_blocks(int64_t n, F f) {
  parallel_for((n + 1023) / 1024, kElementGrain / 1024, [&](int64_t blk) {
    const int64_t b = blk * 1024, e = b + 1024 < n ? b + 1024 : n;
    f(b, e);
  });
}

template <class T, class F>
void map_unary(const T* x, T* y, int64_t n, F f) {
  for_element_blocks(n, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) y[i] = f(x[i]);
  });
}

// out[i] = f(a[off_a(i)], b[off_b(i)]) over the iteration space `it` (rank >= 1 rows of the last dim).
template <class T, class F>
void map_binary(const T* a, const T* b, T* out, const Strided& it, F f) {
  int64_t n = it.numel();
  if (n == 0) return;
  if (it.rank == 0) {
    out[0] = f(a[0], b[0]);
    return;
  }
  int64_t inner = it.shape[it.rank - 1];
  int64_t sa = it.stride[0][it.rank - 1], sb = it.stride[1][it.rank - 1];
  int64_t rows = n / inner;
  parallel_for(rows, kElementGrain / (inner > 0 ? inner : 1) + 1, [&](int64_t r) {
    const T* pa = a + it.offset(0, r * inner);
    const T* pb = b + it.offset(1, r * inner);
    T* po = out + r * inner;
    if (sa == 1 && sb == 1)
      for (int64_t i = 0; i < inner; ++i) po[i] = f(pa[i], pb[i]);
    else
      for (int64_t i = 0; i < inner; ++i) po[i] = f(pa[i * sa], pb[i * sb]);
  });
}

template <class T, class F>
void map_ternary(const T* a, const T* b, const T* c, T* out, const Strided& it, F f) {
  int64_t n = it.numel();
  parallel_for(n, kElementGrain, [&](int64_t i) {
    out[i] = f(a[it.offset(0, i)], b[it.offset(1, i)], c[it.offset(2, i)]);
  });
}

}  // namespace orbit::cpu
