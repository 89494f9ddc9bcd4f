// The fused EGNN message-passing op (engine/egnn_message.h) inside the models: fused = unfused EGNN /
// EGNN_dynamics outputs and gradients over every option combination (f64 tight, f32 to rounding),
// E(n) equivariance on the fused path, the CUDA-default expansion (compiled here on the CPU), the
// compiler's other passes around the node, determinism, and shape errors. The op's own gradchecks
// (first and second order) are harness cases (tests/harness/op_cases_egnn_message.cpp).
#include <doctest/doctest.h>

#include <string>

#include "engine/egnn_message.h"
#include "engine/op_registry.h"
#include "kernels/cpu/isa.h"
#include "tests/cpu_test_util.h"
#include "tests/test_egnn_util.h"

using namespace orbit;
using namespace orbit::egnn;
using namespace orbit::egnn_test;

namespace {

DynamicsConfig dynamics_config(int64_t n, int64_t d, int64_t hidden, int64_t layers, FusedMessage fused) {
  DynamicsConfig c;
  c.n_particles = n;
  c.dim = d;
  c.hidden = hidden;
  c.layers = layers;
  c.fused_message = fused;
  return c;
}

struct Opts {
  bool norm_diff = false, attention = false, tanh = false;
  double clamp = 0;
  int64_t E = 0;
  bool self_loops = false;
  Agg coord_agg = Agg::sum, node_agg = Agg::sum;
  int64_t n = 4, B = 1;
  bool broadcast_a = false;  // a [B, 1, n, E] broadcast over receivers
  std::string str() const {
    return "norm_diff " + std::to_string(norm_diff) + " attention " + std::to_string(attention) + " tanh " +
           std::to_string(tanh) + " clamp " + std::to_string(clamp) + " E " + std::to_string(E) + " self_loops " +
           std::to_string(self_loops) + " coord_agg " + agg_name(coord_agg) + " node_agg " + agg_name(node_agg) +
           " n " + std::to_string(n) + " B " + std::to_string(B) + " broadcast_a " + std::to_string(broadcast_a);
  }
};

int count_ops(const Program& p, const std::string& name) {
  int k = 0;
  for (int i = 0; i < p.graph().size(); ++i) {
    const Node& nd = p.graph().node(i);
    if (nd.kind == NodeKind::op && ops().get(nd.op).name == name) ++k;
  }
  return k;
}

// EGNN (2 layers, hidden 8) with the options; outputs x', h', then d loss / d (params, x, a).
struct RunOut {
  std::vector<Tensor> t;
  int fused_nodes = 0, vjp_nodes = 0;
};

// expand: the graph as compile() lowers it for CUDA (the fused nodes expanded into generic ops,
// expand_egnn_messages), compiled and run on the CPU.
RunOut run_egnn(const Opts& o, FusedMessage fm, DType dt, std::shared_ptr<ParamStore> store, bool expand = false) {
  const int64_t B = o.B, n = o.n, d = 3;
  Graph g;
  EGNNConfig cfg;
  cfg.node_in = 2;
  cfg.hidden = 8;
  cfg.layers = 2;
  cfg.attention = o.attention;
  cfg.norm_diff = o.norm_diff;
  cfg.tanh = o.tanh;
  cfg.coords_range = 2.0;
  cfg.coord_agg = o.coord_agg;
  cfg.node_agg = o.node_agg;
  cfg.coord_clamp = o.clamp;
  cfg.edge_attr = o.E;
  cfg.fused_message = fm;
  Var h = g.input("h", {B, n, 2}, dt), x = g.input("x", {B, n, d}, dt);
  Var a;
  Shape as({B, o.broadcast_a ? 1 : n, n, std::max<int64_t>(o.E, 1)});
  if (o.E > 0) a = g.input("a", as, dt);
  Connectivity c = Connectivity::dense(n, o.self_loops);
  EGNN net(g, "net", cfg, dt);
  auto out = net(c, h, x, a);
  Var wx = g.input("wx", out.x.shape(), dt), wh = g.input("wh", out.h.shape(), dt);
  Var loss = sum(out.x * wx) + sum(out.h * wh);
  std::vector<Var> wrt = net.params();
  wrt.push_back(x);
  if (o.E > 0) wrt.push_back(a);
  std::vector<Var> outs{out.x, out.h};
  for (Var v : grad(loss, wrt)) outs.push_back(v);
  if (!store->has(net.params()[0].name())) randomize(*store, net.params(), 21);
  const Shape xs = out.x.shape(), hs = out.h.shape();  // (the expansion rebuilds g: Vars of it go stale)
  CompileOptions co;
  co.params = store;
  if (expand) {
    std::vector<NodeId> ids;
    for (Var v : outs) ids.push_back(v.id());
    if (!expand_egnn_messages(g, ids, Device::cuda())) return {};  // nothing CUDA would expand
    for (size_t k = 0; k < outs.size(); ++k) outs[k] = g.var(ids[k]);
  }
  Program p = compile(g, outs, Device::cpu(), co);
  auto cast = [&](const std::vector<double>& v, Shape s) { return Tensor::from<double>(s, v).cast(dt); };
  Feeds f{{"h", cast(randn(B * n * 2, 3, 1), Shape({B, n, 2}))},
          {"x", cast(randn(B * n * d, 3, 2), Shape({B, n, d}))},
          {"wx", cast(randn(B * n * d, 3, 3), xs)},
          {"wh", cast(randn(B * n * 8, 3, 4), hs)}};
  if (o.E > 0) {
    auto v = randn(as.numel(), 3, 5);
    for (auto& e : v) e = std::abs(e);
    f.push_back({"a", cast(v, as)});
  }
  RunOut r;
  r.t = p.run(f);
  r.fused_nodes = count_ops(p, "egnn_message");
  r.vjp_nodes = count_ops(p, "egnn_message_vjp");
  return r;
}

// Every tensor of `got` against `want`: max |diff| <= rel * max |want| (+ a floor for all-zero tensors).
void compare_all(const std::string& what, const std::vector<Tensor>& got, const std::vector<Tensor>& want, double rel) {
  REQUIRE(got.size() == want.size());
  for (size_t k = 0; k < got.size(); ++k) {
    const double scale = max_abs(want[k]), diff = max_abs_diff(got[k], want[k]);
    INFO(what << ": output " << k << " max |diff| " << diff << ", max |value| " << scale);
    CHECK(diff <= rel * scale + 1e-300 + (scale == 0 ? rel : 0));
  }
}

std::vector<Opts> combos() {
  // Mixed-radix walk: each option takes each of its values several times, in varied company.
  const int64_t ns[] = {1, 2, 4, 13};
  const double clamps[] = {0, 0.05, 100};
  std::vector<Opts> v;
  for (int k = 0; k < 40; ++k) {
    Opts o;
    o.norm_diff = k % 2;
    o.attention = (k / 2) % 2;
    o.tanh = (k * 3 / 4) % 2;
    o.clamp = clamps[(k * 5) % 3];
    o.E = (k * 7 + 1) % 3;
    o.self_loops = (k / 3) % 2;
    o.coord_agg = (k * 11 / 5) % 2 ? Agg::mean : Agg::sum;
    o.node_agg = (k / 5) % 2 ? Agg::mean : Agg::sum;
    o.n = ns[(k * 3 + k / 4) % 4];
    o.B = (k / 7) % 2 ? 3 : 1;
    o.broadcast_a = o.E > 0 && k % 5 == 0;
    v.push_back(o);
  }
  return v;
}

}  // namespace

TEST_SUITE("cpu") {
  TEST_CASE("egnn_message: fused = unfused EGNN outputs and gradients over the option combinations (f64)") {
    for (const Opts& o : combos()) {
      INFO(o.str());
      auto store = std::make_shared<ParamStore>();
      RunOut ref = run_egnn(o, FusedMessage::off, DType::f64, store);
      RunOut got = run_egnn(o, FusedMessage::on, DType::f64, store);
      CHECK(ref.fused_nodes == 0);
      CHECK(got.fused_nodes == 2);  // one per layer; the gradients through the fused VJP op
      CHECK(got.vjp_nodes == 2);
      compare_all(o.str(), got.t, ref.t, 1e-12);
    }
  }

  TEST_CASE("egnn_message: the CUDA expansion = the fused op over the option combinations (f64, gradients)") {
    if (std::getenv("ORBIT_EGNN_FUSED")) {
      MESSAGE("skipped: ORBIT_EGNN_FUSED decides what CUDA expands");
      return;
    }
    int expanded = 0;
    for (const Opts& o : combos()) {
      INFO(o.str());
      auto store = std::make_shared<ParamStore>();
      RunOut ref = run_egnn(o, FusedMessage::on, DType::f64, store);
      // automatic: the fused op on the CPU, its expansion on CUDA (where the op applies at all)
      RunOut got = run_egnn(o, FusedMessage::automatic, DType::f64, store, /*expand=*/true);
      if (got.t.empty()) continue;
      ++expanded;
      CHECK(got.fused_nodes + got.vjp_nodes == 0);
      compare_all(o.str(), got.t, ref.t, 1e-12);
    }
    CHECK(expanded >= 20);
  }

  TEST_CASE("egnn_message: fused = unfused in f32 to rounding on every CPU variant") {
    // The kernel's products and per-row loops have a variant per instruction set (kernels/cpu/isa.h).
    orbit::testing::IsaGuard guard;
    for (cpu::Isa isa : cpu::isa_available()) {
      cpu::set_active_isa(isa);
      INFO(cpu::isa_name(isa));
      auto all = combos();
      for (size_t k = 0; k < all.size(); k += 3) {
        const Opts& o = all[k];
        INFO(o.str());
        auto store = std::make_shared<ParamStore>();
        RunOut ref = run_egnn(o, FusedMessage::off, DType::f32, store);
        RunOut got = run_egnn(o, FusedMessage::on, DType::f32, store);
        compare_all(o.str(), got.t, ref.t, 5e-5);
      }
    }
  }

  TEST_CASE("egnn_message: automatic takes the fused op on dense graphs, not on sparse ones or m > 1") {
    LayerOptions lo;
    lo.node_in = lo.node_out = lo.hidden = 4;
    Graph g;
    EGCL layer(g, "l", lo, DType::f64);
    CHECK(layer.uses_fused_message(Connectivity::dense(3)) == (std::getenv("ORBIT_EGNN_FUSED") == nullptr ||
                                                               std::string(std::getenv("ORBIT_EGNN_FUSED")) != "0"));
    CHECK_FALSE(layer.uses_fused_message(Connectivity::sparse_fully_connected(g, 2, 3)));
    LayerOptions l2 = lo;
    l2.ch_in = l2.ch_out = 2;
    CHECK_FALSE(EGCL(g, "l2", l2, DType::f64).uses_fused_message(Connectivity::dense(3)));
    LayerOptions l3 = lo;
    l3.act = nn::Activation::tanh;
    CHECK_FALSE(EGCL(g, "l3", l3, DType::f64).uses_fused_message(Connectivity::dense(3)));
    LayerOptions l4 = lo;
    l4.fused_message = FusedMessage::off;
    CHECK_FALSE(EGCL(g, "l4", l4, DType::f64).uses_fused_message(Connectivity::dense(3)));
  }

  TEST_CASE("egnn_message: EGNN_dynamics fused = unfused (outputs, parameter and input gradients), n = 4 and 13") {
    for (int64_t n : {4, 13}) {
      for (DType dt : {DType::f64, DType::f32}) {
        const int64_t B = 3, d = 3;
        auto store = std::make_shared<ParamStore>();
        std::vector<std::vector<Tensor>> res;
        for (FusedMessage fm : {FusedMessage::off, FusedMessage::on}) {
          Graph g;
          const DynamicsConfig cfg = dynamics_config(n, d, 16, 3, fm);
          Dynamics dyn(g, "score", cfg, dt);
          Var t = g.input("t", {B, 1}, dt), x = g.input("x", {B, n * d}, dt), w = g.input("w", {B, n * d}, dt);
          Var s = dyn(t, x);
          std::vector<Var> wrt = dyn.params();
          wrt.push_back(x);
          std::vector<Var> outs{s};
          for (Var v : grad(sum(s * w), wrt)) outs.push_back(v);
          if (!store->has(dyn.params()[0].name())) randomize(*store, dyn.params(), 4);
          CompileOptions co;
          co.params = store;
          Program p = compile(g, outs, Device::cpu(), co);
          CHECK(count_ops(p, "egnn_message") == (fm == FusedMessage::on ? 3 : 0));
          res.push_back(p.run({{"t", Tensor::from<double>({B, 1}, {0.2, 0.5, 0.9}).cast(dt)},
                               {"x", Tensor::from<double>({B, n * d}, randn(B * n * d, 6, 1)).cast(dt)},
                               {"w", Tensor::from<double>({B, n * d}, randn(B * n * d, 6, 2)).cast(dt)}}));
        }
        INFO("n " << n << " " << std::string(dtype_name(dt)));
        compare_all("dynamics", res[1], res[0], dt == DType::f64 ? 1e-12 : 5e-5);
      }
    }
  }

  TEST_CASE("egnn_message: E(n) equivariance of EGNN on the fused path (rotation, reflection, translation)") {
    const int64_t B = 2, n = 5, d = 3;
    auto store = std::make_shared<ParamStore>();
    for (bool reflect : {false, true}) {
      Graph g;
      EGNNConfig cfg;
      cfg.node_in = 2;
      cfg.hidden = 8;
      cfg.layers = 3;
      cfg.attention = cfg.norm_diff = cfg.tanh = true;
      cfg.edge_attr = 1;
      cfg.coord_clamp = 100;
      cfg.fused_message = FusedMessage::on;
      Var h = g.input("h", {B, n, 2}, DType::f64), x = g.input("x", {B, n, d}, DType::f64);
      Connectivity c = Connectivity::dense(n);
      EGNN net(g, "net", cfg, DType::f64);
      auto out = net(c, h, x, sum(square(c.diff(x)), {-1}, true));
      if (!store->has(net.params()[0].name())) randomize(*store, net.params(), 2);
      CompileOptions co;
      co.params = store;
      Program p = compile(g, {out.x, out.h}, Device::cpu(), co);
      CHECK(count_ops(p, "egnn_message") == 3);
      Inputs in = make_inputs(B, n, d, 11);
      auto Q = random_orthogonal(d, 5, reflect);
      std::vector<double> shift{0.3, -1.1, 2.0};
      auto o1 = p.run({{"h", in.h}, {"x", in.x}});
      auto o2 = p.run({{"h", in.h}, {"x", transform(in.x, Q, shift)}});
      Tensor want = transform(o1[0], Q, shift);
      CHECK(max_abs_diff(o2[0], want) <= 1e-11 * (1 + max_abs(want)));
      CHECK(max_abs_diff(o2[1], o1[1]) <= 1e-11 * (1 + max_abs(o1[1])));
    }
  }

  TEST_CASE("egnn_message: the CUDA default's expansion into generic ops (compiled on the CPU) equals the kernels") {
    const int64_t B = 2, n = 4, d = 3;
    Graph g;
    const DynamicsConfig cfg = dynamics_config(n, d, 8, 2, FusedMessage::automatic);
    Dynamics dyn(g, "score", cfg, DType::f64);
    Var t = g.input("t", {B, 1}, DType::f64), x = g.input("x", {B, n * d}, DType::f64);
    Var s = dyn(t, x);
    auto gx = grad(sum(square(s)), {x})[0];
    auto gp = grad(sum(square(gx)), dyn.params());  // second order through the fused VJP op
    std::vector<Var> outs{s, gx, gp[0], gp[3], gp.back()};
    auto store = std::make_shared<ParamStore>();
    randomize(*store, dyn.params(), 3);
    CompileOptions co;
    co.params = store;
    Program fused = compile(g, outs, Device::cpu(), co);
    const bool env_off = std::getenv("ORBIT_EGNN_FUSED") && std::string(std::getenv("ORBIT_EGNN_FUSED")) == "0";
    if (!env_off) CHECK(count_ops(fused, "egnn_message") == 2);
    // What compile() does for CUDA, applied to a copy of the graph, then run on the CPU.
    Graph copy = g;
    std::vector<NodeId> ids;
    for (Var v : outs) ids.push_back(v.id());
    const bool expanded = expand_egnn_messages(copy, ids, Device::cuda());
    CHECK(expanded == (!env_off && std::getenv("ORBIT_EGNN_FUSED") == nullptr));
    CHECK_FALSE(expand_egnn_messages(copy, ids, Device::cpu()));
    std::vector<Var> outs2;
    for (NodeId id : ids) outs2.push_back(copy.var(id));
    Program unf = compile(copy, outs2, Device::cpu(), co);
    if (expanded) CHECK(count_ops(unf, "egnn_message") + count_ops(unf, "egnn_message_vjp") == 0);
    Feeds f{{"t", Tensor::from<double>({B, 1}, {0.3, 0.7})}, {"x", Tensor::from<double>({B, n * d}, randn(B * n * d, 9, 1))}};
    compare_all("expansion", fused.run(f), unf.run(f), 1e-11);
  }

  TEST_CASE("egnn_message: ORBIT_EGNN_FUSED=forward keeps the forward fused on CUDA and expands only its VJP") {
    const int64_t B = 2, n = 5, d = 3;
    Graph g;
    Dynamics dyn(g, "score", dynamics_config(n, d, 8, 2, FusedMessage::on), DType::f64);
    Var t = g.input("t", {B, 1}, DType::f64), x = g.input("x", {B, n * d}, DType::f64);
    Var s = dyn(t, x);
    auto gp = grad(sum(square(s)), dyn.params());
    std::vector<Var> outs{s, gp[0], gp.back()};
    auto store = std::make_shared<ParamStore>();
    randomize(*store, dyn.params(), 4);
    CompileOptions co;
    co.params = store;
    Graph copy = g;
    std::vector<NodeId> ids;
    for (Var v : outs) ids.push_back(v.id());
    const char* old = std::getenv("ORBIT_EGNN_FUSED");
    const std::string saved = old ? old : "";
    CHECK_FALSE(expand_egnn_messages(copy, ids, Device::cuda()));  // `on`: both fused on CUDA
    setenv("ORBIT_EGNN_FUSED", "forward", 1);
    CHECK(egnn_cuda_vjp_expanded());
    const bool expanded = expand_egnn_messages(copy, ids, Device::cuda());
    if (old) setenv("ORBIT_EGNN_FUSED", saved.c_str(), 1);
    else unsetenv("ORBIT_EGNN_FUSED");
    CHECK(expanded);
    std::vector<Var> outs2;
    for (NodeId id : ids) outs2.push_back(copy.var(id));
    Program fwd_only = compile(copy, outs2, Device::cpu(), co);
    CHECK(count_ops(fwd_only, "egnn_message") == 2);  // one per layer
    CHECK(count_ops(fwd_only, "egnn_message_vjp") == 0);
    Program fused = compile(g, outs, Device::cpu(), co);
    Feeds f{{"t", Tensor::from<double>({B, 1}, {0.2, 0.9})}, {"x", Tensor::from<double>({B, n * d}, randn(B * n * d, 5, 1))}};
    compare_all("forward fused, VJP expanded", fused.run(f), fwd_only.run(f), 1e-11);
  }

  TEST_CASE("egnn_message: a train step with every fusion pass runs the node and is deterministic") {
    const int64_t B = 8, n = 13, d = 3;
    Graph g;
    const DynamicsConfig cfg = dynamics_config(n, d, 32, 2, FusedMessage::on);
    Dynamics dyn(g, "score", cfg, DType::f32);
    Var t = g.input("t", {B, 1}, DType::f32), x = g.input("x", {B, n * d}, DType::f32);
    Var loss = mean(square(dyn(t, x) - x));
    auto gs = grad(loss, dyn.params());
    gs.insert(gs.begin(), loss);
    auto store = std::make_shared<ParamStore>();
    dyn.init(*store, 1);
    CompileOptions co;
    co.params = store;
    co.fusion = CompileOptions::Fusion::on;
    Program p = compile(g, gs, Device::cpu(), co);
    CHECK(count_ops(p, "egnn_message") == 2);
    CHECK(count_ops(p, "egnn_message_vjp") == 2);
    CHECK(count_ops(p, "fused") > 0);  // the elementwise fusion pass still groups the rest
    Feeds f{{"t", Tensor::from<double>({B, 1}, randn(B, 1, 1)).cast(DType::f32)},
            {"x", Tensor::from<double>({B, n * d}, randn(B * n * d, 1, 2)).cast(DType::f32)}};
    auto a = p.run(f), b = p.run(f);
    CompileOptions off = co;
    off.fusion = CompileOptions::Fusion::off;
    auto c = compile(g, gs, Device::cpu(), off).run(f);
    for (size_t k = 0; k < a.size(); ++k) {
      CHECK(max_abs_diff(a[k], b[k]) == 0);  // bit for bit
      CHECK(max_abs_diff(a[k], c[k]) <= 1e-4 * (max_abs(c[k]) + 1e-6));
    }
  }

  TEST_CASE("egnn_message: bad shapes and options give errors naming the input") {
    Graph g;
    const int64_t B = 2, n = 3, H = 4, d = 3;
    auto in = [&](const std::string& name, std::vector<int64_t> s) { return g.input(name, Shape(s), DType::f64); };
    Var P = in("P", {B, n, H}), Q = in("Q", {B, n, H}), x = in("x", {B, n, d});
    EgnnMessageWeights w;
    w.w_r = in("w_r", {H}), w.W2 = in("W2", {H, H}), w.b2 = in("b2", {H}), w.W3 = in("W3", {H, H});
    w.b3 = in("b3", {H}), w.w4 = in("w4", {H});
    EgnnMessageAttr a;
    CHECK(egnn_message(P, Q, x, w, a).shape() == Shape({B, n, H + d}));
    auto fails = [&](const std::function<void()>& f, const std::string& needle) {
      try {
        f();
        FAIL("no error (expected one mentioning '" << needle << "')");
      } catch (const Error& e) {
        INFO(e.what());
        CHECK(std::string(e.what()).find(needle) != std::string::npos);
      }
    };
    fails([&] { egnn_message(P, in("Qbad", {B, n, H + 1}), x, w, a); }, "Q must be");
    fails([&] { egnn_message(P, Q, in("xbad", {B, n + 1, d}), w, a); }, "x must be");
    EgnnMessageWeights w2 = w;
    w2.W2 = in("W2bad", {H, H + 1});
    fails([&] { egnn_message(P, Q, x, w2, a); }, "W2 must be");
    EgnnMessageAttr ae = a;
    ae.edge_attr = 2;
    fails([&] { egnn_message(P, Q, x, w, ae); }, "needs a and W_a");
    EgnnMessageWeights we = w;
    we.a = in("abad", {B, n, n, 3});
    we.W_a = in("W_a", {2, H});
    fails([&] { egnn_message(P, Q, x, we, ae); }, "a must be");
    we.a = in("abad2", {B, 2, n, 2});
    fails([&] { egnn_message(P, Q, x, we, ae); }, "does not broadcast");
    EgnnMessageAttr at = a;
    at.attention = true;
    fails([&] { egnn_message(P, Q, x, w, at); }, "attention needs");
    fails([&] { egnn_message(P, Q, g.input("x32", {B, n, d}, DType::f32), w, a); }, "x");
  }
}
