// The problem shape of the fused EGNN message-passing op (engine/egnn_message.h), shared by its CPU
// kernel (kernels/cpu/egnn_message.h) and its CUDA kernel's descriptor (kernels/cuda/egnn_message.h).
#pragma once
#include <cstdint>

namespace orbit::scalar {

// Slots of the op's input pointers (kernels/cuda/egnn_message.h's EgnnMsgDesc::in) and of the
// backward's gradient pointers: P, Q, x, w_r, W2, b2, W3, b3, w4 (0..8), then these.
enum : int { kEgnnA = 9, kEgnnWa = 10, kEgnnWatt = 11, kEgnnBatt = 12, kEgnnInputs = 13 };

struct EgnnMsgShape {
  int64_t B = 0, n = 0, d = 0, H = 0, E = 0;
  bool attention = false, norm_diff = false, tanh = false, self_loops = false;
  double coords_range = 1.0, coord_clamp = 0.0;
};

}  // namespace orbit::scalar
