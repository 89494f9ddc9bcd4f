// The fusion pass (engine/compile/fusion.cpp) and the fused op (engine/fused.h): on random graphs of
// elementwise ops with broadcasting, scalar immediates, outputs inside chains, values with several
// consumers and non-elementwise ops in between, fused programs equal unfused ones bit for bit on the
// CPU (same scalar functors, same order), for the forward graph, its gradient and its second-order
// graph; kernels and planned memory shrink; a fused graph can itself be differentiated; the switches
// turn fusion off. Groups closed by a sum or mean equal the unfused reduction bit for bit on any thread
// count and differentiate to second order. On the GPU (suite "gpu"), the fused CUDA kernels agree with
// the CPU.
#include <doctest/doctest.h>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "engine/compile/passes.h"
#include "engine/fused.h"
#include "engine/orbit.h"
#include "tests/error_of.h"
#include "tests/fusion_graphs.h"
#include "tests/harness/op_harness.h"
#include "tests/scoped_env.h"

using namespace orbit;
using namespace orbit::fusion_test;
using orbit::testing::ScopedEnv;

namespace {

// The graphs of these tests: [4, 5] chains fed by [4, 5], [5], [4, 1] and [4, 5] inputs and a [6, 5]
// one read through an index, with matrix products and reshapes in between.
RandomGraph random_graph(uint64_t seed, DType dt) {
  const Shape space({4, 5});
  return fusion_test::random_graph(seed, dt, space, {space, Shape({5}), Shape({4, 1}), space}, 28, true, /*gathers=*/true);
}

// The forward outputs, the gradients of sum(out0 * u) + out2 w.r.t. the inputs, and the second-order
// terms grad(sum(g0^2 * v)) w.r.t. the inputs.
std::vector<Var> with_derivatives(RandomGraph& r, int order) {
  std::vector<Var> outs = r.outputs;
  if (order == 0) return outs;
  Graph& g = r.g;
  Var u = g.input("u", r.outputs[0].shape(), r.outputs[0].dtype());
  std::mt19937_64 rng(99);
  r.feeds.push_back({"u", random_values(r.outputs[0].shape(), r.outputs[0].dtype(), rng)});
  auto g1 = grad(sum(r.outputs[0] * u) + r.outputs[2], r.inputs);
  std::vector<Var> res;
  for (Var v : g1)
    if (v.valid()) res.push_back(v);
  if (order == 1 || res.empty()) return res;
  Var v = g.input("v", res[0].shape(), res[0].dtype());
  r.feeds.push_back({"v", random_values(res[0].shape(), res[0].dtype(), rng)});
  auto g2 = grad(sum(square(res[0]) * v), r.inputs);
  std::vector<Var> res2;
  for (Var x : g2)
    if (x.valid()) res2.push_back(x);
  return res2;
}

using testing::error_of;

// The f32 outputs of seed's random graph (to `order`) measured against the f64 truth: the same graph in
// f64 on the CPU, unfused, fed the f32 inputs widened exactly, so only the run's rounding is measured.
std::vector<double> errors_from_f64(uint64_t seed, int order, const Feeds& feeds32, const std::vector<Tensor>& got) {
  RandomGraph t = random_graph(seed, DType::f64);
  const std::vector<Var> outs = with_derivatives(t, order);
  Feeds wide;
  for (const auto& [name, v] : feeds32) wide.push_back({name, is_float(v.dtype()) ? v.cast(DType::f64) : v});
  CompileOptions off;
  off.fusion = CompileOptions::Fusion::off;
  const std::vector<Tensor> truth = compile(t.g, outs, Device::cpu(), off).run(wide);
  REQUIRE(truth.size() == got.size());
  std::vector<double> err;
  for (size_t i = 0; i < got.size(); ++i) err.push_back(max_rel(got[i].to(Device::cpu()), truth[i]));
  return err;
}

// How far f32 rounding alone can move seed's outputs: the CPU's unfused f32 program run on inputs each
// moved by up to one ulp (`trials` draws), measured against the f64 truth of the unmoved inputs; per
// output, the worst draw. A gradient through a near-tie of max / where / abs turns that into errors far
// above f32's epsilon (seed 10's second gradient output: 4e-3), which no agreement tolerance can ignore.
std::vector<double> ulp_noise_errors(uint64_t seed, int order, const Feeds& feeds32, int trials) {
  RandomGraph r = random_graph(seed, DType::f32);
  const std::vector<Var> outs = with_derivatives(r, order);
  CompileOptions off;
  off.fusion = CompileOptions::Fusion::off;
  Program p = compile(r.g, outs, Device::cpu(), off);
  std::mt19937_64 rng(seed * 1000 + static_cast<uint64_t>(order));
  std::vector<double> worst;
  for (int t = 0; t < trials; ++t) {
    Feeds moved = feeds32;
    for (auto& [name, v] : moved) {
      if (v.dtype() != DType::f32) continue;
      Tensor m = v.to(Device::cpu());  // a deep copy: the caller's feeds stay as they are
      float* d = m.data<float>();
      for (int64_t i = 0; i < m.numel(); ++i) {
        const int step = static_cast<int>(rng() % 3) - 1;
        if (step != 0) d[i] = std::nextafter(d[i], step > 0 ? INFINITY : -INFINITY);
      }
      v = m;
    }
    const std::vector<double> e = errors_from_f64(seed, order, feeds32, p.run(moved));
    worst.resize(e.size(), 0.0);
    for (size_t i = 0; i < e.size(); ++i) worst[i] = std::max(worst[i], e[i]);
  }
  return worst;
}

// The x86-64 baseline has no FMA, so both paths round every operation identically there.
#if defined(__x86_64__)
constexpr bool kBitwise = true;
#else
constexpr bool kBitwise = false;
#endif

}  // namespace

TEST_SUITE("cpu") {
  TEST_CASE("fusion: random graphs fused equal unfused bit for bit, forward and to second order (f64, f32)") {
    int fused_programs = 0, total = 0, reduce_closed = 0, gather_opened = 0;
    for (DType dt : {DType::f64, DType::f32})
      for (int order = 0; order <= 2; ++order)
        for (uint64_t seed = 1; seed <= 25; ++seed) {
          INFO("seed " << seed << " order " << order << " " << std::string(dtype_name(dt)));
          RandomGraph r = random_graph(seed, dt);
          std::vector<Var> outs = with_derivatives(r, order);
          if (outs.empty()) continue;
          CompileOptions off;
          off.fusion = CompileOptions::Fusion::off;
          Program fused = compile(r.g, outs, Device::cpu());
          Program plain = compile(r.g, outs, Device::cpu(), off);
          auto a = fused.run(r.feeds), b = plain.run(r.feeds);
          REQUIRE(a.size() == b.size());
          for (size_t i = 0; i < a.size(); ++i) {
            if (kBitwise) CHECK(same_bits(a[i], b[i]));
            else CHECK(max_rel(a[i], b[i]) <= (dt == DType::f64 ? 1e-13 : 1e-5));
          }
          CHECK(fused.num_kernels() <= plain.num_kernels());
          if (order < 2) fused_programs += fused.num_fused() > 0, ++total;
          reduce_closed += num_reduce_closed(fused);
          gather_opened += num_gather_opened(fused);
          if (fused.num_fused() == 0 && std::getenv("ORBIT_FUSION_DEBUG")) MESSAGE(fused.report());
        }
    // The generator is meant to produce fusible chains: nearly every forward and gradient program fuses.
    CAPTURE(total);
    CHECK(fused_programs >= total * 9 / 10);
    // Sums of chains (the generator's row sums, the gradients' sums over broadcast dims) close groups.
    CAPTURE(reduce_closed);
    CHECK(reduce_closed >= total);
    CAPTURE(gather_opened);  // the generator's gathers of "src", and the gradients' gathers
    CHECK(gather_opened >= total / 2);
  }

  TEST_CASE("fusion: an elementwise chain becomes one kernel, broadcast inputs and immediates stay outside") {
    Graph g;
    Var x = g.input("x", {64, 32}, DType::f64), b = g.input("b", {32}, DType::f64);
    Var y = silu(x * 2.0 + b) * tanh(x) - exp(-square(x)) / 3.0;
    CompileOptions off;
    off.fusion = CompileOptions::Fusion::off;
    Program fused = compile(g, {y}), plain = compile(g, {y}, Device::cpu(), off);
    CHECK(fused.num_kernels() == 1);
    CHECK(fused.num_fused() == 1);
    CHECK(plain.num_kernels() >= 9);
    CHECK(fused.planned_peak_bytes() == 0);  // nothing between kernels
    std::mt19937_64 rng(3);
    Feeds f = {{"x", random_values(Shape({64, 32}), DType::f64, rng)}, {"b", random_values(Shape({32}), DType::f64, rng)}};
    CHECK(same_bits(fused.run(f)[0], plain.run(f)[0]));
    const std::string rep = fused.report();
    CHECK(rep.find("1 fused elementwise groups") != std::string::npos);
    CHECK(rep.find("silu") != std::string::npos);
  }

  TEST_CASE("fusion: a value used outside its chain is materialised once, requested outputs are kept") {
    Graph g;
    Var x = g.input("x", {8, 8}, DType::f64);
    Var h = tanh(x * 3.0);       // used by two chains and requested
    Var y1 = exp(h) + 1.0;
    Var y2 = matmul(h, h) * 2.0; // a matrix product between: h must exist in memory
    Program p = compile(g, {y1, y2, h});
    std::mt19937_64 rng(5);
    Feeds f = {{"x", random_values(Shape({8, 8}), DType::f64, rng)}};
    auto out = p.run(f);
    CompileOptions off;
    off.fusion = CompileOptions::Fusion::off;
    auto want = compile(g, {y1, y2, h}, Device::cpu(), off).run(f);
    for (size_t i = 0; i < out.size(); ++i) CHECK(same_bits(out[i], want[i]));
    CHECK(p.num_fused() >= 2);  // tanh(x * 3) and exp(h) + 1
  }

  TEST_CASE("fusion: a cheap value read by several chains is recomputed in each, not materialised") {
    // d = 1 - t^2 of t = tanh(z), as a tanh layer's derivatives read it: by products with three
    // different matrices, each feeding a matrix product.
    Graph g;
    Var z = g.input("z", {16, 8}, DType::f64), w = g.input("w", {8, 8}, DType::f64);
    Var a = g.input("a", {16, 8}, DType::f64), b = g.input("b", {16, 8}, DType::f64), row = g.input("row", {8}, DType::f64);
    Var t = tanh(z);
    Var d = 1.0 - t * t;
    Var y1 = matmul(d * a, w), y2 = matmul(d * b, w), y3 = matmul(d * row, w);
    Var keep = matmul(t, w);  // t itself stays in memory (a product reads it)
    CompileOptions off;
    off.fusion = CompileOptions::Fusion::off;
    Program p = compile(g, {y1, y2, y3, keep});
    Program plain = compile(g, {y1, y2, y3, keep}, Device::cpu(), off);
    std::mt19937_64 rng(8);
    Feeds f;
    for (auto [name, shape] : {std::pair<const char*, Shape>{"z", Shape({16, 8})}, {"w", Shape({8, 8})},
                               {"a", Shape({16, 8})}, {"b", Shape({16, 8})}, {"row", Shape({8})}})
      f.push_back({name, random_values(shape, DType::f64, rng)});
    auto got = p.run(f), want = plain.run(f);
    for (size_t i = 0; i < got.size(); ++i) CHECK(same_bits(got[i], want[i]));
    // tanh, three groups each computing 1 - t^2 and its product, four matmuls: d is never written.
    CHECK(p.num_fused() == 3);
    CHECK(p.num_kernels() == 1 + 3 + 4);
    int lone = 0;
    for (NodeId i = 0; i < p.graph().size(); ++i) lone += is(p.graph().node(i), Op::mul) || is(p.graph().node(i), Op::sub);
    CHECK(lone == 0);
    {
      ScopedEnv no("ORBIT_FUSION_RECOMPUTE", "0");  // the switch: d is a group of its own, the products lone ops
      Program q = compile(g, {y1, y2, y3, keep});
      CHECK(q.num_kernels() == 1 + 1 + 3 + 4);
      auto again = q.run(f);
      for (size_t i = 0; i < got.size(); ++i) CHECK(same_bits(again[i], want[i]));
    }
    // Not recomputed: a value reading two tensors of its size (each copy would read both), or one
    // that a matrix product also reads (it is written anyway).
    Graph h;
    Var u = h.input("u", {16, 8}, DType::f64), v = h.input("v", {16, 8}, DType::f64), m = h.input("m", {8, 8}, DType::f64);
    Var two = u * v;
    Var c1 = matmul(exp(two), m), c2 = matmul(sin(two), m);
    Var one = u * u;
    Var c3 = matmul(exp(one), m), c4 = matmul(one, m);
    Program r = compile(h, {c1, c2, c3, c4});
    CHECK(r.num_kernels() == 1 + 2 + 1 + 1 + 4);  // u*v, exp and sin groups, u*u, exp, 4 matmuls
  }

  TEST_CASE("fusion: a fused graph is differentiable (its VJP expands the program) to second order") {
    Graph g;
    Var x = g.input("x", {5, 3}, DType::f64), b = g.input("b", {3}, DType::f64);
    Var y = sin(x * b) * silu(x) + square(b);
    passes::Rewritten fz = passes::fuse(g, {y.id()});
    Graph& fg = fz.graph;
    int fused_nodes = 0;
    for (int i = 0; i < fg.size(); ++i) fused_nodes += fg.node(i).kind == NodeKind::op && fg.node(i).op == fused_op();
    REQUIRE(fused_nodes == 1);
    Var yf(&fg, fz.outputs[0]), xf = fg.find("x"), bf = fg.find("b");
    auto d1 = grad(sum(yf), {xf, bf});
    auto d2 = grad(sum(d1[0] * d1[0]) + sum(d1[1]), {xf, bf});
    auto e1 = grad(sum(y), {x, b});
    auto e2 = grad(sum(e1[0] * e1[0]) + sum(e1[1]), {x, b});
    std::mt19937_64 rng(8);
    Feeds f = {{"x", random_values(Shape({5, 3}), DType::f64, rng)}, {"b", random_values(Shape({3}), DType::f64, rng)}};
    auto got = compile(fg, {d1[0], d1[1], d2[0], d2[1]}).run(f);
    auto want = compile(g, {e1[0], e1[1], e2[0], e2[1]}).run(f);
    for (size_t i = 0; i < got.size(); ++i) {
      CAPTURE(i);
      CHECK(max_rel(got[i], want[i]) <= 1e-14);
    }
  }

  TEST_CASE("fusion: NumericsCheck::all, Fusion::off and ORBIT_FUSION=0 turn it off, bad fused programs are refused") {
    Graph g;
    Var x = g.input("x", {4}, DType::f64);
    Var y = exp(x) * 2.0 + 1.0;
    CompileOptions all;
    all.numerics = NumericsCheck::all;
    CHECK(compile(g, {y}, Device::cpu(), all).num_fused() == 0);
    setenv("ORBIT_FUSION", "0", 1);
    CHECK(compile(g, {y}).num_fused() == 0);
    unsetenv("ORBIT_FUSION");
    CHECK(compile(g, {y}).num_fused() == 1);
    CompileOptions off;
    off.fusion = CompileOptions::Fusion::off;
    CHECK(compile(g, {y}, Device::cpu(), off).num_fused() == 0);
    // Hostile programs: unknown opcodes, registers read before written, loads of missing inputs.
    FusedAttr a;
    a.shape = Shape({4});
    a.dtype = DType::f64;
    a.slots = 2;
    a.code = {scalar::f_load, 0, 0, 0, 0, 77, 1, 0, 0, 0};
    a.params = {0, 0, 0, 0};
    CHECK_THROWS_WITH_AS(fused_elementwise({x}, a), doctest::Contains("unknown opcode 77"), Error);
    a.code = {scalar::f_load, 0, 0, 0, 0, scalar::f_add, 1, 0, 1, 0};
    CHECK_THROWS_WITH_AS(fused_elementwise({x}, a), doctest::Contains("before it is written"), Error);
    a.code = {scalar::f_load, 0, 3, 0, 0, scalar::f_exp, 1, 0, 0, 0};
    CHECK_THROWS_WITH_AS(fused_elementwise({x}, a), doctest::Contains("loads input 3"), Error);
    a.code = {scalar::f_load, 0, 0, 0, 0, scalar::f_exp, 1, 0, 0, 0};
    a.out_slot = 1;
    Var bad = g.input("wrong", {3}, DType::f64);
    CHECK_THROWS_WITH_AS(fused_elementwise({bad}, a), doctest::Contains("does not broadcast"), Error);
    CHECK(fused_elementwise({x}, a).shape() == Shape({4}));
  }
}

namespace {

// The program "out = input 0" over `space` (f64), for hand-built attributes.
FusedAttr load_program(const Shape& space) {
  FusedAttr a;
  a.shape = space;
  a.dtype = DType::f64;
  a.slots = 1;
  a.code = {scalar::f_load, 0, 0, 0, 0};
  a.params = {0, 0};
  return a;
}

// y = reduce(silu(x * 2 + b) * tanh(x) - exp(-x^2) / 3) over `axes` of x [4, 6, 5] (b [5]).
struct ReduceCase {
  Graph g;
  Var x, b, y;
  Feeds feeds;
  ReduceCase(std::vector<int64_t> axes, bool use_mean, bool keepdims, DType dt, const Shape& xs = Shape({4, 6, 5})) {
    x = g.input("x", xs, dt);
    b = g.input("b", {xs[xs.rank() - 1]}, dt);
    Var v = silu(x * 2.0 + b) * tanh(x) - exp(-square(x)) / 3.0;
    y = use_mean ? mean(v, axes, keepdims) : sum(v, axes, keepdims);
    std::mt19937_64 rng(axes.size() * 7 + use_mean);
    feeds = {{"x", random_values(xs, dt, rng)}, {"b", random_values(Shape({xs[xs.rank() - 1]}), dt, rng)}};
  }
};

}  // namespace

TEST_SUITE("cpu") {
  TEST_CASE("fusion: a sum or mean closes a group (one kernel, nothing in memory) with the unfused bits, any axes") {
    CompileOptions off;
    off.fusion = CompileOptions::Fusion::off;
    const std::vector<std::vector<int64_t>> axes_cases = {{2}, {1}, {0}, {0, 2}, {0, 1, 2}, {1, 2}, {0, 1}};
    for (DType dt : {DType::f64, DType::f32})
      for (const auto& axes : axes_cases)
        for (bool use_mean : {false, true})
          for (bool keepdims : {false, true}) {
            INFO(std::string(dtype_name(dt)) << " axes " << axes.size() << " first " << axes[0] << " mean " << use_mean << " keepdims "
                                << keepdims);
            ReduceCase c(axes, use_mean, keepdims, dt);
            Program fused = compile(c.g, {c.y}), plain = compile(c.g, {c.y}, Device::cpu(), off);
            CHECK(fused.num_kernels() == 1);
            CHECK(num_reduce_closed(fused) == 1);
            CHECK(fused.planned_peak_bytes() == 0);
            auto got = fused.run(c.feeds)[0], want = plain.run(c.feeds)[0];
            CHECK(got.shape() == want.shape());
            if (kBitwise) CHECK(same_bits(got, want));
            else CHECK(max_rel(got, want) <= (dt == DType::f64 ? 1e-13 : 1e-5));
          }
    ReduceCase c({1}, false, false, DType::f64);
    const std::string rep = compile(c.g, {c.y}).report();
    CHECK(rep.find("| sum over [4, 6, 5]") != std::string::npos);
  }

  TEST_CASE("fusion: closed groups on many threads, long and short reductions, equal one thread bit for bit") {
    // Long rows (> one chunk per output), short rows (many outputs per chunk), and a few outputs over
    // many elements (the values first in parallel, then the sums); leading reduced dims walked row by
    // row: column blocks shared by the threads, several short rows per chunk, more columns than a chunk,
    // and many short rows (a bias gradient: the rows split into ranges by the shape, 3000 x 70 too).
    const std::vector<std::pair<Shape, std::vector<int64_t>>> cases = {
        {Shape({3, 1000}), {1}},      {Shape({700, 3}), {1}},     {Shape({2, 20000}), {1}},
        {Shape({20000, 2}), {0}},     {Shape({3000, 70}), {0}},   {Shape({5000, 3}), {0}},
        {Shape({40, 50, 300}), {0, 1}}, {Shape({600, 130}), {0}}, {Shape({30001, 48}), {0}},
        {Shape({300000, 1}), {0}}};
    CompileOptions off;
    off.fusion = CompileOptions::Fusion::off;
    // f64 too: f32 sums accumulate in double, so a different grouping rarely shows in their bits.
    for (DType dt : {DType::f32, DType::f64})
      for (const auto& [shape, axes] : cases) {
        INFO(shape.str() << " " << std::string(dtype_name(dt)));
        ReduceCase c(axes, false, false, dt, shape);
        Program fused = compile(c.g, {c.y}), plain = compile(c.g, {c.y}, Device::cpu(), off);
        REQUIRE(num_reduce_closed(fused) == 1);
        const Tensor want = plain.run(c.feeds)[0];
#if defined(_OPENMP)
        const int saved = omp_get_max_threads();
        for (int threads : {1, 3}) {
          omp_set_num_threads(threads);
          CHECK(same_bits(fused.run(c.feeds)[0], want));
        }
        omp_set_num_threads(saved);
#else
        CHECK(same_bits(fused.run(c.feeds)[0], want));
#endif
      }
  }

  TEST_CASE("fusion: a group closed by a reduction differentiates to second order, the switches, bad reductions") {
    ReduceCase c({0, 2}, true, true, DType::f64, Shape({3, 4, 5}));
    passes::Rewritten fz = passes::fuse(c.g, {c.y.id()});
    Graph& fg = fz.graph;
    int closed = 0;
    for (int i = 0; i < fg.size(); ++i)
      closed += fg.node(i).kind == NodeKind::op && fg.node(i).op == fused_op() &&
                fg.node(i).attr_as<FusedAttr>().reduce == FusedAttr::mean;
    REQUIRE(closed == 1);
    Var yf(&fg, fz.outputs[0]), xf = fg.find("x"), bf = fg.find("b");
    auto d1 = grad(sum(yf * yf), {xf, bf});
    auto d2 = grad(sum(d1[0] * d1[0]) + sum(d1[1]), {xf, bf});
    auto e1 = grad(sum(c.y * c.y), {c.x, c.b});
    auto e2 = grad(sum(e1[0] * e1[0]) + sum(e1[1]), {c.x, c.b});
    auto got = compile(fg, {yf, d1[0], d1[1], d2[0], d2[1]}).run(c.feeds);
    auto want = compile(c.g, {c.y, e1[0], e1[1], e2[0], e2[1]}).run(c.feeds);
    for (size_t i = 0; i < got.size(); ++i) {
      CAPTURE(i);
      CHECK(max_rel(got[i], want[i]) <= 1e-14);
    }
    // Switches: ORBIT_FUSION_REDUCE=0 leaves the reduction unfused; CUDA closes groups only when asked.
    setenv("ORBIT_FUSION_REDUCE", "0", 1);
    CHECK(num_reduce_closed(compile(c.g, {c.y})) == 0);
    CHECK(!passes::fuse_options_for(Device::cpu()).reductions);
    unsetenv("ORBIT_FUSION_REDUCE");
    CHECK(passes::fuse_options_for(Device::cpu()).reductions);
    CHECK(!passes::fuse_options_for(Device::cuda(0)).reductions);
    setenv("ORBIT_FUSION_REDUCE", "1", 1);
    const passes::FuseOptions gpu = passes::fuse_options_for(Device::cuda(0));
    CHECK((gpu.reductions && gpu.min_reduce_outputs == 4096 && gpu.max_reduce_extent == 1024 && !gpu.innermost_reduce));
    setenv("ORBIT_FUSION_REDUCE", "all", 1);
    CHECK(passes::fuse_options_for(Device::cuda(0)).innermost_reduce);
    CHECK(passes::fuse_options_for(Device::cuda(0)).reductions);
    unsetenv("ORBIT_FUSION_REDUCE");
    // Without innermost_reduce (CUDA's default), a sum over the last axis of more than 4 elements
    // stays a separate reduction; over a middle axis, or a last axis of at most 4, it closes the group.
    passes::FuseOptions strided;
    strided.innermost_reduce = false;
    for (const auto& [shape, axes, closes] :
         std::vector<std::tuple<Shape, std::vector<int64_t>, bool>>{{Shape({6, 5, 7}), {2}, false},
                                                                   {Shape({6, 5, 7}), {1}, true},
                                                                   {Shape({6, 5, 7}), {1, 2}, false},
                                                                   {Shape({6, 5, 3}), {2}, true},
                                                                   {Shape({6, 5, 3}), {0, 2}, true}}) {
      CAPTURE(shape.str());
      CAPTURE(axes.size());
      ReduceCase rc(axes, false, false, DType::f64, shape);
      const size_t unfused = passes::fuse(rc.g, {rc.y.id()}, strided).graph.size();
      const size_t fused = passes::fuse(rc.g, {rc.y.id()}).graph.size();
      CHECK(unfused == fused + (closes ? 0 : 1));
    }
    passes::FuseOptions few;
    few.min_reduce_outputs = 1000;  // 4 outputs here: not closed
    ReduceCase fresh({0, 2}, true, true, DType::f64, Shape({3, 4, 5}));
    CHECK(passes::fuse(fresh.g, {fresh.y.id()}, few).graph.size() == passes::fuse(fresh.g, {fresh.y.id()}).graph.size() + 1);
    // A requested intermediate, or one read twice, cannot be closed over.
    Graph g;
    Var x = g.input("x", {4, 5}, DType::f64);
    Var v = exp(x) * 2.0;
    Var s = sum(v, {1});
    CHECK(num_reduce_closed(compile(g, {s, v})) == 0);
    CHECK(num_reduce_closed(compile(g, {sum(s) + sum(v)})) == 0);
    CHECK(num_reduce_closed(compile(g, {s})) == 1);
    // Hostile attributes.
    FusedAttr a = load_program(Shape({4}));
    a.reduce = 7;
    Var x4 = g.input("x4", {4}, DType::f64);
    CHECK_THROWS_WITH_AS(fused_elementwise({x4}, a), doctest::Contains("unknown reduction 7"), Error);
    a.reduce = FusedAttr::sum;
    a.reduce_axes = {1};
    CHECK_THROWS_WITH_AS(fused_elementwise({x4}, a), doctest::Contains("within rank 1"), Error);
    a.reduce_axes = {};
    CHECK_THROWS_WITH_AS(fused_elementwise({x4}, a), doctest::Contains("over no axes"), Error);
    a.reduce = FusedAttr::none;
    a.keepdims = true;
    CHECK_THROWS_WITH_AS(fused_elementwise({x4}, a), doctest::Contains("without a reduction"), Error);
    a.keepdims = false;
    a.reduce = FusedAttr::mean;
    a.reduce_axes = {0};
    a.keepdims = true;
    CHECK(fused_elementwise({x4}, a).shape() == Shape({1}));
    // A hand-built reduction over an empty axis gives what the unfused sum / mean give: zeros.
    Graph ge;
    Var e = ge.input("e", {4, 0}, DType::f64);
    FusedAttr z = load_program(Shape({4, 0}));
    z.reduce_axes = {1};
    for (int64_t red : {FusedAttr::sum, FusedAttr::mean}) {
      z.reduce = red;
      Var y = fused_elementwise({e}, z);
      const Tensor got = compile(ge, {y}).run({{"e", Tensor::zeros({4, 0}, DType::f64)}})[0];
      CHECK(got.to_vector() == std::vector<double>(4, 0.0));
    }
  }
}

TEST_SUITE("cpu") {
  TEST_CASE("fusion: gathers open groups (sparse message passing in one kernel), bad indices are refused by name") {
    // pre = p[recv] + q[send] + r w over E edges; m = silu(pre) * att; out = sum over the hidden axis.
    for (DType it : {DType::i32, DType::i64}) {
      Graph g;
      const int64_t N = 9, E = 40, H = 16;
      Var p = g.input("p", {N, H}, DType::f64), q = g.input("q", {N, H}, DType::f64);
      Var r = g.input("r", {E, 1}, DType::f64), w = g.input("w", {H}, DType::f64), att = g.input("att", {E, H}, DType::f64);
      Var recv = g.input("recv", {E}, it), send = g.input("send", {E}, it);
      Var pre = gather(p, recv, 0) + gather(q, send, 0) + r * w;
      Var m = silu(pre) * att;
      Var s = sum(m, {1});
      std::mt19937_64 rng(4);
      std::vector<double> rv(E), sv(E);
      for (int64_t e = 0; e < E; ++e) rv[e] = static_cast<double>(e % N), sv[e] = static_cast<double>((e * 7 + 3) % N);
      Feeds f = {{"p", random_values(Shape({N, H}), DType::f64, rng)}, {"q", random_values(Shape({N, H}), DType::f64, rng)},
                 {"r", random_values(Shape({E, 1}), DType::f64, rng)}, {"w", random_values(Shape({H}), DType::f64, rng)},
                 {"att", random_values(Shape({E, H}), DType::f64, rng)},
                 {"recv", Tensor::from<double>({E}, rv).cast(it)}, {"send", Tensor::from<double>({E}, sv).cast(it)}};
      CompileOptions off;
      off.fusion = CompileOptions::Fusion::off;
      Program fused = compile(g, {m, s}), plain = compile(g, {m, s}, Device::cpu(), off);
      CHECK(num_gather_opened(fused) == 1);  // m is requested: one group for m, its sum reads it back
      auto a = fused.run(f), b = plain.run(f);
      for (size_t i = 0; i < a.size(); ++i) CHECK(same_bits(a[i], b[i]));
      Program one = compile(g, {s});
      CHECK(one.num_kernels() == 1);  // gathers, the edge math and the sum: one kernel
      CHECK(one.report().find("gather gather") != std::string::npos);
      CHECK(same_bits(one.run(f)[0], b[1]));
      // The gradients (segment sums of the gathers' cotangents) fuse and agree too.
      auto d = grad(sum(s * s), {p, q, w});
      auto gf = compile(g, d).run(f), gp = compile(g, d, Device::cpu(), off).run(f);
      for (size_t i = 0; i < gf.size(); ++i) CHECK(same_bits(gf[i], gp[i]));
      // An index outside [0, N): the unfused gather's message, naming the gather's own node.
      rv[5] = static_cast<double>(N);
      Feeds bad = f;
      bad[5] = {"recv", Tensor::from<double>({E}, rv).cast(it)};
      const std::string unfused = error_of([&] { plain.run(bad); });
      CHECK(unfused.find("index 9 at position 5 is outside [0, 9)") != std::string::npos);
      CHECK(error_of([&] { one.run(bad); }) == unfused);
      // Switches: ORBIT_FUSION_GATHER=0 everywhere; CUDA only when asked.
      setenv("ORBIT_FUSION_GATHER", "0", 1);
      CHECK(num_gather_opened(compile(g, {s})) == 0);
      CHECK(!passes::fuse_options_for(Device::cpu()).gathers);
      setenv("ORBIT_FUSION_GATHER", "1", 1);
      CHECK(passes::fuse_options_for(Device::cuda(0)).gathers);
      unsetenv("ORBIT_FUSION_GATHER");
      CHECK(!passes::fuse_options_for(Device::cuda(0)).gathers);
      CHECK(passes::fuse_options_for(Device::cpu()).gathers);
    }
  }

  TEST_CASE("fusion: gathers along the first, a middle and the last axis, across chunk boundaries") {
    // [9, 13, 7] spaces (819 elements: several 256-element chunks, rows split between chunks).
    CompileOptions off;
    off.fusion = CompileOptions::Fusion::off;
    for (int axis = 0; axis < 3; ++axis)
      for (DType it : {DType::i32, DType::i64}) {
        INFO("axis " << axis << " " << std::string(dtype_name(it)));
        std::vector<int64_t> xs = {9, 13, 7}, space = xs;
        xs[static_cast<size_t>(axis)] = 4;  // gathered from 4 entries
        Graph g;
        Var x = g.input("x", Shape(xs), DType::f32), y = g.input("y", Shape(space), DType::f32);
        Var idx = g.input("idx", {space[static_cast<size_t>(axis)]}, it);
        Var out = tanh(gather(x, idx, axis) * y) + gather(exp(x), idx, axis);
        std::mt19937_64 rng(31 + axis);
        std::vector<double> iv(static_cast<size_t>(space[static_cast<size_t>(axis)]));
        for (auto& v : iv) v = static_cast<double>(rng() % 4);
        Feeds f = {{"x", random_values(Shape(xs), DType::f32, rng)}, {"y", random_values(Shape(space), DType::f32, rng)},
                   {"idx", Tensor::from<double>({static_cast<int64_t>(iv.size())}, iv).cast(it)}};
        Program fused = compile(g, {out});
        CHECK(num_gather_opened(fused) == 1);
        CHECK(same_bits(fused.run(f)[0], compile(g, {out}, Device::cpu(), off).run(f)[0]));
        // Closed by a sum over the gathered axis (the permuted program moves it last) and over another.
        for (int64_t red : {int64_t(axis), int64_t((axis + 1) % 3)}) {
          Var s = sum(tanh(gather(x, idx, axis) * y), {red});
          Program fs = compile(g, {s});
          CHECK(fs.num_kernels() == 1);
          CHECK(same_bits(fs.run(f)[0], compile(g, {s}, Device::cpu(), off).run(f)[0]));
        }
      }
  }

  TEST_CASE("fusion: a segment sum or mean by sorted ids closes a group (sparse aggregation), bad ids are refused") {
    CompileOptions off;
    off.fusion = CompileOptions::Fusion::off;
    for (DType it : {DType::i32, DType::i64})
      for (bool use_mean : {false, true})
        for (int axis : {0, 1}) {
          INFO(std::string(dtype_name(it)) << " mean " << use_mean << " axis " << axis);
          // m = silu(p[send] * w) * att over [E, H] (axis 0) or [2, E, H] (axis 1), aggregated to N rows.
          const int64_t N = 7, E = 300, H = 5;
          Graph g;
          Var p = g.input("p", {N, H}, DType::f64), w = g.input("w", {H}, DType::f64);
          std::vector<int64_t> space = axis == 0 ? std::vector<int64_t>{E, H} : std::vector<int64_t>{2, E, H};
          Var att = g.input("att", Shape(space), DType::f64);
          Var recv = g.input("recv", {E}, it), send = g.input("send", {E}, it);
          Var m = silu(gather(p, send, 0) * w) * att;  // [E, H], broadcast to [2, E, H] for axis 1
          Var agg = use_mean ? segment_mean(m, recv, N, axis, true) : segment_sum(m, recv, N, axis, true);
          std::mt19937_64 rng(17 + axis);
          std::vector<double> rv(E), sv(E);
          for (int64_t e = 0; e < E; ++e) rv[e] = static_cast<double>(e * (N - 1) / E), sv[e] = static_cast<double>(rng() % N);
          Feeds f = {{"p", random_values(Shape({N, H}), DType::f64, rng)}, {"w", random_values(Shape({H}), DType::f64, rng)},
                     {"att", random_values(Shape(space), DType::f64, rng)},
                     {"recv", Tensor::from<double>({E}, rv).cast(it)}, {"send", Tensor::from<double>({E}, sv).cast(it)}};
          Program fused = compile(g, {agg}), plain = compile(g, {agg}, Device::cpu(), off);
          // The gather, the edge math and the aggregation in one kernel (segment N - 1 stays empty); along
          // axis 1 the [E, H] gather does not have the group's [2, E, H] shape and runs before it.
          CHECK(fused.num_kernels() == (axis == 0 ? 1 : 2));
          CHECK(fused.report().find(use_mean ? "| segment_mean" : "| segment_sum") != std::string::npos);
          CHECK(same_bits(fused.run(f)[0], plain.run(f)[0]));
          // Unsorted or out-of-range ids: the unfused segment reduction's messages.
          std::vector<double> bad = rv;
          std::swap(bad[10], bad[290]);
          Feeds fb = f;
          fb[3] = {"recv", Tensor::from<double>({E}, bad).cast(it)};
          std::string unfused = error_of([&] { plain.run(fb); });
          CHECK(unfused.find("ids were promised sorted but id") != std::string::npos);
          CHECK(error_of([&] { fused.run(fb); }) == unfused);
          bad = rv;
          bad[E - 1] = static_cast<double>(N);
          fb[3] = {"recv", Tensor::from<double>({E}, bad).cast(it)};
          unfused = error_of([&] { plain.run(fb); });
          CHECK(unfused.find("segment id 7 at position 299 is outside [0, 7)") != std::string::npos);
          CHECK(error_of([&] { fused.run(fb); }) == unfused);
          // Gradients through the closed group, to second order.
          auto d1 = grad(sum(square(agg)), {p, w, att});
          auto d2 = grad(sum(square(d1[0])), {p, w});
          std::vector<Var> outs = {d1[0], d1[1], d1[2], d2[0], d2[1]};
          auto a = compile(g, outs).run(f), b = compile(g, outs, Device::cpu(), off).run(f);
          for (size_t i = 0; i < a.size(); ++i) CHECK(max_rel(a[i], b[i]) <= 1e-13);
        }
    // Ids not promised sorted: the segment reduction stays unfused.
    Graph g;
    Var x = g.input("x", {6, 3}, DType::f64), ids = g.input("ids", {6}, DType::i64);
    CHECK(num_reduce_closed(compile(g, {segment_sum(exp(x), ids, 4, 0, false)})) == 0);
    Program closed = compile(g, {segment_sum(exp(x), ids, 4, 0, true)});
    CHECK(closed.num_kernels() == 1);
  }

  TEST_CASE("fusion: hostile gather attributes are refused with the reason") {
    Graph g;
    Var x = g.input("x", {5, 3}, DType::f64), idx = g.input("idx", {4}, DType::i64), idx32 = g.input("i32", {4}, DType::i32);
    FusedAttr a = load_program(Shape({4, 3}));
    a.gathers = {0, 1, 0};
    a.index_bits = {64};
    CHECK(fused_elementwise({x, idx}, a).shape() == Shape({4, 3}));
    CHECK_THROWS_WITH_AS(fused_elementwise({x, idx32}, a), doctest::Contains("the program says i64"), Error);
    a.gathers = {0, 1, 1};  // along the wrong axis: [5, 4] is not the space
    CHECK_THROWS_WITH_AS(fused_elementwise({x, idx}, a), doctest::Contains("does not give the iteration space"), Error);
    a.gathers = {0, 0, 0};
    CHECK_THROWS_WITH_AS(fused_elementwise({x, idx}, a), doctest::Contains("names index input 0"), Error);
    a.gathers = {0, 1, 0, 0, 1, 0};
    CHECK_THROWS_WITH_AS(fused_elementwise({x, idx}, a), doctest::Contains("reads data input 0 (once each"), Error);
    a.gathers = {0, 1};
    CHECK_THROWS_WITH_AS(fused_elementwise({x, idx}, a), doctest::Contains("3 numbers per gathered input"), Error);
    a.gathers = {0, 1, 0};
    a.index_bits = {16};
    CHECK_THROWS_WITH_AS(fused_elementwise({x, idx}, a), doctest::Contains("32 or 64 bits wide"), Error);
    a.index_bits = {64};
    a.code = {scalar::f_load, 0, 1, 0, 0};  // loading the index array itself
    CHECK_THROWS_WITH_AS(fused_elementwise({x, idx}, a), doctest::Contains("loads input 1"), Error);
    a.code = {scalar::f_load, 0, 0, 0, 0};
    a.gathers = {};
    CHECK_THROWS_WITH_AS(fused_elementwise({x, idx}, a), doctest::Contains("not used by a gather"), Error);
  }
}

TEST_SUITE("gpu") {
  TEST_CASE("gpu fusion: groups opened by gathers and closed by sums (ORBIT_FUSION_GATHER=1, ORBIT_FUSION_REDUCE=1) = the CPU") {
    GPU_OR_SKIP();
    setenv("ORBIT_FUSION_GATHER", "1", 1);
    setenv("ORBIT_FUSION_REDUCE", "1", 1);
    int opened = 0;
    for (const char* codegen : {"1", "0"})
      for (DType dt : {DType::f64, DType::f32})
        for (uint64_t seed = 1; seed <= 6; ++seed) {
          INFO("codegen " << std::string(codegen) << " seed " << seed << " " << std::string(dtype_name(dt)));
          setenv("ORBIT_FUSION_CODEGEN", codegen, 1);
          RandomGraph r = random_graph(seed, dt);
          std::vector<Var> outs = with_derivatives(r, 1);
          CompileOptions on;
          on.fusion = CompileOptions::Fusion::on;
          Program gpu = compile(r.g, outs, testing::device_under_test(), on);
          opened += num_gather_opened(gpu);
          CompileOptions off;
          off.fusion = CompileOptions::Fusion::off;
          auto a = gpu.run(r.feeds), b = compile(r.g, outs, Device::cpu(), off).run(r.feeds);
          for (size_t i = 0; i < a.size(); ++i)
            CHECK(max_rel(a[i].to(Device::cpu()), b[i]) <= (dt == DType::f64 ? 1e-11 : 2e-4));
        }
    CHECK(opened > 0);
    unsetenv("ORBIT_FUSION_CODEGEN");
    unsetenv("ORBIT_FUSION_GATHER");
    unsetenv("ORBIT_FUSION_REDUCE");
  }

  TEST_CASE("gpu fusion: groups closed by a sum or mean (ORBIT_FUSION_REDUCE=1), generated and interpreted, = the CPU") {
    GPU_OR_SKIP();
    setenv("ORBIT_FUSION_REDUCE", "1", 1);
    CompileOptions off;
    off.fusion = CompileOptions::Fusion::off;
    // An EGNN-like aggregation over neighbours (13 per output, 53,248 outputs) and a row sum.
    // A sparse aggregation closing a group: segment sums of [E = 60000, 16] edge values into 5000 rows.
    for (const char* codegen : {"1", "0"})
      for (DType dt : {DType::f64, DType::f32}) {
        INFO("segment, codegen " << std::string(codegen) << " " << std::string(dtype_name(dt)));
        setenv("ORBIT_FUSION_CODEGEN", codegen, 1);
        const int64_t N = 5000, E = 60000, H = 16;
        Graph g;
        Var p = g.input("p", {N, H}, dt), att = g.input("att", {E, H}, dt);
        Var recv = g.input("recv", {E}, DType::i64), send = g.input("send", {E}, DType::i32);
        Var agg = segment_sum(silu(gather(p, send, 0)) * att, recv, N, 0, true);
        std::mt19937_64 rng(5);
        std::vector<double> rv(E), sv(E);
        for (int64_t e = 0; e < E; ++e) rv[e] = static_cast<double>(e * N / E), sv[e] = static_cast<double>(rng() % N);
        Feeds f = {{"p", random_values(Shape({N, H}), dt, rng)}, {"att", random_values(Shape({E, H}), dt, rng)},
                   {"recv", Tensor::from<double>({E}, rv).cast(DType::i64)},
                   {"send", Tensor::from<double>({E}, sv).cast(DType::i32)}};
        setenv("ORBIT_FUSION_GATHER", "1", 1);
        CompileOptions on;
        on.fusion = CompileOptions::Fusion::on;
        Program gpu = compile(g, {agg}, testing::device_under_test(), on);
        unsetenv("ORBIT_FUSION_GATHER");
        CHECK(num_reduce_closed(gpu) == 1);
        CHECK(max_rel(gpu.run(f)[0].to(Device::cpu()), compile(g, {agg}, Device::cpu(), off).run(f)[0]) <=
              (dt == DType::f64 ? 1e-12 : 1e-5));
      }
    const std::vector<std::pair<Shape, std::vector<int64_t>>> cases = {{Shape({256, 13, 13, 16}), {2}},
                                                                       {Shape({8192, 7}), {1}},
                                                                       {Shape({64, 100, 3}), {1}}};
    // On CUDA a sum closes a group only with enough outputs of few enough elements each (a thread per
    // output): [64, 100, 3] summed over its middle axis has 192 outputs and stays a separate reduction.
    // ORBIT_FUSION_REDUCE=all closes sums over the last axis too: in generated kernels, 8 lanes per
    // output combined by warp shuffles (engine/compile/cuda_codegen.cpp).
    for (const char* mode : {"1", "all"})
    for (const char* codegen : {"1", "0"})
      for (DType dt : {DType::f64, DType::f32})
        for (const auto& [shape, axes] : cases)
          for (bool use_mean : {false, true}) {
            INFO("reduce " << std::string(mode) << " codegen " << std::string(codegen) << " " << std::string(dtype_name(dt))
                           << " " << shape.str() << " mean " << use_mean);
            setenv("ORBIT_FUSION_CODEGEN", codegen, 1);
            setenv("ORBIT_FUSION_REDUCE", mode, 1);
            const passes::FuseOptions o = passes::fuse_options_for(testing::device_under_test());
            ReduceCase c(axes, use_mean, false, dt, shape);
            CompileOptions on;
            on.fusion = CompileOptions::Fusion::on;
            Program gpu = compile(c.g, {c.y}, testing::device_under_test(), on);
            int64_t extent = 1;
            for (int64_t ax : axes) extent *= shape[static_cast<int>(ax)];
            const bool last = std::find(axes.begin(), axes.end(), shape.rank() - 1) != axes.end() &&
                              shape[shape.rank() - 1] > passes::FuseOptions::kMaxInnermostReduce;
            const bool closes = shape.numel() / extent >= o.min_reduce_outputs &&
                                (o.max_reduce_extent == 0 || extent <= o.max_reduce_extent) &&
                                (o.innermost_reduce || !last);
            CHECK(num_reduce_closed(gpu) == (closes ? 1 : 0));
            const Tensor got = gpu.run(c.feeds)[0].to(Device::cpu());
            const Tensor want = compile(c.g, {c.y}, Device::cpu(), off).run(c.feeds)[0];
            CHECK(max_rel(got, want) <= (dt == DType::f64 ? 1e-12 : 1e-5));
          }
    unsetenv("ORBIT_FUSION_CODEGEN");
    unsetenv("ORBIT_FUSION_REDUCE");
  }


  TEST_CASE("gpu fusion: fused CUDA programs agree with the CPU on random graphs, forward and gradients") {
    GPU_OR_SKIP();
    for (DType dt : {DType::f64, DType::f32})
      for (int order = 0; order <= 1; ++order)
        for (uint64_t seed = 1; seed <= 12; ++seed) {
          INFO("seed " << seed << " order " << order << " " << std::string(dtype_name(dt)));
          RandomGraph r = random_graph(seed, dt);
          std::vector<Var> outs = with_derivatives(r, order);
          if (outs.empty()) continue;
          CompileOptions on;
          on.fusion = CompileOptions::Fusion::on;  // off by default on CUDA
          Program gpu = compile(r.g, outs, testing::device_under_test(), on);
          CompileOptions off;
          off.fusion = CompileOptions::Fusion::off;
          Program cpu = compile(r.g, outs, Device::cpu(), off);
          auto a = gpu.run(r.feeds), b = cpu.run(r.feeds);
          if (dt == DType::f64) {
            for (size_t i = 0; i < a.size(); ++i) CHECK(max_rel(a[i].to(Device::cpu()), b[i]) <= 1e-11);
          } else {
            // In f32 the two devices round differently (CUDA's exp / log / tanh are not the CPU's, nvcc
            // contracts multiply-adds) and a gradient can magnify ulps (seed 10's: 5e-4 between them on
            // an H200): the GPU must be about as close to the f64 truth as the CPU is, or as one-ulp
            // noise on the inputs can move the output.
            const std::vector<double> eg = errors_from_f64(seed, order, r.feeds, a), ec = errors_from_f64(seed, order, r.feeds, b);
            const std::vector<double> noise = ulp_noise_errors(seed, order, r.feeds, 20);
            for (size_t i = 0; i < a.size(); ++i) {
              CAPTURE(i);
              CAPTURE(ec[i]);
              CAPTURE(noise[i]);
              CHECK(eg[i] <= std::max({1e-4, 4 * ec[i], 2 * noise[i]}));
            }
          }
          CHECK(gpu.num_fused() > 0);
        }
  }
}
