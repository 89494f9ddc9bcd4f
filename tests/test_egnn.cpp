// EGNN, MC-EGNN and iDEM's EGNN_dynamics: E(n) equivariance (rotations, reflections, translations)
// and permutation equivariance of every variant, dense vs sparse agreement, MC-EGNN with one channel
// = EGNN, and the builders' shape errors.
#include <doctest/doctest.h>

#include <numeric>

#include "tests/test_egnn_util.h"

using namespace orbit;
using namespace orbit::egnn_test;

namespace {

// Checks f(g x) = g f(x) for the variant on a graph kind: rotation or reflection plus a translation of
// the positions (velocities rotate only; h, q and the node attributes are invariant), and a node
// permutation. Output positions transform like the inputs, h_out is invariant.
void check_equivariance(const Variant& var, GraphKind kind, int64_t d) {
  const Inputs in = make_inputs(3, 6, d, 11);
  auto store = std::make_shared<ParamStore>();
  auto base = run_variant(var, in, kind, store);
  REQUIRE(max_abs(base[0]) > 0.1);
  const double scale = max_abs(base[0]) + max_abs(base[1]);
  for (bool reflect : {false, true}) {
    INFO("reflection " << reflect);
    auto Q = random_orthogonal(d, 3 + reflect, reflect);
    auto shift = randn(d, 9, 9);
    for (auto& s : shift) s *= 3;
    Inputs t = in;
    t.x = transform(in.x, Q, shift);
    t.v = transform(in.v, Q, {});
    auto out = run_variant(var, t, kind, store);
    Tensor want = transform(base[0], Q, shift);
    CHECK(max_abs_diff(out[0], want) <= 1e-11 * scale);
    CHECK(max_abs_diff(out[1], base[1]) <= 1e-11 * scale);
  }
  std::vector<int64_t> perm(in.n);
  std::iota(perm.begin(), perm.end(), 0);
  std::rotate(perm.begin(), perm.begin() + 2, perm.end());
  std::swap(perm[0], perm[3]);
  Inputs p = in;
  p.h = permute_nodes(in.h, perm), p.x = permute_nodes(in.x, perm), p.v = permute_nodes(in.v, perm);
  p.q = permute_nodes(in.q, perm), p.na = permute_nodes(in.na, perm);
  if (kind == GraphKind::sparse_ring) return;  // the ring is not invariant under this permutation
  auto out = run_variant(var, p, kind, store);
  CHECK(max_abs_diff(out[0], permute_nodes(base[0], perm)) <= 1e-11 * scale);
  CHECK(max_abs_diff(out[1], permute_nodes(base[1], perm)) <= 1e-11 * scale);
}

}  // namespace

TEST_SUITE("cpu") {
  TEST_CASE("egnn: every variant is E(n)- and permutation-equivariant (dense, 3-D and 2-D)") {
    for (auto& var : variants()) {
      INFO(var.label);
      check_equivariance(var, GraphKind::dense, 3);
      check_equivariance(var, GraphKind::dense, 2);
    }
  }

  TEST_CASE("egnn: every variant is E(n)-equivariant on sparse graphs (complete and ring)") {
    for (auto& var : variants()) {
      INFO(var.label);
      check_equivariance(var, GraphKind::sparse_full, 3);
      check_equivariance(var, GraphKind::sparse_ring, 3);
    }
  }

  TEST_CASE("egnn: the coordinate updates are not trivial (outputs differ from inputs, clamps act)") {
    for (auto& var : variants()) {
      INFO(var.label);
      const Inputs in = make_inputs(3, 6, 3, 11);
      auto store = std::make_shared<ParamStore>();
      auto out = run_variant(var, in, GraphKind::dense, store);
      if (var.cfg.channels_out == 1 || var.cfg.channels == 0) CHECK(max_abs_diff(out[0], in.x) > 0.05);
    }
  }

  TEST_CASE("egnn: dense batched and sparse edge-list graphs give the same results") {
    for (auto& var : variants()) {
      INFO(var.label);
      const Inputs in = make_inputs(3, 6, 3, 21);
      auto store = std::make_shared<ParamStore>();
      auto dn = run_variant(var, in, GraphKind::dense, store);
      auto sp = run_variant(var, in, GraphKind::sparse_full, store);
      const double scale = max_abs(dn[0]) + max_abs(dn[1]);
      CHECK(max_abs_diff(dn[0], sp[0]) <= 1e-12 * scale);
      CHECK(max_abs_diff(dn[1], sp[1]) <= 1e-12 * scale);
    }
  }

  TEST_CASE("egnn: MC-EGNN with one channel is EGNN (same parameters, same outputs)") {
    for (auto& var : variants()) {
      if (var.cfg.channels == 0 || var.cfg.channels_out != 1) continue;
      INFO(var.label);
      Variant one = var, plain = var;
      one.cfg.channels = 1;
      plain.cfg.channels = 0;
      const Inputs in = make_inputs(2, 5, 3, 31);
      auto store = std::make_shared<ParamStore>();
      auto a = run_variant(one, in, GraphKind::dense, store);
      auto b = run_variant(plain, in, GraphKind::dense, store);
      CHECK(max_abs_diff(a[0], b[0]) <= 1e-13 * max_abs(a[0]));
      CHECK(max_abs_diff(a[1], b[1]) <= 1e-13 * max_abs(a[1]));
    }
  }

  TEST_CASE("egnn: a sum-aggregated graph differs from the mean-aggregated one (the option is wired)") {
    Variant s = variants()[0], m = variants()[0];
    m.cfg.coord_agg = Agg::mean;
    const Inputs in = make_inputs(2, 5, 3, 41);
    auto st = std::make_shared<ParamStore>();
    auto a = run_variant(s, in, GraphKind::dense, st);
    auto b = run_variant(m, in, GraphKind::dense, st);
    // mean = x + (sum update) / (n - 1) for the first layer; after two layers they just differ.
    CHECK(max_abs_diff(a[0], b[0]) > 1e-3);
  }

  TEST_CASE("egnn: EGNN_dynamics is mean-free, rotation/reflection equivariant, translation invariant, permutation equivariant, dense = sparse") {
    for (int64_t d : {2, 3}) {
      const int64_t B = 3, n = 5;
      INFO("dim " << d);
      auto build = [&](bool sparse, std::shared_ptr<ParamStore> store) {
        auto g = std::make_shared<Graph>();
        Var t = g->input("t", {B, 1}, DType::f64), x = g->input("x", {B, n * d}, DType::f64);
        DynamicsConfig cfg;
        cfg.n_particles = n;
        cfg.dim = d;
        cfg.hidden = 16;
        cfg.layers = 3;
        cfg.sparse = sparse;
        Dynamics dyn(*g, "score", cfg, DType::f64);
        Var out = dyn(t, x);
        if (!store->has("score/embed/w")) randomize(*store, dyn.params(), 3);
        CompileOptions o;
        o.params = store;
        return std::make_shared<Program>(compile(*g, {out}, Device::cpu(), o));
      };
      auto store = std::make_shared<ParamStore>();
      auto dense = build(false, store), sparse = build(true, store);
      Tensor t = Tensor::from<double>({B, 1}, {0.1, 0.5, 0.9});
      Tensor x = Tensor::from<double>({B, n * d}, randn(B * n * d, 7, 1));
      Tensor out = dense->run({{"t", t}, {"x", x}})[0];
      REQUIRE(max_abs(out) > 0.1);
      const double tol = 1e-11 * max_abs(out);
      CHECK(max_abs_diff(sparse->run({{"t", t}, {"x", x}})[0], out) <= tol);
      for (int64_t b = 0; b < B; ++b)
        for (int64_t k = 0; k < d; ++k) {
          double s = 0;
          for (int64_t i = 0; i < n; ++i) s += out.at((b * n + i) * d + k);
          CHECK(std::abs(s) <= tol);
        }
      for (bool reflect : {false, true}) {
        auto Q = random_orthogonal(d, 13, reflect);
        auto shift = randn(d, 4, 4);
        Tensor xr = transform(x.reshaped({B * n, d}), Q, shift).reshaped({B, n * d});
        Tensor want = transform(out.reshaped({B * n, d}), Q, {}).reshaped({B, n * d});
        CHECK(max_abs_diff(dense->run({{"t", t}, {"x", xr}})[0], want) <= tol);
      }
      std::vector<int64_t> perm{3, 0, 4, 1, 2};
      Tensor xp = permute_nodes(x.reshaped({B, n, d}), perm).reshaped({B, n * d});
      Tensor want = permute_nodes(out.reshaped({B, n, d}), perm).reshaped({B, n * d});
      CHECK(max_abs_diff(dense->run({{"t", t}, {"x", xp}})[0], want) <= tol);
      // Time conditioning is wired: another t gives another score.
      Tensor t2 = Tensor::from<double>({B, 1}, {0.7, 0.2, 0.3});
      CHECK(max_abs_diff(dense->run({{"t", t2}, {"x", x}})[0], out) > 1e-4);
    }
  }

  TEST_CASE("egnn: builders reject wrong shapes with errors naming the problem") {
    Graph g;
    Var x = g.input("x", {4, 12}, DType::f32), t = g.input("t", {4, 1}, DType::f32);
    DynamicsConfig cfg;
    cfg.n_particles = 5;
    cfg.dim = 3;
    cfg.hidden = 8;
    Dynamics dyn(g, "score", cfg);
    CHECK_THROWS_WITH_AS(dyn(t, x), doctest::Contains("expects x [B, 15]"), Error);
    Var x2 = g.input("x2", {4, 15}, DType::f32), t2 = g.input("t2", {3, 1}, DType::f32);
    CHECK_THROWS_WITH_AS(dyn(t2, x2), doctest::Contains("expects t [4, 1]"), Error);

    EGNNConfig ec;
    ec.hidden = 8;
    ec.layers = 1;
    ec.velocity = true;
    EGNN net(g, "net", ec);
    Connectivity c = Connectivity::dense(5);
    Var h = g.input("h", {2, 5, 1}), xx = g.input("xx", {2, 5, 3}), bad = g.input("bad", {2, 4, 3});
    CHECK_THROWS_WITH_AS(net(c, h, xx), doctest::Contains("velocity is required"), Error);
    CHECK_THROWS_WITH_AS(net(c, h, bad, Var(), bad), doctest::Contains("dense node tensor [B, 5"), Error);
    ec.layers = 0;
    CHECK_THROWS_WITH_AS(EGNN(g, "net0", ec), doctest::Contains("layers must be in"), Error);
    CHECK_THROWS_WITH_AS(Connectivity::sparse(g, 3, {0, 1}, {1, 5}), doctest::Contains("outside [0, 3)"), Error);
    CHECK_THROWS_WITH_AS(agg_from_name("max"), doctest::Contains("unknown aggregation 'max'"), Error);
  }
}
