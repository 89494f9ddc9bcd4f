// The static memory planner: a property test of plan_memory on random buffer lifetimes, and an
// end-to-end check that programs whose intermediates share one arena compute exactly what a
// straightforward evaluation (every node its own freshly allocated output) computes.
#include <doctest/doctest.h>

#include "kernels/scalar/unary.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "engine/compile/memory_plan.h"
#include "engine/orbit.h"

using namespace orbit;

namespace {
// These tests look at what simplification and memory planning do to a graph, so fusion (tested in
// test_fusion.cpp) stays off.
Program compile_unfused(const Graph& g, const std::vector<Var>& outs, Device d = Device::cpu(), CompileOptions o = {}) {
  o.fusion = CompileOptions::Fusion::off;
  return compile(g, outs, d, o);
}

int64_t aligned(int64_t bytes, int64_t align) { return (std::max<int64_t>(bytes, 1) + align - 1) / align * align; }

bool live_together(const BufferLife& a, const BufferLife& b) { return a.first <= b.last && b.first <= a.last; }

// Checks every promise of a plan (each failure is reported with the buffers involved).
void check_plan(const std::vector<BufferLife>& bufs, const MemoryPlan& plan, int64_t align) {
  const size_t n = bufs.size();
  REQUIRE(plan.offsets.size() == n);
  int64_t naive = 0;
  for (size_t i = 0; i < n; ++i) {
    CAPTURE(i);
    naive += aligned(bufs[i].bytes, align);
    CHECK(plan.offsets[i] >= 0);
    CHECK(plan.offsets[i] % align == 0);
    CHECK(plan.offsets[i] + bufs[i].bytes <= plan.peak);
  }
  CHECK(plan.naive == naive);
  CHECK(plan.peak <= plan.naive);
  // No two buffers alive at a common step overlap in memory.
  int overlaps = 0;
  for (size_t i = 0; i < n; ++i)
    for (size_t j = i + 1; j < n; ++j) {
      if (!live_together(bufs[i], bufs[j])) continue;
      int64_t bi = plan.offsets[i], ei = bi + bufs[i].bytes;
      int64_t bj = plan.offsets[j], ej = bj + bufs[j].bytes;
      if (bi < ej && bj < ei) {
        ++overlaps;
        INFO("buffers ", i, " [", bufs[i].first, ", ", bufs[i].last, "] ", bufs[i].bytes, " B at ", bi, " and ", j,
             " [", bufs[j].first, ", ", bufs[j].last, "] ", bufs[j].bytes, " B at ", bj);
        CHECK(false);
      }
    }
  CHECK(overlaps == 0);
  // A lower bound no plan can beat: the bytes alive at the busiest step.
  int last_step = 0;
  for (auto& b : bufs) last_step = std::max(last_step, b.last);
  int64_t busiest = 0;
  for (int s = 0; s <= last_step; ++s) {
    int64_t live = 0;
    for (auto& b : bufs)
      if (b.first <= s && s <= b.last) live += b.bytes;
    busiest = std::max(busiest, live);
  }
  CHECK(plan.peak >= busiest);
}

}  // namespace

TEST_SUITE("cpu") {

TEST_CASE("memory plan: small cases by hand") {
  // Disjoint lifetimes share offset 0; the arena is as big as the biggest buffer.
  std::vector<BufferLife> two = {{100, 0, 1}, {200, 2, 3}};
  MemoryPlan p = plan_memory(two);
  check_plan(two, p, 64);
  CHECK(p.offsets == std::vector<int64_t>{0, 0});
  CHECK(p.peak == 256);
  CHECK(p.naive == 128 + 256);

  // Lifetimes that touch at one step ([0, 1] and [1, 2]) must not share: a kernel reads its input
  // while it writes its output.
  std::vector<BufferLife> touch = {{64, 0, 1}, {64, 1, 2}};
  p = plan_memory(touch);
  check_plan(touch, p, 64);
  CHECK(p.offsets[0] != p.offsets[1]);
  CHECK(p.peak == 128);

  // A chain of equal buffers, each read by the next step, needs two slots.
  std::vector<BufferLife> chain;
  for (int i = 0; i < 10; ++i) chain.push_back({1000, i, i + 1});
  p = plan_memory(chain);
  check_plan(chain, p, 64);
  CHECK(p.peak == 2 * 1024);
  CHECK(p.naive == 10 * 1024);

  // Zero-byte buffers still get distinct aligned slots (and count in the naive total).
  std::vector<BufferLife> zeros = {{0, 0, 0}, {0, 0, 0}, {10, 0, 0}};
  p = plan_memory(zeros, 16);
  check_plan(zeros, p, 16);
  CHECK(p.naive == 48);

  // No buffers at all.
  p = plan_memory({});
  CHECK(p.offsets.empty());
  CHECK(p.peak == 0);
  CHECK(p.naive == 0);
}

TEST_CASE("memory plan: random lifetimes never overlap while alive") {
  std::mt19937 rng(20240611);
  const int64_t aligns[] = {1, 8, 64, 256};
  int chains_checked = 0;
  for (int c = 0; c < 200; ++c) {
    CAPTURE(c);
    int n = 1 + static_cast<int>(rng() % 60);
    int64_t align = aligns[rng() % 4];
    int horizon = 1 + static_cast<int>(rng() % 80);
    int max_len = 1 + static_cast<int>(rng() % 20);
    std::vector<BufferLife> bufs;
    for (int i = 0; i < n; ++i) {
      BufferLife b;
      switch (rng() % 4) {
        case 0: b.bytes = static_cast<int64_t>(rng() % 17); break;  // tiny, including 0
        case 1: b.bytes = static_cast<int64_t>(rng() % 5000); break;
        case 2: b.bytes = 64 * static_cast<int64_t>(1 + rng() % 64); break;  // already aligned
        default: b.bytes = static_cast<int64_t>(1 + rng() % 1000000); break;
      }
      b.first = static_cast<int>(rng() % static_cast<uint32_t>(horizon));
      b.last = b.first + static_cast<int>(rng() % static_cast<uint32_t>(max_len));
      bufs.push_back(b);
    }
    MemoryPlan p = align == 64 ? plan_memory(bufs) : plan_memory(bufs, align);
    check_plan(bufs, p, align);
    // Planning is deterministic.
    MemoryPlan again = plan_memory(bufs, align);
    CHECK(again.offsets == p.offsets);
    CHECK(again.peak == p.peak);

    // The same sizes as a chain (each buffer read by the next step, and now and then by one more
    // later step): at most three are alive at once, so reuse must beat the naive sum.
    if (n >= 4) {
      std::vector<BufferLife> ch;
      for (int i = 0; i < n; ++i) {
        int extra = (rng() % 5 == 0) ? 1 : 0;
        ch.push_back({bufs[i].bytes, i, i + 1 + extra});
      }
      MemoryPlan q = plan_memory(ch, align);
      check_plan(ch, q, align);
      CHECK(q.peak < q.naive);
      ++chains_checked;
    }
  }
  CHECK(chains_checked > 100);
}

}  // TEST_SUITE

// ---- end to end: the planned arena gives exactly the results of an unplanned evaluation ----

namespace {

struct ChainGraph {
  Graph g;
  Feeds feeds[2];             // two different sets of input values
  std::vector<Var> outputs;   // what the planned program returns
};

Tensor random_tensor(std::mt19937& rng, const Shape& s, DType dt) {
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  std::vector<double> v(static_cast<size_t>(s.numel()));
  for (auto& e : v) e = u(rng);
  Tensor t = Tensor::from<double>(s, v);
  return dt == DType::f64 ? t : t.cast(dt);
}

// A chain/tree of unary and binary ops (with broadcasting, a few reductions and matmuls) over
// several inputs. Each node extends the current head; now and then a new branch starts from an
// input or an older node, and binary ops read a second operand from anywhere, so intermediates come
// in several sizes and die at varied times. At the end every dangling branch is summed into the
// output, so that nothing is pruned and the program has `nodes` kernels or more.
void build_chain_graph(ChainGraph& cg, uint32_t seed, int nodes, DType dt) {
  std::mt19937 rng(seed);
  Graph& g = cg.g;
  struct Item {
    Var v;
    double bound;
  };
  std::vector<Item> pool;
  auto rnd = [&](int n) { return static_cast<int>(rng() % static_cast<uint32_t>(n)); };
  auto push = [&](Var v, double bound) {
    if (bound > 20) {
      v = tanh(v);
      bound = 1;
    }
    pool.push_back({v, bound});
  };
  const std::vector<Shape> shapes = {{8, 16}, {16, 16}, {16}, {8, 1}, {8, 16}};
  const int num_inputs = static_cast<int>(shapes.size());
  for (int i = 0; i < num_inputs; ++i) {
    std::string name = "x" + std::to_string(i);
    push(g.input(name, shapes[i], dt), 1.0);
    for (auto& f : cg.feeds) f.push_back({name, random_tensor(rng, shapes[i], dt)});
  }
  auto head = [&]() -> Item {
    int r = rnd(10);
    if (r < 8 || static_cast<int>(pool.size()) == num_inputs) {
      if (static_cast<int>(pool.size()) > num_inputs && r < 8) return pool.back();  // the chain
      return pool[rnd(num_inputs)];                                                  // a new branch
    }
    return pool[rnd(static_cast<int>(pool.size()))];  // a branch off an older node
  };
  auto partner = [&](const Item& a) -> Item {
    std::vector<int> ok;
    for (size_t i = 0; i < pool.size(); ++i) {
      Shape s;
      if (broadcast_shapes(a.v.shape(), pool[i].v.shape(), s)) ok.push_back(static_cast<int>(i));
    }
    return pool[ok[rnd(static_cast<int>(ok.size()))]];
  };
  while (g.size() < nodes + num_inputs) {
    Item a = head();
    int r = rnd(20);
    if (r < 8) {
      switch (rnd(8)) {
        case 0: push(neg(a.v), a.bound); break;
        case 1: push(tanh(a.v), 1); break;
        case 2: push(sin(a.v), 1); break;
        case 3: push(square(a.v), a.bound * a.bound); break;
        case 4: push(abs(a.v), a.bound); break;
        case 5: push(sigmoid(a.v), 1); break;
        case 6: push(relu(a.v), a.bound); break;
        default: push(exp(tanh(a.v)), 3); break;
      }
    } else if (r < 16) {
      Item b = partner(a);
      switch (rnd(4)) {
        case 0: push(add(a.v, b.v), a.bound + b.bound); break;
        case 1: push(sub(b.v, a.v), a.bound + b.bound); break;
        case 2: push(mul(a.v, b.v), a.bound * b.bound); break;
        default: push(maximum(a.v, b.v), std::max(a.bound, b.bound)); break;
      }
    } else if (r < 18) {
      if (a.v.rank() == 2) {
        int64_t ax = rnd(2);
        push(sum(a.v, {ax}, true), a.bound * static_cast<double>(a.v.shape()[static_cast<int>(ax)]));
      } else {
        push(cos(a.v), 1);
      }
    } else {
      // [8, 16] x [16, 16] or [16, 16] x [16, 16]
      if (a.v.rank() == 2 && a.v.shape()[1] == 16) push(matmul(a.v, pool[1].v), 16 * a.bound);
      else push(cos(a.v), 1);
    }
  }
  // Every op node nobody reads (other than the last) is summed into the output.
  std::vector<int> readers(static_cast<size_t>(g.size()), 0);
  for (NodeId i = 0; i < g.size(); ++i)
    for (NodeId in : g.node(i).inputs) ++readers[in];
  const NodeId last = pool.back().v.id();
  Var out = pool.back().v;
  int64_t end = g.size();
  for (NodeId i = 0; i < end; ++i)
    if (g.node(i).kind == NodeKind::op && readers[i] == 0 && i != last) out = out + sum(g.var(i));
  cg.outputs.push_back(out);
  // Sometimes an intermediate is an output too (outputs never live in the arena).
  if (rnd(2) == 0) cg.outputs.push_back(pool[num_inputs + rnd(static_cast<int>(pool.size()) - num_inputs)].v);
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() && std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
}

}  // namespace

TEST_SUITE("cpu") {

TEST_CASE("memory plan: a chain of unary ops reuses two slots") {
  Graph g;
  Var x = g.input("x", {256});
  Var h = x;
  for (int i = 0; i < 10; ++i) h = (i % 2) ? sin(h) : tanh(h);
  CompileOptions o;
  o.optimize = false;
  Program p = compile_unfused(g, {h}, Device::cpu(), o);
  CHECK(p.num_kernels() == 10);
  CHECK(p.naive_bytes() == 9 * 1024);  // nine intermediates; the output is not in the arena
  CHECK(p.planned_peak_bytes() == 2 * 1024);
  std::vector<float> xv(256);
  for (int i = 0; i < 256; ++i) xv[i] = static_cast<float>(i) / 100.0f - 1.0f;
  auto r = p.run({{"x", Tensor::from<float>({256}, xv)}});
  for (int i = 0; i < 256; ++i) {
    float v = xv[i];
    for (int k = 0; k < 10; ++k) v = (k % 2) ? scalar::Sin{}(v) : scalar::Tanh{}(v);  // the ops' definitions
    CHECK(r[0].at(i) == v);
  }
}

TEST_CASE("memory plan: planned programs equal an unplanned evaluation on random graphs") {
  int with_grad = 0;
  for (uint32_t seed = 1; seed <= 40; ++seed) {
    CAPTURE(seed);
    const DType dt = seed % 2 ? DType::f32 : DType::f64;
    const int nodes = 20 + static_cast<int>((seed * 7919u) % 61u);  // 20..80
    ChainGraph cg;
    build_chain_graph(cg, seed, nodes, dt);
    std::vector<Var> outs = cg.outputs;
    if (seed % 3 == 0) {
      // Gradients of a scalar loss: a longer program with many more intermediates.
      auto gs = grad(sum(cg.outputs[0]), cg.g.inputs());
      outs.insert(outs.end(), gs.begin(), gs.end());
      ++with_grad;
    }

    // The reference: every op node is an output, so nothing shares memory at all.
    std::vector<Var> every_op;
    for (NodeId i = 0; i < cg.g.size(); ++i)
      if (cg.g.node(i).kind == NodeKind::op) every_op.push_back(cg.g.var(i));
    CompileOptions raw;
    raw.optimize = false;
    Program ref = compile_unfused(cg.g, every_op, Device::cpu(), raw);
    REQUIRE(ref.planned_peak_bytes() == 0);

    Program planned = compile_unfused(cg.g, outs, Device::cpu(), raw);
    Program optimized = compile_unfused(cg.g, outs);
    CAPTURE(planned.num_kernels());
    CHECK(planned.num_kernels() >= nodes);
    CHECK(planned.planned_peak_bytes() < planned.naive_bytes());
    CHECK(optimized.planned_peak_bytes() <= optimized.naive_bytes());
    // naive_bytes is the sum of the (64-byte aligned) intermediates: op nodes that are not outputs,
    // except reshapes, which are views of their input's buffer.
    std::set<std::string> out_names;
    for (auto& v : outs) out_names.insert(v.name());
    int64_t naive = 0;
    for (NodeId i = 0; i < planned.graph().size(); ++i) {
      const Node& n = planned.graph().node(i);
      if (n.kind == NodeKind::op && !out_names.count(n.name) && !is(n, Op::reshape))
        naive += aligned(n.shape.numel() * static_cast<int64_t>(dtype_size(n.dtype)), 64);
    }
    CHECK(planned.naive_bytes() == naive);

    for (int run = 0; run < 2; ++run) {
      CAPTURE(run);
      const Feeds& f = cg.feeds[run];
      auto all = ref.run(f);
      auto got = planned.run(f);
      auto got_opt = optimized.run(f);
      REQUIRE(got.size() == outs.size());
      for (size_t k = 0; k < outs.size(); ++k) {
        CAPTURE(k);
        // Where the output sits among the reference's outputs. (A gradient can be a leaf; those
        // are not computed by kernels and are skipped.)
        if (outs[k].node().kind != NodeKind::op) continue;
        size_t at = every_op.size();
        for (size_t j = 0; j < every_op.size(); ++j)
          if (every_op[j].id() == outs[k].id()) at = j;
        REQUIRE(at < every_op.size());
        CHECK(same_bits(got[k], all[at]));
        CHECK(same_bits(got_opt[k], all[at]));
      }
    }
  }
  CHECK(with_grad > 5);
}

}  // TEST_SUITE

TEST_CASE("memory plan: a reshape is a view that keeps its source's buffer alive, and launches nothing") {
  Graph g;
  Var x = g.input("x", {6, 4});
  Var a = exp(x);                          // the view's source
  Var v = reshape(reshape(a, {24}), {4, 6});  // a chain of views
  Var y = x;
  for (int k = 0; k < 6; ++k) y = tanh(y * 1.5 + 0.25);  // work that could reuse a's buffer
  Var out = matmul(v, y) + 1.0;
  CompileOptions o;
  o.optimize = false;
  Program p = compile_unfused(g, {out}, Device::cpu(), o);
  Program q = compile_unfused(g, {out, reshape(a, {24})}, Device::cpu(), o);  // an output reshape copies
  CHECK(p.num_kernels() == q.num_kernels() - 1);
  Tensor xv = Tensor::empty({6, 4}, DType::f32);
  for (int i = 0; i < 24; ++i) xv.data<float>()[i] = 0.05f * static_cast<float>(i) - 0.4f;
  std::vector<double> xs = xv.to_vector(), ys(24), av(24), want(16, 1.0);
  for (int i = 0; i < 24; ++i) {
    double t = xs[i];
    for (int k = 0; k < 6; ++k) t = std::tanh(static_cast<float>(t * 1.5 + 0.25));
    ys[i] = t;
    av[i] = std::exp(xs[i]);
  }
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 4; ++c)
      for (int k = 0; k < 6; ++k) want[r * 4 + c] += av[r * 6 + k] * ys[k * 4 + c];
  for (int run = 0; run < 2; ++run) {
    auto got = p.run({{"x", xv}})[0].to_vector();
    for (int i = 0; i < 16; ++i) CHECK(got[i] == doctest::Approx(want[i]).epsilon(1e-5));
  }
}
