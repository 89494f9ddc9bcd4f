// The fused MLP's tensor-core kernel, checked on the host: its shared-memory plan, the m16n8k8
// fragment layouts it relies on, and a replay of its data movement (the kernel's shared-memory
// addresses, fragment gathers and 3xTF32 split, with the MMA modelled from the PTX layouts) against an
// f64 reference. The kernel itself runs in the GPU suite (tests/test_mlp_fused.cpp).
#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <set>
#include <vector>

#include "kernels/scalar/mlp_tc_plan.h"
#include "kernels/scalar/mma_tf32.h"
#include "mlp_tc_model.h"

using namespace orbit::scalar;
using namespace orbit::testing;

TEST_CASE("mlp tensor-core kernel: the m16n8k8 fragments cover A, B and C exactly once") {
  std::set<std::pair<int, int>> a, bb, c;
  for (int lane = 0; lane < 32; ++lane) {
    for (int r = 0; r < 4; ++r) a.insert({mma::a_frag(lane, r).row, mma::a_frag(lane, r).col});
    for (int r = 0; r < 2; ++r) bb.insert({mma::b_frag(lane, r).row, mma::b_frag(lane, r).col});
    for (int r = 0; r < 4; ++r) c.insert({mma::c_frag(lane, r).row, mma::c_frag(lane, r).col});
  }
  CHECK(a.size() == 128);
  CHECK(bb.size() == 64);
  CHECK(c.size() == 128);
  for (auto [r, k] : a) CHECK((r < 16 && k < 8));
  for (auto [k, n] : bb) CHECK((k < 8 && n < 8));
  for (auto [r, n] : c) CHECK((r < 16 && n < 8));
  // c[0], c[1] are horizontal neighbours (the kernel stores them as one float2), as c[2], c[3].
  for (int lane = 0; lane < 32; ++lane)
    for (int h = 0; h < 2; ++h) {
      CHECK(mma::c_frag(lane, 2 * h + 1).row == mma::c_frag(lane, 2 * h).row);
      CHECK(mma::c_frag(lane, 2 * h + 1).col == mma::c_frag(lane, 2 * h).col + 1);
      CHECK(mma::c_frag(lane, 2 * h).col % 2 == 0);
    }
}

TEST_CASE("mlp tensor-core kernel: tf32 rounding is round-half-away on 13 bits, hi + lo keeps 22 bits") {
  CHECK(mma::tf32_round_host(1.0f) == 1.0f);
  CHECK(mma::tf32_round_host(1.0f + 0x1p-11f) == 1.0f + 0x1p-10f);  // a tie: away from zero
  CHECK(mma::tf32_round_host(-(1.0f + 0x1p-11f)) == -(1.0f + 0x1p-10f));
  CHECK(mma::tf32_round_host(1.0f + 0x1p-12f) == 1.0f);
  CHECK(std::isinf(mma::tf32_round_host(INFINITY)));
  CHECK(std::isnan(mma::tf32_round_host(NAN)));
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-3.f, 3.f);
  for (int i = 0; i < 10000; ++i) {
    const float v = u(rng);
    const float hi = mma::tf32_round_host(v), lo = mma::tf32_round_host(v - hi);
    CHECK(std::abs(static_cast<double>(hi) + lo - v) <= std::abs(v) * 0x1p-21);
  }
}

TEST_CASE("mlp tensor-core kernel: shared-memory plans fit, align and load fragments conflict-free") {
  const std::vector<int> bench = {32, 64, 64, 64, 64, 16};
  MlpTcPlan p;
  REQUIRE(plan_mlp_tc(bench.data(), 5, kH100Smem, p));
  CHECK(p.wmax == 64);
  CHECK(p.rows_per_warp == 32);
  CHECK(p.warps == 16);
  CHECK(p.smem_bytes <= kH100Smem);
  // Every width, as three layers; wide deep nets do not fit and say so.
  for (int w = 1; w <= 128; ++w) {
    const std::vector<int> ws = {(w * 37) % 128 + 1, w, w, (w * 11) % 128 + 1};
    MlpTcPlan q;
    REQUIRE(plan_mlp_tc(ws.data(), 3, kH100Smem, q));
    CHECK(q.smem_bytes <= kH100Smem);
    CHECK(q.warps >= kMlpTcMinWarps);
    CHECK(q.warps <= mlp_tc_max_warps(q.wmax));
    int end = 0;
    for (int l = 0; l < 3; ++l) {
      CHECK(q.woff[l] % 4 == 0);
      CHECK(q.woff[l] >= end);
      CHECK(q.boff[l] == q.woff[l] + q.kpad[l] * q.wstride[l]);
      end = q.boff[l] + q.npad[l];
      CHECK(q.kpad[l] >= ws[l]);
      CHECK(q.npad[l] >= ws[l + 1]);
      CHECK(q.kpad[l] <= q.wmax);
      CHECK(q.npad[l] <= q.wmax);
      if (l > 0) CHECK(q.kpad[l] == q.npad[l - 1]);
      // B fragment loads of one n-tile: 32 lanes, 32 banks.
      std::set<int> banks;
      for (int lane = 0; lane < 32; ++lane) {
        const auto c = mma::b_frag(lane, 0);
        banks.insert((c.row * q.wstride[l] + c.col) % 32);
      }
      CHECK(banks.size() == 32);
    }
    CHECK(end <= q.weight_floats);
    std::set<int> banks;
    for (int lane = 0; lane < 32; ++lane) {
      const auto c = mma::a_frag(lane, 0);
      banks.insert((c.row * q.act_stride + c.col) % 32);
    }
    CHECK(banks.size() == 32);
  }
  const std::vector<int> wide(9, 128);
  CHECK_FALSE(plan_mlp_tc(wide.data(), 8, kH100Smem, p));
  const std::vector<int> too_wide = {4, 129, 4};
  CHECK_FALSE(plan_mlp_tc(too_wide.data(), 2, kH100Smem, p));
}

TEST_CASE("mlp tensor-core kernel: the replayed warp equals the f64 network to FP32-GEMM accuracy (3xTF32)") {
  std::mt19937 rng(11);
  std::normal_distribution<float> nd(0.f, 1.f);
  const std::vector<std::vector<int>> nets = {{32, 64, 64, 64, 64, 16}, {3, 20, 7, 96, 1}, {128, 128, 5}, {9, 33, 100, 4}};
  for (const auto& widths : nets) {
    const int layers = static_cast<int>(widths.size()) - 1;
    MlpTcPlan plan;
    REQUIRE(plan_mlp_tc(widths.data(), layers, kH100Smem, plan));
    std::vector<std::vector<float>> W(layers), b(layers);
    for (int l = 0; l < layers; ++l) {
      const float s = 1.5f / std::sqrt(static_cast<float>(widths[l]));
      for (int i = 0; i < widths[l] * widths[l + 1]; ++i) W[l].push_back(s * nd(rng));
      for (int i = 0; i < widths[l + 1]; ++i) b[l].push_back(0.1f * nd(rng));
    }
    for (int rows : {plan.rows_per_warp, plan.rows_per_warp - 3, 1}) {
      std::vector<float> x(static_cast<size_t>(rows) * widths[0]);
      for (auto& v : x) v = nd(rng);
      const std::vector<MlpAct> acts(layers, MlpAct::tanh);
      const auto want = reference(widths, W, b, x, rows, acts);
      const double e3 = max_err(replay_warp(plan, widths, W, b, x, rows, Split::three_tf32, acts), want);
      const double e1 = max_err(replay_warp(plan, widths, W, b, x, rows, Split::one_tf32, acts), want);
      const double ef = max_err(fp32_gemm(widths, W, b, x, rows, acts), want);
      INFO("widths " << widths[0] << ".." << widths.back() << " rows " << rows << ": 3xTF32 " << e3 << ", 1xTF32 " << e1
                     << ", FP32 GEMM " << ef);
      CHECK(e3 <= std::max(4 * ef, 1e-6));  // the FP32 GEMM's accuracy class
      CHECK(e3 < 1e-5);
      CHECK(e1 > 10 * e3);  // plain TF32 would be visibly worse: the split matters
    }
  }
}
