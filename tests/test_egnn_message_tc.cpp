// The fused EGNN message op's tensor-core forward (kernels/cuda/egnn_message_tc.cu): its plan, a host
// replay of one warp's work (the kernel's shared-memory image, fragment gathers, 3xTF32 split, quad
// reductions and sums in its order, the MMA modelled from the PTX layouts) against an f64 reference,
// and on a GPU the kernel itself against the CPU kernel at iDEM's shapes.
#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <set>
#include <vector>

#include "engine/egnn_message.h"
#include "engine/ops.h"
#include "engine/program.h"
#include "harness/op_harness.h"
#include "kernels/scalar/egnn_tc_plan.h"
#include "kernels/scalar/unary.h"
#include "egnn_tc_model.h"

using namespace orbit;
using namespace orbit::testing::egnn_tc;

using orbit::testing::kH100Smem;

TEST_CASE("egnn_message tensor-core forward: plans fit an H100 and load fragments conflict-free") {
  for (int H : {32, 64, 128})
    for (int E = 0; E <= scalar::kEgnnTcMaxAttr; ++E) {
      scalar::EgnnTcPlan p;
      REQUIRE(scalar::plan_egnn_tc(H, 3, E, kH100Smem, p));
      CHECK(p.smem_bytes <= kH100Smem);
      CHECK(p.warps >= 2);
      CHECK(p.warps <= scalar::egnn_tc_max_warps(H));
      CHECK(p.w3 >= p.w2 + H * p.wstride);
      CHECK(p.vec >= p.w3 + H * p.wstride);
      CHECK(p.weight_floats >= p.vec + (5 + E) * H);
      CHECK(p.weight_floats % 4 == 0);
      CHECK(p.warp_floats % 2 == 0);  // float2 stores into every warp's tile stay aligned
      std::set<int> a_banks, b_banks;
      for (int lane = 0; lane < 32; ++lane) {
        const auto ca = scalar::mma::a_frag(lane, 0), cb = scalar::mma::b_frag(lane, 0);
        a_banks.insert((ca.row * p.act_stride + ca.col) % 32);
        b_banks.insert((cb.row * p.wstride + cb.col) % 32);
      }
      CHECK(a_banks.size() == 32);
      CHECK(b_banks.size() == 32);
    }
  scalar::EgnnTcPlan p;
  CHECK_FALSE(scalar::plan_egnn_tc(48, 3, 0, kH100Smem, p));
  CHECK_FALSE(scalar::plan_egnn_tc(256, 3, 0, kH100Smem, p));
  CHECK_FALSE(scalar::plan_egnn_tc(64, 5, 0, kH100Smem, p));
  CHECK_FALSE(scalar::plan_egnn_tc(64, 3, 9, kH100Smem, p));
  CHECK_FALSE(scalar::plan_egnn_tc(128, 3, 0, 100000, p));  // W2 and W3 alone need 139 KB
}

TEST_CASE("egnn_message tensor-core forward: the replayed warps equal the f64 op (DW4, LJ13, LJ55 shapes)") {
  struct Case {
    int B, n, d, H, E;
    bool idem;
  };
  // iDEM's layers (attention, norm_diff, tanh, E = 1), and self loops with a clamp and two attributes;
  // n = 55 takes four tiles of 16 senders (the last one partial), n = 13 one tile of 12, n = 4 one of 3.
  for (const Case& c : {Case{2, 4, 2, 128, 1, true}, Case{1, 13, 3, 64, 1, true}, Case{1, 55, 3, 32, 1, true},
                        Case{1, 17, 3, 32, 2, false}, Case{1, 55, 3, 128, 0, true}}) {
    const Layer L = make_layer(c.B, c.n, c.d, c.H, c.E, c.idem, 100 + c.n + c.H);
    scalar::EgnnTcPlan plan;
    REQUIRE(scalar::plan_egnn_tc(c.H, c.d, c.E, kH100Smem, plan));
    const auto [em, ex] = rel_errors(replay(L, plan), reference(L), c.H, c.d);
    INFO("B " << c.B << " n " << c.n << " H " << c.H << " E " << c.E << ": message error " << em << ", coordinate error "
              << ex);
    CHECK(em < 1e-6);  // an f32 computation's rounding (3xTF32 products, f32 sums); measured 1-2e-7
    CHECK(ex < 4e-6);  // measured 1-5e-7
  }
}

namespace {

// One message layer as a graph of f32 inputs (fed from L), with the fused op on CUDA.
struct LayerGraph {
  Graph g;
  Feeds feeds;
  std::vector<Var> inputs;
  Var out;
};

void build_layer(const Layer& L, LayerGraph& lg) {
  auto in = [&](const std::string& name, const std::vector<float>& v, Shape s) {
    lg.feeds.push_back({name, Tensor::from<float>(s, v)});
    Var var = lg.g.input(name, s, DType::f32);
    lg.inputs.push_back(var);
    return var;
  };
  const int64_t B = L.B, n = L.n, d = L.d, H = L.H, E = L.E;
  Var P = in("P", L.P, {B, n, H}), Q = in("Q", L.Q, {B, n, H}), x = in("x", L.x, {B, n, d});
  EgnnMessageWeights w;
  w.w_r = in("w_r", L.w_r, {H});
  w.W2 = in("W2", L.W2, {H, H});
  w.b2 = in("b2", L.b2, {H});
  w.W3 = in("W3", L.W3, {H, H});
  w.b3 = in("b3", L.b3, {H});
  w.w4 = in("w4", L.w4, {H});
  if (E > 0) {
    w.a = in("a", L.a, {B, n, n, E});
    w.W_a = in("W_a", L.W_a, {E, H});
  }
  if (L.attr.attention) {
    w.w_att = in("w_att", L.w_att, {H});
    w.b_att = in("b_att", L.b_att, {1});
  }
  EgnnMessageAttr attr = L.attr;
  attr.cuda_fused = true;
  lg.out = egnn_message(P, Q, x, w, attr);
}

struct TcCase {
  int B, n, d, H, E;
  bool idem;
};
// iDEM's shapes (DW4, LJ13, LJ55 at H 128), self loops with a clamp and two attributes, H 64 without
// attributes, and n = 1 (no edges).
const TcCase kTcCases[] = {{64, 4, 2, 128, 1, true}, {16, 13, 3, 128, 1, true}, {3, 55, 3, 128, 1, true},
                           {5, 17, 3, 32, 2, false}, {7, 9, 3, 64, 0, true},    {2, 1, 3, 64, 1, true}};

}  // namespace

TEST_SUITE("gpu") {
  TEST_CASE("gpu egnn_message: the tensor-core forward and backward (f32) = the CPU kernel, and with them off") {
    GPU_OR_SKIP();
    for (const char* tc : {"1", "0"}) {
      setenv("ORBIT_EGNN_CUDA_TC", tc, 1);
      for (const TcCase& c : kTcCases) {
        INFO("ORBIT_EGNN_CUDA_TC=" << tc << " B " << c.B << " n " << c.n << " H " << c.H << " E " << c.E);
        const Layer L = make_layer(c.B, c.n, c.d, c.H, c.E, c.idem, 7 + c.n);
        LayerGraph lg;
        build_layer(L, lg);
        // The forward's two parts, and every input's gradient of sum(out * C) for a fixed random C.
        std::vector<float> cot(static_cast<size_t>(c.B) * c.n * (c.H + c.d));
        std::mt19937 rng(3);
        std::normal_distribution<float> nd(0.f, 1.f);
        for (auto& v : cot) v = nd(rng);
        const Shape os({c.B, c.n, c.H + c.d});
        lg.feeds.push_back({"C", Tensor::from<float>(os, cot)});
        Var C = lg.g.input("C", os, DType::f32);
        std::vector<Var> outs = {egnn_message_magg(lg.out, c.H), egnn_message_xagg(lg.out, c.H)};
        for (Var gv : grad(sum(mul(lg.out, C)), lg.inputs)) outs.push_back(gv);
        auto want = compile(lg.g, outs, Device::cpu()).run(lg.feeds);
        auto got = compile(lg.g, outs, testing::device_under_test()).run(lg.feeds);
        const double fwd_length = 2.0 * static_cast<double>(c.H) + static_cast<double>(c.n);
        testing::compare_devices("egnn_message messages", got[0], want[0], fwd_length, false);
        testing::compare_devices("egnn_message coordinates", got[1], want[1], fwd_length, false);
        // Each gradient entry sums over up to B n^2 edges of H-term products.
        const double bwd_length = 2.0 * static_cast<double>(c.H) + static_cast<double>(c.B) * c.n * c.n;
        for (size_t k = 2; k < outs.size(); ++k)
          testing::compare_devices("egnn_message gradient " + std::to_string(k - 2), got[k], want[k], bwd_length, false);
      }
    }
    unsetenv("ORBIT_EGNN_CUDA_TC");
  }
}
