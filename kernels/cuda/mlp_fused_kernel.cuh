// The fused MLP's FP32 / FP64 kernels, included by kernels/cuda/mlp_fused.cu (which plans and launches
// them) and by tests/test_emu_mlp_fp.cpp (which runs this same source on the CPU through the CUDA
// emulator, tests/harness/cuda_emu.h).
//
// Tile kernel (every width <= 128). One CTA of NT = TM * WMAX / 64 threads owns TM rows. Shared memory:
//   H  [WMAX][TM + 4]  the tile's activations, transposed (feature-major, rows contiguous, padded rows),
//   Ws [K][NPAD]       the current layer's W, its columns zero-padded to NPAD = out rounded up to 8,
//   bs [NPAD]          its bias.
// Per layer every active thread accumulates a register tile of (4 FM) rows x (4 FN) columns over k in
// order (one FMA per term, as a GEMM does), reading float4 fragments of H and Ws: rows in FM chunks of 4
// (TM / FM apart), columns in FN chunks of 4 (NPAD / FN apart), so that the lanes of a quarter warp read
// consecutive words. FM = FN = 2 (8 x 8, 16 FMAs per shared load) for wide layers; narrower layers take
// smaller tiles so that every thread stays busy. All threads sync, then write acc + b back into H (the
// layer's input is dead by then: one buffer suffices), sync, apply the activation in place in a second
// pass (act_tile), the next layer's W and b are staged, sync.
// Padded columns compute act(0 + 0) and are never read (the next layer's k stops at the true width);
// rows past n compute on zeros and are never stored.
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels/cuda/device_api.cuh"
#include "kernels/scalar/mlp_act.h"

namespace orbit::cuda::mlp_fp {

using scalar::MlpAct;
constexpr int kMaxL = scalar::kMlpMaxLayers;

struct MlpParams {
  int layers;
  int widths[kMaxL + 1];
  MlpAct acts[kMaxL];
  const void* w[kMaxL];
  const void* b[kMaxL];
  int woff[kMaxL], boff[kMaxL];  // resident mode: each layer's W and b in shared memory, after H
};

__device__ __forceinline__ void ld4(const float* p, float* v) {
  const float4 t = *reinterpret_cast<const float4*>(p);
  v[0] = t.x, v[1] = t.y, v[2] = t.z, v[3] = t.w;
}
__device__ __forceinline__ void ld4(const double* p, double* v) {
  const double2 a = *reinterpret_cast<const double2*>(p), b = *reinterpret_cast<const double2*>(p + 2);
  v[0] = a.x, v[1] = a.y, v[2] = b.x, v[3] = b.y;
}
__device__ __forceinline__ void st4(float* p, const float* v) { *reinterpret_cast<float4*>(p) = make_float4(v[0], v[1], v[2], v[3]); }
__device__ __forceinline__ void st4(double* p, const double* v) {
  *reinterpret_cast<double2*>(p) = make_double2(v[0], v[1]);
  *reinterpret_cast<double2*>(p + 2) = make_double2(v[2], v[3]);
}
__device__ __forceinline__ float fma_rn(float a, float b, float c) { return __fmaf_rn(a, b, c); }
__device__ __forceinline__ double fma_rn(double a, double b, double c) { return __fma_rn(a, b, c); }

// The resident mode's layout of every layer's W [K][NPAD] and b [NPAD] after H: fills p.woff and p.boff
// and returns the elements they take.
inline size_t plan_resident_weights(MlpParams& p) {
  size_t w_elems = 0;
  for (int l = 0; l < p.layers; ++l) {
    const int npad = (p.widths[l + 1] + 7) & ~7;
    p.woff[l] = static_cast<int>(w_elems);
    w_elems += size_t(p.widths[l]) * npad;
    p.boff[l] = static_cast<int>(w_elems);
    w_elems += npad;
  }
  return w_elems;
}

// act over the tile's activations H[0:NPAD][0:TM] (row stride TM + 4), in place.
template <MlpAct A, class T, int TM>
__device__ __forceinline__ void act_tile(T* __restrict__ H, int NPAD) {
  constexpr int S = TM + 4;
  for (int idx = threadIdx.x; idx < NPAD * TM; idx += blockDim.x) {
    const int c = idx / TM, r = idx - c * TM;  // TM is a power of two: shifts
    H[c * S + r] = scalar::mlp_act_of<A>(H[c * S + r]);
  }
}

// One layer on the tile: H[0:K] (with Ws, bs) -> H[0:NPAD].
template <class T, int TM, int FM, int FN>
__device__ __forceinline__ void tile_layer(T* __restrict__ H, const T* __restrict__ Ws, const T* __restrict__ bs, int K,
                                           int NPAD, MlpAct act) {
  constexpr int S = TM + 4;
  constexpr int RG = TM / (4 * FM);
  const int CG = NPAD / (4 * FN);
  const int tid = threadIdx.x;
  const bool active = tid < RG * CG;
  const int cg = tid % CG, rg = tid / CG;
  int rbase[FM], cbase[FN];
#pragma unroll
  for (int i = 0; i < FM; ++i) rbase[i] = rg * 4 + i * (TM / FM);
#pragma unroll
  for (int j = 0; j < FN; ++j) cbase[j] = cg * 4 + j * (NPAD / FN);
  T acc[4 * FM][4 * FN];
#pragma unroll
  for (int i = 0; i < 4 * FM; ++i)
#pragma unroll
    for (int j = 0; j < 4 * FN; ++j) acc[i][j] = T(0);
  if (active) {
    const T* hp = H;
    const T* wp = Ws;
#pragma unroll 4
    for (int k = 0; k < K; ++k) {
      T a[4 * FM], b[4 * FN];
#pragma unroll
      for (int i = 0; i < FM; ++i) ld4(hp + rbase[i], a + 4 * i);
#pragma unroll
      for (int j = 0; j < FN; ++j) ld4(wp + cbase[j], b + 4 * j);
#pragma unroll
      for (int i = 0; i < 4 * FM; ++i)
#pragma unroll
        for (int j = 0; j < 4 * FN; ++j) acc[i][j] = fma_rn(a[i], b[j], acc[i][j]);
      hp += S;
      wp += NPAD;
    }
  }
  __syncthreads();  // every thread has read H: overwrite it with the layer's output
  if (active) {
#pragma unroll
    for (int j = 0; j < FN; ++j)
#pragma unroll
      for (int jj = 0; jj < 4; ++jj) {
        const int c = cbase[j] + jj;
        const T bias = bs[c];
#pragma unroll
        for (int i = 0; i < FM; ++i) {
          T v[4];
#pragma unroll
          for (int q = 0; q < 4; ++q) v[q] = acc[4 * i + q][4 * j + jj] + bias;
          st4(H + c * S + rbase[i], v);
        }
      }
  }
  __syncthreads();
  // The activation in a second pass over H, one small loop per activation: applied per element inside
  // the unrolled loops above it put all seven activations' code on each of 64 elements (the kernels
  // were 430-440 KiB of SASS, past an SM's instruction caches; tools/sass_report.py).
  switch (act) {
    case MlpAct::relu: act_tile<MlpAct::relu, T, TM>(H, NPAD); break;
    case MlpAct::tanh: act_tile<MlpAct::tanh, T, TM>(H, NPAD); break;
    case MlpAct::silu: act_tile<MlpAct::silu, T, TM>(H, NPAD); break;
    case MlpAct::sigmoid: act_tile<MlpAct::sigmoid, T, TM>(H, NPAD); break;
    case MlpAct::gelu: act_tile<MlpAct::gelu, T, TM>(H, NPAD); break;
    case MlpAct::softplus: act_tile<MlpAct::softplus, T, TM>(H, NPAD); break;
    default: break;  // identity
  }
}

template <class T, int NT>
__device__ __forceinline__ void stage_weights(const MlpParams& p, int l, T* __restrict__ Ws, T* __restrict__ bs) {
  const T* __restrict__ W = static_cast<const T*>(p.w[l]);
  const T* __restrict__ b = static_cast<const T*>(p.b[l]);
  const int K = p.widths[l], N = p.widths[l + 1], NPAD = (N + 7) & ~7;
  if ((N & 3) == 0 && (reinterpret_cast<uintptr_t>(W) & 15) == 0) {
    // Rows of N / 4 vectors (then one zero vector when N is not a multiple of 8).
    const int N4 = N >> 2, P4 = NPAD >> 2;
    for (int idx = threadIdx.x; idx < K * P4; idx += NT) {
      const int k = idx / P4, c4 = idx - k * P4;
      T v[4] = {T(0), T(0), T(0), T(0)};
      if (c4 < N4) ld4(W + k * N + 4 * c4, v);
      st4(Ws + 4 * idx, v);
    }
  } else {
    for (int idx = threadIdx.x; idx < K * NPAD; idx += NT) {
      const int k = idx / NPAD, c = idx - k * NPAD;
      Ws[idx] = c < N ? W[k * N + c] : T(0);
    }
  }
  for (int c = threadIdx.x; c < NPAD; c += NT) bs[c] = c < N ? b[c] : T(0);
}

// One tile of rows through every layer. Resident: Wbase holds every layer's W and b (p.woff, p.boff);
// streaming: Wbase holds one layer's W [WMAX][WMAX] then its b, staged here layer by layer.
template <class T, int TM, int WMAX, int NT, bool RESIDENT>
__device__ __forceinline__ void mlp_tile(const MlpParams& p, const T* __restrict__ x, T* __restrict__ y, int64_t n,
                                         int64_t row0, T* __restrict__ H, T* __restrict__ Wbase) {
  constexpr int S = TM + 4;
  const int tid = threadIdx.x;
  const int K0 = p.widths[0], NL = p.widths[p.layers];
  const int rows = static_cast<int>(n - row0 < TM ? n - row0 : TM);

  // The x tile, transposed into H (consecutive lanes take consecutive rows: no bank conflicts).
  const T* xt = x + row0 * K0;
  if ((K0 & 3) == 0 && (reinterpret_cast<uintptr_t>(x) & 15) == 0) {
    const int K4 = K0 >> 2;
    for (int idx = tid; idx < TM * K4; idx += NT) {
      const int r = idx % TM, k4 = idx / TM;
      T v[4] = {T(0), T(0), T(0), T(0)};
      if (r < rows) ld4(xt + int64_t(r) * K0 + 4 * k4, v);
#pragma unroll
      for (int q = 0; q < 4; ++q) H[(4 * k4 + q) * S + r] = v[q];
    }
  } else {
    for (int idx = tid; idx < TM * K0; idx += NT) {
      const int r = idx % TM, k = idx / TM;
      H[k * S + r] = r < rows ? xt[int64_t(r) * K0 + k] : T(0);
    }
  }
  if (!RESIDENT) stage_weights<T, NT>(p, 0, Wbase, Wbase + WMAX * WMAX);
  __syncthreads();

  for (int l = 0; l < p.layers; ++l) {
    const int K = p.widths[l], NPAD = (p.widths[l + 1] + 7) & ~7;
    const MlpAct act = p.acts[l];
    const T* Ws = RESIDENT ? Wbase + p.woff[l] : Wbase;
    const T* bs = RESIDENT ? Wbase + p.boff[l] : Wbase + WMAX * WMAX;
    const int items22 = (TM / 8) * (NPAD / 8);
    if (2 * items22 > NT) tile_layer<T, TM, 2, 2>(H, Ws, bs, K, NPAD, act);
    else if (4 * items22 > NT) tile_layer<T, TM, 2, 1>(H, Ws, bs, K, NPAD, act);
    else tile_layer<T, TM, 1, 1>(H, Ws, bs, K, NPAD, act);
    // The layer's reads of the staged W are done: stage the next one.
    if (!RESIDENT && l + 1 < p.layers) stage_weights<T, NT>(p, l + 1, Wbase, Wbase + WMAX * WMAX);
    __syncthreads();
  }

  // The output tile, back to row-major (consecutive lanes write consecutive addresses).
  T* yt = y + row0 * NL;
  for (int idx = tid; idx < rows * NL; idx += NT) {
    const int r = idx / NL, c = idx - r * NL;
    yt[idx] = H[c * S + r];
  }
}

template <class T, int TM, int WMAX, int NT, int MINB, bool RESIDENT>
__global__ void __launch_bounds__(NT, MINB)
    mlp_tile_kernel(const __grid_constant__ MlpParams p, const T* __restrict__ x, T* __restrict__ y, int64_t n) {
  ORBIT_DYNAMIC_SMEM(unsigned char, smem_raw);  // bytes: the kernel is instantiated for f32 and f64
  T* H = reinterpret_cast<T*>(smem_raw);
  T* Wbase = H + WMAX * (TM + 4);
  if constexpr (RESIDENT) {
    // Every layer's W and b once per CTA (visible after the first tile's first sync), then the tiles.
    for (int l = 0; l < p.layers; ++l) stage_weights<T, NT>(p, l, Wbase + p.woff[l], Wbase + p.boff[l]);
    const int64_t tiles = (n + TM - 1) / TM;
    for (int64_t tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
      mlp_tile<T, TM, WMAX, NT, true>(p, x, y, n, tile * TM, H, Wbase);
      __syncthreads();  // H is read before the next tile overwrites it
    }
  } else {
    mlp_tile<T, TM, WMAX, NT, false>(p, x, y, n, int64_t(blockIdx.x) * TM, H, Wbase);
  }
}

// Layers wider than the tile kernel allows: one naive kernel per layer (one thread per output).
template <class T>
__global__ void dense_layer_kernel(const T* __restrict__ h, int64_t K, const T* __restrict__ W, const T* __restrict__ b,
                                   int64_t N, MlpAct act, T* __restrict__ out, int64_t rows) {
  const int64_t total = rows * N;
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < total; idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t i = idx / N, j = idx - i * N;
    const T* hr = h + i * K;
    T acc = T(0);
    for (int64_t k = 0; k < K; ++k) acc = fma_rn(hr[k], W[k * N + j], acc);
    out[idx] = scalar::mlp_act(act, acc + b[j]);
  }
}

}  // namespace orbit::cuda::mlp_fp
