// Shared-memory plan of the fused MLP's tensor-core kernel (kernels/cuda/mlp_fused_tc.cu): plain C++,
// so that the host tests check the same offsets the kernel uses.
//
// One CTA stages every layer's W and b once (zero-padded) and its warps then loop over tiles of rows
// independently: a warp owns `rows_per_warp` rows, keeps their activations in its own slice of shared
// memory ([rows][act_stride], row-major) and takes them through every layer with m16n8k8 TF32 MMAs.
// Layer l reads kpad[l] = round8(in_l) activation columns and W rows (rows past in_l are zero) and
// writes npad[l] = round8(out_l) columns (columns past out_l compute act(0) and meet zero W rows in the
// next layer). Strides are chosen so that a warp's fragment loads touch 32 different banks:
//   activations: act_stride = wmax + 4 (== 4 mod 32): A(g + .., t + ..) at g * stride + t;
//   weights:     wstride = npad + 8 when npad == 0 mod 16, else npad (== 8 or 24 mod 32):
//                B(t + .., g) at t * wstride + g.
#pragma once
#include <cstddef>

#include "kernels/scalar/mlp_act.h"

namespace orbit::scalar {

struct MlpTcPlan {
  int layers = 0;
  int wmax = 0;           // 32, 64 or 128: the kernel variant (every width rounded up to 8 fits)
  int m_tiles = 0;        // 16-row MMA tiles per warp: 2 at wmax <= 64, 1 at 128 (64 accumulators a thread)
  int rows_per_warp = 0;  // 16 m_tiles
  int act_stride = 0;     // floats between activation rows
  int kpad[kMlpMaxLayers] = {}, npad[kMlpMaxLayers] = {}, wstride[kMlpMaxLayers] = {};
  int woff[kMlpMaxLayers] = {}, boff[kMlpMaxLayers] = {};  // floats from the start of shared memory
  int weight_floats = 0;  // every layer's padded W and b
  int warps = 0;          // per CTA
  size_t smem_bytes = 0;
};

constexpr int kMlpTcMinWarps = 4;
// The kernel's launch bound: 16 warps leave 128 registers a thread; the 128-wide variant (64
// accumulators plus wider fragments' addressing) spills at 128, so it runs at most 12 (168 registers).
constexpr int mlp_tc_max_warps(int wmax) { return wmax == 128 ? 12 : 16; }

constexpr int mlp_tc_round8(int w) { return (w + 7) / 8 * 8; }
constexpr int mlp_tc_wmax(int max_width) { return max_width <= 32 ? 32 : max_width <= 64 ? 64 : 128; }
constexpr int mlp_tc_act_stride(int wmax) { return wmax + 4; }
constexpr int mlp_tc_wstride(int npad) { return npad % 16 == 0 ? npad + 8 : npad; }

// Warps per CTA of a tensor-core kernel whose CTA holds `weight_bytes` once and `warp_bytes` per warp:
// as many as fit in `smem_limit`, at most `max_warps`; 0 when fewer than `min_warps` fit. Sets the
// CTA's shared-memory bytes.
inline int tc_warps_that_fit(size_t weight_bytes, size_t warp_bytes, size_t smem_limit, int min_warps, int max_warps,
                             size_t& smem_bytes) {
  if (weight_bytes + static_cast<size_t>(min_warps) * warp_bytes > smem_limit) return 0;
  size_t warps = (smem_limit - weight_bytes) / warp_bytes;
  if (warps > static_cast<size_t>(max_warps)) warps = static_cast<size_t>(max_warps);
  smem_bytes = weight_bytes + warps * warp_bytes;
  return static_cast<int>(warps);
}

// Fills `plan` for widths[0..layers] (every width 1..128) within `smem_limit` bytes per CTA; false
// when even kMlpTcMinWarps warps do not fit next to the weights (the FP32 kernels run then).
inline bool plan_mlp_tc(const int* widths, int layers, size_t smem_limit, MlpTcPlan& plan) {
  if (layers < 1 || layers > kMlpMaxLayers) return false;
  int max_width = 0;
  for (int l = 0; l <= layers; ++l) {
    if (widths[l] < 1 || widths[l] > 128) return false;
    max_width = widths[l] > max_width ? widths[l] : max_width;
  }
  MlpTcPlan p;
  p.layers = layers;
  p.wmax = mlp_tc_wmax(max_width);
  p.m_tiles = p.wmax <= 64 ? 2 : 1;
  p.rows_per_warp = 16 * p.m_tiles;
  p.act_stride = mlp_tc_act_stride(p.wmax);
  long floats = 0;
  for (int l = 0; l < layers; ++l) {
    p.kpad[l] = mlp_tc_round8(widths[l]);
    p.npad[l] = mlp_tc_round8(widths[l + 1]);
    p.wstride[l] = mlp_tc_wstride(p.npad[l]);
    p.woff[l] = static_cast<int>(floats);
    floats += static_cast<long>(p.kpad[l]) * p.wstride[l];
    p.boff[l] = static_cast<int>(floats);
    floats += p.npad[l];
    floats = (floats + 3) / 4 * 4;  // 16-byte aligned layers
  }
  p.weight_floats = static_cast<int>(floats);
  const size_t weight_bytes = static_cast<size_t>(floats) * sizeof(float);
  const size_t warp_bytes = static_cast<size_t>(p.rows_per_warp) * p.act_stride * sizeof(float);
  p.warps = tc_warps_that_fit(weight_bytes, warp_bytes, smem_limit, kMlpTcMinWarps, mlp_tc_max_warps(p.wmax),
                              p.smem_bytes);
  if (p.warps == 0) return false;
  plan = p;
  return true;
}

}  // namespace orbit::scalar
