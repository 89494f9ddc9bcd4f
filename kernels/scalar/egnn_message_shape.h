// The problem shape of the fused EGNN message-passing op (engine/egnn_message.h), shared by its CPU
// kernel (kernels/cpu/egnn_message.h) and its CUDA kernel's descriptor (kernels/cuda/egnn_message.h).
#pragma once
#include <cstdint>

namespace orbit::scalar {

struct EgnnMsgShape {
  int64_t B = 0, n = 0, d = 0, H = 0, E = 0;
  bool attention = false, norm_diff = false, tanh = false, self_loops = false;
  double coords_range = 1.0, coord_clamp = 0.0;
};

}  // namespace orbit::scalar
