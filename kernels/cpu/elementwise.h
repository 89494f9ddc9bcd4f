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
void map_binary(const T* a, const T* b, T* out, const Strided& plan, F f) {
  if (plan.numel() == 0) return;
  if (plan.rank == 0) {
    out[0] = f(a[0], b[0]);
    return;
  }
  const Strided it = coalesced(plan, 2);  // [N, 3, 1] * [N, 1, 1]: rows of 3, not of 1
  const int64_t inner = it.shape[it.rank - 1];
  const int64_t sa = it.stride[0][it.rank - 1], sb = it.stride[1][it.rank - 1];
  parallel_rows<2>(it, kElementGrain, [&](int64_t r, const int64_t* off, int64_t c0, int64_t c1) {
    const T* pa = a + off[0];
    const T* pb = b + off[1];
    T* po = out + r * inner;
    if (sa == 1 && sb == 1)
      for (int64_t i = c0; i < c1; ++i) po[i] = f(pa[i], pb[i]);
    else if (sa == 1 && sb == 0)
      for (int64_t i = c0; i < c1; ++i) po[i] = f(pa[i], pb[0]);
    else if (sa == 0 && sb == 1)
      for (int64_t i = c0; i < c1; ++i) po[i] = f(pa[0], pb[i]);
    else
      for (int64_t i = c0; i < c1; ++i) po[i] = f(pa[i * sa], pb[i * sb]);
  });
}

template <class T, class F>
void map_ternary(const T* a, const T* b, const T* c, T* out, const Strided& plan, F f) {
  if (plan.numel() == 0) return;
  if (plan.rank == 0) {
    out[0] = f(a[0], b[0], c[0]);
    return;
  }
  const Strided it = coalesced(plan, 3);
  const int64_t inner = it.shape[it.rank - 1];
  const int64_t sa = it.stride[0][it.rank - 1], sb = it.stride[1][it.rank - 1], sc = it.stride[2][it.rank - 1];
  parallel_rows<3>(it, kElementGrain, [&](int64_t r, const int64_t* off, int64_t c0, int64_t c1) {
    const T *pa = a + off[0], *pb = b + off[1], *pc = c + off[2];
    T* po = out + r * inner;
    for (int64_t i = c0; i < c1; ++i) po[i] = f(pa[i * sa], pb[i * sb], pc[i * sc]);
  });
}

}  // namespace orbit::cpu
