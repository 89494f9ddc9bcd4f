// CUDA graph replay of compiled programs (engine/program_replay.cpp) and the per-kernel profiler
// (engine/program_profile.cpp). A replayed program must give exactly what the same program gives
// eagerly: the same kernels run, only launched from a graph. The "gpu" cases skip themselves without
// a GPU; under ORBIT_TEST_GPU_ON_CPU=1 they run on the CPU, where nothing is replayed and only the
// results are checked.
#include <doctest/doctest.h>

#include <random>
#include <string>

#include "engine/orbit.h"
#include "tests/harness/op_harness.h"

using namespace orbit;
using namespace orbit::testing;

namespace {

Tensor rnd(const Shape& s, DType dt, std::mt19937_64& rng) {
  Tensor t = Tensor::empty(s, dt);
  std::normal_distribution<double> d;
  dispatch_float(dt, [&]<class T>() {
    for (int64_t i = 0; i < t.numel(); ++i) t.data<T>()[i] = static_cast<T>(d(rng));
  });
  return t;
}

CompileOptions with_graph(CompileOptions::CudaGraph mode, std::shared_ptr<ParamStore> store = nullptr) {
  CompileOptions o;
  o.cuda_graph = mode;
  o.params = std::move(store);
  return o;
}

void check_same(const std::string& what, const Tensor& a, const Tensor& b) {
  INFO(what);
  REQUIRE(a.shape() == b.shape());
  auto x = a.to_vector(), y = b.to_vector();
  for (size_t i = 0; i < x.size(); ++i) {
    if (x[i] != y[i]) {
      FAIL_CHECK("element " << i << ": " << x[i] << " != " << y[i]);
      return;
    }
  }
}

bool replays(const Program& p) { return p.device().is_cuda(); }

}  // namespace

TEST_SUITE("cpu") {
TEST_CASE("profiler: every kernel is timed, the report names ops and kernels") {
  Graph g;
  Var x = g.input("x", {256, 32});
  Var w = g.input("w", {32, 16});
  Var y = sum(tanh(matmul(x, w).named("the_product")) * 2.0);
  Program p = compile(g, {y}, Device::cpu());
  CHECK(p.profile_report() == "profiling is off\n");
  p.enable_profile();
  std::mt19937_64 rng(1);
  p.run({{"x", rnd({256, 32}, DType::f32, rng)}, {"w", rnd({32, 16}, DType::f32, rng)}});
  // One run: it is shown, one-time costs and all.
  CHECK(p.profile_report().find(std::to_string(p.num_kernels()) + " kernels, 1 runs") != std::string::npos);
  CHECK(p.profile_report().find("its only run, one-time costs included") != std::string::npos);
  for (int r = 0; r < 2; ++r) p.run({{"x", rnd({256, 32}, DType::f32, rng)}, {"w", rnd({32, 16}, DType::f32, rng)}});
  // Later runs: the first is held out of the totals.
  const std::string rep = p.profile_report();
  CHECK(rep.find(std::to_string(p.num_kernels()) + " kernels, 2 runs") != std::string::npos);
  CHECK(rep.find("the first run, not included") != std::string::npos);
  CHECK(rep.find("matmul") != std::string::npos);
  CHECK(rep.find("'the_product' [256, 16] f32") != std::string::npos);
  CHECK(rep.find("by op") != std::string::npos);
  CHECK(p.replay_stats().off_reason == "not a CUDA program");
}

TEST_CASE("profiler: kernels of one kind (op, shape, dtype) are totalled together") {
  Graph g;
  Var x = g.input("x", {64, 8});
  Var w = g.input("w", {8, 8});
  Var h = matmul(x, w);
  for (int i = 0; i < 2; ++i) h = matmul(h, w);  // three [64, 8] products
  Var y = sum(matmul(x, g.input("v", {8, 5})));    // and one of another shape
  Program p = compile(g, {h, y}, Device::cpu());
  p.enable_profile();
  std::mt19937_64 rng(3);
  for (int r = 0; r < 2; ++r)
    p.run({{"x", rnd({64, 8}, DType::f32, rng)}, {"w", rnd({8, 8}, DType::f32, rng)}, {"v", rnd({8, 5}, DType::f32, rng)}});
  const std::string rep = p.profile_report();
  REQUIRE(rep.find("by kind") != std::string::npos);
  const std::string kinds = rep.substr(rep.find("by kind"));
  CHECK(kinds.find("    3  matmul [64, 8] f32\n") != std::string::npos);
  CHECK(kinds.find("    1  matmul [64, 5] f32\n") != std::string::npos);
}

}  // TEST_SUITE("cpu")

TEST_SUITE("gpu") {
TEST_CASE("gpu replay: a training step's gradients replayed from a CUDA graph equal eager runs") {
  GPU_OR_SKIP();
  const Device dev = device_under_test();
  std::mt19937_64 rng(2);
  for (DType dt : {DType::f64, DType::f32}) {
    Graph g;
    Var x = g.input("x", {300, 3}, dt);
    Var t = g.input("t", {300, 1}, dt);
    Var w1 = g.input("w1", {3, 32}, dt), b1 = g.input("b1", {32}, dt), w2 = g.input("w2", {32, 1}, dt);
    Var h = tanh(matmul(x, w1) + b1);
    Var loss = mean(square(matmul(h, w2) - t));
    auto gr = grad(loss, {w1, b1, w2});
    std::vector<Var> outs{loss, gr[0], gr[1], gr[2]};
    Program eager = compile(g, outs, dev, with_graph(CompileOptions::CudaGraph::off));
    Program graph = compile(g, outs, dev, with_graph(CompileOptions::CudaGraph::on));
    Feeds params = {{"w1", rnd({3, 32}, dt, rng)}, {"b1", rnd({32}, dt, rng)}, {"w2", rnd({32, 1}, dt, rng)}};
    std::vector<Tensor> first;
    std::vector<std::vector<double>> first_values;
    for (int r = 0; r < 5; ++r) {
      Feeds f = params;
      // Alternate feeds held on the host and on the device: both are copied into the graph's buffers.
      Tensor xv = rnd({300, 3}, dt, rng), tv = rnd({300, 1}, dt, rng);
      f.push_back({"x", r % 2 ? xv.to(dev) : xv});
      f.push_back({"t", tv});
      auto a = graph.run(f);
      auto b = eager.run(f);
      for (size_t k = 0; k < a.size(); ++k) check_same("output " + std::to_string(k) + " run " + std::to_string(r), a[k], b[k]);
      if (r == 0) {
        first = a;
        for (auto& t : a) first_values.push_back(t.to_vector());
        params[0].second = rnd({3, 32}, dt, rng);
      }
    }
    // Results are the caller's: later replays did not overwrite them.
    for (size_t k = 0; k < first.size(); ++k) CHECK(first[k].to_vector() == first_values[k]);
    if (replays(graph)) {
      CHECK(graph.replay_stats().captures == 1);
      CHECK(graph.replay_stats().replays == 5);
      CHECK(graph.replay_stats().off_reason.empty());
      CHECK(eager.replay_stats().replays == 0);
      CHECK(graph.report().find("cuda graph: 1 captures, 5 replays") != std::string::npos);
    }
  }
}

TEST_CASE("gpu replay: random ops draw fresh numbers on every replay, the same as eager runs") {
  GPU_OR_SKIP();
  const Device dev = device_under_test();
  Graph g;
  Var x = g.input("x", {1000});
  Var y = random_normal(g, {1000}, 7) * x + random_uniform(g, {1000}, 8);
  Program eager = compile(g, {y}, dev, with_graph(CompileOptions::CudaGraph::off));
  Program graph = compile(g, {y}, dev, with_graph(CompileOptions::CudaGraph::on));
  Tensor xv = Tensor::full({1000}, 1.5, DType::f32);
  std::vector<double> previous;
  for (int r = 0; r < 4; ++r) {
    Tensor a = graph.run({{"x", xv}})[0], b = eager.run({{"x", xv}})[0];
    check_same("run " + std::to_string(r), a, b);
    CHECK(a.to_vector() != previous);
    previous = a.to_vector();
  }
  // Resuming at a saved counter repeats that run's draw.
  graph.set_run_index(1);
  eager.set_run_index(1);
  check_same("after set_run_index", graph.run({{"x", xv}})[0], eager.run({{"x", xv}})[0]);
  if (replays(graph)) CHECK(graph.replay_stats().replays == 5);
}

TEST_CASE("gpu replay: parameters updated in place are read in place, a replaced one is captured again") {
  GPU_OR_SKIP();
  const Device dev = device_under_test();
  std::mt19937_64 rng(3);
  auto store = std::make_shared<ParamStore>();
  store->set("w", rnd({16, 8}, DType::f64, rng).to(dev));
  Graph g;
  Var x = g.input("x", {40, 16}, DType::f64);
  Var w = g.param("w", {16, 8}, DType::f64);
  Var y = sum(sigmoid(matmul(x, w)), {1});
  Program graph = compile(g, {y}, dev, with_graph(CompileOptions::CudaGraph::on, store));
  Program cpu = compile(g, {y}, Device::cpu());
  auto expect = [&](const Tensor& xv) { return cpu.run({{"x", xv}, {"w", store->get("w").to(Device::cpu())}})[0]; };
  for (int r = 0; r < 6; ++r) {
    if (r == 2) store->get_mut("w").copy_from(rnd({16, 8}, DType::f64, rng));  // in place: same address
    if (r == 4) store->set("w", rnd({16, 8}, DType::f64, rng).to(dev));        // a new tensor
    Tensor xv = rnd({40, 16}, DType::f64, rng);
    compare_devices("run " + std::to_string(r), graph.run({{"x", xv}})[0], expect(xv), 16, false);
  }
  // Feeding the parameter binds it as a feed (copied), which also needs a new capture.
  Tensor wf = rnd({16, 8}, DType::f64, rng), xv = rnd({40, 16}, DType::f64, rng);
  compare_devices("fed parameter", graph.run({{"x", xv}, {"w", wf}})[0], cpu.run({{"x", xv}, {"w", wf}})[0], 16, false);
  if (replays(graph)) {
    CHECK(graph.replay_stats().captures == 3);
    CHECK(graph.replay_stats().replays == 7);
  }
}

TEST_CASE("gpu replay: device-side index checks fail a replay with the eager error, and the program recovers") {
  GPU_OR_SKIP();
  const Device dev = device_under_test();
  Graph g;
  Var x = g.input("x", {5, 3});
  Var idx = g.input("idx", {4}, DType::i64);
  Var y = exp(gather(x, idx, 0).named("pick")) * 2.0;
  Program graph = compile(g, {y}, dev, with_graph(CompileOptions::CudaGraph::on));
  Program cpu = compile(g, {y}, Device::cpu());
  Tensor xv = Tensor::full({5, 3}, 0.5, DType::f32);
  Tensor good = Tensor::from<int64_t>({4}, {0, 4, 2, 1}), bad = Tensor::from<int64_t>({4}, {0, 7, 2, -1});
  for (int r = 0; r < 2; ++r) check_same("good run", graph.run({{"x", xv}, {"idx", good}})[0], cpu.run({{"x", xv}, {"idx", good}})[0]);
  std::string want, got;
  try {
    cpu.run({{"x", xv}, {"idx", bad}});
  } catch (const Error& e) {
    want = e.what();
  }
  try {
    graph.run({{"x", xv}, {"idx", bad}});
  } catch (const Error& e) {
    got = e.what();
  }
  CHECK(!want.empty());
  CHECK(got == want);
  check_same("after the failure", graph.run({{"x", xv}, {"idx", good}})[0], cpu.run({{"x", xv}, {"idx", good}})[0]);
  if (replays(graph)) CHECK(graph.replay_stats().replays == 4);
}

TEST_CASE("gpu replay: automatic capture skips programs whose copies outweigh their launches") {
  GPU_OR_SKIP();
  const Device dev = device_under_test();
  if (!dev.is_cuda()) return;
  std::mt19937_64 rng(4);
  Graph g;
  Var x = g.input("x", {1 << 22});
  Var y = exp(x);
  Program few = compile(g, {y}, dev);
  for (int r = 0; r < 3; ++r) few.run({{"x", rnd({1 << 22}, DType::f32, rng)}});
  CHECK(few.replay_stats().replays == 0);
  CHECK(few.replay_stats().off_reason.find("automatic") != std::string::npos);

  Graph h;
  Var a = h.input("a", {64, 64});
  Var z = a;
  for (int k = 0; k < 40; ++k) z = tanh(matmul(z, a) * 0.01 + z);
  Program many = compile(h, {sum(z)}, dev);
  Program eager = compile(h, {sum(z)}, dev, with_graph(CompileOptions::CudaGraph::off));
  for (int r = 0; r < 3; ++r) {
    Tensor av = rnd({64, 64}, DType::f32, rng);
    check_same("many kernels", many.run({{"a", av}})[0], eager.run({{"a", av}})[0]);
  }
  CHECK(many.replay_stats().captures == 1);
  CHECK(many.replay_stats().replays == 2);  // the first run is eager
}
}  // TEST_SUITE("gpu")
