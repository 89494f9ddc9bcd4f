// CUDA kernels of the fused EGNN message-passing op (engine/egnn_message.h). Correctness first and
// deterministic (no atomics): the forward runs one block per receiver (b, i) looping over its senders j
// in order, H threads (one per hidden unit), the H x H products as per-thread dot products over shared
// vectors, the sums over j in registers. The backward runs one block per graph b looping over its edges
// (i, j) in order: the node gradients of graph b belong to that block alone, the weight gradients
// accumulate into a per-block partial (each thread owns its columns) that a second kernel reduces over
// the blocks in block order. NOT YET RUN ON A GPU (written and compiled without one; the host tests run
// the kernels' source under the CUDA emulator against the CPU kernel, tests/test_emu_egnn.cpp,
// and the op harness's gpu suite compares them with it on a GPU).
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/cuda/kernels.h"
#include "kernels/scalar/egnn_message_shape.h"

namespace orbit::cuda {

using scalar::kEgnnA;  // the input slots (kernels/scalar/egnn_message_shape.h)
using scalar::kEgnnBatt;
using scalar::kEgnnInputs;
using scalar::kEgnnWa;
using scalar::kEgnnWatt;
constexpr int64_t kEgnnMaxHidden = 1024;  // H <= one block's threads

struct EgnnMsgDesc : scalar::EgnnMsgShape {
  // P, Q, x, w_r, W2, b2, W3, b3, w4, a, W_a, w_att, b_att (absent ones null)
  const void* in[kEgnnInputs] = {};
};

// out [B, n, H + d]. f32 with H in {32, 64, 128}, d <= 4 and E <= 8 runs the tensor-core forward
// (kernels/cuda/egnn_message_tc.cu) where the device allows it (sm_80+; ORBIT_EGNN_CUDA_TC=0 turns it off).
void egnn_message_forward(Elem t, const EgnnMsgDesc& d, void* out, cudaStream_t s);
// The tensor-core forward alone: false, with nothing enqueued, where it does not apply.
bool egnn_message_forward_tc(const EgnnMsgDesc& d, float* out, cudaStream_t s);
// G [B, n, H + d]; grads[k]: the gradient of input slot k (null for absent inputs), overwritten. f32 at
// the tensor-core forward's shapes runs the tensor-core backward (kernels/cuda/egnn_message_tc_bwd_kernel.cuh).
void egnn_message_backward(Elem t, const EgnnMsgDesc& d, const void* G, void* const* grads, cudaStream_t s);
// The tensor-core backward alone: false, with nothing enqueued, where it does not apply.
bool egnn_message_backward_tc(const EgnnMsgDesc& d, const float* G, void* const* grads, cudaStream_t s);

}  // namespace orbit::cuda
