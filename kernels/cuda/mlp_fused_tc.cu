// The fused MLP on tensor cores (f32 as 3xTF32, sm_80+): when it runs (kernels/cuda/mlp_fused.h), its
// plan and launch. The kernel itself: kernels/cuda/mlp_fused_tc_kernel.cuh.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/mlp_fused.h"
#include "kernels/cuda/mlp_fused_tc_kernel.cuh"
#include "kernels/cuda/runtime.h"
#include "kernels/scalar/mlp_tc_plan.h"

namespace orbit::cuda {
namespace {

using mlp_tc::MlpTcParams;
using mlp_tc::mlp_tc_kernel;
using scalar::MlpTcPlan;
constexpr int kMaxL = scalar::kMlpMaxLayers;

template <int WMAX>
void launch(const MlpTcPlan& plan, const MlpTcParams& p, const float* x, float* y, int64_t n, cudaStream_t s) {
  auto kern = mlp_tc_kernel<WMAX>;
  static const int smem_optin = [&] {
    const int bytes = device_attribute(cudaDevAttrMaxSharedMemoryPerBlockOptin, "cudaDeviceGetAttribute(max shared memory)");
    check(cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes),
          "cudaFuncSetAttribute(mlp_tc_kernel, max dynamic shared memory)");
    return bytes;
  }();
  (void)smem_optin;
  const int threads = 32 * plan.warps;
  int per_sm = 0;
  check(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kern, threads, plan.smem_bytes),
        "cudaOccupancyMaxActiveBlocksPerMultiprocessor(mlp_tc_kernel)");
  per_sm = std::max(per_sm, 1);
  static const int sms = device_attribute(cudaDevAttrMultiProcessorCount, "cudaDeviceGetAttribute(SM count)");
  const int64_t tiles = (n + plan.rows_per_warp - 1) / plan.rows_per_warp;
  const int64_t ctas_needed = (tiles + plan.warps - 1) / plan.warps;
  const int64_t grid = std::max<int64_t>(1, std::min<int64_t>(ctas_needed, int64_t(per_sm) * std::max(sms, 1)));
  kern<<<static_cast<unsigned>(grid), threads, plan.smem_bytes, s>>>(p, x, y, n);
  check_launch("mlp_tc_kernel");
}

}  // namespace

bool mlp_fused_tc(const float* x, int64_t n, const MlpDesc& d, float* y, cudaStream_t s) {
  if (env_off("ORBIT_MLP_CUDA_TC") || d.layers < 1 || d.layers > kMaxL) return false;
  static const int major =
      device_attribute(cudaDevAttrComputeCapabilityMajor, "cudaDeviceGetAttribute(compute capability)");
  if (major < 8) return false;
  int widths[kMaxL + 1];
  for (int l = 0; l <= d.layers; ++l) {
    if (d.widths[l] < 1 || d.widths[l] > 128) return false;
    widths[l] = static_cast<int>(d.widths[l]);
  }
  static const int smem_limit =
      device_attribute(cudaDevAttrMaxSharedMemoryPerBlockOptin, "cudaDeviceGetAttribute(max shared memory)");
  MlpTcPlan plan;
  if (!scalar::plan_mlp_tc(widths, d.layers, static_cast<size_t>(smem_limit), plan)) return false;
  if (n == 0) return true;
  const MlpTcParams p = mlp_tc::mlp_tc_params(plan, widths, d.acts, d.w, d.b);
  switch (plan.wmax) {
    case 32: launch<32>(plan, p, x, y, n, s); break;
    case 64: launch<64>(plan, p, x, y, n, s); break;
    default: launch<128>(plan, p, x, y, n, s); break;
  }
  return true;
}

}  // namespace orbit::cuda
