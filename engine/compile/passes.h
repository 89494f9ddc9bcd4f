// Graph -> graph compiler passes. Each returns a new, topologically ordered graph and the ids of
// the requested outputs in it.
#pragma once
#include <vector>

#include "engine/graph.h"

namespace orbit::passes {

struct Rewritten {
  Graph graph;
  std::vector<NodeId> outputs;
};

// Validates the graph (no cycles, no dangling inputs) and keeps only what the outputs need, in
// topological order. Errors name the nodes on a cycle.
Rewritten prune(const Graph& g, const std::vector<NodeId>& outputs);

// Constant folding, algebraic simplification (x*1, x+0, x*0, zero branches from differentiation,
// identity reshapes / casts / permutes, double negation) and common-subexpression elimination,
// repeated to a fixed point. The input must be pruned.
Rewritten simplify(const Graph& g, const std::vector<NodeId>& outputs);

// Fusion (engine/compile/fusion.cpp): maximal groups of elementwise ops over one iteration space become
// one `fused` node each. The input must be pruned (topologically ordered).
Rewritten fuse(const Graph& g, const std::vector<NodeId>& outputs);

}  // namespace orbit::passes
