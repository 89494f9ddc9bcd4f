// Reverse-mode autodiff as a graph -> graph transform. grad() appends VJP nodes to the same graph;
// since every VJP rule emits only differentiable ops, grad() of a grad() works to any order.
#pragma once
#include <functional>
#include <vector>

#include "engine/graph.h"

namespace orbit {

struct VjpCtx;  // engine/op_registry.h

// Gradients of y with respect to each of `wrt`. y must be a scalar (any rank with one element)
// unless `seed` (the cotangent, shaped like y) is given. A wrt that y does not depend on gets zeros.
std::vector<Var> grad(Var y, const std::vector<Var>& wrt, Var seed = Var());

// Forward-mode derivative (a JVP) through the reverse transform: the directional derivative of y
// along `tangent` at `x`, computed as the VJP of a VJP (so it is itself differentiable).
Var jvp(Var y, Var x, Var tangent);

// The VJP rule of a composite op (the fused elementwise op, mlp_fused): `expand` rebuilds the op's
// output from primitive ops over its inputs, then a reverse sweep runs over the nodes `expand` added
// alone, with their own VJP rules. (Not grad(): the inputs may depend on one another, e.g. b and
// square(b), and a sweep that went on past them would count such paths twice.) An input given twice
// gets its gradient once. `expand` must not read the node's attributes through the graph (building
// nodes may move its storage): capture a copy.
std::vector<Var> vjp_by_expansion(VjpCtx& c, const std::function<Var(const std::vector<Var>&)>& expand);
// The same sweep for inputs `ins` of graph g and cotangent `cot` of expand(ins)'s output, without a node
// to differentiate (a composite VJP op's own expansion builds its gradients with it).
std::vector<Var> vjp_by_expansion(Graph& g, const std::vector<Var>& ins, Var cot,
                                  const std::function<Var(const std::vector<Var>&)>& expand);

}  // namespace orbit
