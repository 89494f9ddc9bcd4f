#include "tests/emu_codegen/cases.h"

#include <random>
#include <string>

#include "tests/fusion_graphs.h"
#include "tests/scoped_env.h"

namespace orbit::emu_codegen {
namespace {

Tensor values(const Shape& s, DType dt, uint64_t seed, double lo = -1.5, double hi = 1.5) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(lo, hi);
  std::vector<double> v(static_cast<size_t>(s.numel()));
  for (auto& e : v) e = u(rng);
  return Tensor::from<double>(s, v).cast(dt);
}

}  // namespace

std::vector<Case> cases() {
  std::vector<Case> out;
  for (DType dt : {DType::f32, DType::f64}) {
    const std::string t = std::string(dtype_name(dt));
    auto add = [&](const std::string& name, auto build) {
      Case c;
      c.name = name + " " + t;
      c.graph = std::make_shared<Graph>();
      build(*c.graph, c);
      out.push_back(std::move(c));
    };
    auto input = [&](Graph& g, Case& c, const std::string& name, const Shape& s, uint64_t seed) {
      c.feeds.push_back({name, values(s, dt, seed)});
      return g.input(name, s, dt);
    };
    add("chain with broadcasts", [&](Graph& g, Case& c) {
      Var x = input(g, c, "x", {37, 33}, 1), row = input(g, c, "row", {33}, 2), col = input(g, c, "col", {37, 1}, 3);
      c.outputs = {tanh(x * row + col) * sigmoid(x) - exp(-square(x)) / 3.0};
    });
    add("sum over the last axis", [&](Graph& g, Case& c) {
      Var x = input(g, c, "x", {4100, 37}, 4), w = input(g, c, "w", {37}, 5);
      c.outputs = {sum(silu(x) * w, {1})};
    });
    add("mean over the last two axes", [&](Graph& g, Case& c) {
      Var x = input(g, c, "x", {4100, 3, 5}, 6);
      c.outputs = {mean(tanh(x) * x, {1, 2}, true)};
    });
    add("sum over a middle axis", [&](Graph& g, Case& c) {
      Var m = input(g, c, "m", {25, 13, 13, 16}, 7), mask = input(g, c, "mask", {1, 13, 13, 1}, 8);
      c.outputs = {sum(m * mask, {2})};
    });
    add("sum over leading rows", [&](Graph& g, Case& c) {
      Var x = input(g, c, "x", {40, 4100}, 9), y = input(g, c, "y", {40, 4100}, 10);
      c.outputs = {sum(x * y + 1.0, {0})};
    });
    add("mean of everything", [&](Graph& g, Case& c) {
      Var x = input(g, c, "x", {50, 7}, 11), y = input(g, c, "y", {50, 7}, 12);
      c.outputs = {mean(square(x - y))};
    });
    add("segment sum by sorted ids", [&](Graph& g, Case& c) {
      Var v = input(g, c, "v", {40, 300}, 13);
      std::vector<int32_t> ids(40);
      for (int i = 0; i < 40; ++i) ids[static_cast<size_t>(i)] = (i * 7) / 40 * 2;  // sorted, some segments empty
      c.feeds.push_back({"ids", Tensor::from<int32_t>({40}, ids)});
      Var id = g.input("ids", {40}, DType::i32);
      c.outputs = {segment_sum(tanh(v) * 2.0, id, 15, 0, /*sorted=*/true)};
    });
    add("gather opening a group", [&](Graph& g, Case& c) {
      Var src = input(g, c, "src", {11, 9}, 14), y = input(g, c, "y", {30, 9}, 15);
      std::vector<int64_t> ix(30);
      for (int i = 0; i < 30; ++i) ix[static_cast<size_t>(i)] = (i * 5 + 3) % 11;
      c.feeds.push_back({"ix", Tensor::from<int64_t>({30}, ix)});
      Var idx = g.input("ix", {30}, DType::i64);
      c.outputs = {gather(src, idx, 0) * y + 0.5};
    });
  }
  // Random fused groups (as tests/test_cuda_codegen.cpp draws them), lowered for the CPU.
  for (DType dt : {DType::f32, DType::f64})
    for (uint64_t seed = 1; seed <= 6; ++seed) {
      const Shape space = seed % 2 ? Shape({6, 7}) : Shape({3, 4, 5});
      const std::vector<Shape> shapes = seed % 2 ? std::vector<Shape>{space, Shape({7}), Shape({6, 1}), Shape({1})}
                                                 : std::vector<Shape>{space, Shape({4, 1}), Shape({3, 1, 5}), Shape({5})};
      fusion_test::RandomGraph r = fusion_test::random_graph(seed, dt, space, shapes, 24, false, /*gathers=*/true);
      Case c;
      c.name = "random graph " + std::to_string(seed) + " " + std::string(dtype_name(dt));
      c.graph = std::make_shared<Graph>(r.g);  // a copy: the outputs are rebound to it by id
      for (Var v : r.outputs) c.outputs.push_back(c.graph->var(v.id()));
      c.feeds = r.feeds;
      c.lower_for = Device::cpu();
      out.push_back(std::move(c));
    }
  return out;
}

passes::Rewritten lowered(const Case& c) {
  testing::ScopedEnv reduce("ORBIT_FUSION_REDUCE", "all"), gather("ORBIT_FUSION_GATHER", "1");
  std::vector<NodeId> ids;
  for (Var v : c.outputs) ids.push_back(v.id());
  return passes::lower_for_device(*c.graph, ids, CompileOptions{}, c.lower_for, true);
}

}  // namespace orbit::emu_codegen
