// Naive f64 reference implementations for the op harness: plain loops over a tiny n-d array type,
// written independently of the engine's kernels (no strides tricks, no shared code).
#pragma once
#include <cmath>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <vector>

namespace orbit::testing {

struct Nd {
  std::vector<int64_t> shape;
  std::vector<double> v;

  Nd() = default;
  Nd(std::vector<int64_t> s, double fill = 0) : shape(std::move(s)), v(count(shape), fill) {}
  static int64_t count(const std::vector<int64_t>& s) {
    int64_t n = 1;
    for (auto d : s) n *= d;
    return n;
  }
  int64_t numel() const { return static_cast<int64_t>(v.size()); }
  int rank() const { return static_cast<int>(shape.size()); }
  // Multi-index of flat position i, and back.
  std::vector<int64_t> unflat(int64_t i) const {
    std::vector<int64_t> idx(shape.size());
    for (int d = rank() - 1; d >= 0; --d) {
      idx[d] = i % shape[d];
      i /= shape[d];
    }
    return idx;
  }
  int64_t flat(const std::vector<int64_t>& idx) const {
    int64_t f = 0;
    for (int d = 0; d < rank(); ++d) f = f * shape[d] + idx[d];
    return f;
  }
  double& at(const std::vector<int64_t>& idx) { return v[flat(idx)]; }
  double at(const std::vector<int64_t>& idx) const { return v[flat(idx)]; }
};

inline Nd map1(const Nd& a, const std::function<double(double)>& f) {
  Nd r(a.shape);
  for (int64_t i = 0; i < a.numel(); ++i) r.v[i] = f(a.v[i]);
  return r;
}

inline std::vector<int64_t> bshape(const std::vector<const Nd*>& xs) {
  size_t r = 0;
  for (auto x : xs) r = std::max(r, x->shape.size());
  std::vector<int64_t> out(r, 1);
  for (auto x : xs)
    for (size_t k = 0; k < x->shape.size(); ++k) {
      int64_t& o = out[r - x->shape.size() + k];
      int64_t d = x->shape[k];
      if (d != 1) o = d;
    }
  return out;
}

// Value of x at the output multi-index `idx` under numpy broadcasting.
inline double bread(const Nd& x, const std::vector<int64_t>& idx) {
  std::vector<int64_t> own(x.shape.size());
  size_t lead = idx.size() - x.shape.size();
  for (size_t k = 0; k < x.shape.size(); ++k) own[k] = x.shape[k] == 1 ? 0 : idx[lead + k];
  return x.at(own);
}

inline Nd mapn(const std::vector<const Nd*>& xs, const std::function<double(const std::vector<double>&)>& f) {
  Nd r(bshape(xs));
  std::vector<double> args(xs.size());
  for (int64_t i = 0; i < r.numel(); ++i) {
    auto idx = r.unflat(i);
    for (size_t k = 0; k < xs.size(); ++k) args[k] = bread(*xs[k], idx);
    r.v[i] = f(args);
  }
  return r;
}

enum class RefReduce { sum, mean, max, logsumexp };

inline Nd reduce_ref(const Nd& x, std::vector<int64_t> axes, bool keepdims, RefReduce kind) {
  if (axes.empty())
    for (int i = 0; i < x.rank(); ++i) axes.push_back(i);
  std::vector<bool> red(x.rank(), false);
  for (auto a : axes) red[a < 0 ? a + x.rank() : a] = true;
  std::vector<int64_t> ks;
  for (int i = 0; i < x.rank(); ++i) ks.push_back(red[i] ? 1 : x.shape[i]);
  Nd kept(ks, 0);
  std::vector<std::vector<double>> groups(kept.numel());
  for (int64_t i = 0; i < x.numel(); ++i) {
    auto idx = x.unflat(i);
    for (int d = 0; d < x.rank(); ++d)
      if (red[d]) idx[d] = 0;
    groups[kept.flat(idx)].push_back(x.v[i]);
  }
  for (int64_t o = 0; o < kept.numel(); ++o) {
    auto& gv = groups[o];
    double r = 0;
    if (kind == RefReduce::max) {
      r = -INFINITY;
      for (double e : gv) r = std::max(r, e);
    } else if (kind == RefReduce::logsumexp) {
      double s = 0;
      for (double e : gv) s += std::exp(e);
      r = std::log(s);
    } else {
      for (double e : gv) r += e;
      if (kind == RefReduce::mean) r /= static_cast<double>(gv.size());
    }
    kept.v[o] = r;
  }
  if (keepdims) return kept;
  std::vector<int64_t> s;
  for (int i = 0; i < x.rank(); ++i)
    if (!red[i]) s.push_back(x.shape[i]);
  kept.shape = s;
  return kept;
}

inline Nd softmax_ref(const Nd& x, int axis) {
  Nd r(x.shape);
  for (int64_t i = 0; i < x.numel(); ++i) {
    auto idx = x.unflat(i);
    double m = -INFINITY, s = 0;
    auto j = idx;
    for (j[axis] = 0; j[axis] < x.shape[axis]; ++j[axis]) m = std::max(m, x.at(j));
    for (j[axis] = 0; j[axis] < x.shape[axis]; ++j[axis]) s += std::exp(x.at(j) - m);
    r.v[i] = std::exp(x.v[i] - m) / s;
  }
  return r;
}

inline Nd transpose_last2(const Nd& x) {
  auto s = x.shape;
  std::swap(s[s.size() - 1], s[s.size() - 2]);
  Nd r(s);
  for (int64_t i = 0; i < r.numel(); ++i) {
    auto idx = r.unflat(i);
    std::swap(idx[idx.size() - 1], idx[idx.size() - 2]);
    r.v[i] = x.at(idx);
  }
  return r;
}

inline Nd matmul_ref(Nd a, Nd b, bool ta, bool tb) {
  if (ta) a = transpose_last2(a);
  if (tb) b = transpose_last2(b);
  int64_t m = a.shape[a.rank() - 2], k = a.shape[a.rank() - 1], n = b.shape[b.rank() - 1];
  Nd ab, bb;
  ab.shape.assign(a.shape.begin(), a.shape.end() - 2);
  bb.shape.assign(b.shape.begin(), b.shape.end() - 2);
  auto batch = bshape({&ab, &bb});
  auto os = batch;
  os.push_back(m);
  os.push_back(n);
  Nd r(os);
  for (int64_t i = 0; i < r.numel(); ++i) {
    auto idx = r.unflat(i);
    std::vector<int64_t> bi(idx.begin(), idx.end() - 2);
    auto aidx = std::vector<int64_t>(a.rank()), bidx = std::vector<int64_t>(b.rank());
    for (int d = 0; d < a.rank() - 2; ++d)
      aidx[d] = a.shape[d] == 1 ? 0 : bi[bi.size() - (a.rank() - 2) + d];
    for (int d = 0; d < b.rank() - 2; ++d)
      bidx[d] = b.shape[d] == 1 ? 0 : bi[bi.size() - (b.rank() - 2) + d];
    double s = 0;
    for (int64_t kk = 0; kk < k; ++kk) {
      aidx[a.rank() - 2] = idx[idx.size() - 2];
      aidx[a.rank() - 1] = kk;
      bidx[b.rank() - 2] = kk;
      bidx[b.rank() - 1] = idx[idx.size() - 1];
      s += a.at(aidx) * b.at(bidx);
    }
    r.v[i] = s;
  }
  return r;
}

// Generic index map: out[idx] = x[src(idx)] or `fill` when src returns false.
inline Nd index_map(const Nd& x, std::vector<int64_t> out_shape,
                    const std::function<bool(const std::vector<int64_t>&, std::vector<int64_t>&)>& src,
                    double fill = 0) {
  Nd r(std::move(out_shape));
  std::vector<int64_t> s(x.shape.size());
  for (int64_t i = 0; i < r.numel(); ++i) r.v[i] = src(r.unflat(i), s) ? x.at(s) : fill;
  return r;
}

inline Nd segment_ref(const Nd& x, const std::vector<int64_t>& ids, int64_t nseg, int axis, bool mean) {
  auto s = x.shape;
  s[axis] = nseg;
  Nd r(s), cnt(std::vector<int64_t>{nseg});
  for (auto id : ids) cnt.v[id] += 1;
  for (int64_t i = 0; i < x.numel(); ++i) {
    auto idx = x.unflat(i);
    idx[axis] = ids[idx[axis]];
    r.at(idx) += x.v[i];
  }
  if (mean)
    for (int64_t i = 0; i < r.numel(); ++i) {
      double c = cnt.v[r.unflat(i)[axis]];
      if (c > 0) r.v[i] /= c;
    }
  return r;
}

}  // namespace orbit::testing
