// The compile passes: dead-code elimination, common-subexpression elimination, constant folding
// and algebraic simplification, inspected through Program::graph(); and a differential test that
// optimised and unoptimised programs compute identical results on random graphs.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "engine/orbit.h"

using namespace orbit;

namespace {
// These tests look at what simplification and memory planning do to a graph, so fusion (tested in
// test_fusion.cpp) stays off.
Program compile_unfused(const Graph& g, const std::vector<Var>& outs, Device d = Device::cpu(), CompileOptions o = {}) {
  o.fusion = CompileOptions::Fusion::off;
  return compile(g, outs, d, o);
}

int count_op(const Graph& g, Op o) {
  int n = 0;
  for (NodeId i = 0; i < g.size(); ++i) n += is(g.node(i), o) ? 1 : 0;
  return n;
}

int count_kind(const Graph& g, NodeKind k) {
  int n = 0;
  for (NodeId i = 0; i < g.size(); ++i) n += g.node(i).kind == k ? 1 : 0;
  return n;
}

int count_ops(const Graph& g) { return count_kind(g, NodeKind::op); }

bool has_input(const Graph& g, const std::string& name) {
  for (NodeId i = 0; i < g.size(); ++i)
    if (g.node(i).kind == NodeKind::input && g.node(i).name == name) return true;
  return false;
}

CompileOptions unoptimized() {
  CompileOptions o;
  o.optimize = false;
  return o;
}

// Exact equality: same shape, dtype and every element equal (a NaN matches only a NaN; -0 == +0).
bool same_values(const Tensor& a, const Tensor& b, std::string* why = nullptr) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) {
    if (why) *why = "type " + a.shape().str() + " vs " + b.shape().str();
    return false;
  }
  for (int64_t i = 0; i < a.numel(); ++i) {
    double x = a.at(i), y = b.at(i);
    if (x == y || (std::isnan(x) && std::isnan(y))) continue;
    if (why) {
      char buf[128];
      std::snprintf(buf, sizeof buf, "element %lld: %.17g vs %.17g", static_cast<long long>(i), x, y);
      *why = buf;
    }
    return false;
  }
  return true;
}

Tensor random_tensor(std::mt19937& rng, const Shape& s, double lo = -1.0, double hi = 1.0) {
  std::uniform_real_distribution<double> u(lo, hi);
  std::vector<double> v(static_cast<size_t>(s.numel()));
  for (auto& e : v) e = u(rng);
  return Tensor::from<double>(s, v);
}

// Runs `outs` of g compiled with and without optimisation and checks the results are identical.
void check_same_results(const Graph& g, const std::vector<Var>& outs, const Feeds& feeds) {
  Program opt = compile_unfused(g, outs);
  Program raw = compile_unfused(g, outs, Device::cpu(), unoptimized());
  auto a = opt.run(feeds);
  auto b = raw.run(feeds);
  REQUIRE(a.size() == b.size());
  for (size_t k = 0; k < a.size(); ++k) {
    std::string why;
    bool same = same_values(a[k], b[k], &why);
    INFO("output ", k, ": ", why);
    CHECK(same);
  }
}

}  // namespace

TEST_SUITE("cpu") {

TEST_CASE("passes: dead code is eliminated") {
  Graph g;
  Var x = g.input("x", {3}, DType::f64);
  Var y = g.input("y", {3}, DType::f64);
  Var used = exp(x).named("used");
  Var dead1 = sin(y) * 3.0;              // reads only an input the output does not need
  Var dead2 = tanh(x) + cos(x);          // reads the same input as the output
  Var dead3 = sum(matmul(reshape(x, {3, 1}), reshape(dead2, {1, 3})));
  (void)dead1;
  (void)dead3;
  for (bool optimize : {true, false}) {
    CAPTURE(optimize);
    CompileOptions o;
    o.optimize = optimize;
    Program p = compile_unfused(g, {used}, Device::cpu(), o);
    const Graph& pg = p.graph();
    CHECK(pg.size() == 2);  // x and exp(x)
    CHECK(count_op(pg, Op::exp) == 1);
    CHECK(count_op(pg, Op::sin) == 0);
    CHECK(count_op(pg, Op::tanh) == 0);
    CHECK(count_op(pg, Op::cos) == 0);
    CHECK(count_op(pg, Op::matmul) == 0);
    CHECK(count_op(pg, Op::mul) == 0);
    CHECK(has_input(pg, "x"));
    CHECK_FALSE(has_input(pg, "y"));
    CHECK(count_kind(pg, NodeKind::constant) == 0);
    CHECK(p.num_kernels() == 1);
    // y need not be fed.
    auto r = p.run({{"x", Tensor::from<double>({3}, {0.0, 1.0, 2.0})}});
    CHECK(r[0].to_vector() == std::vector<double>{std::exp(0.0), std::exp(1.0), std::exp(2.0)});
  }
  // Asking for the dead branch too keeps it.
  Program both = compile_unfused(g, {used, dead2});
  CHECK(count_op(both.graph(), Op::tanh) == 1);
  CHECK(count_op(both.graph(), Op::cos) == 1);
  CHECK_FALSE(has_input(both.graph(), "y"));
  // The pruned graph is topologically ordered: every input precedes its reader.
  for (NodeId i = 0; i < both.graph().size(); ++i)
    for (NodeId in : both.graph().node(i).inputs) CHECK(in < i);
}

TEST_CASE("passes: common subexpressions are merged") {
  Graph g;
  Var x = g.input("x", {4, 3}, DType::f64);
  Var y = g.input("y", {3}, DType::f64);
  auto expr = [&] { return exp(x) * y + sum(tanh(x), {0}); };  // built twice, node by node
  Var a = expr();
  Var b = expr();
  Var out = a / (2.0 + cos(b));

  Program opt = compile_unfused(g, {out});
  const Graph& pg = opt.graph();
  CHECK(count_op(pg, Op::exp) == 1);
  CHECK(count_op(pg, Op::tanh) == 1);
  CHECK(count_op(pg, Op::reduce_sum) == 1);
  CHECK(count_op(pg, Op::mul) == 1);
  CHECK(count_op(pg, Op::add) == 2);  // the expression's add and 2 + cos(b)
  Program raw = compile_unfused(g, {out}, Device::cpu(), unoptimized());
  CHECK(count_op(raw.graph(), Op::exp) == 2);
  CHECK(count_op(raw.graph(), Op::mul) == 2);
  CHECK(opt.num_kernels() < raw.num_kernels());

  std::mt19937 rng(1234);
  Feeds f{{"x", random_tensor(rng, {4, 3})}, {"y", random_tensor(rng, {3})}};
  check_same_results(g, {out}, f);

  // Two outputs that are the same expression become one node.
  Program two = compile_unfused(g, {a, b});
  CHECK(count_op(two.graph(), Op::exp) == 1);
  auto r = two.run(f);
  CHECK(same_values(r[0], r[1]));

  // Different attributes, different inputs or different ops are not merged.
  Var s0 = sum(x, {0});
  Var s0b = sum(x, {0});
  Var s1 = sum(x, {1});
  Var k0 = sum(x, {0}, true);
  Var p2 = pow(x, 2.0), p3 = pow(x, 3.0), p2b = pow(x, 2.0);
  Var c1 = clamp(x, 0.0, 0.5), c2 = clamp(x, 0.0, 0.25);
  Program attrs = compile_unfused(g, {s0, s0b, s1, k0, p2, p3, p2b, c1, c2, exp(y), sin(y)});
  CHECK(count_op(attrs.graph(), Op::reduce_sum) == 3);
  CHECK(count_op(attrs.graph(), Op::pow_scalar) == 2);
  CHECK(count_op(attrs.graph(), Op::clamp) == 2);
  CHECK(count_op(attrs.graph(), Op::exp) == 1);
  CHECK(count_op(attrs.graph(), Op::sin) == 1);

  // Random ops are never merged: two draws with one seed are two streams.
  Var r1 = random_normal(g, {64}, 7, DType::f64);
  Var r2 = random_normal(g, {64}, 7, DType::f64);
  Program rp = compile_unfused(g, {r1, r2});
  CHECK(count_op(rp.graph(), Op::random_normal) == 2);
  auto rv = rp.run();
  CHECK_FALSE(same_values(rv[0], rv[1]));
}

TEST_CASE("passes: expressions of constants are folded into one constant") {
  Graph g;
  Tensor a = Tensor::from<double>({2, 3}, {0.5, -1.0, 2.0, 0.25, 3.0, -0.75});
  Tensor b = Tensor::from<double>({3}, {1.5, 2.5, -3.5});
  Var ca = g.constant(a, "ca");
  Var cb = g.constant(b, "cb");
  Var e = exp(ca) * cb + sum(ca, {0}, true) - matmul(ca, reshape(cb, {3, 1}));
  Var out = tanh(e) / (2.0 + sin(ca));

  Program opt = compile_unfused(g, {out});
  const Graph& pg = opt.graph();
  CHECK(opt.num_kernels() == 0);
  CHECK(count_ops(pg) == 0);
  CHECK(pg.size() == 1);
  CHECK(pg.node(0).kind == NodeKind::constant);
  Program raw = compile_unfused(g, {out}, Device::cpu(), unoptimized());
  CHECK(raw.num_kernels() > 5);
  auto x = opt.run(), y = raw.run();
  CHECK(same_values(x[0], y[0]));
  // The folded output is returned as a copy: writing to it leaves the program's constant alone.
  x[0].data<double>()[0] = 1e9;
  CHECK(same_values(opt.run()[0], y[0]));

  // Constants mixed with inputs: the constant part folds, the rest stays.
  Var in = g.input("in", {2, 3}, DType::f64);
  Var mixed = in * (exp(ca) + cos(cb));
  Program m = compile_unfused(g, {mixed});
  CHECK(m.num_kernels() == 1);
  CHECK(count_op(m.graph(), Op::mul) == 1);
  CHECK(count_op(m.graph(), Op::exp) == 0);
  CHECK(count_op(m.graph(), Op::cos) == 0);
  std::mt19937 rng(5);
  check_same_results(g, {mixed}, {{"in", random_tensor(rng, {2, 3})}});

  // Scalars fold through broadcasts without materialising a big tensor.
  Var big = full(g, 2.0, {300, 300}, DType::f64) * g.scalar(3.0, DType::f64) + 1.0;
  Program bp = compile_unfused(g, {big});
  CHECK(bp.num_kernels() == 1);
  CHECK(count_op(bp.graph(), Op::broadcast_to) == 1);
  CHECK(count_op(bp.graph(), Op::mul) == 0);
  CHECK(count_op(bp.graph(), Op::add) == 0);
  for (NodeId i = 0; i < bp.graph().size(); ++i)
    if (bp.graph().node(i).kind == NodeKind::constant) CHECK(bp.graph().node(i).value.numel() == 1);
  auto bv = bp.run()[0];
  CHECK(bv.shape() == Shape{300, 300});
  CHECK(bv.at(0) == 7.0);
  CHECK(bv.at(300 * 300 - 1) == 7.0);

  // Random ops are never folded.
  Var rnd = random_uniform(g, {4}, 3, DType::f64) * 2.0;
  Program rp = compile_unfused(g, {rnd});
  CHECK(count_op(rp.graph(), Op::random_uniform) == 1);
  CHECK_FALSE(same_values(rp.run()[0], rp.run()[0]));
}

TEST_CASE("passes: constants are only merged when they are the same bits") {
  // Deduplication of small constants must not mistake NaN for another value, nor -0 for +0.
  Graph g;
  Var x = g.input("x", {3}, DType::f64);
  Var with_nan = x * g.constant(Tensor::scalar(std::numeric_limits<double>::quiet_NaN(), DType::f64), "nan");
  Var with_five = x + g.constant(Tensor::scalar(5.0, DType::f64), "five");
  Var neg_zero = x / g.constant(Tensor::scalar(-0.0, DType::f64), "neg_zero");
  Var pos_zero = x / g.constant(Tensor::scalar(0.0, DType::f64), "pos_zero");
  Var vec_nan = x * g.constant(Tensor::from<double>({3}, {1.0, std::nan(""), 2.0}));
  Var vec_num = x * g.constant(Tensor::from<double>({3}, {1.0, 4.0, 2.0}));
  std::vector<Var> outs{with_nan, with_five, neg_zero, pos_zero, vec_nan, vec_num};
  Feeds f{{"x", Tensor::from<double>({3}, {1.0, 2.0, 3.0})}};
  CompileOptions lax;
  lax.numerics = NumericsCheck::off;
  auto r = compile_unfused(g, outs, Device::cpu(), lax).run(f);
  CHECK(r[1].to_vector() == std::vector<double>{6.0, 7.0, 8.0});
  CHECK(std::isnan(r[0].at(0)));
  CHECK(r[2].at(0) == -std::numeric_limits<double>::infinity());
  CHECK(r[3].at(0) == std::numeric_limits<double>::infinity());
  CHECK(r[5].to_vector() == std::vector<double>{1.0, 8.0, 6.0});
  CHECK(std::isnan(r[4].at(1)));
  check_same_results(g, outs, f);
}

TEST_CASE("passes: algebraic identities are simplified away") {
  std::mt19937 rng(99);
  Tensor xv = random_tensor(rng, {2, 3});
  struct Case {
    std::string name;
    std::function<Var(Graph&, Var)> build;
    int kernels;       // kernels left after optimisation
    Op gone;           // an op that must not remain
  };
  auto c = [](Graph& g, double v) { return g.scalar(v, DType::f64); };
  std::vector<Case> cases = {
      {"x*1", [&](Graph& g, Var x) { return x * c(g, 1); }, 0, Op::mul},
      {"1*x", [&](Graph& g, Var x) { return c(g, 1) * x; }, 0, Op::mul},
      {"x*ones", [&](Graph&, Var x) { return x * ones_like(x); }, 0, Op::mul},
      {"x+0", [&](Graph& g, Var x) { return x + c(g, 0); }, 0, Op::add},
      {"0+x", [&](Graph& g, Var x) { return c(g, 0) + x; }, 0, Op::add},
      {"x+zeros", [&](Graph&, Var x) { return x + zeros_like(x); }, 0, Op::add},
      {"x-0", [&](Graph& g, Var x) { return x - c(g, 0); }, 0, Op::sub},
      {"x/1", [&](Graph& g, Var x) { return x / c(g, 1); }, 0, Op::div},
      {"neg(neg(x))", [&](Graph&, Var x) { return neg(neg(x)); }, 0, Op::neg},
      {"reshape to same shape", [&](Graph&, Var x) { return reshape(x, {2, 3}); }, 0, Op::reshape},
      {"reshape there and back", [&](Graph&, Var x) { return reshape(reshape(x, {6}), {2, 3}); }, 0, Op::reshape},
      {"identity permute", [&](Graph&, Var x) { return permute(x, {0, 1}); }, 0, Op::permute},
      {"cast to own dtype", [&](Graph&, Var x) { return cast(x, DType::f64); }, 0, Op::cast},
      {"broadcast to own shape", [&](Graph&, Var x) { return broadcast_to(x, {2, 3}); }, 0, Op::broadcast_to},
      {"pow(x, 1)", [&](Graph&, Var x) { return pow(x, 1.0); }, 0, Op::pow_scalar},
      {"x*0", [&](Graph& g, Var x) { return x * c(g, 0); }, 1, Op::mul},
      {"0*x", [&](Graph& g, Var x) { return c(g, 0) * x; }, 1, Op::mul},
      {"0/x", [&](Graph& g, Var x) { return c(g, 0) / (x + 2.0); }, 1, Op::div},
      {"0-x", [&](Graph& g, Var x) { return c(g, 0) - x; }, 1, Op::sub},
      {"x*-1", [&](Graph& g, Var x) { return x * c(g, -1); }, 1, Op::mul},
      {"matmul by zeros", [&](Graph& g, Var x) { return matmul(x, full(g, 0, {3, 4}, DType::f64)); }, 1,
       Op::matmul},
      {"sum of zeros*x", [&](Graph& g, Var x) { return sum(x * c(g, 0), {1}); }, 1, Op::reduce_sum},
      {"chain", [&](Graph& g, Var x) { return neg(neg((x * c(g, 1) + c(g, 0)) / c(g, 1))) - c(g, 0); }, 0,
       Op::neg},
  };
  for (auto& k : cases) {
    CAPTURE(k.name);
    Graph g;
    Var x = g.input("x", {2, 3}, DType::f64);
    Var y = k.build(g, x);
    Program opt = compile_unfused(g, {y});
    Program raw = compile_unfused(g, {y}, Device::cpu(), unoptimized());
    CHECK(opt.num_kernels() == k.kernels);
    CHECK(count_op(opt.graph(), k.gone) == 0);
    CHECK(raw.num_kernels() >= opt.num_kernels());
    CHECK(opt.graph().size() < raw.graph().size());
    Feeds f{{"x", xv}};
    auto a = opt.run(f), b = raw.run(f);
    std::string why;
    bool same = same_values(a[0], b[0], &why);
    INFO(why);
    CHECK(same);
    if (k.kernels == 0) {
      // The result is the input itself, returned as a copy.
      CHECK(same_values(a[0], xv));
      a[0].data<double>()[0] += 1;
      CHECK(xv.at(0) != a[0].at(0));
    }
  }
  // Broadcasting identities keep the broadcast shape.
  Graph g;
  Var x = g.input("x", {3}, DType::f64);
  Var y = x + zeros_like(g.input("wide", {2, 3}, DType::f64));
  Var z = ones_like(g.input("wide2", {2, 3}, DType::f64)) * x;
  Program p = compile_unfused(g, {y, z});
  CHECK(count_op(p.graph(), Op::add) == 0);
  CHECK(count_op(p.graph(), Op::mul) == 0);
  CHECK_FALSE(has_input(p.graph(), "wide"));
  auto r = p.run({{"x", Tensor::from<double>({3}, {1, 2, 3})}});
  CHECK(r[0].shape() == Shape{2, 3});
  CHECK(r[0].to_vector() == std::vector<double>{1, 2, 3, 1, 2, 3});
  CHECK(r[1].to_vector() == std::vector<double>{1, 2, 3, 1, 2, 3});
}

TEST_CASE("passes: zero branches of a gradient are simplified away") {
  Graph g;
  Var x = g.input("x", {5}, DType::f64);
  Var w = g.input("w", {5}, DType::f64);
  Var u = g.input("u", {5}, DType::f64);  // unused by y: its gradient is zeros
  Var y = sum(x * w) + sum(square(x)) * 0.5;
  auto gs = grad(y, {x, w, u});
  std::vector<Var> outs(gs.begin(), gs.end());

  Program opt = compile_unfused(g, outs);
  Program raw = compile_unfused(g, outs, Device::cpu(), unoptimized());
  CHECK(opt.graph().size() < raw.graph().size());
  CHECK(opt.num_kernels() < raw.num_kernels());
  std::mt19937 rng(42);
  Feeds f{{"x", random_tensor(rng, {5})}, {"w", random_tensor(rng, {5})}, {"u", random_tensor(rng, {5})}};
  check_same_results(g, outs, f);
  auto r = opt.run(f);
  for (int i = 0; i < 5; ++i) {
    CHECK(r[0].at(i) == f[1].second.at(i) + f[0].second.at(i));  // dy/dx = w + x
    CHECK(r[1].at(i) == f[0].second.at(i));                       // dy/dw = x
    CHECK(r[2].at(i) == 0.0);
  }

  // d/dw sum(x * w) is x itself: the seed's ones and the broadcasts all fold away.
  Program gw = compile_unfused(g, {grad(sum(x * w), {w})[0]});
  CHECK(gw.num_kernels() == 0);
  CHECK(gw.graph().size() == 1);
  Program gw_raw = compile_unfused(g, {grad(sum(x * w), {w})[0]}, Device::cpu(), unoptimized());
  CHECK(gw_raw.num_kernels() > 0);

  // A second-order gradient: the optimised graph is smaller and agrees exactly.
  Var gx = grad(sum(tanh(x) * w), {x})[0];
  std::vector<Var> h2 = grad(sum(gx * gx), {x, w, u});
  Program ho = compile_unfused(g, h2);
  Program hr = compile_unfused(g, h2, Device::cpu(), unoptimized());
  CHECK(ho.graph().size() < hr.graph().size());
  check_same_results(g, h2, f);
}

TEST_CASE("passes: matrix products with a contraction of one, zero padding or broadcast inputs are rewritten exactly") {
  std::mt19937 rng(7);
  struct Case {
    std::string name;
    std::vector<std::pair<std::string, Shape>> inputs;
    std::function<Var(Graph&, std::vector<Var>&)> build;
    int matmuls;  // left after optimisation
    int pads;
  };
  std::vector<Case> cases = {
      {"outer product [5,1] x [1,4]", {{"a", {5, 1}}, {"b", {1, 4}}}, [](Graph&, auto& v) { return matmul(v[0], v[1]); }, 0, 0},
      {"outer product, both transposed", {{"a", {1, 5}}, {"b", {4, 1}}},
       [](Graph&, auto& v) { return matmul(v[0], v[1], true, true); }, 0, 0},
      {"ones seed times a row (the VJP of a sum through a product)", {{"w", {4, 1}}},
       [](Graph& g, auto& v) { return matmul(full(g, 1, {5, 1}, DType::f64), v[0], false, true); }, 0, 0},
      {"contraction zero-padded on a", {{"a", {5, 1}}, {"b", {2, 4}}},
       [](Graph&, auto& v) { return matmul(pad(v[0], {0, 0}, {0, 1}), v[1]); }, 0, 0},
      {"contraction padded around one column of b, transposed", {{"a", {5, 3}}, {"b", {4, 1}}},
       [](Graph&, auto& v) { return matmul(v[0], pad(v[1], {0, 1}, {0, 1}), false, true); }, 0, 0},
      {"a dense layer of width 1 stays (MLP fusion takes it)", {{"a", {5, 1}}},
       [](Graph& g, auto& v) { return matmul(v[0], g.param("w", {1, 4}, DType::f64)); }, 1, 0},
      // Not exact, so left alone: padding that leaves a longer contraction or pads the output.
      {"contraction padded around two columns stays", {{"a", {5, 3}}, {"b", {4, 2}}},
       [](Graph&, auto& v) { return matmul(v[0], pad(v[1], {0, 1}, {0, 0}), false, true); }, 1, 1},
      {"rows of a zero-padded stay", {{"a", {3, 4}}, {"b", {4, 6}}},
       [](Graph&, auto& v) { return matmul(pad(v[0], {1, 0}, {2, 0}), v[1]); }, 1, 1},
      {"a padded with a non-zero value stays", {{"a", {5, 1}}, {"b", {2, 4}}},
       [](Graph&, auto& v) { return matmul(pad(v[0], {0, 0}, {0, 1}, 2.0), v[1]); }, 1, 1},
  };
  for (auto& k : cases) {
    CAPTURE(k.name);
    Graph g;
    std::vector<Var> in;
    Feeds f;
    for (auto& [name, shape] : k.inputs) {
      in.push_back(g.input(name, shape, DType::f64));
      f.push_back({name, random_tensor(rng, shape)});
    }
    Var y = k.build(g, in);
    for (NodeId i = 0; i < g.size(); ++i)  // parameters are fed by name too
      if (g.node(i).kind == NodeKind::parameter) f.push_back({g.node(i).name, random_tensor(rng, g.node(i).shape)});
    Program opt = compile_unfused(g, {y});
    CHECK(count_op(opt.graph(), Op::matmul) == k.matmuls);
    CHECK(count_op(opt.graph(), Op::pad) == k.pads);
    check_same_results(g, {y}, f);
    // and the gradients through them (seeded by ones: more products with a contraction of one)
    std::vector<Var> gs = grad(sum(y * y), in);
    check_same_results(g, gs, f);
  }

  // An elementwise op reads a broadcast input directly: no broadcast kernel, same values.
  Graph g;
  Var row = g.input("row", {1, 4}, DType::f64);
  Var x = g.input("x", {5, 4}, DType::f64);
  Var y = broadcast_to(row, {5, 4}) * x + broadcast_to(g.scalar(2.0, DType::f64), {5, 4});
  Var z = broadcast_to(row, {5, 4}) + broadcast_to(row, {5, 4});  // would change shape without the broadcast
  Program p = compile_unfused(g, {y, z});
  const Graph& pg = p.graph();
  int broadcasts_into_ops = 0;
  for (NodeId i = 0; i < pg.size(); ++i)
    for (NodeId j : pg.node(i).inputs)
      broadcasts_into_ops += is(pg.node(j), Op::broadcast_to) && is(pg.node(i), Op::mul);
  CHECK(broadcasts_into_ops == 0);
  Feeds f{{"row", random_tensor(rng, {1, 4})}, {"x", random_tensor(rng, {5, 4})}};
  check_same_results(g, {y, z}, f);
  CHECK(p.run(f)[1].shape() == Shape{5, 4});
}

TEST_CASE("passes: slices of a concat or a pad read their pieces, equal large constants merge with what they feed") {
  std::mt19937 rng(11);
  Graph g;
  Var a = g.input("a", {4, 5}, DType::f64), b = g.input("b", {4, 3}, DType::f64);
  Var c = concat({tanh(a), exp(b)}, 1);  // [4, 8]
  Var left = slice(c, 1, 0, 5), right = slice(c, 1, 5, 8), inner = slice(c, 1, 6, 8), across = slice(c, 1, 4, 6);
  // The same 200-value mask built twice (as two expansions of one layer do): one constant, one product.
  std::vector<double> m(200);
  for (size_t i = 0; i < m.size(); ++i) m[i] = static_cast<double>(i % 3);
  Var x = g.input("x", {200}, DType::f64);
  Var y1 = x * g.constant(Tensor::from<double>({200}, m), "mask"), y2 = x * g.constant(Tensor::from<double>({200}, m), "mask again");
  std::vector<Var> outs{left, right, inner, across, y1 + y2};
  Program p = compile_unfused(g, outs);
  CHECK(count_op(p.graph(), Op::concat) == 1);  // only `across` still reads the concat
  CHECK(count_op(p.graph(), Op::slice) == 2);   // `inner` (of exp(b)) and `across`
  CHECK(count_kind(p.graph(), NodeKind::constant) == 1);
  CHECK(count_op(p.graph(), Op::mul) == 1);
  Feeds f{{"a", random_tensor(rng, {4, 5})}, {"b", random_tensor(rng, {4, 3})}, {"x", random_tensor(rng, {200})}};
  check_same_results(g, outs, f);

  // Slices of a pad: inside the padded tensor a slice of it (all of it: the tensor itself), inside the
  // padding its value. The VJP of a concat pads: when only one piece reaches the loss, the other
  // piece's gradient folds to zeros and nothing of the pad remains.
  Graph h;
  Var u = h.input("u", {4, 3}, DType::f64), v = h.input("v", {4, 5}, DType::f64);
  Var padded = pad(exp(u), {1, 2}, {0, 1});  // [5, 6]: exp(u) at rows 1-4, columns 2-4
  Var same = slice(padded, {1, 2}, {5, 5}), part = slice(padded, {2, 3}, {4, 5}), zeros = slice(padded, {0, 0}, {1, 6}),
      sevens = slice(pad(u, {0, 0}, {0, 2}, 7.0), 1, 3, 5);
  std::vector<Var> outs2{same, part, zeros, sevens};
  Program q = compile_unfused(h, outs2);
  CHECK(count_op(q.graph(), Op::pad) == 0);
  Feeds f2{{"u", random_tensor(rng, {4, 3})}, {"v", random_tensor(rng, {4, 5})}};
  check_same_results(h, outs2, f2);
  auto r = q.run(f2);
  CHECK(r[2].to_vector() == std::vector<double>(6, 0.0));
  CHECK(r[3].to_vector() == std::vector<double>(8, 7.0));
  Var both = concat({tanh(u), v}, 1);
  std::vector<Var> gu = grad(sum(slice(both, 1, 3, 8) * v), {u, v});  // u's piece never reaches the loss
  Program gq = compile_unfused(h, gu);
  CHECK(count_op(gq.graph(), Op::pad) == 0);
  CHECK(count_op(gq.graph(), Op::concat) == 0);
  check_same_results(h, gu, f2);
}

// ---- differential test: optimised == unoptimised on random graphs ----

namespace {

// Builds a random f64 graph over a few inputs from elementwise, reduction, matmul and layout ops,
// with the patterns the optimiser rewrites (identities, duplicates, constant subexpressions) mixed
// in. Values stay bounded (a tanh caps any node whose magnitude bound grows large), so every result
// is finite and exact comparison is meaningful.
struct RandomGraph {
  Graph g;
  Feeds feeds;
  std::vector<Var> outputs;
};

void build_random_graph(RandomGraph& rg, uint32_t seed, int steps) {
  std::mt19937 rng(seed);
  Graph& g = rg.g;
  struct Item {
    Var v;
    double bound;  // |value| <= bound
    bool konst;    // a repeated scalar derived from x*0 (see below)
  };
  std::vector<Item> pool;
  auto rnd = [&](int n) { return static_cast<int>(rng() % static_cast<uint32_t>(n)); };
  auto push = [&](Var v, double bound, bool konst) {
    if (bound > 30) {
      v = tanh(v);
      bound = 1;
    }
    pool.push_back({v, bound, konst});
  };
  const std::vector<Shape> in_shapes = {{4, 6}, {6}, {4, 1}, {6, 4}, {}};
  for (size_t i = 0; i < in_shapes.size(); ++i) {
    std::string name = "in" + std::to_string(i);
    Var v = g.input(name, in_shapes[i], DType::f64);
    rg.feeds.push_back({name, random_tensor(rng, in_shapes[i])});
    push(v, 1.0, false);
  }
  auto any = [&]() -> Item { return pool[rnd(static_cast<int>(pool.size()))]; };
  // A partner whose shape broadcasts with a's (there is always one: a itself).
  auto partner = [&](const Item& a) -> Item {
    std::vector<int> ok;
    for (size_t i = 0; i < pool.size(); ++i) {
      Shape s;
      if (broadcast_shapes(a.v.shape(), pool[i].v.shape(), s)) ok.push_back(static_cast<int>(i));
    }
    return pool[ok[rnd(static_cast<int>(ok.size()))]];
  };
  auto scalar = [&](double v) { return g.scalar(v, DType::f64); };

  for (int step = 0; step < steps; ++step) {
    Item a = any();
    switch (rnd(8)) {
      case 0: {  // unary
        switch (rnd(12)) {
          case 0: push(neg(a.v), a.bound, a.konst); break;
          case 1: push(abs(a.v), a.bound, a.konst); break;
          case 2: push(tanh(a.v), 1, a.konst); break;
          case 3: push(sin(a.v), 1, a.konst); break;
          case 4: push(cos(a.v), 1, a.konst); break;
          case 5: push(sigmoid(a.v), 1, a.konst); break;
          case 6: push(square(a.v), a.bound * a.bound, a.konst); break;
          case 7: push(relu(a.v), a.bound, a.konst); break;
          case 8:
            if (a.bound <= 3) push(exp(a.v), std::exp(a.bound), a.konst);
            else push(tanh(a.v), 1, a.konst);
            break;
          case 9: push(pow(a.v, 3.0), a.bound * a.bound * a.bound, a.konst); break;
          case 10: push(clamp(a.v, -0.5, 0.25), 0.5, a.konst); break;
          default: push(pow(a.v, 1.0), a.bound, a.konst); break;  // an identity
        }
        break;
      }
      case 1: {  // binary with broadcasting
        Item b = partner(a);
        bool k = a.konst && b.konst;
        switch (rnd(7)) {
          case 0: push(a.v + b.v, a.bound + b.bound, k); break;
          case 1: push(a.v - b.v, a.bound + b.bound, k); break;
          case 2: push(a.v * b.v, a.bound * b.bound, k); break;
          case 3: push(maximum(a.v, b.v), std::max(a.bound, b.bound), k); break;
          case 4: push(minimum(a.v, b.v), std::max(a.bound, b.bound), k); break;
          case 5: push(a.v / (1.5 + cos(b.v)), 2 * a.bound, k); break;
          default: push(where(gt(a.v, b.v), a.v, b.v), std::max(a.bound, b.bound), k); break;
        }
        break;
      }
      case 2: {  // reductions. A reduction of a repeated scalar is folded as value * count, which is
                 // not bit-identical to the kernel's sequential sum, so those are left out here.
        if (a.v.rank() == 0 || a.konst) break;
        std::vector<int64_t> axes;
        if (rnd(3) != 0) axes.push_back(rnd(a.v.rank()));
        bool keep = rnd(2) == 0;
        int64_t n = axes.empty() ? a.v.shape().numel() : a.v.shape()[static_cast<int>(axes[0])];
        switch (rnd(4)) {
          case 0: push(sum(a.v, axes, keep), a.bound * static_cast<double>(n), false); break;
          case 1: push(mean(a.v, axes, keep), a.bound, false); break;
          case 2: push(max(a.v, axes, keep), a.bound, false); break;
          default: push(logsumexp(a.v, axes, keep), a.bound + std::log(static_cast<double>(n)), false); break;
        }
        break;
      }
      case 3: {  // matmul of two 2-D nodes, possibly transposed
        std::vector<std::pair<int, int>> pairs;
        std::vector<std::pair<bool, bool>> trans;
        for (size_t i = 0; i < pool.size(); ++i)
          for (size_t j = 0; j < pool.size(); ++j) {
            const Shape &s = pool[i].v.shape(), &t = pool[j].v.shape();
            if (s.rank() != 2 || t.rank() != 2 || pool[i].konst || pool[j].konst) continue;
            for (int ta = 0; ta < 2; ++ta)
              for (int tb = 0; tb < 2; ++tb)
                if (s[ta ? 0 : 1] == t[tb ? 1 : 0]) {
                  pairs.push_back({static_cast<int>(i), static_cast<int>(j)});
                  trans.push_back({ta != 0, tb != 0});
                }
          }
        if (pairs.empty()) break;
        int k = rnd(static_cast<int>(pairs.size()));
        const Item &x = pool[pairs[k].first], &y = pool[pairs[k].second];
        int64_t inner = x.v.shape()[trans[k].first ? 0 : 1];
        Var m = matmul(x.v, y.v, trans[k].first, trans[k].second);
        push(m, static_cast<double>(inner) * x.bound * y.bound, false);
        break;
      }
      case 4: {  // layout
        const Shape& s = a.v.shape();
        switch (rnd(5)) {
          case 0: push(reshape(a.v, {-1}), a.bound, a.konst); break;
          case 1: push(reshape(a.v, s.vec()), a.bound, a.konst); break;  // identity
          case 2:
            if (s.rank() == 2) push(transpose(a.v), a.bound, a.konst);
            else if (s.rank() == 1 && s[0] % 2 == 0) push(reshape(a.v, {2, s[0] / 2}), a.bound, a.konst);
            break;
          case 3: {
            std::vector<int64_t> id(static_cast<size_t>(s.rank()));
            for (int i = 0; i < s.rank(); ++i) id[i] = i;
            push(permute(a.v, id), a.bound, a.konst);  // identity
            break;
          }
          default:
            if (s.rank() >= 1 && s[s.rank() - 1] >= 2) {
              int64_t d = s[s.rank() - 1];
              int64_t lo = rnd(static_cast<int>(d - 1));
              push(slice(a.v, -1, lo, d), a.bound, a.konst);
            }
            break;
        }
        break;
      }
      case 5: {  // identities the simplifier removes
        switch (rnd(11)) {
          case 0: push(a.v * scalar(1), a.bound, a.konst); break;
          case 1: push(scalar(1) * a.v, a.bound, a.konst); break;
          case 2: push(a.v + scalar(0), a.bound, a.konst); break;
          case 3: push(scalar(0) + a.v, a.bound, a.konst); break;
          case 4: push(a.v - scalar(0), a.bound, a.konst); break;
          case 5: push(a.v / scalar(1), a.bound, a.konst); break;
          case 6: push(neg(neg(a.v)), a.bound, a.konst); break;
          case 7: push(scalar(0) - a.v, a.bound, a.konst); break;
          case 8: push(a.v * scalar(-1), a.bound, a.konst); break;
          case 9: push(a.v * ones_like(a.v), a.bound, a.konst); break;
          default: push(a.v * scalar(0), 0, true); break;  // becomes a repeated zero
        }
        break;
      }
      case 6: {  // the same expression built twice (CSE)
        Item b = partner(a);
        Var u = tanh(a.v) * b.v;
        Var w = tanh(a.v) * b.v;
        push(u + w, 2 * b.bound, a.konst && b.konst);
        break;
      }
      default: {  // a constant subexpression (folded) combined with a node
        Shape s = a.v.shape();
        Var c = g.constant(random_tensor(rng, s), "");
        if (rnd(2) == 0) push(a.v * exp(c), a.bound * std::exp(1.0), false);
        else push(a.v + sin(c) * cos(c), a.bound + 1, false);
        break;
      }
    }
  }
  // Outputs: the last node, two random ones, and sometimes gradients of a scalar loss.
  rg.outputs.push_back(pool.back().v);
  rg.outputs.push_back(any().v);
  rg.outputs.push_back(any().v);
  if (rnd(2) == 0) {
    // (Not over repeated scalars, for the reason given at the reductions.)
    auto varying = [&]() -> Var {
      Item it = any();
      return it.konst ? pool[0].v : it.v;
    };
    Var last = pool.back().konst ? pool[0].v : pool.back().v;
    Var loss = sum(last) + sum(varying()) * scalar(0.5);
    std::vector<Var> wrt;
    for (auto& in : g.inputs()) wrt.push_back(in);
    for (Var gv : grad(loss, wrt)) rg.outputs.push_back(gv);
  }
}

}  // namespace

TEST_CASE("passes: optimised and unoptimised programs agree exactly on random graphs") {
  int total_raw = 0, total_opt = 0;
  for (uint32_t seed = 1; seed <= 50; ++seed) {
    CAPTURE(seed);
    RandomGraph rg;
    build_random_graph(rg, seed, 20 + static_cast<int>(seed % 4) * 10);
    Program opt = compile_unfused(rg.g, rg.outputs);
    Program raw = compile_unfused(rg.g, rg.outputs, Device::cpu(), unoptimized());
    CHECK(opt.num_kernels() <= raw.num_kernels());
    total_raw += raw.num_kernels();
    total_opt += opt.num_kernels();
    auto a = opt.run(rg.feeds);
    auto b = raw.run(rg.feeds);
    REQUIRE(a.size() == b.size());
    for (size_t k = 0; k < a.size(); ++k) {
      CAPTURE(k);
      std::string why;
      bool same = same_values(a[k], b[k], &why);
      INFO(why);
      CHECK(same);
      for (double v : b[k].to_vector()) REQUIRE(std::isfinite(v));
    }
    // A second run of the same programs gives the same answers (the arena is reused).
    auto a2 = opt.run(rg.feeds);
    for (size_t k = 0; k < a.size(); ++k) CHECK(same_values(a[k], a2[k]));
  }
  // The optimiser has real work to do on these graphs.
  CHECK(total_opt * 10 < total_raw * 9);
}

}  // TEST_SUITE
