// CPU reductions over a set of axes, and softmax along one axis.
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "kernels/cpu/parallel.h"

namespace orbit::cpu {

enum class ReduceKind { sum, mean, max, logsumexp };

// The input split into kept dims (one output element each) and reduced dims (looped over).
struct ReducePlan {
  Strided kept;     // shape of the kept dims; stride[0] = input strides of those dims
  Strided reduced;  // shape of the reduced dims; stride[0] = input strides of those dims
};

// Visits the input offsets of the reduced block in row-major order without divisions.
template <class F>
inline void for_each_reduced(const Strided& r, int64_t base, F&& f) {
  int64_t idx[Strided::kMax] = {};
  int64_t n = r.numel();
  int64_t off = base;
  for (int64_t j = 0; j < n; ++j) {
    f(off);
    for (int d = r.rank - 1; d >= 0; --d) {
      off += r.stride[0][d];
      if (++idx[d] < r.shape[d]) break;
      off -= r.stride[0][d] * r.shape[d];
      idx[d] = 0;
    }
  }
}

template <class T>
void reduce(const T* x, T* out, const ReducePlan& p, ReduceKind kind) {
  using Acc = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;
  int64_t nout = p.kept.numel(), nred = p.reduced.numel();
  parallel_for(nout, 1 + (1 << 14) / (nred > 0 ? nred : 1), [&](int64_t o) {
    int64_t base = p.kept.offset(0, o);
    if (kind == ReduceKind::max) {
      T m = nred > 0 ? x[base] : T(0);
      if constexpr (std::is_floating_point_v<T>)
        if (nred == 0) m = -std::numeric_limits<T>::infinity();
      for_each_reduced(p.reduced, base, [&](int64_t off) {
        if (x[off] > m || x[off] != x[off]) m = x[off];  // NaN propagates
      });
      out[o] = m;
    } else if (kind == ReduceKind::logsumexp) {
      if constexpr (std::is_floating_point_v<T>) {
        T m = -std::numeric_limits<T>::infinity();
        for_each_reduced(p.reduced, base, [&](int64_t off) { m = x[off] > m ? x[off] : m; });
        if (!std::isfinite(m)) {
          out[o] = m;  // all -inf gives -inf; +inf or NaN propagate
          return;
        }
        double s = 0;
        for_each_reduced(p.reduced, base, [&](int64_t off) { s += std::exp(double(x[off]) - double(m)); });
        out[o] = static_cast<T>(double(m) + std::log(s));
      }
    } else {
      Acc s = 0;
      for_each_reduced(p.reduced, base, [&](int64_t off) { s += static_cast<Acc>(x[off]); });
      if (kind == ReduceKind::mean) s = nred > 0 ? s / static_cast<Acc>(nred) : Acc(0);
      out[o] = static_cast<T>(s);
    }
  });
}

// Softmax over the middle dim of [outer, n, inner].
template <class T>
void softmax(const T* x, T* y, int64_t outer, int64_t n, int64_t inner) {
  parallel_for(outer * inner, 1 + (1 << 14) / (n > 0 ? n : 1), [&](int64_t oi) {
    int64_t o = oi / inner, i = oi % inner;
    const T* px = x + o * n * inner + i;
    T* py = y + o * n * inner + i;
    T m = -std::numeric_limits<T>::infinity();
    for (int64_t k = 0; k < n; ++k) m = px[k * inner] > m ? px[k * inner] : m;
    double s = 0;
    for (int64_t k = 0; k < n; ++k) s += std::exp(double(px[k * inner]) - double(m));
    for (int64_t k = 0; k < n; ++k) py[k * inner] = static_cast<T>(std::exp(double(px[k * inner]) - double(m)) / s);
  });
}

}  // namespace orbit::cpu
