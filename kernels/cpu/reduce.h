// CPU reductions over a set of axes, and softmax along one axis.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include "kernels/cpu/parallel.h"
#include "kernels/cpu/sum.h"

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

// True when the kept dims are the contiguous trailing block of the input and the reduced dims the
// contiguous leading block, i.e. the input is [nred, nout] reduced over its rows (bias gradients,
// sum_to_shape over leading broadcast dims).
inline bool reduces_leading_rows(const ReducePlan& p) {
  int64_t expect = 1;
  for (int d = p.kept.rank - 1; d >= 0; --d) {
    if (p.kept.shape[d] != 1 && p.kept.stride[0][d] != expect) return false;
    expect *= p.kept.shape[d];
  }
  for (int d = p.reduced.rank - 1; d >= 0; --d) {
    if (p.reduced.shape[d] != 1 && p.reduced.stride[0][d] != expect) return false;
    expect *= p.reduced.shape[d];
  }
  return true;
}

template <class T>
void reduce(const T* x, T* out, const ReducePlan& p, ReduceKind kind) {
  using Acc = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;
  int64_t nout = p.kept.numel(), nred = p.reduced.numel();
  if ((kind == ReduceKind::sum || kind == ReduceKind::mean) && nred > 1 && nout > 1 && reduces_leading_rows(p)) {
    // Row by row through memory instead of one strided column walk per output, without a cache miss per
    // element. Few column blocks over many rows (bias gradients: [E, 128] -> [128]) would leave threads
    // idle, so the rows are split into ranges whose count follows the shape alone (never the thread
    // count: the result has the same bits on any number of threads); the ranges' partial sums are
    // added in range order. The same ranges as kernels/cpu/fused.cpp's fused_reduce_rows, so fused and
    // unfused sums agree bit for bit.
    constexpr int64_t kBlock = 256;
    const int64_t cblocks = (nout + kBlock - 1) / kBlock;
    const int64_t ranges = nout <= kBlock && nred * nout >= (int64_t(1) << 16) ? range_count(nred * nout) : 1;
    const int64_t rows_per = (nred + ranges - 1) / ranges;
    std::vector<Acc> part(ranges > 1 ? static_cast<size_t>(ranges * nout) : 0);
    const int64_t grain = ranges > 1 ? 1 : 1 + (1 << 14) / (nred * kBlock);
    parallel_for(cblocks * ranges, grain, [&](int64_t task) {
      const int64_t blk = task % cblocks, rg = task / cblocks;
      const int64_t k0 = blk * kBlock, k1 = k0 + kBlock < nout ? k0 + kBlock : nout;
      const int64_t r0 = rg * rows_per, r1 = r0 + rows_per < nred ? r0 + rows_per : nred;
      Acc acc[kBlock] = {};
      for (int64_t r = r0; r < r1; ++r) {
        const T* row = x + r * nout;
        for (int64_t k = k0; k < k1; ++k) acc[k - k0] += static_cast<Acc>(row[k]);
      }
      if (ranges > 1) {
        std::copy(acc, acc + (k1 - k0), part.data() + rg * nout + k0);
        return;
      }
      for (int64_t k = k0; k < k1; ++k) {
        Acc s = acc[k - k0];
        if (kind == ReduceKind::mean) s = s / static_cast<Acc>(nred);
        out[k] = static_cast<T>(s);
      }
    });
    if (ranges > 1)
      parallel_for(nout, 4096, [&](int64_t k) {
        Acc s = 0;
        for (int64_t rg = 0; rg < ranges; ++rg) s += part[static_cast<size_t>(rg * nout + k)];
        if (kind == ReduceKind::mean) s = s / static_cast<Acc>(nred);
        out[k] = static_cast<T>(s);
      });
    return;
  }
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
      if constexpr (std::is_floating_point_v<T>) {
        Sum8 acc;  // the fused reduction's grouping (kernels/cpu/sum.h)
        if (p.reduced.rank > 0 && p.reduced.stride[0][p.reduced.rank - 1] == 1) {
          // Contiguous runs along the last reduced dim, handed over whole (the accumulators vectorise).
          Strided outer = p.reduced;
          const int64_t run = outer.shape[outer.rank - 1];
          outer.shape[outer.rank - 1] = 1;
          for_each_reduced(outer, base, [&](int64_t off) { acc.add(x + off, run); });
        } else {
          for_each_reduced(p.reduced, base, [&](int64_t off) { acc.add_one(static_cast<double>(x[off])); });
        }
        s = acc.total();
      } else {
        for_each_reduced(p.reduced, base, [&](int64_t off) { s += static_cast<Acc>(x[off]); });
      }
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
