// Golden values from PyTorch (tests/scripts/make_golden_egnn.py, committed fixtures): EGNN_dynamics,
// an EGNN_vel with an active coordinate clamp, and a 3-channel MC-EGNN with every option, on orbit's
// dense and sparse paths: the output, the gradients of L = sum(out * W) with respect to the positions
// and every weight, and the weight gradients of F = sum((dL/dx)^2) (second order).
#include <doctest/doctest.h>

#include "engine/io/npz.h"
#include "tests/test_egnn_util.h"

using namespace orbit;
using namespace orbit::egnn_test;

namespace {

void check_close(const std::string& what, const Tensor& got, const Tensor& want) {
  INFO(what);
  REQUIRE(got.numel() == want.numel());
  double scale = 0;
  for (int64_t i = 0; i < want.numel(); ++i) scale = std::max(scale, std::abs(want.at(i)));
  // Relative 1e-10, with a floor of 1e-12 of the tensor's largest entry (entries near zero).
  int bad = 0;
  for (int64_t i = 0; i < got.numel(); ++i)
    if (!(std::abs(got.at(i) - want.at(i)) <= 1e-10 * std::abs(want.at(i)) + 1e-12 * scale) && bad++ < 3)
      FAIL_CHECK("entry " << i << ": orbit " << got.at(i) << ", PyTorch " << want.at(i));
  CHECK(bad == 0);
}

std::string param_key(const std::string& name) {
  std::string k = name;
  for (auto& ch : k)
    if (ch == '/') ch = '.';
  return k;
}

void run_golden(const std::string& which, bool sparse) {
  const std::string label = which + (sparse ? std::string(" (sparse)") : std::string(" (dense)"));
  INFO("case " << label);
  auto ref = read_npz(std::string(ORBIT_SOURCE_DIR) + "/tests/fixtures/golden/egnn_" + which + ".npz");
  const int64_t B = 2, n = 4, d = 3;
  Graph g;
  Var x, out;
  std::vector<Var> params;
  Feeds feeds;
  if (which == "dynamics") {
    x = g.input("x", {B, n * d}, DType::f64);
    Var t = g.input("t", {B, 1}, DType::f64);
    DynamicsConfig cfg;
    cfg.n_particles = n;
    cfg.dim = d;
    cfg.hidden = 8;
    cfg.layers = 2;
    cfg.sparse = sparse;
    Dynamics dyn(g, "net", cfg, DType::f64);
    CHECK(dyn.config().egnn().coords_range == 7.5);  // 15 / layers
    out = dyn(t, x);
    params = dyn.params();
    feeds.push_back({"t", ref.at("t")});
  } else {
    Variant var;
    var.cfg.node_in = 2;
    var.cfg.hidden = 6;
    var.cfg.layers = 3;
    var.cfg.coord_agg = Agg::mean;
    var.cfg.velocity = true;
    var.cfg.edge_attr = 2;
    var.edge_q = true;
    if (which == "vel") {
      var.cfg.channels = 0;
      var.cfg.coord_clamp = 0.05;
    } else {
      var.cfg.channels = 3;
      var.cfg.coord_clamp = 100;
      var.cfg.attention = var.cfg.norm_diff = var.cfg.tanh = true;
      var.cfg.coords_range = 2.0;
      var.cfg.node_attr = 2;
      var.cfg.node_agg = Agg::mean;
    }
    x = g.input("x", {B, n, d}, DType::f64);
    Var h = g.input("h", {B, n, 2}, DType::f64), v = g.input("v", {B, n, d}, DType::f64);
    Var q = g.input("q", {B, n, 1}, DType::f64), na = g.input("na", {B, n, 2}, DType::f64);
    Connectivity c = sparse ? Connectivity::sparse_fully_connected(g, B, n) : Connectivity::dense(n);
    auto flat = [&](Var t) { return sparse ? reshape(t, {B * n, t.shape()[2]}) : t; };
    Var xf = flat(x), qf = flat(q);
    Var ea = concat({c.at_receiver(qf) * c.at_sender(qf), sum(square(c.diff(xf)), {-1}, true)}, -1);
    Var nattr = var.cfg.node_attr ? flat(na) : Var();
    if (var.cfg.channels == 0) {
      EGNN net(g, "net", var.cfg, DType::f64);
      out = reshape(net(c, flat(h), xf, ea, flat(v), nattr).x, {B, n, d, 1});
      params = net.params();
    } else {
      MCEGNN net(g, "net", var.cfg, DType::f64);
      out = reshape(net(c, flat(h), xf, ea, flat(v), nattr).X, {B, n, d, 1});
      params = net.params();
    }
    for (const char* k : {"h", "v", "q", "na"}) feeds.push_back({k, ref.at(k)});
  }
  feeds.push_back({"x", ref.at("x")});
  auto store = std::make_shared<ParamStore>();
  int matched = 0;
  for (Var p : params) {
    const std::string key = "p." + param_key(p.name());
    REQUIRE_MESSAGE(ref.count(key), "the fixture lacks parameter " << p.name());
    REQUIRE(ref.at(key).shape() == p.shape());
    store->set(p.name(), ref.at(key));
    ++matched;
  }
  int in_fixture = 0;
  for (auto& [k, v] : ref) in_fixture += k.rfind("p.", 0) == 0;
  CHECK(matched == in_fixture);  // the same network: no parameter left over on either side
  Var L = sum(out * g.constant(ref.at("W"), "W"));
  std::vector<Var> wrt{x};
  wrt.insert(wrt.end(), params.begin(), params.end());
  auto g1 = grad(L, wrt);
  Var F = sum(square(g1[0]));
  auto g2 = grad(F, params);
  std::vector<Var> outs{out, g1[0], F};
  outs.insert(outs.end(), g1.begin() + 1, g1.end());
  outs.insert(outs.end(), g2.begin(), g2.end());
  CompileOptions o;
  o.params = store;
  auto got = compile(g, outs, Device::cpu(), o).run(feeds);
  check_close("output", got[0], ref.at("out"));
  check_close("dL/dx", got[1], ref.at("dx"));
  check_close("F", got[2], ref.at("F"));
  const size_t P = params.size();
  for (size_t k = 0; k < P; ++k) {
    check_close("dL/d " + params[k].name(), got[3 + k], ref.at("g." + param_key(params[k].name())));
    check_close("dF/d " + params[k].name(), got[3 + P + k], ref.at("gg." + param_key(params[k].name())));
  }
}

}  // namespace

TEST_SUITE("cpu") {
  TEST_CASE("golden: EGNN_dynamics, EGNN_vel and MC-EGNN values, gradients and second-order gradients match PyTorch") {
    for (const char* which : {"dynamics", "vel", "mc"})
      for (bool sparse : {false, true}) run_golden(which, sparse);
  }
}
