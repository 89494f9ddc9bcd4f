// Shared by the fusion tests (test_fusion.cpp) and the generated-kernel tests (test_cuda_codegen.cpp):
// random graphs of elementwise chains over one iteration space, fed by inputs of broadcastable shapes
// and interrupted (or closed) by reductions (and, optionally, matrix products and reshapes), plus
// comparisons.
#pragma once
#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "engine/fused.h"
#include "engine/orbit.h"

namespace orbit::fusion_test {

inline Tensor random_values(const Shape& s, DType dt, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> u(-1.5, 1.5);
  std::vector<double> v(static_cast<size_t>(s.numel()));
  for (auto& x : v) x = u(rng);
  return Tensor::from<double>(s, v).cast(dt);
}

struct RandomGraph {
  Graph g;
  std::vector<Var> inputs, outputs;  // inputs[0] has the shape of the iteration space
  Feeds feeds;
};

// `steps` random ops over `space`; inputs of `shapes` (the first equal to `space`). With
// `layout_ops`, matrix products (by a square weight "wmat" over the last axis) and reshape round trips
// also break the chains. Three outputs: the last value, one usually in the middle of a chain, a sum.
// With `gathers`, an input "src" ([space[0] + 2, space[1:]...], the last of r.inputs) is also read
// through an index "idx" (space[0] entries; i64 for odd seeds, i32 for even ones) along axis 0.
inline RandomGraph random_graph(uint64_t seed, DType dt, const Shape& space, const std::vector<Shape>& shapes,
                                int steps, bool layout_ops, bool gathers = false) {
  std::mt19937_64 rng(seed);
  RandomGraph r;
  Graph& g = r.g;
  for (size_t i = 0; i < shapes.size(); ++i) {
    r.inputs.push_back(g.input("in" + std::to_string(i), shapes[i], dt));
    r.feeds.push_back({"in" + std::to_string(i), random_values(shapes[i], dt, rng)});
  }
  Var src, idx;
  if (gathers) {
    auto ss = space.vec();
    ss[0] += 2;
    src = g.input("src", Shape(ss), dt);
    r.feeds.push_back({"src", random_values(Shape(ss), dt, rng)});
    const DType it = seed % 2 ? DType::i64 : DType::i32;
    idx = g.input("idx", {space[0]}, it);
    std::vector<double> iv(static_cast<size_t>(space[0]));
    for (auto& v : iv) v = static_cast<double>(std::uniform_int_distribution<int64_t>(0, ss[0] - 1)(rng));
    r.feeds.push_back({"idx", Tensor::from<double>({space[0]}, iv).cast(it)});
  }
  const int64_t last = space[space.rank() - 1];
  Var w;
  if (layout_ops) {
    w = g.input("wmat", {last, last}, dt);
    r.feeds.push_back({"wmat", random_values(Shape({last, last}), dt, rng)});
  }
  std::vector<Var> pool = r.inputs;
  auto pick = [&]() -> Var {
    // Prefer recent values (long chains), sometimes an old one (several consumers).
    std::uniform_int_distribution<size_t> recent(pool.size() > 3 ? pool.size() - 3 : 0, pool.size() - 1);
    std::uniform_int_distribution<size_t> any(0, pool.size() - 1);
    return std::uniform_real_distribution<double>(0, 1)(rng) < 0.75 ? pool[recent(rng)] : pool[any(rng)];
  };
  auto full = [&](Var v) { return v.shape() == space ? v : v + r.inputs[0] * 0.0 + v; };
  std::uniform_int_distribution<int> kind(0, gathers ? 21 : 19);
  for (int step = 0; step < steps; ++step) {
    Var a = pick(), b = pick(), v;
    switch (kind(rng)) {
      case 0: v = silu(a); break;
      case 1: v = tanh(a) * b; break;
      case 2: v = exp(clamp(a, -3, 3)); break;
      case 3: v = sin(a) * 0.5 + cos(b); break;
      case 4: v = sqrt(abs(a) + 0.1); break;
      case 5: v = a + b; break;
      case 6: v = a * b - 0.3; break;
      case 7: v = a / (abs(b) + 0.5); break;
      case 8: v = maximum(a, b); break;
      case 9: v = where(gt(a, b), a, square(b)); break;
      case 10: v = sigmoid(a) + softplus(b); break;
      case 11: v = pow(abs(a) + 0.2, 1.5); break;
      case 12: v = relu(a) - neg(b); break;
      case 13: v = gelu(a) * log1p(abs(b)); break;
      case 14: v = sum(full(a), {space.rank() - 1}, true); break;  // a group boundary
      case 15: v = minimum(a, b) + 1.0; break;
      case 16: v = rsqrt(abs(a) + 0.25) * sign(b); break;
      case 17: v = erf(a) + pow(abs(b) + 0.5, a * 0.25); break;
      case 18: v = layout_ops ? matmul(full(a), w) : a - b * 2.0; break;
      case 20: v = gather(src, idx, 0) * a; break;                  // a group opener
      case 21: v = silu(gather(tanh(src), idx, 0)) + b; break;      // one fed by another group
      default:
        v = layout_ops ? reshape(reshape(full(a), {space.numel()}), space.vec()) : erf(a) + cos(b);
        break;
    }
    pool.push_back(v);
  }
  r.outputs = {full(pool.back()), pool[pool.size() - 4], sum(pool[pool.size() - 2])};
  if (gathers) r.inputs.push_back(src);  // after the outputs: differentiated like the others
  return r;
}

// The program's fused groups that end in a sum or mean.
inline int num_reduce_closed(const Program& p) {
  int k = 0;
  for (NodeId id = 0; id < p.graph().size(); ++id) {
    const Node& n = p.graph().node(id);
    if (n.kind == NodeKind::op && n.op == fused_op()) k += n.attr_as<FusedAttr>().reduce != FusedAttr::none;  // axes or segments
  }
  return k;
}

// The program's fused groups opened by gathers.
inline int num_gather_opened(const Program& p) {
  int k = 0;
  for (NodeId id = 0; id < p.graph().size(); ++id) {
    const Node& n = p.graph().node(id);
    if (n.kind == NodeKind::op && n.op == fused_op()) k += n.attr_as<FusedAttr>().num_gathers() > 0;
  }
  return k;
}

// Equal element for element (NaN matches NaN).
inline bool same_bits(const Tensor& a, const Tensor& b) {
  auto x = a.to_vector(), y = b.to_vector();
  if (x.size() != y.size()) return false;
  for (size_t i = 0; i < x.size(); ++i)
    if (!(x[i] == y[i] || (std::isnan(x[i]) && std::isnan(y[i])))) return false;
  return true;
}

// max |got - want| / max |want| over finite values (NaN matches NaN).
inline double max_rel(const Tensor& got, const Tensor& want) {
  auto x = got.to_vector(), y = want.to_vector();
  double scale = 0, err = 0;
  for (double v : y)
    if (std::isfinite(v)) scale = std::max(scale, std::abs(v));
  for (size_t i = 0; i < x.size(); ++i)
    if (!(x[i] == y[i] || (std::isnan(x[i]) && std::isnan(y[i])))) err = std::max(err, std::abs(x[i] - y[i]));
  return err / std::max(scale, 1e-300);
}

}  // namespace orbit::fusion_test
