// The fused EGNN message op's backward on tensor cores (f32 as 3xTF32, sm_80+; the shapes of the forward,
// kernels/cuda/egnn_message_tc_kernel.cuh), included by kernels/cuda/egnn_message_tc.cu and by
// tests/test_emu_egnn.cpp (the CUDA emulator runs this source on the CPU).
//
// One warp per receiver q = (b, i), its edges in tiles of 16 senders, as the forward. Per tile it
// recomputes the forward (u1, z2, the gate, m, z3, w) and takes the cotangent back through it with the
// same 3xTF32 MMAs, the products with W3^T and W2^T reading the staged weights transposed:
//   dw0 (the coordinate branch) -> dz3 = dw0 w4 silu'(z3) -> dm = G_m + dz3 W3^T -> the gate's dg ->
//   dz2 = (dm sg + dg w_att) silu'(z2) -> dpre = (dz2 W2^T) silu'(pre) -> dr, the attribute gradients,
//   the coordinate gradient v of the edge.
// What sums over the receiver's edges (gP, and the per-unit weight gradients) is summed in the warp's
// shared slice in sender order and written once per receiver (gP directly, the rest as the receiver's
// row of `part`, reduced over receivers in order afterwards). What belongs to the sender (gQ, the
// sender's share of gx) and the two H x H weight gradients (U1^T DZ2, M^T DZ3) need every edge: the
// kernel writes the per-edge tensors U1, M, DZ2, DZ3, DPRE and V; a second pass sums them per sender
// (egnn_tc_senders) and cuBLAS forms the two products. Deterministic: no atomics.
#pragma once
#include <cmath>
#include <cstdint>

#include "kernels/cuda/egnn_message_tc_kernel.cuh"

namespace orbit::cuda::egnn_tc {

using scalar::kEgnnTcBwdGeo;

// The backward's per-edge scratch (kEgnnTcBwdGeo floats): the forward's slots (kGeoR .. kGeoSc), then these.
enum : int { kGeoDw0 = 8, kGeoDr = 9, kGeoSg = 10, kGeoWeight = 11 };

struct EgnnTcBwdOut {
  const float* G;                    // [B n, H + d]: the cotangent of out
  float *U1, *M, *DZ2, *DZ3, *DPRE;  // [edges, H]; edge (b, i, jj) at (b n + i) deg + jj
  float* V;                          // [edges, d]: edge (i, j)'s coordinate gradient (+ for i, - for j)
  float* Z2;                         // [grid x warps, 16 H]: each warp's pre-activations of its tile
  float* gP;                         // [B n, H]
  float* gx;                         // [B n, d]: the receivers' share; egnn_tc_senders subtracts V
  float* ga;                         // [B, n, n, E] (E > 0)
  float* part;                       // [B n, egnn_tc_bwd_cols(H, E) - H]: the columns past gP (EgnnTcCol)
};

__device__ __forceinline__ float dsilu(float z) { return scalar::dsilu_fast(z); }

// col[c] += sum over the tile's first `rows` rows of T[row][c] (times geo[row][slot] when slot >= 0), in
// row order; lane owns columns lane + 32 k.
// Rows outer and not unrolled (the H / 32 column chains give the ILP): unrolled rows at seven call
// sites were 20% of this kernel's SASS (tools/sass_report.py --lines). Same sums, same order.
template <int H, int SA>
__device__ __forceinline__ void column_sums(const float* T, int rows, const float* geo, int slot, float* col, int lane) {
  float s[H / 32];
#pragma unroll
  for (int k = 0; k < H / 32; ++k) s[k] = 0.f;
#pragma unroll 1
  for (int row = 0; row < rows; ++row) {
    const float wgt = slot >= 0 ? geo[row * kEgnnTcBwdGeo + slot] : 1.f;
#pragma unroll
    for (int k = 0; k < H / 32; ++k) s[k] += T[row * SA + lane + 32 * k] * wgt;
  }
#pragma unroll
  for (int k = 0; k < H / 32; ++k) col[lane + 32 * k] += s[k];
}

// The tile's first `rows` rows of T to dst (rows of H floats from edge e0 on).
template <int H, int SA>
__device__ __forceinline__ void store_rows(const float* T, int rows, float* __restrict__ dst, int64_t e0, int lane) {
  for (int idx = lane; idx < rows * H; idx += 32) {
    const int row = idx / H, h = idx - row * H;
    dst[(e0 + row) * H + h] = T[row * SA + h];
  }
}

template <int H>
__global__ void __launch_bounds__(32 * scalar::egnn_tc_max_warps(H), 1)
    egnn_tc_backward(const __grid_constant__ EgnnTcArgs p, const __grid_constant__ EgnnTcBwdOut o) {
  constexpr int NT = H / 8;
  constexpr int SA = scalar::mlp_tc_act_stride(H);
  constexpr int SW = scalar::mlp_tc_wstride(H);
  constexpr int GEO = kEgnnTcBwdGeo;
  ORBIT_DYNAMIC_SMEM(float, smem);
  const StagedWeights wt = stage_weights<H, SW>(p, smem);

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, warps = blockDim.x >> 5;
  float* T = smem + p.weight_floats + warp * p.warp_floats;  // the edge tile [16][SA]
  float* geo = T + 16 * SA;                                  // [16][GEO]
  float* col = geo + 16 * GEO;                               // the column sums (EgnnTcCol), b_att last
  const int E = p.E;
  const int cols = scalar::egnn_tc_bwd_cols(H, E);
  float* Z2 = o.Z2 + (int64_t(blockIdx.x) * warps + warp) * 16 * H;
  const int n = p.n, d = p.d;
  const int deg = p.self_loops ? n : n - 1;
  const float batt = p.attention ? p.b_att[0] : 0.f;
  const float cr = p.coords_range, cl = p.coord_clamp;
  const int g = lane >> 2, t = lane & 3;
  const int64_t receivers = p.B * n;

  for (int64_t q = int64_t(blockIdx.x) * warps + warp; q < receivers; q += int64_t(gridDim.x) * warps) {
    const int64_t b = q / n;
    const int i = static_cast<int>(q - b * n);
    const float* Gq = o.G + q * (H + d);
    for (int c = lane; c < cols; c += 32) col[c] = 0.f;
    if (E > 0 && !p.self_loops)
      for (int e = lane; e < E; e += 32) o.ga[((b * n + i) * n + i) * E + e] = 0.f;  // no edge (i, i)
    float gxs = 0.f;  // lane k < d: the receiver's coordinate gradient
    __syncwarp();

    for (int m0 = 0; m0 < deg; m0 += 16) {
      const int rows = min(16, deg - m0);
      const int64_t e0 = q * deg + m0;
      // The tile's geometry, and u1 into the tile and U1.
      load_edge_tile<H, SA, GEO>(p, wt, b, i, m0, rows, geo, T, o.U1, e0, lane);

      float acc[NT][4];
      tile_gemm<H, SA, SW>(T, wt.W2, acc, lane);
      __syncwarp();  // every lane has read u1

      // z2 (kept in the warp's Z2 rows), m0 = silu(z2), the gate, m = m0 sg into the tile and M.
      float s0 = 0.f, s1 = 0.f;
#pragma unroll
      for (int nt = 0; nt < NT; ++nt)
#pragma unroll
        for (int c = 0; c < 2; ++c) {
          const int cc = nt * 8 + 2 * t + c;
          const float za = acc[nt][c] + wt.b2[cc], zb = acc[nt][2 + c] + wt.b2[cc];
          Z2[g * H + cc] = za;
          Z2[(g + 8) * H + cc] = zb;
          acc[nt][c] = silu(za);
          acc[nt][2 + c] = silu(zb);
          s0 += acc[nt][c] * wt.watt[cc];
          s1 += acc[nt][2 + c] * wt.watt[cc];
        }
      float sg0 = 1.f, sg1 = 1.f;
      if (p.attention) {
        sg0 = scalar::sigmoid_fast(quad_sum(s0) + batt);
        sg1 = scalar::sigmoid_fast(quad_sum(s1) + batt);
      }
      const float gate0 = g < rows ? sg0 : 0.f, gate1 = g + 8 < rows ? sg1 : 0.f;
#pragma unroll
      for (int nt = 0; nt < NT; ++nt) {
        const int cc = nt * 8 + 2 * t;
        *reinterpret_cast<float2*>(T + g * SA + cc) = make_float2(acc[nt][0] * gate0, acc[nt][1] * gate0);
        *reinterpret_cast<float2*>(T + (g + 8) * SA + cc) = make_float2(acc[nt][2] * gate1, acc[nt][3] * gate1);
      }
      __syncwarp();
      store_rows<H, SA>(T, rows, o.M, e0, lane);

      // z3 = m W3 + b3, w = silu(z3) . w4 (tanh-bounded), and the coordinate branch's dw0 per edge.
      tile_gemm<H, SA, SW>(T, wt.W3, acc, lane);
      __syncwarp();  // every lane has read m
      float w0 = 0.f, w1 = 0.f;
#pragma unroll
      for (int nt = 0; nt < NT; ++nt)
#pragma unroll
        for (int c = 0; c < 2; ++c) {
          const int cc = nt * 8 + 2 * t + c;
          acc[nt][c] += wt.b3[cc];
          acc[nt][2 + c] += wt.b3[cc];
          w0 += silu(acc[nt][c]) * wt.w4[cc];
          w1 += silu(acc[nt][2 + c]) * wt.w4[cc];
        }
      w0 = quad_sum(w0);
      w1 = quad_sum(w1);
      float dwf0 = 1.f, dwf1 = 1.f;  // dw / dw0
      if (p.tanh) {
        const float th0 = tanhf(w0), th1 = tanhf(w1);
        w0 = th0 * cr;
        w1 = th1 * cr;
        dwf0 = cr * (1.f - th0 * th0);
        dwf1 = cr * (1.f - th1 * th1);
      }
      // dw = sum_k dt_k D_k with D = x_i - x_j (/ sc), dt the coordinate cotangent (zero where clamped).
      float dw0 = 0.f, dw1 = 0.f;
      for (int half = 0; half < 2; ++half) {
        const int row = g + 8 * half;
        if (row >= rows) continue;
        const float* gr = geo + row * GEO;
        const float w = half ? w1 : w0;
        float s = 0.f;
        for (int k = 0; k < d; ++k) {
          const float D = p.norm_diff ? gr[k] / gr[kGeoSc] : gr[k];
          float dt = Gq[H + k];
          if (cl > 0.f) {
            const float tk = D * w;
            if (!(tk > -cl && tk < cl)) dt = 0.f;
          }
          s += dt * D;
        }
        (half ? dw1 : dw0) = s * (half ? dwf1 : dwf0);
      }
      if (t == 0) {
        geo[g * GEO + kGeoW] = w0;
        geo[(g + 8) * GEO + kGeoW] = w1;
        geo[g * GEO + kGeoDw0] = dw0;
        geo[(g + 8) * GEO + kGeoDw0] = dw1;
        geo[g * GEO + kGeoSg] = sg0;
        geo[(g + 8) * GEO + kGeoSg] = sg1;
      }
      // w4's gradient: the column sums of dw0 silu(z3); then dz3 = dw0 w4 silu'(z3) into the tile.
#pragma unroll
      for (int nt = 0; nt < NT; ++nt) {
        const int cc = nt * 8 + 2 * t;
        *reinterpret_cast<float2*>(T + g * SA + cc) = make_float2(dw0 * silu(acc[nt][0]), dw0 * silu(acc[nt][1]));
        *reinterpret_cast<float2*>(T + (g + 8) * SA + cc) = make_float2(dw1 * silu(acc[nt][2]), dw1 * silu(acc[nt][3]));
      }
      __syncwarp();
      column_sums<H, SA>(T, rows, geo, -1, col + scalar::kColW4 * H, lane);
      __syncwarp();
#pragma unroll
      for (int nt = 0; nt < NT; ++nt) {
        const int cc = nt * 8 + 2 * t;
        *reinterpret_cast<float2*>(T + g * SA + cc) =
            make_float2(dw0 * wt.w4[cc] * dsilu(acc[nt][0]), dw0 * wt.w4[cc + 1] * dsilu(acc[nt][1]));
        *reinterpret_cast<float2*>(T + (g + 8) * SA + cc) =
            make_float2(dw1 * wt.w4[cc] * dsilu(acc[nt][2]), dw1 * wt.w4[cc + 1] * dsilu(acc[nt][3]));
      }
      __syncwarp();
      column_sums<H, SA>(T, rows, geo, -1, col + scalar::kColB3 * H, lane);
      store_rows<H, SA>(T, rows, o.DZ3, e0, lane);

      // dm = G_m + dz3 W3^T; the gate's dg = sum_h dm m0 sg (1 - sg).
      tile_gemm<H, SA, SW, true>(T, wt.W3, acc, lane);
      __syncwarp();  // every lane has read dz3
      float dg0 = 0.f, dg1 = 0.f;
#pragma unroll
      for (int nt = 0; nt < NT; ++nt)
#pragma unroll
        for (int c = 0; c < 2; ++c) {
          const int cc = nt * 8 + 2 * t + c;
          acc[nt][c] += Gq[cc];
          acc[nt][2 + c] += Gq[cc];
          dg0 += acc[nt][c] * silu(Z2[g * H + cc]);
          dg1 += acc[nt][2 + c] * silu(Z2[(g + 8) * H + cc]);
        }
      if (p.attention) {
        const float q0 = quad_sum(dg0), q1 = quad_sum(dg1);  // every lane takes part in the shuffles
        dg0 = g < rows ? q0 * sg0 * (1.f - sg0) : 0.f;
        dg1 = g + 8 < rows ? q1 * sg1 * (1.f - sg1) : 0.f;
        // w_att's gradient: the column sums of dg m0; b_att's: the sum of dg.
#pragma unroll
        for (int nt = 0; nt < NT; ++nt)
#pragma unroll
          for (int c = 0; c < 2; ++c) {
            const int cc = nt * 8 + 2 * t + c;
            T[g * SA + cc] = dg0 * silu(Z2[g * H + cc]);
            T[(g + 8) * SA + cc] = dg1 * silu(Z2[(g + 8) * H + cc]);
          }
        if (t == 0) {
          geo[g * GEO + kGeoWeight] = dg0;
          geo[(g + 8) * GEO + kGeoWeight] = dg1;
        }
        __syncwarp();
        column_sums<H, SA>(T, rows, geo, -1, col + scalar::kColWatt * H, lane);
        if (lane == 0) {
          float s = 0.f;
          for (int row = 0; row < rows; ++row) s += geo[row * GEO + kGeoWeight];
          col[(6 + E) * H] += s;
        }
        __syncwarp();
      }
      // dz2 = (dm sg + dg w_att) silu'(z2) into the tile; b2's gradient: its column sums.
#pragma unroll
      for (int nt = 0; nt < NT; ++nt)
#pragma unroll
        for (int c = 0; c < 2; ++c) {
          const int cc = nt * 8 + 2 * t + c;
          const float za = Z2[g * H + cc], zb = Z2[(g + 8) * H + cc];
          const float dm0a = p.attention ? acc[nt][c] * sg0 + dg0 * wt.watt[cc] : acc[nt][c];
          const float dm0b = p.attention ? acc[nt][2 + c] * sg1 + dg1 * wt.watt[cc] : acc[nt][2 + c];
          T[g * SA + cc] = g < rows ? dm0a * dsilu(za) : 0.f;
          T[(g + 8) * SA + cc] = g + 8 < rows ? dm0b * dsilu(zb) : 0.f;
        }
      __syncwarp();
      column_sums<H, SA>(T, rows, geo, -1, col + scalar::kColB2 * H, lane);
      store_rows<H, SA>(T, rows, o.DZ2, e0, lane);

      // dpre = (dz2 W2^T) silu'(pre); dr = dpre . w_r and the attribute gradients dpre . W_a per edge.
      tile_gemm<H, SA, SW, true>(T, wt.W2, acc, lane);
      __syncwarp();  // every lane has read dz2
      float dr0 = 0.f, dr1 = 0.f;
      float ga0[scalar::kEgnnTcMaxAttr], ga1[scalar::kEgnnTcMaxAttr];
#pragma unroll
      for (int e = 0; e < scalar::kEgnnTcMaxAttr; ++e) ga0[e] = ga1[e] = 0.f;
      const int j0 = __float_as_int(geo[g * GEO + kGeoJ]), j1 = __float_as_int(geo[(g + 8) * GEO + kGeoJ]);
      const float r0 = geo[g * GEO + kGeoR], r1 = geo[(g + 8) * GEO + kGeoR];
#pragma unroll
      for (int nt = 0; nt < NT; ++nt)
#pragma unroll
        for (int c = 0; c < 2; ++c) {
          const int cc = nt * 8 + 2 * t + c;
          const float pre0 = edge_pre<H>(p, wt, b, i, j0, r0, cc), pre1 = edge_pre<H>(p, wt, b, i, j1, r1, cc);
          const float dp0 = g < rows ? acc[nt][c] * dsilu(pre0) : 0.f;
          const float dp1 = g + 8 < rows ? acc[nt][2 + c] * dsilu(pre1) : 0.f;
          acc[nt][c] = dp0;
          acc[nt][2 + c] = dp1;
          dr0 += dp0 * wt.wr[cc];
          dr1 += dp1 * wt.wr[cc];
#pragma unroll
          for (int e = 0; e < scalar::kEgnnTcMaxAttr; ++e)
            if (e < E) {
              ga0[e] += dp0 * wt.Wa[e * H + cc];
              ga1[e] += dp1 * wt.Wa[e * H + cc];
            }
        }
      dr0 = quad_sum(dr0);
      dr1 = quad_sum(dr1);
#pragma unroll
      for (int e = 0; e < scalar::kEgnnTcMaxAttr; ++e)
        if (e < E) {
          ga0[e] = quad_sum(ga0[e]);
          ga1[e] = quad_sum(ga1[e]);
        }
      if (t == 0) {
        geo[g * GEO + kGeoDr] = dr0;
        geo[(g + 8) * GEO + kGeoDr] = dr1;
#pragma unroll
        for (int e = 0; e < scalar::kEgnnTcMaxAttr; ++e) {  // static indices: ga0 / ga1 stay in registers
          if (e < E && g < rows) o.ga[((b * n + i) * n + j0) * E + e] = ga0[e];
          if (e < E && g + 8 < rows) o.ga[((b * n + i) * n + j1) * E + e] = ga1[e];
        }
      }
#pragma unroll
      for (int nt = 0; nt < NT; ++nt) {
        const int cc = nt * 8 + 2 * t;
        *reinterpret_cast<float2*>(T + g * SA + cc) = make_float2(acc[nt][0], acc[nt][1]);
        *reinterpret_cast<float2*>(T + (g + 8) * SA + cc) = make_float2(acc[nt][2], acc[nt][3]);
      }
      __syncwarp();
      // gP (the column sums of dpre), w_r's gradient (weighted by r), W_a's (by each attribute).
      column_sums<H, SA>(T, rows, geo, -1, col + scalar::kColP * H, lane);
      column_sums<H, SA>(T, rows, geo, kGeoR, col + scalar::kColWr * H, lane);
      store_rows<H, SA>(T, rows, o.DPRE, e0, lane);
      for (int e = 0; e < E; ++e) {
        __syncwarp();
        if (lane < rows) {
          const int j = __float_as_int(geo[lane * GEO + kGeoJ]);
          geo[lane * GEO + kGeoWeight] = p.a[((b * n + i) * n + j) * E + e];
        }
        __syncwarp();
        column_sums<H, SA>(T, rows, geo, kGeoWeight, col + (scalar::kColWa + e) * H, lane);
      }

      // The edge's coordinate gradient v (lane k: coordinate k), edges in sender order.
      if (lane < d) {
        for (int row = 0; row < rows; ++row) {
          const float* gr = geo + row * GEO;
          const float w = gr[kGeoW], sc = gr[kGeoSc];
          float dr = gr[kGeoDr];
          if (p.norm_diff) {
            float dots = 0.f;
            for (int k = 0; k < d; ++k) {
              float dt = Gq[H + k];
              if (cl > 0.f) {
                const float tk = gr[k] / sc * w;
                if (!(tk > -cl && tk < cl)) dt = 0.f;
              }
              dots += dt * w * gr[k];
            }
            dr += -dots / (sc * sc) * (0.5f / sqrtf(gr[kGeoR] + 1e-8f));
          }
          const float d0 = gr[lane];
          const float D = p.norm_diff ? d0 / sc : d0;
          float dt = Gq[H + lane];
          if (cl > 0.f) {
            const float tk = D * w;
            if (!(tk > -cl && tk < cl)) dt = 0.f;
          }
          const float dD = dt * w;
          const float v = (p.norm_diff ? dD / sc : dD) + 2.f * dr * d0;
          gxs += v;
          o.V[(e0 + row) * d + lane] = v;
        }
      }
      __syncwarp();  // the next tile overwrites T and geo
    }

    for (int h = lane; h < H; h += 32) o.gP[q * H + h] = col[scalar::kColP * H + h];
    float* pr = o.part + q * (cols - H);
    for (int c = lane; c < cols - H; c += 32) pr[c] = col[H + c];
    if (lane < d) o.gx[q * d + lane] = gxs;
    __syncwarp();  // col is cleared for the next receiver
  }
}

// The senders' sums: gQ[b, j] = sum_i DPRE[edge (b, i, j)], gx[b, j] -= sum_i V[edge (b, i, j)], i in
// increasing order. One thread per (b, j, column). (A template, like every kernel in these headers, so
// that the CUDA build and the emulator's host build of it never collide at link time.)
template <class T>
__global__ void egnn_tc_senders(int64_t B, int n, int H, int d, bool self_loops, const T* __restrict__ DPRE,
                                const T* __restrict__ V, T* __restrict__ gQ, T* __restrict__ gx) {
  const int deg = self_loops ? n : n - 1;
  const int W = H + d;
  const int64_t total = B * n * W;
  for (int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t qj = idx / W;
    const int c = static_cast<int>(idx - qj * W);
    const int64_t b = qj / n;
    const int j = static_cast<int>(qj - b * n);
    T s = T(0);
    for (int i = 0; i < n; ++i) {
      if (!self_loops && i == j) continue;
      const int jj = self_loops ? j : (j < i ? j : j - 1);
      const int64_t e = (b * n + i) * deg + jj;
      s += c < H ? DPRE[e * H + c] : V[e * d + (c - H)];
    }
    if (c < H) gQ[qj * H + c] = s;
    else gx[qj * d + (c - H)] -= s;
  }
}

}  // namespace orbit::cuda::egnn_tc
