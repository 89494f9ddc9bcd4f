// Reverse-mode autodiff as a graph -> graph transform. grad() appends VJP nodes to the same graph;
// since every VJP rule emits only differentiable ops, grad() of a grad() works to any order.
#pragma once
#include <vector>

#include "engine/graph.h"

namespace orbit {

// Gradients of y with respect to each of `wrt`. y must be a scalar (any rank with one element)
// unless `seed` (the cotangent, shaped like y) is given. A wrt that y does not depend on gets zeros.
std::vector<Var> grad(Var y, const std::vector<Var>& wrt, Var seed = Var());

// Forward-mode derivative (a JVP) through the reverse transform: the directional derivative of y
// along `tangent` at `x`, computed as the VJP of a VJP (so it is itself differentiable).
Var jvp(Var y, Var x, Var tangent);

}  // namespace orbit
