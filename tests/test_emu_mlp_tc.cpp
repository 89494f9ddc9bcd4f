// The fused MLP's tensor-core kernel (kernels/cuda/mlp_fused_tc_kernel.cuh) run from its CUDA source on
// the CPU by the emulator: equal to the host replay of its data movement (tests/mlp_tc_model.h) bit for
// bit, and to the f64 network to FP32-GEMM accuracy; the same in both scheduling orders.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "mlp_tc_model.h"

#define ORBIT_CUDA_EMU 1
#include "tests/harness/emu_run.h"
#include "kernels/cuda/mlp_fused_tc_kernel.cuh"

using namespace orbit;
using emu::GuardedArray;
using testing::copy_in;
using testing::kH100Smem;
using testing::launch_both_orders;
using testing::Outputs;

TEST_SUITE("cpu") {
TEST_CASE("cuda emulator: the fused MLP's tensor-core kernel = its replay, bit for bit, and the f64 net") {
  std::mt19937 rng(5);
  std::normal_distribution<float> nd(0.f, 1.f);
  using scalar::MlpAct;
  struct Net {
    std::vector<int> widths;
    std::vector<MlpAct> acts;
  };
  // The benchmark's net (ReLU, identity last), odd widths (padding columns and rows), the 128-wide
  // variant (16-row tiles), and an input width that is not a multiple of 4 (scalar loads).
  const std::vector<Net> nets = {
      {{32, 64, 64, 64, 64, 16}, {MlpAct::relu, MlpAct::relu, MlpAct::relu, MlpAct::relu, MlpAct::identity}},
      {{3, 20, 7, 33, 1}, {MlpAct::tanh, MlpAct::silu, MlpAct::softplus, MlpAct::sigmoid}},
      {{128, 100, 5}, {MlpAct::gelu, MlpAct::tanh}},
      {{12, 24, 8}, {MlpAct::tanh, MlpAct::identity}}};
  for (const Net& net : nets) {
    const auto& widths = net.widths;
    const int layers = static_cast<int>(widths.size()) - 1;
    scalar::MlpTcPlan plan;
    REQUIRE(scalar::plan_mlp_tc(widths.data(), layers, kH100Smem, plan));
    std::vector<std::vector<float>> W(layers), b(layers);
    std::vector<GuardedArray<float>*> Wg, bg;
    std::vector<const void*> wp, bp;
    for (int l = 0; l < layers; ++l) {
      const float s = 1.5f / std::sqrt(static_cast<float>(widths[l]));
      for (int i = 0; i < widths[l] * widths[l + 1]; ++i) W[l].push_back(s * nd(rng));
      for (int i = 0; i < widths[l + 1]; ++i) b[l].push_back(0.1f * nd(rng));
      Wg.push_back(new GuardedArray<float>(W[l].size()));
      bg.push_back(new GuardedArray<float>(b[l].size()));
      copy_in(*Wg.back(), W[l]);
      copy_in(*bg.back(), b[l]);
      wp.push_back(Wg.back()->data());
      bp.push_back(bg.back()->data());
    }
    const auto params = cuda::mlp_tc::mlp_tc_params(plan, widths.data(), net.acts.data(), wp.data(), bp.data());
    const int RW = plan.rows_per_warp;
    // 2 CTAs of 3 warps: 6 warps share 2 RW + 5 rows (three tiles, the last partial), and 7 RW + 1
    // rows (eight tiles: every warp loops once more through the grid-stride loop); then x one float
    // past a 16-byte boundary (the kernel's scalar loads instead of float4).
    struct Run {
      int64_t n;
      int x_offset;
    };
    for (const Run run : {Run{2 * RW + 5, 0}, Run{7 * RW + 1, 0}, Run{RW + 3, 1}}) {
      const int64_t n = run.n;
      std::vector<float> x(static_cast<size_t>(n) * widths[0]);
      for (auto& v : x) v = nd(rng);
      GuardedArray<float> xbuf(x.size() + run.x_offset), y(static_cast<size_t>(n) * widths.back());
      float* const xp = xbuf.data() + run.x_offset;
      std::memcpy(xp, x.data(), x.size() * sizeof(float));
      launch_both_orders(2, 3 * 32, plan.smem_bytes, [&] {
        switch (plan.wmax) {
          case 32: cuda::mlp_tc::mlp_tc_kernel<32>(params, xp, y.data(), n); break;
          case 64: cuda::mlp_tc::mlp_tc_kernel<64>(params, xp, y.data(), n); break;
          default: cuda::mlp_tc::mlp_tc_kernel<128>(params, xp, y.data(), n); break;
        }
      }, Outputs().add(y.data(), y.size()));
      const int NL = widths.back();
      size_t mismatches = 0;
      for (int64_t row0 = 0; row0 < n; row0 += RW) {
        const int rows = static_cast<int>(std::min<int64_t>(RW, n - row0));
        const std::vector<float> xt(x.begin() + row0 * widths[0], x.begin() + (row0 + rows) * widths[0]);
        const auto want = testing::replay_warp(plan, widths, W, b, xt, rows, testing::Split::three_tf32, net.acts);
        for (size_t k = 0; k < want.size(); ++k)
          if (std::memcmp(&want[k], &y[static_cast<size_t>(row0) * NL + k], 4) != 0) ++mismatches;
      }
      const std::vector<float> yv(y.data(), y.data() + y.size());
      const auto exact = testing::reference(widths, W, b, x, static_cast<int>(n), net.acts);
      const double e = testing::max_err(yv, exact);
      const double ef = testing::max_err(testing::fp32_gemm(widths, W, b, x, static_cast<int>(n), net.acts), exact);
      INFO("widths " << widths[0] << ".." << widths.back() << ", n " << n << ": error " << e << " (FP32 GEMM " << ef << ")");
      CHECK(mismatches == 0);
      CHECK(e <= std::max(4 * ef, 1e-6));
    }
    for (auto* p : Wg) delete p;
    for (auto* p : bg) delete p;
  }
}
}
