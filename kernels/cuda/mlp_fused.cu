// The fused MLP kernel (kernels/cuda/mlp_fused.h).
//
// Tile kernel (every width <= 128). One CTA of NT = TM * WMAX / 64 threads owns TM rows. Shared memory:
//   H  [WMAX][TM + 4]  the tile's activations, transposed (feature-major, rows contiguous, padded rows),
//   Ws [K][NPAD]       the current layer's W, its columns zero-padded to NPAD = out rounded up to 8,
//   bs [NPAD]          its bias.
// Per layer every active thread accumulates a register tile of (4 FM) rows x (4 FN) columns over k in
// order (one FMA per term, as a GEMM does), reading float4 fragments of H and Ws: rows in FM chunks of 4
// (TM / FM apart), columns in FN chunks of 4 (NPAD / FN apart), so that the lanes of a quarter warp read
// consecutive words. FM = FN = 2 (8 x 8, 16 FMAs per shared load) for wide layers; narrower layers take
// smaller tiles so that every thread stays busy. All threads sync, then write act(acc + b) back into H
// (the layer's input is dead by then: one buffer suffices), the next layer's W and b are staged, sync.
// Padded columns compute act(0 + 0) and are never read (the next layer's k stops at the true width);
// rows past n compute on zeros and are never stored.
#include <algorithm>
#include <cstdlib>
#include <cstdint>
#include <type_traits>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/mlp_fused.h"
#include "kernels/cuda/runtime.h"

namespace orbit::cuda {
namespace {

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
          for (int q = 0; q < 4; ++q) v[q] = scalar::mlp_act(act, acc[4 * i + q][4 * j + jj] + bias);
          st4(H + c * S + rbase[i], v);
        }
      }
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
  extern __shared__ __align__(16) unsigned char smem_raw[];
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

int sm_count() {
  static const int count = std::max(1, device_attribute(cudaDevAttrMultiProcessorCount, "cudaDeviceGetAttribute(SM count)"));
  return count;
}

int max_smem_optin() {
  static const int bytes =
      device_attribute(cudaDevAttrMaxSharedMemoryPerBlockOptin, "cudaDeviceGetAttribute(max shared memory per block)");
  return bytes;
}

// ORBIT_MLP_CUDA_RESIDENT=1 allows the resident mode where it fits; unset or 0: streaming. Measured on
// an H100 (bench mlp, 4M x 32-64x4-16): streaming 8.5 ms, resident 13.4 ms (2 CTAs per SM starve it).
bool resident_allowed() {
  const char* e = std::getenv("ORBIT_MLP_CUDA_RESIDENT");
  return e && e[0] == '1' && e[1] == 0;
}

// Two modes. Resident (when every layer's W and b fit in shared memory next to H with at least 8 warps
// per SM): persistent CTAs stage all weights once and loop over tiles. Streaming: one CTA per tile,
// each layer's W staged in turn (more CTAs per SM, weights re-read from L2 per tile).
template <class T, int TM, int WMAX>
void launch_tile(MlpParams& p, const T* x, T* y, int64_t n, cudaStream_t s) {
  constexpr int NT = TM * WMAX / 64;
  // f32 up to 64 wide: 4 CTAs per SM in the streaming mode (128 registers a thread); the resident mode
  // is held to 2 or 3 CTAs by its shared memory anyway, so its register budget is 2 CTAs'.
  constexpr int MINB = std::is_same_v<T, float> && WMAX <= 64 ? (WMAX == 64 ? 4 : 8) : 1;
  constexpr int MINB_RES = std::is_same_v<T, float> && WMAX <= 64 ? 2 : 1;
  const int64_t tiles = (n + TM - 1) / TM;
  if (tiles > int64_t(0x7fffffff)) throw CudaFailure("mlp_fused: too many rows for one launch");
  const size_t h_elems = size_t(WMAX) * (TM + 4);
  size_t w_elems = 0;
  for (int l = 0; l < p.layers; ++l) {
    const int npad = (p.widths[l + 1] + 7) & ~7;
    p.woff[l] = static_cast<int>(w_elems);
    w_elems += size_t(p.widths[l]) * npad;
    p.boff[l] = static_cast<int>(w_elems);
    w_elems += npad;
  }
  const size_t resident_smem = (h_elems + w_elems) * sizeof(T);
  if (resident_allowed() && resident_smem <= static_cast<size_t>(max_smem_optin())) {
    auto kern = mlp_tile_kernel<T, TM, WMAX, NT, MINB_RES, true>;
    static const bool attr_set = [&] {
      check(cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, max_smem_optin()),
            "cudaFuncSetAttribute(mlp_tile_kernel, max dynamic shared memory)");
      return true;
    }();
    (void)attr_set;
    int per_sm = 0;
    check(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kern, NT, resident_smem),
          "cudaOccupancyMaxActiveBlocksPerMultiprocessor(mlp_tile_kernel)");
    if (per_sm * NT >= 256) {
      const int64_t grid = std::min<int64_t>(tiles, int64_t(per_sm) * sm_count());
      kern<<<static_cast<unsigned>(grid), NT, resident_smem, s>>>(p, x, y, n);
      check_launch("mlp_tile_kernel (resident)");
      return;
    }
  }
  constexpr size_t smem = (size_t(WMAX) * (TM + 4) + size_t(WMAX) * WMAX + WMAX) * sizeof(T);
  auto kern = mlp_tile_kernel<T, TM, WMAX, NT, MINB, false>;
  static const bool attr_set = [&] {
    check(cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)),
          "cudaFuncSetAttribute(mlp_tile_kernel, max dynamic shared memory)");
    return true;
  }();
  (void)attr_set;
  kern<<<static_cast<unsigned>(tiles), NT, smem, s>>>(p, x, y, n);
  check_launch("mlp_tile_kernel");
}

template <class T>
void run_tile(MlpParams& p, int max_width, const T* x, T* y, int64_t n, cudaStream_t s) {
  if (max_width <= 32) launch_tile<T, 128, 32>(p, x, y, n, s);
  else if (max_width <= 64) launch_tile<T, 128, 64>(p, x, y, n, s);
  else if constexpr (std::is_same_v<T, float>) launch_tile<T, 128, 128>(p, x, y, n, s);
  else launch_tile<T, 64, 128>(p, x, y, n, s);  // f64: 64 rows keep H and a 128 x 128 W within 227 KiB
}

template <class T>
void run_layers(const MlpDesc& d, int64_t max_width, const T* x, T* y, int64_t n, cudaStream_t s) {
  T* buf[2] = {nullptr, nullptr};
  if (d.layers > 1) {
    const size_t bytes = static_cast<size_t>(n) * static_cast<size_t>(max_width) * sizeof(T);
    buf[0] = static_cast<T*>(scratch(s, bytes));
    if (d.layers > 2) buf[1] = static_cast<T*>(scratch(s, bytes));
  }
  const T* h = x;
  for (int l = 0; l < d.layers; ++l) {
    T* out = l + 1 == d.layers ? y : buf[l % 2];
    const int64_t N = d.widths[l + 1];
    dense_layer_kernel<T><<<grid_for(n * N), kBlock, 0, s>>>(h, d.widths[l], static_cast<const T*>(d.w[l]),
                                                             static_cast<const T*>(d.b[l]), N, d.acts[l], out, n);
    check_launch("dense_layer_kernel");
    h = out;
  }
}

}  // namespace

void mlp_fused(Elem t, const void* x, int64_t n, const MlpDesc& d, void* y, cudaStream_t s) {
  if (d.layers < 1 || d.layers > kMaxL) throw CudaFailure("mlp_fused: 1 to 64 layers");
  if (t != Elem::f32 && t != Elem::f64) throw CudaFailure("mlp_fused: f32 or f64 only");
  if (n == 0) return;
  int64_t max_width = 0;
  for (int l = 0; l <= d.layers; ++l) max_width = std::max(max_width, d.widths[l]);
  if (max_width > kMlpMaxFastWidth) {
    if (t == Elem::f32) run_layers<float>(d, max_width, static_cast<const float*>(x), static_cast<float*>(y), n, s);
    else run_layers<double>(d, max_width, static_cast<const double*>(x), static_cast<double*>(y), n, s);
    return;
  }
  MlpParams p{};
  p.layers = d.layers;
  for (int l = 0; l <= d.layers; ++l) p.widths[l] = static_cast<int>(d.widths[l]);
  for (int l = 0; l < d.layers; ++l) {
    p.acts[l] = d.acts[l];
    p.w[l] = d.w[l];
    p.b[l] = d.b[l];
  }
  // f32 on tensor cores (3xTF32) where the device and the shared memory allow it.
  if (t == Elem::f32 && mlp_fused_tc(static_cast<const float*>(x), n, d, static_cast<float*>(y), s)) return;
  const int mw = static_cast<int>(max_width);
  if (t == Elem::f32) run_tile<float>(p, mw, static_cast<const float*>(x), static_cast<float*>(y), n, s);
  else run_tile<double>(p, mw, static_cast<const double*>(x), static_cast<double*>(y), n, s);
}

}  // namespace orbit::cuda
