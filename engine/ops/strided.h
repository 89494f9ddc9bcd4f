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

// Calls f.template operator()<U>() with an unsigned type of the dtype's width (for pure data movement).
template <class F>
decltype(auto) dispatch_bytes(DType dt, F&& f) {
  if (dtype_size(dt) == 4) return f.template operator()<uint32_t>();
  return f.template operator()<uint64_t>();
}

}  // namespace orbit::detail
