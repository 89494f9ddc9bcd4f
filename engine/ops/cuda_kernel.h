// The CUDA kernel of a custom op (one registered outside the built-in list), wrapped as every
// built-in's is (engine/ops/cuda_common.cuh's bind): with ORBIT_CUDA_SYNC=1 it synchronises after the
// op; a CudaFailure or any other non-orbit exception becomes "op '<op>' at node '<node>' on cuda:0:
// <what>"; orbit::Errors pass unchanged. CUDA builds only.
#pragma once
#if defined(ORBIT_WITH_CUDA)
#include <cuda_runtime_api.h>

#include <exception>
#include <string>

#include "engine/error.h"
#include "engine/op_registry.h"
#include "kernels/cuda/runtime.h"

namespace orbit::detail {

template <class Body>
Kernel cuda_kernel(std::string op, Body body) {
  return [op = std::move(op), body](KernelCtx& k) {
    try {
      body(k);
      if (cuda::sync_every_op()) cuda::sync(static_cast<cudaStream_t>(k.stream));
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      throw Error(cat("op '", op, "' at node '", k.node.name, "' on cuda:0: ", e.what()));
    }
  };
}

}  // namespace orbit::detail
#endif  // ORBIT_WITH_CUDA
