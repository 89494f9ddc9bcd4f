// Helpers for the workloads built on models/nn's MLP: parameters with non-zero biases (so that the
// agreement check sees them), saved for the peer, and the GEMM flops of a compiled program.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "bench/bench.h"
#include "engine/param_store.h"
#include "engine/program.h"
#include "models/nn/mlp.h"

namespace orbit::bench {

// Xavier-uniform weights (models/nn's init), biases ~ N(0, 0.1^2); on `dev`.
inline std::shared_ptr<ParamStore> mlp_store(const nn::MLP& net, uint64_t seed, Device dev) {
  auto store = std::make_shared<ParamStore>();
  net.init(*store, seed);
  int k = 0;
  for (const Var& p : net.params()) {
    if (p.shape().rank() == 1) store->set(p.name(), randn_f32(p.shape(), seed * 1000 + 17 + k, 0.1));
    ++k;
  }
  if (!dev.is_cpu())
    for (auto& name : store->names()) store->set(name, store->get(name).to(dev));
  return store;
}

// Saves parameters as p0, p1, ... in the MLP's order (w0 [in, out], b0, w1, ...) and returns their
// file names for the peer's arguments.
inline std::vector<std::string> save_mlp_params(const Context& ctx, const Case& c, const nn::MLP& net,
                                                const ParamStore& store) {
  std::vector<std::string> files;
  for (const Var& p : net.params()) {
    files.push_back("p" + std::to_string(files.size()));
    ctx.save(c, files.back(), store.get(p.name()));
  }
  return files;
}

inline double param_bytes(const nn::MLP& net) {
  double b = 0;
  for (const Var& p : net.params()) b += static_cast<double>(p.shape().numel()) * 4;
  return b;
}

// 2 m n k summed over the matrix products of the program's optimised graph.
inline double matmul_flops(const Program& p) {
  const Graph& g = p.graph();
  double f = 0;
  for (NodeId i = 0; i < g.size(); ++i) {
    const Node& n = g.node(i);
    if (n.kind != NodeKind::op || !n.attr) continue;
    auto* mm = dynamic_cast<const MatmulAttr*>(n.attr.get());
    if (!mm) continue;
    const Shape& a = g.node(n.inputs[0]).shape;
    const int64_t k = mm->trans_a ? a[a.rank() - 2] : a[a.rank() - 1];
    f += 2.0 * static_cast<double>(n.shape.numel()) * static_cast<double>(k);
  }
  return f;
}

}  // namespace orbit::bench
