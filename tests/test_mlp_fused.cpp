// The fused MLP op (engine/mlp_fused.h), its kernels and the MLP pass (engine/compile/mlp_fusion.cpp):
// fused programs equal unfused ones on random MLPs (depths, widths, per-layer activations, row counts
// that are no multiple of any block or tile, N = 1), f64 tightly and f32 to rounding; the pass fires on
// the benchmark's MLP, splits chains at values something else reads and leaves training graphs alone;
// gradients through the op (first and second order) equal the unfused graph's; bad shapes fail clearly;
// the switches turn the pass off. Suite "gpu": the CUDA kernel against the CPU for every width 1..128,
// odd N, both dtypes and a large N.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "engine/compile/passes.h"
#include "engine/mlp_fused.h"
#include "engine/orbit.h"
#include "kernels/cpu/mlp_fused.h"
#include "models/nn/mlp.h"
#include "tests/harness/op_harness.h"
#include "tests/scoped_env.h"

using namespace orbit;

namespace {

using testing::ScopedEnv;

Tensor random_tensor(const Shape& s, DType dt, std::mt19937_64& rng, double scale = 1.0) {
  std::uniform_real_distribution<double> u(-scale, scale);
  Tensor t = Tensor::empty(s, dt);
  dispatch_float(dt, [&]<class T>() {
    T* p = t.data<T>();
    for (int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<T>(u(rng));
  });
  return t;
}

// An MLP written with primitive ops: x [N, widths[0]] -> act_l(h W_l + b_l); W and b are parameters fed
// by name (so the same graph compiles fused and unfused).
struct Net {
  Graph g;
  Var x, y;
  std::vector<Var> w, b, hidden;
  Feeds feeds;
};

std::unique_ptr<Net> make_net(int64_t n, const std::vector<int64_t>& widths, const std::vector<MlpAct>& acts, DType dt,
                              uint64_t seed) {
  auto net = std::make_unique<Net>();
  std::mt19937_64 rng(seed);
  net->x = net->g.input("x", {n, widths[0]}, dt);
  net->feeds.push_back({"x", random_tensor(Shape({n, widths[0]}), dt, rng)});
  Var h = net->x;
  for (size_t l = 0; l + 1 < widths.size(); ++l) {
    const std::string wn = "w" + std::to_string(l), bn = "b" + std::to_string(l);
    net->w.push_back(net->g.param(wn, {widths[l], widths[l + 1]}, dt));
    net->b.push_back(net->g.param(bn, {widths[l + 1]}, dt));
    const double scale = 1.5 / std::sqrt(static_cast<double>(widths[l]));
    net->feeds.push_back({wn, random_tensor(Shape({widths[l], widths[l + 1]}), dt, rng, scale)});
    net->feeds.push_back({bn, random_tensor(Shape({widths[l + 1]}), dt, rng, 0.5)});
    h = apply_mlp_act(acts[l], matmul(h, net->w.back()) + net->b.back());
    net->hidden.push_back(h);
  }
  net->y = h;
  return net;
}

int count_mlp_nodes(const Program& p) {
  int k = 0;
  for (int i = 0; i < p.graph().size(); ++i) {
    const Node& n = p.graph().node(i);
    k += n.kind == NodeKind::op && n.op == mlp_fused_op();
  }
  return k;
}

CompileOptions with_fusion(CompileOptions::Fusion f) {
  CompileOptions o;
  o.fusion = f;
  return o;
}

// max |a - b| / (max |b| + tiny)
double max_rel(const Tensor& a, const Tensor& b) {
  auto va = a.to_vector(), vb = b.to_vector();
  REQUIRE(va.size() == vb.size());
  double scale = 1e-300, err = 0;
  for (double v : vb) scale = std::max(scale, std::abs(v));
  for (size_t i = 0; i < va.size(); ++i) err = std::max(err, std::abs(va[i] - vb[i]));
  return err / scale;
}

// Random per-layer activations (the last one sometimes identity, as in most MLPs).
std::vector<MlpAct> random_acts(size_t layers, std::mt19937_64& rng) {
  std::uniform_int_distribution<int> pick(0, scalar::kMlpNumActs - 1);
  std::vector<MlpAct> a;
  for (size_t l = 0; l < layers; ++l) a.push_back(static_cast<MlpAct>(pick(rng)));
  if (rng() % 2) a.back() = MlpAct::identity;
  return a;
}

}  // namespace

TEST_SUITE("cpu") {
  TEST_CASE("mlp_fused: fused = unfused on random MLPs (depths, widths, activations, odd N), f64 tight and f32 to rounding") {
    std::mt19937_64 rng(2024);
    const std::vector<int64_t> ns = {1, 2, 7, 33, 255, 257, 1000, 1531};
    for (int trial = 0; trial < 24; ++trial) {
      std::uniform_int_distribution<int> depth(2, 6), width(1, 128);
      std::vector<int64_t> widths;
      const int L = depth(rng);
      for (int l = 0; l <= L; ++l) widths.push_back(width(rng));
      const std::vector<MlpAct> acts = random_acts(static_cast<size_t>(L), rng);
      const int64_t n = ns[static_cast<size_t>(trial) % ns.size()];
      for (DType dt : {DType::f64, DType::f32}) {
        INFO("trial " << trial << " n " << n << " " << std::string(dtype_name(dt)) << " layers " << L);
        auto net = make_net(n, widths, acts, dt, 100 + trial);
        Program fused = compile(net->g, {net->y}, Device::cpu(), with_fusion(CompileOptions::Fusion::on));
        Program plain = compile(net->g, {net->y}, Device::cpu(), with_fusion(CompileOptions::Fusion::off));
        CHECK(count_mlp_nodes(fused) == 1);
        CHECK(fused.num_kernels() == 1);
        CHECK(count_mlp_nodes(plain) == 0);
        Tensor a = fused.run(net->feeds)[0], b = plain.run(net->feeds)[0];
        CHECK(max_rel(a, b) <= (dt == DType::f64 ? 1e-13 : 2e-5));
      }
    }
  }

  TEST_CASE("mlp_fused: the CPU kernel's row blocks (any block size, N = 1, N not a multiple) match an f64 reference") {
    std::mt19937_64 rng(7);
    const std::vector<int64_t> widths = {5, 17, 3, 9};
    const std::vector<MlpAct> acts = {MlpAct::tanh, MlpAct::silu, MlpAct::identity};
    for (int64_t n : {1, 15, 16, 17, 100, 513}) {
      Tensor x = random_tensor(Shape({n, 5}), DType::f64, rng);
      std::vector<Tensor> w, b;
      std::vector<const double*> wp, bp;
      for (size_t l = 0; l < acts.size(); ++l) {
        w.push_back(random_tensor(Shape({widths[l], widths[l + 1]}), DType::f64, rng));
        b.push_back(random_tensor(Shape({widths[l + 1]}), DType::f64, rng));
        wp.push_back(w.back().data<double>());
        bp.push_back(b.back().data<double>());
      }
      // The reference: row by row, in f64, in the same order of summation.
      std::vector<double> want(static_cast<size_t>(n * widths.back()));
      for (int64_t i = 0; i < n; ++i) {
        std::vector<double> h(x.data<double>() + i * 5, x.data<double>() + (i + 1) * 5);
        for (size_t l = 0; l < acts.size(); ++l) {
          std::vector<double> o(static_cast<size_t>(widths[l + 1]));
          for (int64_t j = 0; j < widths[l + 1]; ++j) {
            double s = 0;
            for (int64_t k = 0; k < widths[l]; ++k) s += h[k] * wp[l][k * widths[l + 1] + j];
            o[j] = scalar::mlp_act(acts[l], s + bp[l][j]);
          }
          h = o;
        }
        for (int64_t j = 0; j < widths.back(); ++j) want[i * widths.back() + j] = h[j];
      }
      cpu::MlpShape s;
      s.layers = 3;
      s.widths = widths.data();
      s.acts = acts.data();
      for (int64_t block : {int64_t(0), int64_t(1), int64_t(16), int64_t(7), int64_t(1000)}) {
        INFO("n " << n << " block rows " << block);
        std::vector<double> got(want.size(), -999);
        cpu::mlp_fused<double>(x.data<double>(), n, s, wp.data(), bp.data(), got.data(), block);
        for (size_t i = 0; i < got.size(); ++i) REQUIRE(std::abs(got[i] - want[i]) <= 1e-13 * (1 + std::abs(want[i])));
      }
    }
  }

  TEST_CASE("mlp_fused: the pass fires on the benchmark's MLP (32-64x4-16, ReLU): one kernel") {
    Graph g;
    Var x = g.input("x", {1000, 32});
    nn::MLP net(g, "mlp", {32, 64, 64, 64, 64, 16}, nn::Activation::relu);
    Var y = net(x);
    auto store = std::make_shared<ParamStore>();
    net.init(*store, 3);
    CompileOptions co;
    co.params = store;
    Program p = compile(g, {y}, Device::cpu(), co);
    CHECK(p.num_kernels() == 1);
    REQUIRE(count_mlp_nodes(p) == 1);
    for (int i = 0; i < p.graph().size(); ++i)
      if (p.graph().node(i).kind == NodeKind::op) {
        const auto& a = p.graph().node(i).attr_as<MlpFusedAttr>();
        CHECK(a.str() == "mlp_fused([relu, relu, relu, relu, identity])");
        CHECK(p.graph().node(i).inputs.size() == 11u);
      }
    // The same numbers as the unfused program.
    CompileOptions off = co;
    off.fusion = CompileOptions::Fusion::off;
    Program q = compile(g, {y}, Device::cpu(), off);
    CHECK(q.num_kernels() > 10);
    std::mt19937_64 rng(5);
    Feeds f{{"x", random_tensor(Shape({1000, 32}), DType::f32, rng)}};
    CHECK(max_rel(p.run(f)[0], q.run(f)[0]) <= 2e-6);
  }

  TEST_CASE("mlp_fused: the pass leaves training graphs and input-gradient (PINN) graphs alone") {
    Graph g;
    Var x = g.input("x", {64, 3});
    Var target = g.input("t", {64, 2});
    nn::MLP net(g, "u", {3, 16, 16, 2}, nn::Activation::tanh);
    Var y = net(x);
    Var loss = mean(square(y - target));
    std::vector<Var> outs = grad(loss, net.params());
    outs.push_back(loss);
    auto store = std::make_shared<ParamStore>();
    net.init(*store, 1);
    CompileOptions co;
    co.params = store;
    CHECK(count_mlp_nodes(compile(g, outs, Device::cpu(), co)) == 0);
    // du/dx and a residual, then its gradient with respect to the weights.
    Var du = grad(sum(y), {x})[0];
    Var res = mean(square(du));
    CHECK(count_mlp_nodes(compile(g, grad(res, net.params()), Device::cpu(), co)) == 0);
    // The forward graph alone is fused.
    CHECK(count_mlp_nodes(compile(g, {y}, Device::cpu(), co)) == 1);
  }

  TEST_CASE("mlp_fused: chains stop at values read elsewhere, at requested outputs, wide layers and other patterns") {
    const std::vector<int64_t> widths = {4, 8, 8, 8, 8, 3};
    const std::vector<MlpAct> acts = {MlpAct::relu, MlpAct::tanh, MlpAct::silu, MlpAct::sigmoid, MlpAct::identity};
    for (DType dt : {DType::f64, DType::f32}) {
      auto net = make_net(37, widths, acts, dt, 9);
      // hidden[1] requested too: layers 0-1 and 2-4 become two nodes.
      Program p = compile(net->g, {net->y, net->hidden[1]}, Device::cpu());
      CHECK(count_mlp_nodes(p) == 2);
      Program q = compile(net->g, {net->y, net->hidden[1]}, Device::cpu(), with_fusion(CompileOptions::Fusion::off));
      auto a = p.run(net->feeds), b = q.run(net->feeds);
      for (int k = 0; k < 2; ++k) CHECK(max_rel(a[k], b[k]) <= (dt == DType::f64 ? 1e-14 : 1e-6));
    }
    {  // hidden[2] read by another op: layers 0-2 fused (hidden[2] is their output), 3-4 fused
      auto net = make_net(5, widths, acts, DType::f64, 10);
      Var extra = sum(net->hidden[2]) + sum(net->y);
      Program p = compile(net->g, {extra}, Device::cpu());
      CHECK(count_mlp_nodes(p) == 2);
      Program q = compile(net->g, {extra}, Device::cpu(), with_fusion(CompileOptions::Fusion::off));
      CHECK(max_rel(p.run(net->feeds)[0], q.run(net->feeds)[0]) <= 1e-14);
    }
    {  // a pre-activation read elsewhere: the layer ends without its activation, which runs unfused
      auto net = make_net(5, {4, 8, 8, 3}, {MlpAct::relu, MlpAct::tanh, MlpAct::identity}, DType::f64, 11);
      const Node& act1 = net->g.node(net->hidden[1].id());
      Var pre = Var(&net->g, act1.inputs[0]);
      Var out = sum(net->y) + sum(pre);
      Program p = compile(net->g, {out}, Device::cpu());
      CHECK(count_mlp_nodes(p) == 1);
      Program q = compile(net->g, {out}, Device::cpu(), with_fusion(CompileOptions::Fusion::off));
      CHECK(max_rel(p.run(net->feeds)[0], q.run(net->feeds)[0]) <= 1e-14);
    }
    {  // a width over 128 and a single layer are not fused
      auto wide = make_net(3, {4, 129, 4}, {MlpAct::relu, MlpAct::identity}, DType::f32, 12);
      CHECK(count_mlp_nodes(compile(wide->g, {wide->y}, Device::cpu())) == 0);
      auto one = make_net(3, {4, 5}, {MlpAct::relu}, DType::f32, 13);
      CHECK(count_mlp_nodes(compile(one->g, {one->y}, Device::cpu())) == 0);
      auto edge = make_net(3, {128, 128, 128}, {MlpAct::relu, MlpAct::relu}, DType::f32, 14);
      CHECK(count_mlp_nodes(compile(edge->g, {edge->y}, Device::cpu())) == 1);
    }
    {  // transposed weights, a [1, out] bias, a computed weight: each leaves a lone layer, not fused
      Graph g;
      Var x = g.input("x", {6, 4});
      Var wt = g.param("wt", {5, 4}), w1 = g.param("w1", {5, 3}), b1 = g.param("b1", {3}), c5 = g.param("c5", {5});
      Var b0 = g.param("b0", {1, 5}), w2 = g.param("w2", {4, 5});
      Var y1 = matmul(relu(matmul(x, wt, false, true) + c5), w1) + b1;  // transposed W
      Var y2 = matmul(tanh(matmul(x, w2) + b0), w1) + b1;               // 2-D bias
      Var y3 = matmul(relu(matmul(x, w2) + c5), w1 * 2.0) + b1;         // computed W
      CHECK(count_mlp_nodes(compile(g, {y1, y2, y3}, Device::cpu())) == 0);
    }
  }

  TEST_CASE("mlp_fused: gradients through the op equal the unfused graph's, first and second order") {
    std::mt19937_64 rng(31);
    for (DType dt : {DType::f64, DType::f32}) {
      Graph g;
      Var x = g.input("x", {9, 3}, dt);
      std::vector<int64_t> widths = {3, 6, 5, 2};
      std::vector<MlpAct> acts = {MlpAct::tanh, MlpAct::softplus, MlpAct::sigmoid};
      std::vector<Var> w, b, ins{x};
      Feeds feeds{{"x", random_tensor(Shape({9, 3}), dt, rng)}};
      for (size_t l = 0; l < acts.size(); ++l) {
        w.push_back(g.input("w" + std::to_string(l), {widths[l], widths[l + 1]}, dt));
        b.push_back(g.input("b" + std::to_string(l), {widths[l + 1]}, dt));
        feeds.push_back({"w" + std::to_string(l), random_tensor(Shape({widths[l], widths[l + 1]}), dt, rng)});
        feeds.push_back({"b" + std::to_string(l), random_tensor(Shape({widths[l + 1]}), dt, rng)});
        ins.push_back(w.back());
        ins.push_back(b.back());
      }
      Var yf = mlp_fused(x, w, b, acts);
      MlpFusedAttr a;
      a.acts = acts;
      Var yu = expand_mlp_fused(a, ins);
      Var u = g.input("u", {9, 2}, dt);
      feeds.push_back({"u", random_tensor(Shape({9, 2}), dt, rng)});
      auto gf = grad(sum(yf * u), ins), gu = grad(sum(yu * u), ins);
      // Second order: d/d(inputs) of sum(dL/dx ^ 2) + sum(dL/dW1).
      Var hf = sum(square(gf[0])) + sum(gf[3]), hu = sum(square(gu[0])) + sum(gu[3]);
      auto g2f = grad(hf, ins), g2u = grad(hu, ins);
      std::vector<Var> outs{yf}, outs_u{yu};
      for (size_t i = 0; i < ins.size(); ++i) {
        outs.push_back(gf[i]);
        outs.push_back(g2f[i]);
        outs_u.push_back(gu[i]);
        outs_u.push_back(g2u[i]);
      }
      const CompileOptions off = with_fusion(CompileOptions::Fusion::off);
      auto rf = compile(g, outs, Device::cpu(), off).run(feeds);
      auto ru = compile(g, outs_u, Device::cpu(), off).run(feeds);
      for (size_t i = 0; i < rf.size(); ++i) {
        INFO(std::string(dtype_name(dt)) << " output " << i);
        CHECK(max_rel(rf[i], ru[i]) <= (dt == DType::f64 ? 1e-13 : 1e-5));
      }
    }
  }

  TEST_CASE("mlp_fused: bad shapes, dtypes and attributes give clear errors") {
    Graph g;
    Var x = g.input("x", {4, 3});
    Var w0 = g.input("w0", {3, 5}), b0 = g.input("b0", {5});
    Var w1 = g.input("w1", {5, 2}), b1 = g.input("b1", {2});
    Var bad_w = g.input("bad_w", {4, 2}), bad_b = g.input("bad_b", {3});
    Var w3d = g.input("w3d", {3, 5, 1}), x64 = g.input("x64", {4, 3}, DType::f64), x1 = g.input("x1", {12});
    Var xi = g.input("xi", {4, 3}, DType::i32);
    using A = std::vector<MlpAct>;
    CHECK(mlp_fused(x, {w0, w1}, {b0, b1}, {MlpAct::relu, MlpAct::identity}).shape() == Shape({4, 2}));
    CHECK_THROWS_WITH_AS(mlp_fused(x, {w0, bad_w}, {b0, b1}, A{MlpAct::relu, MlpAct::relu}),
                         doctest::Contains("layer 1: W is [4, 2] but its input has 5 features"), Error);
    CHECK_THROWS_WITH_AS(mlp_fused(x, {w0}, {bad_b}, A{MlpAct::relu}), doctest::Contains("layer 0: b must be [5]"), Error);
    CHECK_THROWS_WITH_AS(mlp_fused(x, {w3d}, {b0}, A{MlpAct::relu}), doctest::Contains("W must be 2-D"), Error);
    CHECK_THROWS_WITH_AS(mlp_fused(x1, {w0}, {b0}, A{MlpAct::relu}), doctest::Contains("x must be 2-D [N, in]"), Error);
    CHECK_THROWS_WITH_AS(mlp_fused(x64, {w0}, {b0}, A{MlpAct::relu}), doctest::Contains("layer 0: W is f32"), Error);
    CHECK_THROWS_WITH_AS(mlp_fused(xi, {w0}, {b0}, A{MlpAct::relu}), doctest::Contains("x must be f32 or f64"), Error);
    CHECK_THROWS_WITH_AS(mlp_fused(x, {w0}, {b0}, A{MlpAct::relu, MlpAct::relu}), doctest::Contains("1 weights, 1 biases and 2"),
                         Error);
    CHECK_THROWS_WITH_AS(mlp_fused(x, {}, {}, A{}), doctest::Contains("at least one layer"), Error);
    // Through the registry directly: the input count and unknown activations.
    auto attr = std::make_shared<MlpFusedAttr>();
    attr->acts = {MlpAct::relu, MlpAct::relu};
    CHECK_THROWS_WITH_AS(g.add_op(mlp_fused_op(), {x, w0, b0}, attr), doctest::Contains("expected 5 inputs"), Error);
    auto bad_act = std::make_shared<MlpFusedAttr>();
    bad_act->acts = {static_cast<MlpAct>(42)};
    CHECK_THROWS_WITH_AS(g.add_op(mlp_fused_op(), {x, w0, b0}, bad_act), doctest::Contains("unknown activation 42"), Error);
    // The messages name the op and the node's inputs.
    CHECK_THROWS_WITH_AS(mlp_fused(x, {w0}, {bad_b}, A{MlpAct::relu}), doctest::Contains("op 'mlp_fused'"), Error);
  }

  TEST_CASE("mlp_fused: attributes print, compare and hash, identical nodes are merged by CSE") {
    MlpFusedAttr a, b, c;
    a.acts = {MlpAct::silu, MlpAct::identity};
    b.acts = {MlpAct::silu, MlpAct::identity};
    c.acts = {MlpAct::silu, MlpAct::gelu};
    CHECK(a.str() == "mlp_fused([silu, identity])");
    CHECK(a.equals(b));
    CHECK(!a.equals(c));
    CHECK(a.hash() == b.hash());
    Graph g;
    Var x = g.input("x", {3, 2}, DType::f64);
    Var w = g.input("w", {2, 2}, DType::f64), bb = g.input("b", {2}, DType::f64);
    Var y1 = mlp_fused(x, {w, w}, {bb, bb}, a.acts), y2 = mlp_fused(x, {w, w}, {bb, bb}, b.acts);
    Var y3 = mlp_fused(x, {w, w}, {bb, bb}, c.acts);
    Program p = compile(g, {y1 + y2 + y3});
    CHECK(count_mlp_nodes(p) == 2);
  }

  TEST_CASE("mlp_fused: Fusion::off, NumericsCheck::all, ORBIT_MLP_FUSION=0 and ORBIT_FUSION=0 turn the pass off") {
    auto net = make_net(10, {4, 8, 2}, {MlpAct::tanh, MlpAct::identity}, DType::f32, 3);
    CHECK(count_mlp_nodes(compile(net->g, {net->y})) == 1);
    CHECK(count_mlp_nodes(compile(net->g, {net->y}, Device::cpu(), with_fusion(CompileOptions::Fusion::off))) == 0);
    CompileOptions all;
    all.numerics = NumericsCheck::all;
    CHECK(count_mlp_nodes(compile(net->g, {net->y}, Device::cpu(), all)) == 0);
    {
      ScopedEnv e("ORBIT_MLP_FUSION", "0");
      CHECK(count_mlp_nodes(compile(net->g, {net->y})) == 0);
      CHECK(compile(net->g, {net->y}).num_fused() == 1);  // the elementwise pass still runs
    }
    {
      ScopedEnv e("ORBIT_FUSION", "0");
      CHECK(count_mlp_nodes(compile(net->g, {net->y})) == 0);
      ScopedEnv m("ORBIT_MLP_FUSION", "1");
      CHECK(count_mlp_nodes(compile(net->g, {net->y})) == 1);
    }
    CHECK(passes::mlp_fusion_enabled(CompileOptions{}, Device::cpu()));
    CHECK(passes::mlp_fusion_enabled(CompileOptions{}, Device::cuda()));
  }
}

// ---- CUDA against the CPU ----
namespace {

using orbit::testing::compare_devices;
using orbit::testing::device_under_test;

// One random MLP, compiled for the CPU and the device under test; compares the outputs.
void agree(const std::vector<int64_t>& widths, const std::vector<MlpAct>& acts, int64_t n, DType dt, uint64_t seed) {
  std::string ws;
  for (auto w : widths) ws += std::to_string(w) + " ";
  INFO("widths [ " << ws << "] n " << n << " " << std::string(dtype_name(dt)));
  auto net = make_net(n, widths, acts, dt, seed);
  Program cpu = compile(net->g, {net->y}, Device::cpu());
  Program gpu = compile(net->g, {net->y}, device_under_test());
  REQUIRE(count_mlp_nodes(gpu) == 1);
  double length = 0;
  for (size_t l = 0; l + 1 < widths.size(); ++l) length += static_cast<double>(widths[l]);
  compare_devices("mlp_fused", gpu.run(net->feeds)[0], cpu.run(net->feeds)[0], length, false);
}

}  // namespace

TEST_SUITE("gpu") {
  TEST_CASE("gpu mlp_fused: CUDA = CPU for every width 1..128 (f32 and f64)") {
    GPU_OR_SKIP();
    std::mt19937_64 rng(128);
    for (int64_t w = 1; w <= 128; ++w) {
      const int64_t in = (w * 37) % 128 + 1, out = (w * 11) % 128 + 1;
      for (DType dt : {DType::f32, DType::f64})
        agree({in, w, w, out}, random_acts(3, rng), 131 + w, dt, static_cast<uint64_t>(w));
    }
  }

  TEST_CASE("gpu mlp_fused: CUDA = CPU for odd N, N = 1, every activation and deep chains") {
    GPU_OR_SKIP();
    std::mt19937_64 rng(77);
    for (int64_t n : {1, 2, 3, 31, 63, 64, 65, 127, 128, 129, 1000, 4099})
      for (DType dt : {DType::f32, DType::f64}) {
        agree({32, 64, 64, 64, 64, 16}, {MlpAct::relu, MlpAct::relu, MlpAct::relu, MlpAct::relu, MlpAct::identity}, n, dt,
              static_cast<uint64_t>(n));
        agree({3, 20, 7, 96, 1}, random_acts(4, rng), n, dt, static_cast<uint64_t>(n) + 5);
      }
    for (int a = 0; a < scalar::kMlpNumActs; ++a)
      for (DType dt : {DType::f32, DType::f64})
        agree({8, 40, 40, 5}, {static_cast<MlpAct>(a), static_cast<MlpAct>(a), static_cast<MlpAct>(a)}, 333, dt,
              static_cast<uint64_t>(a));
    std::vector<int64_t> deep(21, 24);
    agree(deep, random_acts(20, rng), 777, DType::f32, 1);
    agree(deep, random_acts(20, rng), 777, DType::f64, 2);
  }

  TEST_CASE("gpu mlp_fused: CUDA = CPU at N = 1 << 20 (the benchmark's MLP and a 128-wide one)") {
    GPU_OR_SKIP();
    const int64_t n = int64_t(1) << 20;
    agree({32, 64, 64, 64, 64, 16}, {MlpAct::relu, MlpAct::relu, MlpAct::relu, MlpAct::relu, MlpAct::identity}, n,
          DType::f32, 1);
    agree({128, 128, 128, 128}, {MlpAct::tanh, MlpAct::silu, MlpAct::identity}, n + 3, DType::f32, 2);
    agree({32, 64, 64, 16}, {MlpAct::relu, MlpAct::relu, MlpAct::identity}, n + 1, DType::f64, 3);
  }

  TEST_CASE("gpu mlp_fused: the resident mode (ORBIT_MLP_CUDA_RESIDENT=1: weights staged once per CTA) agrees too") {
    GPU_OR_SKIP();
    ScopedEnv e("ORBIT_MLP_CUDA_RESIDENT", "1");
    ScopedEnv tc("ORBIT_MLP_CUDA_TC", "0");  // f32 would take the tensor-core kernel
    std::mt19937_64 rng(3);
    for (int64_t n : {int64_t(1), int64_t(129), int64_t(5000), (int64_t(1) << 18) + 7})
      for (DType dt : {DType::f32, DType::f64}) {
        agree({32, 64, 64, 64, 64, 16}, {MlpAct::relu, MlpAct::relu, MlpAct::relu, MlpAct::relu, MlpAct::identity}, n, dt,
              static_cast<uint64_t>(n));
        agree({9, 33, 100, 4}, random_acts(3, rng), n, dt, static_cast<uint64_t>(n) + 1);
        agree({5, 17, 12}, random_acts(2, rng), n, dt, static_cast<uint64_t>(n) + 2);
      }
  }

  TEST_CASE("gpu mlp_fused: f32 with the tensor-core kernel off (ORBIT_MLP_CUDA_TC=0: FP32 FMAs) agrees too") {
    GPU_OR_SKIP();
    ScopedEnv tc("ORBIT_MLP_CUDA_TC", "0");
    std::mt19937_64 rng(31);
    for (int64_t w : {1, 7, 8, 31, 64, 65, 100, 128})
      agree({(w * 37) % 128 + 1, w, w, (w * 11) % 128 + 1}, random_acts(3, rng), 131 + w, DType::f32,
            static_cast<uint64_t>(w));
    for (int64_t n : {1, 63, 4099, (1 << 18) + 5})
      agree({32, 64, 64, 64, 64, 16}, {MlpAct::relu, MlpAct::relu, MlpAct::relu, MlpAct::relu, MlpAct::identity}, n,
            DType::f32, static_cast<uint64_t>(n));
  }

  TEST_CASE("gpu mlp_fused: tensor-core kernel (3xTF32) at tile edges: N around multiples of 16 and 32, input widths not a multiple of 4") {
    GPU_OR_SKIP();
    std::mt19937_64 rng(41);
    for (int64_t n : {15, 16, 17, 31, 32, 33, 511, 512, 513, 100003})
      for (const auto& widths : std::vector<std::vector<int64_t>>{{32, 64, 64, 16}, {3, 8, 1}, {128, 128, 2}, {6, 40, 40, 9}})
        agree(widths, random_acts(widths.size() - 1, rng), n, DType::f32, static_cast<uint64_t>(n) + widths[0]);
  }

  TEST_CASE("gpu mlp_fused: widths over 128 (hand-built node) run the per-layer kernels and agree") {
    GPU_OR_SKIP();
    std::mt19937_64 rng(5);
    for (DType dt : {DType::f32, DType::f64}) {
      Graph g;
      Var x = g.input("x", {301, 7}, dt);
      std::vector<int64_t> widths = {7, 200, 130, 3};
      std::vector<Var> w, b;
      Feeds feeds{{"x", random_tensor(Shape({301, 7}), dt, rng)}};
      for (size_t l = 0; l < 3; ++l) {
        w.push_back(g.input("w" + std::to_string(l), {widths[l], widths[l + 1]}, dt));
        b.push_back(g.input("b" + std::to_string(l), {widths[l + 1]}, dt));
        feeds.push_back({"w" + std::to_string(l),
                         random_tensor(Shape({widths[l], widths[l + 1]}), dt, rng, 1.0 / std::sqrt(double(widths[l])))});
        feeds.push_back({"b" + std::to_string(l), random_tensor(Shape({widths[l + 1]}), dt, rng)});
      }
      Var y = mlp_fused(x, w, b, {MlpAct::gelu, MlpAct::tanh, MlpAct::identity});
      auto want = compile(g, {y}, Device::cpu()).run(feeds)[0];
      auto got = compile(g, {y}, device_under_test()).run(feeds)[0];
      compare_devices("mlp_fused wide", got, want, 337, false);
    }
  }

  TEST_CASE("gpu mlp_fused: gradients of a fused graph on CUDA = CPU (f64)") {
    GPU_OR_SKIP();
    auto net = make_net(77, {5, 33, 17, 2}, {MlpAct::silu, MlpAct::tanh, MlpAct::identity}, DType::f64, 8);
    Program fused_cpu = compile(net->g, {net->y}, Device::cpu());
    REQUIRE(count_mlp_nodes(fused_cpu) == 1);
    // Differentiate the fused program's own graph (its mlp_fused node expands in the VJP).
    Graph g = fused_cpu.graph();
    Var y;
    for (int i = 0; i < g.size(); ++i)
      if (g.node(i).kind == NodeKind::op && g.node(i).op == mlp_fused_op()) y = g.var(i);
    std::vector<Var> wrt = {g.find("x"), g.find("w0"), g.find("b1")};
    auto gs = grad(sum(square(y)), wrt);
    auto want = compile(g, gs, Device::cpu()).run(net->feeds);
    auto got = compile(g, gs, device_under_test()).run(net->feeds);
    for (size_t k = 0; k < gs.size(); ++k) compare_devices("gradient " + std::to_string(k), got[k], want[k], 200, false);
  }
}
