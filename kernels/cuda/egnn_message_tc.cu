// The fused EGNN message op's forward on tensor cores: when it runs (egnn_message_forward_tc), its plan
// and launch. The kernel itself: kernels/cuda/egnn_message_tc_kernel.cuh.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/egnn_message.h"
#include "kernels/cuda/egnn_message_kernels.cuh"
#include "kernels/cuda/egnn_message_tc_bwd_kernel.cuh"
#include "kernels/cuda/egnn_message_tc_kernel.cuh"
#include "kernels/cuda/runtime.h"
#include "kernels/scalar/egnn_tc_plan.h"

namespace orbit::cuda {
namespace {

using egnn_tc::EgnnTcArgs;
using egnn_tc::EgnnTcBwdOut;
using egnn_tc::egnn_tc_backward;
using egnn_tc::egnn_tc_forward;

// Persistent CTAs: as many as fit on the device, at most one warp per receiver.
template <class Kernel>
int64_t persistent_grid(Kernel kern, const char* name, const scalar::EgnnTcPlan& plan, int64_t receivers) {
  check(cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize,
                             device_attribute(cudaDevAttrMaxSharedMemoryPerBlockOptin, "cudaDeviceGetAttribute(smem)")),
        (std::string("cudaFuncSetAttribute(") + name + ", max dynamic shared memory)").c_str());
  static const int sms = device_attribute(cudaDevAttrMultiProcessorCount, "cudaDeviceGetAttribute(SM count)");
  int per_sm = 0;
  check(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kern, 32 * plan.warps, plan.smem_bytes),
        (std::string("cudaOccupancyMaxActiveBlocksPerMultiprocessor(") + name + ")").c_str());
  per_sm = std::max(per_sm, 1);
  return std::max<int64_t>(1, std::min<int64_t>((receivers + plan.warps - 1) / plan.warps, int64_t(per_sm) * std::max(sms, 1)));
}

template <int H>
void launch(const scalar::EgnnTcPlan& plan, const EgnnTcArgs& a, float* out, cudaStream_t s) {
  static const int64_t max_grid = persistent_grid(egnn_tc_forward<H>, "egnn_tc_forward", plan, INT64_MAX / 2);
  const int64_t grid = std::min<int64_t>(max_grid, (a.B * a.n + plan.warps - 1) / plan.warps);
  egnn_tc_forward<H><<<static_cast<unsigned>(std::max<int64_t>(grid, 1)), 32 * plan.warps, plan.smem_bytes, s>>>(a, out);
  check_launch("egnn_tc_forward");
}

template <int H>
int64_t backward_grid(const scalar::EgnnTcPlan& plan, int64_t receivers) {
  static const int64_t max_grid = persistent_grid(egnn_tc_backward<H>, "egnn_tc_backward", plan, INT64_MAX / 2);
  return std::max<int64_t>(1, std::min<int64_t>(max_grid, (receivers + plan.warps - 1) / plan.warps));
}

// The plan of the forward or backward tensor-core kernel where it applies: the switch on, sm_80+, a
// shape the kernels take (kernels/scalar/egnn_tc_plan.h) and n within int range.
bool tc_plan(const EgnnMsgDesc& d, bool backward, scalar::EgnnTcPlan& plan) {
  if (env_off("ORBIT_EGNN_CUDA_TC") || d.n > (int64_t(1) << 20)) return false;
  static const int major =
      device_attribute(cudaDevAttrComputeCapabilityMajor, "cudaDeviceGetAttribute(compute capability)");
  static const int smem_limit =
      device_attribute(cudaDevAttrMaxSharedMemoryPerBlockOptin, "cudaDeviceGetAttribute(max shared memory)");
  return major >= 8 && scalar::plan_egnn_tc(d.H, d.d, d.E, static_cast<size_t>(smem_limit), plan, backward);
}

}  // namespace

bool egnn_message_forward_tc(const EgnnMsgDesc& d, float* out, cudaStream_t s) {
  scalar::EgnnTcPlan plan;
  if (!tc_plan(d, false, plan)) return false;
  if (d.B * d.n == 0) return true;
  const EgnnTcArgs a = egnn_tc::egnn_tc_args(plan, d, d.in);
  switch (plan.H) {
    case 32: launch<32>(plan, a, out, s); break;
    case 64: launch<64>(plan, a, out, s); break;
    default: launch<128>(plan, a, out, s); break;
  }
  return true;
}

bool egnn_message_backward_tc(const EgnnMsgDesc& d, const float* G, void* const* grads, cudaStream_t s) {
  scalar::EgnnTcPlan plan;
  if (!tc_plan(d, true, plan)) return false;
  const int64_t deg = d.self_loops ? d.n : d.n - 1;
  const int64_t receivers = d.B * d.n, edges = receivers * deg;
  // Empty graphs, and sums over more edges than one cuBLAS product takes, go to the FP32 kernel.
  if (receivers == 0 || deg == 0 || edges > 0x7fffffffLL) return false;
  const int64_t H = d.H, dim = d.d;
  const int64_t pw = scalar::egnn_tc_bwd_cols(plan.H, static_cast<int>(d.E)) - H;
  int64_t grid = 0;
  switch (plan.H) {
    case 32: grid = backward_grid<32>(plan, receivers); break;
    case 64: grid = backward_grid<64>(plan, receivers); break;
    default: grid = backward_grid<128>(plan, receivers); break;
  }
  const int64_t floats = 5 * edges * H + edges * dim + grid * plan.warps * 16 * H + receivers * pw + pw;
  float* buf = static_cast<float*>(scratch(s, static_cast<size_t>(floats) * sizeof(float)));
  EgnnTcBwdOut o{};
  o.G = G;
  o.U1 = buf;
  o.M = o.U1 + edges * H;
  o.DZ2 = o.M + edges * H;
  o.DZ3 = o.DZ2 + edges * H;
  o.DPRE = o.DZ3 + edges * H;
  o.V = o.DPRE + edges * H;
  o.Z2 = o.V + edges * dim;
  o.part = o.Z2 + grid * plan.warps * 16 * H;
  float* wsum = o.part + receivers * pw;
  auto grad = [&](int k) { return static_cast<float*>(grads[k]); };
  o.gP = grad(0);
  o.gx = grad(2);
  o.ga = d.E > 0 ? grad(kEgnnA) : nullptr;
  const EgnnTcArgs a = egnn_tc::egnn_tc_args(plan, d, d.in);
  const unsigned blocks = static_cast<unsigned>(grid);
  switch (plan.H) {
    case 32: egnn_tc_backward<32><<<blocks, 32 * plan.warps, plan.smem_bytes, s>>>(a, o); break;
    case 64: egnn_tc_backward<64><<<blocks, 32 * plan.warps, plan.smem_bytes, s>>>(a, o); break;
    default: egnn_tc_backward<128><<<blocks, 32 * plan.warps, plan.smem_bytes, s>>>(a, o); break;
  }
  check_launch("egnn_tc_backward");
  egnn_tc::egnn_tc_senders<float><<<grid_for(receivers * (H + dim)), kBlock, 0, s>>>(d.B, static_cast<int>(d.n), plan.H,
                                                                             static_cast<int>(dim), d.self_loops,
                                                                             o.DPRE, o.V, grad(1), o.gx);
  check_launch("egnn_tc_senders");
  egnn_msg::reduce_partials<float><<<grid_for(pw), kBlock, 0, s>>>(o.part, receivers, pw, wsum);
  check_launch("egnn_message reduce_partials (tensor-core backward)");
  // The H x H weight gradients over every edge: U1^T DZ2 and M^T DZ3.
  matmul(Elem::f32, o.U1, o.DZ2, grads[4], Iter{}, H, H, edges, true, false, nullptr, s);
  matmul(Elem::f32, o.M, o.DZ3, grads[6], Iter{}, H, H, edges, true, false, nullptr, s);
  auto put = [&](int slot, int64_t off, int64_t len) {
    if (grads[slot] && len > 0)
      check(cudaMemcpyAsync(grads[slot], wsum + off, static_cast<size_t>(len) * sizeof(float), cudaMemcpyDeviceToDevice, s),
            "cudaMemcpyAsync (egnn_message weight gradients)");
  };
  // wsum: the columns past gP (scalar::EgnnTcCol, shifted by H): w_r, b2, b3, w4, w_att, W_a, b_att.
  put(3, 0, H);
  put(5, H, H);
  put(7, 2 * H, H);
  put(8, 3 * H, H);
  if (d.attention) {
    put(kEgnnWatt, 4 * H, H);
    put(kEgnnBatt, (5 + d.E) * H, 1);
  }
  if (d.E > 0) put(kEgnnWa, 5 * H, d.E * H);
  return true;
}

}  // namespace orbit::cuda
