// Turns static shapes into the plain iteration descriptors that kernels take (kernels know no Shape).
#pragma once
#include "engine/shape.h"
#include "kernels/cpu/parallel.h"

namespace orbit::detail {

// Element strides of `in` read as if broadcast to `out` (0 along broadcast dims).
inline void broadcast_strides(const Shape& in, const Shape& out, int64_t* stride) {
  auto s = in.strides();
  int lead = out.rank() - in.rank();
  for (int i = 0; i < out.rank(); ++i) {
    int k = i - lead;
    stride[i] = (k < 0 || in[k] == 1) ? 0 : s[k];
  }
}

// Iteration over `out` with operand k reading `ins[k]` broadcast.
inline cpu::Strided broadcast_plan(const Shape& out, std::initializer_list<Shape> ins) {
  cpu::Strided it;
  it.rank = out.rank();
  for (int i = 0; i < out.rank(); ++i) it.shape[i] = out[i];
  int k = 0;
  for (auto& s : ins) broadcast_strides(s, out, it.stride[k++]);
  return it;
}

// Iteration over `shape` writing with strides `dst` and reading with strides `src`.
inline cpu::Strided copy_plan(const Shape& shape, const int64_t* dst, const int64_t* src) {
  cpu::Strided it;
  it.rank = shape.rank();
  for (int i = 0; i < shape.rank(); ++i) {
    it.shape[i] = shape[i];
    it.stride[0][i] = dst[i];
    it.stride[1][i] = src[i];
  }
  return it;
}

// outer x len(axis) x inner decomposition of a shape (softmax, gather, segment reductions).
inline void split_at(const Shape& s, int axis, int64_t& outer, int64_t& inner) {
  outer = inner = 1;
  for (int i = 0; i < axis; ++i) outer *= s[i];
  for (int i = axis + 1; i < s.rank(); ++i) inner *= s[i];
}

// A (batched, broadcast) matrix product out[b] = op(a[b]) op(b[b]) in row-major terms: the matrix sizes
// and, per output batch dim, the element strides between consecutive matrices of a and of b (0 where
// that operand broadcasts).
struct MatmulPlan {
  int64_t m = 0, n = 0, k = 0;
  Shape batch;
  int64_t stride_a[Shape::kMaxRank] = {}, stride_b[Shape::kMaxRank] = {};
};

inline MatmulPlan matmul_plan(const Shape& a, const Shape& b, const Shape& out, bool trans_a) {
  MatmulPlan p;
  const int ro = out.rank();
  p.m = out[ro - 2];
  p.n = out[ro - 1];
  p.k = trans_a ? a[a.rank() - 2] : a[a.rank() - 1];
  p.batch = Shape(std::vector<int64_t>(out.begin(), out.end() - 2));
  Shape ba(std::vector<int64_t>(a.begin(), a.end() - 2)), bb(std::vector<int64_t>(b.begin(), b.end() - 2));
  broadcast_strides(ba, p.batch, p.stride_a);
  broadcast_strides(bb, p.batch, p.stride_b);
  const int64_t mat_a = a[a.rank() - 1] * a[a.rank() - 2], mat_b = b[b.rank() - 1] * b[b.rank() - 2];
  for (int d = 0; d < p.batch.rank(); ++d) {
    p.stride_a[d] *= mat_a;
    p.stride_b[d] *= mat_b;
  }
  return p;
}

// Calls f.template operator()<U>() with an unsigned type of the dtype's width (for pure data movement).
template <class F>
decltype(auto) dispatch_bytes(DType dt, F&& f) {
  if (dtype_size(dt) == 4) return f.template operator()<uint32_t>();
  return f.template operator()<uint64_t>();
}

}  // namespace orbit::detail
