// Helpers of the CUDA op bindings (engine/ops/cuda_*.cu): dtype and descriptor conversion, and the
// guard that turns a failed CUDA call into an orbit::Error naming the op, the node and the call.
#pragma once
#include <cuda_runtime.h>

#include <cstdlib>
#include <cstring>
#include <exception>
#include <utility>

#include "engine/ops/register.h"
#include "engine/ops/strided.h"
#include "kernels/cuda/kernels.h"
#include "kernels/cuda/runtime.h"

namespace orbit::detail::cuda_ops {

inline cuda::Elem elem(DType t) {
  switch (t) {
    case DType::f32: return cuda::Elem::f32;
    case DType::f64: return cuda::Elem::f64;
    case DType::i32: return cuda::Elem::i32;
    case DType::i64: return cuda::Elem::i64;
  }
  throw Error("corrupt dtype");
}

inline cudaStream_t stream(const KernelCtx& k) { return static_cast<cudaStream_t>(k.stream); }

inline cuda::Iter iter(const cpu::Strided& s) {
  cuda::Iter it;
  it.rank = s.rank;
  for (int d = 0; d < s.rank; ++d) {
    it.shape[d] = s.shape[d];
    for (int k = 0; k < 3; ++k) it.stride[k][d] = s.stride[k][d];
  }
  return it;
}

// The element pointer `offset` elements into t's data.
inline void* at(const Tensor& t, int64_t offset) {
  return static_cast<char*>(t.raw()) + offset * static_cast<int64_t>(dtype_size(t.dtype()));
}

inline bool env_on(const char* name) {
  const char* v = std::getenv(name);
  return v && *v && std::strcmp(v, "0") != 0;
}

// Registers the CUDA kernel of `op`. A CudaFailure (or any non-orbit exception) becomes
// "op 'name' at node 'node' on cuda:0: <call> failed: <reason>"; orbit::Errors pass unchanged.
template <class Body>
void bind(OpRegistry& r, Op op, Body body) {
  OpDef& def = r.mutable_get(id(op));
  std::string name = def.name;
  def.kernels[static_cast<int>(Device::Kind::cuda)] = [name, body](KernelCtx& k) {
    try {
      body(k);
      if (cuda::sync_every_op()) cuda::sync(stream(k));
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      throw Error(detail::cat("op '", name, "' at node '", k.node.name, "' on cuda:0: ", e.what()));
    }
  };
}

}  // namespace orbit::detail::cuda_ops
