// Shared-memory plan of the fused EGNN message op's tensor-core forward kernel
// (kernels/cuda/egnn_message_tc.cu): plain C++, so that the host tests replay the kernel with the same
// offsets.
//
// A CTA stages W2 and W3 ([H][wstride], wstride as mlp_tc_wstride) and the per-unit vectors once;
// each warp then takes receivers (b, i) one at a time, their edges in tiles of 16 senders:
//   geometry of the tile's edges -> u1 = silu(P_i + Q_j + r w_r + a W_a) into the warp's tile
//   [16][act_stride] -> m = silu(u1 W2 + b2) in 3xTF32 MMAs (kernels/scalar/mma_tf32.h), gated by the
//   attention -> m back into the tile (its column sums are the message aggregate) -> silu(m W3 + b3).w4
//   per edge -> the coordinate terms, summed over the receiver's edges.
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels/scalar/mlp_tc_plan.h"

namespace orbit::scalar {

constexpr int kEgnnTcMaxDim = 4;   // spatial dimension d
constexpr int kEgnnTcMaxAttr = 8;  // edge attributes E
constexpr int kEgnnTcGeo = 8;      // per-edge floats of the geometry scratch: x_i - x_j [0..3], r, sender, w, scale

struct EgnnTcPlan {
  int H = 0;
  int act_stride = 0;   // floats between rows of a warp's edge tile
  int wstride = 0;      // floats between rows of W2 / W3 in shared memory
  int w2 = 0, w3 = 0;   // offsets (floats) of W2 and W3
  int vec = 0;          // b2, b3, w4, w_r, w_att (H each), then W_a [E][H]
  int weight_floats = 0;
  int warp_floats = 0;  // 16 x act_stride tile + 16 x kEgnnTcGeo geometry
  int warps = 0;
  size_t smem_bytes = 0;
};

constexpr int egnn_tc_max_warps(int H) { return H == 128 ? 12 : 16; }  // 168 / 128 registers a thread

// The backward kernel's per-warp scratch besides its edge tile: per edge D[0..3], r, sender, w, sc, dw0,
// dr, the gate and dg (kEgnnTcBwdGeo floats), and column sums over the receiver's edges of the
// gradients that sum over edges: gP, w_r, b2, b3, w4, w_att (H each), W_a (E x H), b_att (one, padded).
constexpr int kEgnnTcBwdGeo = 16;
enum EgnnTcCol : int { kColP = 0, kColWr = 1, kColB2 = 2, kColB3 = 3, kColW4 = 4, kColWatt = 5, kColWa = 6 };
constexpr int egnn_tc_bwd_cols(int H, int E) { return (6 + E) * H + 4; }

// False where the tensor-core kernels do not apply (H not 32, 64 or 128; d > 4; E > 8; or too little
// shared memory): the FP32 kernels run then. `backward` plans the backward kernel's larger warp slices.
inline bool plan_egnn_tc(int64_t H, int64_t d, int64_t E, size_t smem_limit, EgnnTcPlan& plan, bool backward = false) {
  if (!(H == 32 || H == 64 || H == 128) || d < 1 || d > kEgnnTcMaxDim || E < 0 || E > kEgnnTcMaxAttr) return false;
  EgnnTcPlan p;
  p.H = static_cast<int>(H);
  p.act_stride = mlp_tc_act_stride(p.H);
  p.wstride = mlp_tc_wstride(p.H);
  p.w2 = 0;
  p.w3 = p.H * p.wstride;
  p.vec = 2 * p.H * p.wstride;
  p.weight_floats = p.vec + (5 + static_cast<int>(E)) * p.H;
  p.weight_floats = (p.weight_floats + 3) / 4 * 4;
  p.warp_floats = backward ? 16 * p.act_stride + 16 * kEgnnTcBwdGeo + egnn_tc_bwd_cols(p.H, static_cast<int>(E))
                           : 16 * p.act_stride + 16 * kEgnnTcGeo;
  const size_t wb = static_cast<size_t>(p.weight_floats) * sizeof(float);
  const size_t per_warp = static_cast<size_t>(p.warp_floats) * sizeof(float);
  p.warps = tc_warps_that_fit(wb, per_warp, smem_limit, 2, egnn_tc_max_warps(p.H), p.smem_bytes);
  if (p.warps == 0) return false;
  plan = p;
  return true;
}

}  // namespace orbit::scalar
