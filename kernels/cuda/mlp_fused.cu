// The fused MLP (kernels/cuda/mlp_fused.h): which kernel runs and its launch. The FP32 / FP64 kernels
// themselves: kernels/cuda/mlp_fused_kernel.cuh; the tensor-core one: kernels/cuda/mlp_fused_tc.cu.
#include <algorithm>
#include <cstdlib>
#include <cstdint>
#include <type_traits>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/mlp_fused.h"
#include "kernels/cuda/mlp_fused_kernel.cuh"
#include "kernels/cuda/runtime.h"

namespace orbit::cuda {
namespace {

using namespace mlp_fp;

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
  const size_t resident_smem = (h_elems + plan_resident_weights(p)) * sizeof(T);
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
