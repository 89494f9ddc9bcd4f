// The fused MLP's tensor-core kernel (f32 as 3xTF32, sm_80+), included by kernels/cuda/mlp_fused_tc.cu
// (which launches it) and by tests/test_emu_mlp_tc.cpp (which runs this same source on the CPU
// through the CUDA emulator, tests/harness/cuda_emu.h). kernels/scalar/mlp_tc_plan.h holds the
// shared-memory plan, kernels/scalar/mma_tf32.h the instruction's fragment layouts and the 3xTF32 split.
//
// Persistent CTAs: each stages every layer's W and b once, then its warps loop over tiles of rows on
// their own (no CTA-wide barrier after the staging): load the tile's x into the warp's activation
// slice, run every layer (all of a layer's outputs in registers, then act(acc + b) back into the same
// slice), store the last layer straight from the accumulators. The x loads of one warp overlap the
// MMAs of the others.
#pragma once
#include <cstdint>

#include "kernels/cuda/device_api.cuh"
#include "kernels/cuda/mma_tf32.cuh"
#include "kernels/scalar/mlp_act.h"
#include "kernels/scalar/mlp_tc_plan.h"
#include "kernels/scalar/mma_tf32.h"

namespace orbit::cuda::mlp_tc {

using scalar::MlpAct;
using scalar::MlpTcPlan;
constexpr int kMaxL = scalar::kMlpMaxLayers;

struct MlpTcParams {
  int layers;
  int weight_floats;
  int widths[kMaxL + 1];
  int kpad[kMaxL], npad[kMaxL], wstride[kMaxL], woff[kMaxL], boff[kMaxL];
  MlpAct acts[kMaxL];
  const float* w[kMaxL];
  const float* b[kMaxL];
};

// The kernel's arguments for `plan` (of widths[0..layers]) and the layers' weights, biases and
// activations.
inline MlpTcParams mlp_tc_params(const MlpTcPlan& plan, const int* widths, const MlpAct* acts,
                                 const void* const* w, const void* const* b) {
  MlpTcParams p{};
  p.layers = plan.layers;
  p.weight_floats = plan.weight_floats;
  for (int l = 0; l <= plan.layers; ++l) p.widths[l] = widths[l];
  for (int l = 0; l < plan.layers; ++l) {
    p.kpad[l] = plan.kpad[l], p.npad[l] = plan.npad[l], p.wstride[l] = plan.wstride[l];
    p.woff[l] = plan.woff[l], p.boff[l] = plan.boff[l];
    p.acts[l] = acts[l];
    p.w[l] = static_cast<const float*>(w[l]);
    p.b[l] = static_cast<const float*>(b[l]);
  }
  return p;
}

// The warp's rows [row0, row0 + rows) of x into its activation slice H (columns 0..kpad-1; rows past
// `rows` and columns past k0 are zero).
template <int RW, int SA>
__device__ __forceinline__ void load_tile(const float* __restrict__ x, int k0, int kpad, int64_t row0, int rows,
                                          float* __restrict__ H, int lane) {
  const float* xt = x + row0 * k0;
  if ((k0 & 3) == 0 && (reinterpret_cast<uintptr_t>(x) & 15) == 0) {
    // The warp's rows are one contiguous run of RW * k0 floats: float4 loads, consecutive lanes on
    // consecutive addresses; streamed (read once).
    const int total4 = RW * k0 / 4;
    for (int i = lane; i < total4; i += 32) {
      const int e = 4 * i, r = e / k0, c = e - r * k0;
      float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
      if (r < rows) v = __ldcs(reinterpret_cast<const float4*>(xt + e));
      *reinterpret_cast<float4*>(H + r * SA + c) = v;
    }
  } else {
    for (int i = lane; i < RW * k0; i += 32) {
      const int r = i / k0, c = i - r * k0;
      H[r * SA + c] = r < rows ? __ldcs(xt + i) : 0.f;
    }
  }
  const int extra = kpad - k0;  // zero the padding columns (shared memory may hold anything, NaN too)
  for (int i = lane; i < RW * extra; i += 32) {
    const int r = i / extra, c = k0 + (i - r * extra);
    H[r * SA + c] = 0.f;
  }
}

// A layer's activation over the warp's slice H (rows 0..RW-1, columns 0..npad-1), in place; for the
// last layer act(H) goes to y instead, rows 0..rows-1 and columns 0..NL-1 (consecutive lanes on
// consecutive addresses, one flat walk over the rows). One small loop per activation: an activation
// applied per element inside the unrolled accumulator loops put all seven activations' code on every
// element (the kernel was 337 KiB of SASS, past an SM's instruction caches; tools/sass_report.py).
template <MlpAct A, int RW, int SA>
__device__ __forceinline__ void mlp_tc_act_rows(float* __restrict__ H, int npad, int lane) {
  if constexpr (A != MlpAct::identity)
    for (int r = 0; r < RW; ++r)
      for (int c = lane; c < npad; c += 32) H[r * SA + c] = scalar::mlp_act_of<A>(H[r * SA + c]);
}

template <MlpAct A, int SA>
__device__ __forceinline__ void mlp_tc_store_rows(const float* __restrict__ H, float* __restrict__ yt, int rows, int NL,
                                                  int lane) {
  int r = lane / NL, c = lane - r * NL;
  for (int i = lane; i < rows * NL; i += 32) {
    __stcs(yt + i, scalar::mlp_act_of<A>(H[r * SA + c]));
    for (c += 32; c >= NL; c -= NL) ++r;
  }
}

template <int RW, int SA>
__device__ __forceinline__ void mlp_tc_activation(MlpAct act, bool last, float* __restrict__ H, int npad,
                                                  float* __restrict__ yt, int rows, int NL, int lane) {
#define ORBIT_MLP_TC_ACT(A)                                 \
  if (last) mlp_tc_store_rows<A, SA>(H, yt, rows, NL, lane); \
  else mlp_tc_act_rows<A, RW, SA>(H, npad, lane);
  switch (act) {
    case MlpAct::relu: ORBIT_MLP_TC_ACT(MlpAct::relu) break;
    case MlpAct::tanh: ORBIT_MLP_TC_ACT(MlpAct::tanh) break;
    case MlpAct::silu: ORBIT_MLP_TC_ACT(MlpAct::silu) break;
    case MlpAct::sigmoid: ORBIT_MLP_TC_ACT(MlpAct::sigmoid) break;
    case MlpAct::gelu: ORBIT_MLP_TC_ACT(MlpAct::gelu) break;
    case MlpAct::softplus: ORBIT_MLP_TC_ACT(MlpAct::softplus) break;
    default: ORBIT_MLP_TC_ACT(MlpAct::identity) break;
  }
#undef ORBIT_MLP_TC_ACT
}

template <int WMAX>
__global__ void __launch_bounds__(32 * scalar::mlp_tc_max_warps(WMAX), 1)
    mlp_tc_kernel(const __grid_constant__ MlpTcParams p, const float* __restrict__ x, float* __restrict__ y, int64_t n) {
  constexpr int MT = WMAX <= 64 ? 2 : 1;  // as plan_mlp_tc
  constexpr int RW = 16 * MT;
  constexpr int NTMAX = WMAX / 8;
  constexpr int SA = scalar::mlp_tc_act_stride(WMAX);
  ORBIT_DYNAMIC_SMEM(float, smem);

  // Every layer's W and b, zero-padded to [kpad][wstride] and [npad].
  for (int l = 0; l < p.layers; ++l) {
    const int K = p.widths[l], N = p.widths[l + 1], SW = p.wstride[l];
    const float* __restrict__ W = p.w[l];
    float* Ws = smem + p.woff[l];
    for (int idx = threadIdx.x; idx < p.kpad[l] * SW; idx += blockDim.x) {
      const int k = idx / SW, c = idx - k * SW;
      Ws[idx] = (k < K && c < N) ? W[k * N + c] : 0.f;
    }
    for (int c = threadIdx.x; c < p.npad[l]; c += blockDim.x) smem[p.boff[l] + c] = c < N ? p.b[l][c] : 0.f;
  }
  __syncthreads();

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int warps = blockDim.x >> 5;
  float* H = smem + p.weight_floats + warp * RW * SA;
  const int K0 = p.widths[0], NL = p.widths[p.layers];
  const int64_t tiles = (n + RW - 1) / RW;

  for (int64_t tile = int64_t(blockIdx.x) * warps + warp; tile < tiles; tile += int64_t(gridDim.x) * warps) {
    const int64_t row0 = tile * RW;
    const int rows = static_cast<int>(n - row0 < RW ? n - row0 : RW);
    load_tile<RW, SA>(x, K0, p.kpad[0], row0, rows, H, lane);
    __syncwarp();

    for (int l = 0; l < p.layers; ++l) {
      const int KP = p.kpad[l], NT = p.npad[l] / 8, SW = p.wstride[l];
      const float* Ws = smem + p.woff[l];
      const float* bs = smem + p.boff[l];
      float acc[MT][NTMAX][4];
#pragma unroll
      for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int nt = 0; nt < NTMAX; ++nt)
#pragma unroll
          for (int r = 0; r < 4; ++r) acc[mt][nt][r] = 0.f;

      for (int k0 = 0; k0 < KP; k0 += 8) {
        // The k-step's W fragments first, all loads in flight together (one shared-memory latency per
        // k-step rather than one per 8-column tile; tiles past NT read nothing).
        float braw[NTMAX][2];
#pragma unroll
        for (int nt = 0; nt < NTMAX; ++nt)
#pragma unroll
          for (int r = 0; r < 2; ++r) {
            const scalar::mma::Coord c = scalar::mma::b_frag(lane, r);
            braw[nt][r] = nt < NT ? Ws[(k0 + c.row) * SW + nt * 8 + c.col] : 0.f;
          }
        uint32_t ah[MT][4], al[MT][4];
#pragma unroll
        for (int mt = 0; mt < MT; ++mt)
#pragma unroll
          for (int r = 0; r < 4; ++r) {
            const scalar::mma::Coord c = scalar::mma::a_frag(lane, r);
            split_tf32(H[(mt * 16 + c.row) * SA + k0 + c.col], ah[mt][r], al[mt][r]);
          }
#pragma unroll
        for (int nt = 0; nt < NTMAX; ++nt) {
          if (nt < NT) {
            uint32_t bh[2], bl[2];
#pragma unroll
            for (int r = 0; r < 2; ++r) split_tf32(braw[nt][r], bh[r], bl[r]);
#pragma unroll
            for (int mt = 0; mt < MT; ++mt) {  // small terms first
              mma_tf32(acc[mt][nt], al[mt], bh);
              mma_tf32(acc[mt][nt], ah[mt], bl);
              mma_tf32(acc[mt][nt], ah[mt], bh);
            }
          }
        }
      }
      __syncwarp();  // every lane has read H: the layer's output may overwrite it

      // acc + b into the slice (every layer, the last too: its rows then leave coalesced), then the
      // activation in one pass over the slice.
#pragma unroll
      for (int nt = 0; nt < NTMAX; ++nt) {
        if (nt < NT) {
#pragma unroll
          for (int mt = 0; mt < MT; ++mt)
#pragma unroll
            for (int h = 0; h < 2; ++h) {
              const scalar::mma::Coord c = scalar::mma::c_frag(lane, 2 * h);  // and its right neighbour
              const int row = mt * 16 + c.row, col = nt * 8 + c.col;
              *reinterpret_cast<float2*>(H + row * SA + col) =
                  make_float2(acc[mt][nt][2 * h] + bs[col], acc[mt][nt][2 * h + 1] + bs[col + 1]);
            }
        }
      }
      __syncwarp();
      mlp_tc_activation<RW, SA>(p.acts[l], l + 1 == p.layers, H, p.npad[l], y + row0 * NL, rows, NL, lane);
      __syncwarp();  // the layer's output is visible to every lane
    }
  }
}

}  // namespace orbit::cuda::mlp_tc
