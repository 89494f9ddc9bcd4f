// The fused EGNN message op's forward on tensor cores: when it runs (egnn_message_forward_tc), its plan
// and launch. The kernel itself: kernels/cuda/egnn_message_tc_kernel.cuh.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/egnn_message.h"
#include "kernels/cuda/egnn_message_tc_kernel.cuh"
#include "kernels/cuda/runtime.h"
#include "kernels/scalar/egnn_tc_plan.h"

namespace orbit::cuda {
namespace {

using egnn_tc::EgnnTcArgs;
using egnn_tc::egnn_tc_forward;

template <int H>
void launch(const scalar::EgnnTcPlan& plan, const EgnnTcArgs& a, float* out, cudaStream_t s) {
  auto kern = egnn_tc_forward<H>;
  static const bool attr_set = [&] {
    check(cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize,
                               device_attribute(cudaDevAttrMaxSharedMemoryPerBlockOptin, "cudaDeviceGetAttribute(smem)")),
          "cudaFuncSetAttribute(egnn_tc_forward, max dynamic shared memory)");
    return true;
  }();
  (void)attr_set;
  static const int sms = device_attribute(cudaDevAttrMultiProcessorCount, "cudaDeviceGetAttribute(SM count)");
  const int threads = 32 * plan.warps;
  int per_sm = 0;
  check(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kern, threads, plan.smem_bytes),
        "cudaOccupancyMaxActiveBlocksPerMultiprocessor(egnn_tc_forward)");
  per_sm = std::max(per_sm, 1);
  const int64_t receivers = a.B * a.n;
  const int64_t grid = std::max<int64_t>(
      1, std::min<int64_t>((receivers + plan.warps - 1) / plan.warps, int64_t(per_sm) * std::max(sms, 1)));
  kern<<<static_cast<unsigned>(grid), threads, plan.smem_bytes, s>>>(a, out);
  check_launch("egnn_tc_forward");
}

}  // namespace

bool egnn_message_forward_tc(const EgnnMsgDesc& d, float* out, cudaStream_t s) {
  if (env_off("ORBIT_EGNN_CUDA_TC")) return false;
  static const int major =
      device_attribute(cudaDevAttrComputeCapabilityMajor, "cudaDeviceGetAttribute(compute capability)");
  static const int smem_limit =
      device_attribute(cudaDevAttrMaxSharedMemoryPerBlockOptin, "cudaDeviceGetAttribute(max shared memory)");
  scalar::EgnnTcPlan plan;
  if (major < 8 || !scalar::plan_egnn_tc(d.H, d.d, d.E, static_cast<size_t>(smem_limit), plan)) return false;
  if (d.n > (int64_t(1) << 20)) return false;
  if (d.B * d.n == 0) return true;
  const EgnnTcArgs a = egnn_tc::egnn_tc_args(plan, d, d.in);
  switch (plan.H) {
    case 32: launch<32>(plan, a, out, s); break;
    case 64: launch<64>(plan, a, out, s); break;
    default: launch<128>(plan, a, out, s); break;
  }
  return true;
}

}  // namespace orbit::cuda
