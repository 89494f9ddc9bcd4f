// The fused EGNN message op's forward on tensor cores (f32 as 3xTF32, sm_80+, H in {32, 64, 128},
// d <= 4, E <= 8), included by kernels/cuda/egnn_message_tc.cu (which launches it) and by
// tests/test_emu_egnn.cpp (which runs this same source on the CPU through the CUDA emulator,
// tests/harness/cuda_emu.h). The plan and the per-warp steps: kernels/scalar/egnn_tc_plan.h; the MMA
// fragments and the 3xTF32 split: kernels/scalar/mma_tf32.h. The edge MLP's two H x H products run as
// m16n8k8 MMAs over tiles of 16 edges of one receiver; nothing of size [B, n, n, H] touches global
// memory. Deterministic (no atomics): a receiver belongs to one warp, its sums run in sender order.
#pragma once
#include <cmath>
#include <cstdint>

#include "kernels/cuda/device_api.cuh"
#include "kernels/cuda/mma_tf32.cuh"
#include "kernels/scalar/egnn_message_shape.h"
#include "kernels/scalar/egnn_tc_plan.h"
#include "kernels/scalar/fast_sigmoid.h"
#include "kernels/scalar/mlp_tc_plan.h"
#include "kernels/scalar/mma_tf32.h"
#include "kernels/scalar/unary.h"

namespace orbit::cuda::egnn_tc {

using scalar::kEgnnTcGeo;

struct EgnnTcArgs {
  int64_t B;
  int n, d, E;
  bool attention, norm_diff, tanh, self_loops;
  float coords_range, coord_clamp;
  int w2, w3, vec, weight_floats, warp_floats;
  const float *P, *Q, *x, *w_r, *W2, *b2, *W3, *b3, *w4, *a, *W_a, *w_att, *b_att;
};

// The kernel's arguments for `plan`, the op's shape and its input pointers (slots as EgnnMsgDesc::in).
inline EgnnTcArgs egnn_tc_args(const scalar::EgnnTcPlan& plan, const scalar::EgnnMsgShape& d, const void* const* in) {
  EgnnTcArgs a{};
  a.B = d.B;
  a.n = static_cast<int>(d.n), a.d = static_cast<int>(d.d), a.E = static_cast<int>(d.E);
  a.attention = d.attention, a.norm_diff = d.norm_diff, a.tanh = d.tanh, a.self_loops = d.self_loops;
  a.coords_range = static_cast<float>(d.coords_range), a.coord_clamp = static_cast<float>(d.coord_clamp);
  a.w2 = plan.w2, a.w3 = plan.w3, a.vec = plan.vec, a.weight_floats = plan.weight_floats;
  a.warp_floats = plan.warp_floats;
  auto f = [&](int k) { return static_cast<const float*>(in[k]); };
  a.P = f(0), a.Q = f(1), a.x = f(2), a.w_r = f(3), a.W2 = f(4), a.b2 = f(5), a.W3 = f(6), a.b3 = f(7);
  a.w4 = f(8), a.a = f(scalar::kEgnnA), a.W_a = f(scalar::kEgnnWa), a.w_att = f(scalar::kEgnnWatt);
  a.b_att = f(scalar::kEgnnBatt);
  return a;
}

// The hardware exponential and reciprocal: the library's expf and IEEE division, inlined on every
// accumulator, made this kernel 162 KiB of SASS (kernels/scalar/fast_sigmoid.h).
__device__ __forceinline__ float silu(float z) { return scalar::silu_fast(z); }

// acc (16 x H, c-fragments per 8-column tile) = A (the warp's 16 x H tile, row stride SA) x W (H x H, row
// stride SW), or x W^T when TRANS (the backward's products with the transposed weights), 3xTF32.
template <int H, int SA, int SW, bool TRANS = false>
__device__ __forceinline__ void tile_gemm(const float* __restrict__ A, const float* __restrict__ W, float (&acc)[H / 8][4],
                                          int lane) {
#pragma unroll
  for (int nt = 0; nt < H / 8; ++nt)
#pragma unroll
    for (int r = 0; r < 4; ++r) acc[nt][r] = 0.f;
#pragma unroll 2
  for (int k0 = 0; k0 < H; k0 += 8) {
    uint32_t ah[4], al[4];
#pragma unroll
    for (int r = 0; r < 4; ++r) {
      const scalar::mma::Coord c = scalar::mma::a_frag(lane, r);
      split_tf32(A[c.row * SA + k0 + c.col], ah[r], al[r]);
    }
#pragma unroll
    for (int nt = 0; nt < H / 8; ++nt) {
      uint32_t bh[2], bl[2];
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        const scalar::mma::Coord c = scalar::mma::b_frag(lane, r);
        split_tf32(TRANS ? W[(nt * 8 + c.col) * SW + k0 + c.row] : W[(k0 + c.row) * SW + nt * 8 + c.col], bh[r], bl[r]);
      }
      mma_tf32(acc[nt], al, bh);  // small terms first
      mma_tf32(acc[nt], ah, bl);
      mma_tf32(acc[nt], ah, bh);
    }
  }
}

// Slots of the per-edge geometry scratch of both kernels (kEgnnTcGeo / kEgnnTcBwdGeo floats per edge):
// the raw difference x_i - x_j in 0..3, then these.
enum : int { kGeoR = 4, kGeoJ = 5, kGeoW = 6, kGeoSc = 7 };

// The weights as a CTA holds them in shared memory.
struct StagedWeights {
  const float *W2, *W3;                      // [H][SW], zero-padded columns
  const float *b2, *b3, *w4, *wr, *watt;     // H each; w_att zero without attention
  const float* Wa;                           // [E][H]
};

// Every CTA of both tensor-core kernels stages W2, W3, b2, b3, w4, w_r, w_att and W_a once; ends with a
// CTA barrier.
template <int H, int SW>
__device__ __forceinline__ StagedWeights stage_weights(const EgnnTcArgs& p, float* smem) {
  float* W2s = smem + p.w2;
  float* W3s = smem + p.w3;
  float* b2s = smem + p.vec;
  float* b3s = b2s + H;
  float* w4s = b2s + 2 * H;
  float* wrs = b2s + 3 * H;
  float* watts = b2s + 4 * H;
  float* Was = b2s + 5 * H;
  for (int idx = threadIdx.x; idx < H * SW; idx += blockDim.x) {
    const int k = idx / SW, c = idx - k * SW;
    W2s[idx] = c < H ? p.W2[k * H + c] : 0.f;
    W3s[idx] = c < H ? p.W3[k * H + c] : 0.f;
  }
  for (int h = threadIdx.x; h < H; h += blockDim.x) {
    b2s[h] = p.b2[h];
    b3s[h] = p.b3[h];
    w4s[h] = p.w4[h];
    wrs[h] = p.w_r[h];
    watts[h] = p.attention ? p.w_att[h] : 0.f;
  }
  for (int idx = threadIdx.x; idx < p.E * H; idx += blockDim.x) Was[idx] = p.W_a[idx];
  __syncthreads();
  return {W2s, W3s, b2s, b3s, w4s, wrs, watts, Was};
}

// The first layer's pre-activation of edge (i, j) of graph b at unit h: P_i + Q_j + r w_r + a_ij W_a.
template <int H>
__device__ __forceinline__ float edge_pre(const EgnnTcArgs& p, const StagedWeights& w, int64_t b, int i, int j, float r,
                                          int h) {
  const int n = p.n;
  float pre = p.P[(b * n + i) * H + h] + p.Q[(b * n + j) * H + h] + r * w.wr[h];
  if (p.E > 0) {
    const float* aij = p.a + ((b * n + i) * n + j) * p.E;
#pragma unroll 1
    for (int e = 0; e < p.E; ++e) pre += aij[e] * w.Wa[e * H + h];
  }
  return pre;
}

// Senders m0 .. m0 + rows - 1 of receiver i of graph b: their geometry into geo (GEO floats per edge:
// the raw difference, r, the sender, the norm_diff scale; padding rows r = 0, sender 0, scale 1), then
// u1 = silu(pre) into the warp's tile T (padding rows zero) and, when U1 is given, into its rows from
// edge e0 on. Ends with the warp's barrier.
template <int H, int SA, int GEO>
__device__ __forceinline__ void load_edge_tile(const EgnnTcArgs& p, const StagedWeights& w, int64_t b, int i, int m0,
                                               int rows, float* geo, float* T, float* U1, int64_t e0, int lane) {
  const int n = p.n, d = p.d;
  const int64_t q = b * n + i;
  if (lane < 16) {
    float* gr = geo + lane * GEO;
    float r = 0.f, sc = 1.f;
    int j = 0;
    if (lane < rows) {
      j = m0 + lane;
      if (!p.self_loops && j >= i) ++j;
      const int64_t qj = b * n + j;
      for (int k = 0; k < d; ++k) {
        gr[k] = p.x[q * d + k] - p.x[qj * d + k];
        r += gr[k] * gr[k];
      }
      sc = p.norm_diff ? sqrtf(r + 1e-8f) + 1.f : 1.f;
    }
    gr[kGeoR] = r;
    gr[kGeoJ] = __int_as_float(j);
    gr[kGeoSc] = sc;
  }
  __syncwarp();
  // Unrolled 4 deep, not fully: 64 copies of this body (with edge_pre's loop over E unrolled in each)
  // were 39% of the backward kernel's 456 KiB of SASS (tools/sass_report.py --lines).
#pragma unroll 4
  for (int idx = lane; idx < 16 * H; idx += 32) {
    const int row = idx / H, h = idx - row * H;
    float v = 0.f;
    if (row < rows) {
      const float* gr = geo + row * GEO;
      v = silu(edge_pre<H>(p, w, b, i, __float_as_int(gr[kGeoJ]), gr[kGeoR], h));
      if (U1) U1[(e0 + row) * H + h] = v;
    }
    T[row * SA + h] = v;
  }
  __syncwarp();
}

template <int H>
__global__ void __launch_bounds__(32 * scalar::egnn_tc_max_warps(H), 1)
    egnn_tc_forward(const __grid_constant__ EgnnTcArgs p, float* __restrict__ out) {
  constexpr int NT = H / 8;
  constexpr int CPL = H / 32;  // columns per lane in the message sums
  constexpr int SA = scalar::mlp_tc_act_stride(H);
  constexpr int SW = scalar::mlp_tc_wstride(H);
  ORBIT_DYNAMIC_SMEM(float, smem);
  const StagedWeights wt = stage_weights<H, SW>(p, smem);

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, warps = blockDim.x >> 5;
  float* T = smem + p.weight_floats + warp * p.warp_floats;  // the edge tile [16][SA]
  float* geo = T + 16 * SA;                                  // [16][kEgnnTcGeo]
  const int n = p.n, d = p.d;
  const int deg = p.self_loops ? n : n - 1;
  const float batt = p.attention ? p.b_att[0] : 0.f;
  const int g = lane >> 2, t = lane & 3;
  const int64_t receivers = p.B * n;

  for (int64_t q = int64_t(blockIdx.x) * warps + warp; q < receivers; q += int64_t(gridDim.x) * warps) {
    const int64_t b = q / n;
    const int i = static_cast<int>(q - b * n);
    float magg[CPL];
#pragma unroll
    for (int k = 0; k < CPL; ++k) magg[k] = 0.f;
    float xacc = 0.f;

    for (int m0 = 0; m0 < deg; m0 += 16) {
      const int rows = min(16, deg - m0);
      load_edge_tile<H, SA, kEgnnTcGeo>(p, wt, b, i, m0, rows, geo, T, nullptr, 0, lane);

      float acc[NT][4];
      tile_gemm<H, SA, SW>(T, wt.W2, acc, lane);
      __syncwarp();  // every lane has read u1: T may take m

      // m = silu(u1 W2 + b2), gated by the attention; rows g and g + 8 of this lane.
      float s0 = 0.f, s1 = 0.f;
#pragma unroll
      for (int nt = 0; nt < NT; ++nt)
#pragma unroll
        for (int c = 0; c < 2; ++c) {
          const int col = nt * 8 + 2 * t + c;
          const float m0v = silu(acc[nt][c] + wt.b2[col]), m1v = silu(acc[nt][2 + c] + wt.b2[col]);
          acc[nt][c] = m0v;
          acc[nt][2 + c] = m1v;
          s0 += m0v * wt.watt[col];
          s1 += m1v * wt.watt[col];
        }
      float gate0 = g < rows ? 1.f : 0.f, gate1 = g + 8 < rows ? 1.f : 0.f;
      if (p.attention) {
        gate0 *= scalar::sigmoid_fast(quad_sum(s0) + batt);
        gate1 *= scalar::sigmoid_fast(quad_sum(s1) + batt);
      }
#pragma unroll
      for (int nt = 0; nt < NT; ++nt) {
        const int col = nt * 8 + 2 * t;
        *reinterpret_cast<float2*>(T + g * SA + col) = make_float2(acc[nt][0] * gate0, acc[nt][1] * gate0);
        *reinterpret_cast<float2*>(T + (g + 8) * SA + col) = make_float2(acc[nt][2] * gate1, acc[nt][3] * gate1);
      }
      __syncwarp();

      // The message sum over this tile's edges, in sender order (consecutive lanes, consecutive columns).
#pragma unroll
      for (int k = 0; k < CPL; ++k) {
        float s = 0.f;
        for (int row = 0; row < rows; ++row) s += T[row * SA + lane + 32 * k];
        magg[k] += s;
      }

      // w = silu(m W3 + b3) . w4 per edge (tanh-bounded), into the geometry scratch.
      tile_gemm<H, SA, SW>(T, wt.W3, acc, lane);
      float w0 = 0.f, w1 = 0.f;
#pragma unroll
      for (int nt = 0; nt < NT; ++nt)
#pragma unroll
        for (int c = 0; c < 2; ++c) {
          const int col = nt * 8 + 2 * t + c;
          w0 += silu(acc[nt][c] + wt.b3[col]) * wt.w4[col];
          w1 += silu(acc[nt][2 + c] + wt.b3[col]) * wt.w4[col];
        }
      w0 = quad_sum(w0);
      w1 = quad_sum(w1);
      if (p.tanh) {
        w0 = tanhf(w0) * p.coords_range;
        w1 = tanhf(w1) * p.coords_range;
      }
      if (t == 0) {
        geo[g * kEgnnTcGeo + kGeoW] = w0;
        geo[(g + 8) * kEgnnTcGeo + kGeoW] = w1;
      }
      __syncwarp();
      if (lane < d) {
        const float cl = p.coord_clamp;
        for (int row = 0; row < rows; ++row) {
          const float* gr = geo + row * kEgnnTcGeo;
          float tk = (p.norm_diff ? gr[lane] / gr[kGeoSc] : gr[lane]) * gr[kGeoW];
          if (cl > 0.f) tk = fminf(fmaxf(tk, -cl), cl);
          xacc += tk;
        }
      }
      __syncwarp();  // the next tile overwrites T and geo
    }

    float* o = out + q * (H + d);
#pragma unroll
    for (int k = 0; k < CPL; ++k) o[lane + 32 * k] = magg[k];
    if (lane < d) o[H + lane] = xacc;
  }
}

}  // namespace orbit::cuda::egnn_tc
