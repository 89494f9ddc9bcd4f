#include "engine/autodiff.h"

#include <map>
#include <set>
#include <unordered_map>

#include "engine/builtin_ops.h"
#include "engine/op_registry.h"
#include "engine/ops.h"

namespace orbit {

std::vector<Var> grad(Var y, const std::vector<Var>& wrt, Var seed) {
  ORBIT_CHECK(y.valid(), "grad: the output is an empty Var");
  Graph& g = *y.graph();
  for (auto& w : wrt) {
    ORBIT_CHECK(w.valid() && w.graph() == &g, "grad: every wrt must be a node of the output's graph");
    ORBIT_CHECK(is_float(w.dtype()), "grad: cannot differentiate with respect to '", w.name(), "' of dtype ",
                dtype_name(w.dtype()));
  }
  ORBIT_CHECK(is_float(y.dtype()), "grad: output '", y.name(), "' has dtype ", dtype_name(y.dtype()),
              "; only floating outputs are differentiable");
  if (seed.valid()) {
    ORBIT_CHECK(seed.graph() == &g, "grad: the seed belongs to another graph");
    ORBIT_CHECK(seed.shape() == y.shape() && seed.dtype() == y.dtype(), "grad: seed ", g.describe(seed.id()),
                " does not match output ", g.describe(y.id()));
  } else {
    ORBIT_CHECK(y.shape().numel() == 1, "grad: output ", g.describe(y.id()),
                " is not a scalar; pass a seed (the cotangent) or reduce it first, e.g. sum()");
    seed = full(g, 1.0, y.shape(), y.dtype());
  }

  const NodeId top = y.id();
  ORBIT_CHECK(top >= 0 && top < g.size(), "grad: output id out of range");
  // Nodes on a path from some wrt to y: forward-reachable from wrt and backward-reachable from y.
  std::vector<char> from_wrt(top + 1, 0), to_y(top + 1, 0);
  for (auto& w : wrt)
    if (w.id() <= top) from_wrt[w.id()] = 1;
  for (NodeId i = 0; i <= top; ++i) {
    const Node& n = g.node(i);
    for (NodeId in : n.inputs) {
      ORBIT_CHECK(in < i, "grad: node '", n.name, "' reads a later node (the graph has a cycle or was rewired)");
      if (from_wrt[in]) from_wrt[i] = 1;
    }
  }
  to_y[top] = 1;
  for (NodeId i = top; i >= 0; --i)
    if (to_y[i])
      for (NodeId in : g.node(i).inputs) to_y[in] = 1;

  std::unordered_map<NodeId, Var> acc;
  acc[top] = seed;
  for (NodeId i = top; i >= 0; --i) {
    auto it = acc.find(i);
    if (it == acc.end() || !from_wrt[i] || !to_y[i]) continue;
    const Node& n = g.node(i);
    if (n.kind != NodeKind::op) continue;
    const OpDef& def = ops().get(n.op);
    if (def.zero_grad) continue;
    VjpCtx ctx{g, i, it->second};
    std::vector<Var> gs = def.vjp(ctx);
    // A copy: the VJP nodes and the accumulation below grow the graph (and move its nodes).
    const std::vector<NodeId> inputs = g.node(i).inputs;
    ORBIT_CHECK(gs.size() == inputs.size(), "VJP rule of op '", def.name, "' returned ", gs.size(),
                " gradients for ", inputs.size(), " inputs");
    for (size_t k = 0; k < gs.size(); ++k) {
      NodeId in = inputs[k];
      if (!gs[k].valid() || !from_wrt[in] || !is_float(g.node(in).dtype)) continue;
      ORBIT_CHECK(gs[k].shape() == g.node(in).shape, "VJP rule of op '", def.name, "' gave a gradient of shape ",
                  gs[k].shape().str(), " for input ", g.describe(in));
      auto a = acc.find(in);
      if (a == acc.end()) acc[in] = gs[k];
      else a->second = a->second + gs[k];
    }
  }

  std::vector<Var> out;
  for (auto& w : wrt) {
    auto it = acc.find(w.id());
    out.push_back(it != acc.end() && w.id() <= top ? it->second : zeros_like(w));
  }
  return out;
}

Var jvp(Var y, Var x, Var tangent) {
  ORBIT_CHECK(tangent.valid() && tangent.shape() == x.shape() && tangent.dtype() == x.dtype(),
              "jvp: the tangent must match x");
  // u is a dummy cotangent; J^T u is linear in u, and its VJP along `tangent` is J tangent.
  Graph& g = *y.graph();
  Var u = full(g, 0.0, y.shape(), y.dtype());
  Var jt_u = grad(y, {x}, u)[0];
  return grad(sum(jt_u * tangent), {u})[0];
}

std::vector<Var> vjp_by_expansion(VjpCtx& c, const std::function<Var(const std::vector<Var>&)>& expand) {
  std::vector<Var> ins;
  for (size_t i = 0; i < c.n().inputs.size(); ++i) ins.push_back(c.in(static_cast<int>(i)));
  return vjp_by_expansion(c.g, ins, c.grad, expand);
}

std::vector<Var> vjp_by_expansion(Graph& g, const std::vector<Var>& ins, Var cot,
                                  const std::function<Var(const std::vector<Var>&)>& expand) {
  const NodeId first = g.size();
  Var y = expand(ins);
  std::map<NodeId, Var> ct;
  ct[y.id()] = cot;
  for (NodeId id = y.id(); id >= first; --id) {
    auto it = ct.find(id);
    if (it == ct.end() || g.node(id).kind != NodeKind::op) continue;
    const OpDef& def = ops().get(g.node(id).op);
    if (!def.vjp) continue;  // piecewise constant (comparisons, sign): no gradient
    const std::vector<NodeId> node_inputs = g.node(id).inputs;
    VjpCtx ctx{g, id, it->second};
    std::vector<Var> gs = def.vjp(ctx);
    for (size_t k = 0; k < gs.size() && k < node_inputs.size(); ++k) {
      if (!gs[k].valid()) continue;
      Var& acc = ct[node_inputs[k]];
      acc = acc.valid() ? acc + gs[k] : gs[k];
    }
  }
  std::vector<Var> out(ins.size());
  std::set<NodeId> given;
  for (size_t i = 0; i < ins.size(); ++i) {
    auto it = ct.find(ins[i].id());
    if (it != ct.end() && given.insert(ins[i].id()).second) out[i] = it->second;  // a repeated input: once
  }
  return out;
}

}  // namespace orbit
