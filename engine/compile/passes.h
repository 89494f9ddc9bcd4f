// Graph -> graph compiler passes. Each returns a new, topologically ordered graph and the ids of
// the requested outputs in it.
#pragma once
#include <vector>

#include "engine/graph.h"

namespace orbit {
struct CompileOptions;
}

namespace orbit::passes {

struct Rewritten {
  Graph graph;
  std::vector<NodeId> outputs;
};

// Appends a copy of `node` to `out` with its inputs renamed through `remap` (old id -> new id);
// returns the copy's id. The passes rebuild graphs node by node with it.
inline NodeId copy_remapped(Graph& out, const Node& node, const std::vector<NodeId>& remap) {
  Node copy = node;
  for (auto& in : copy.inputs) in = remap[in];
  return out.add_node_unchecked(std::move(copy));
}

// Validates the graph (no cycles, no dangling inputs) and keeps only what the outputs need, in
// topological order. Errors name the nodes on a cycle.
Rewritten prune(const Graph& g, const std::vector<NodeId>& outputs);

// Constant folding, algebraic simplification (x*1, x+0, x*0, zero branches from differentiation,
// identity reshapes / casts / permutes, double negation, matrix products that are outer products,
// broadcasts an elementwise op can read directly) and common-subexpression elimination,
// repeated to a fixed point. The input must be pruned.
Rewritten simplify(const Graph& g, const std::vector<NodeId>& outputs);

// Which gathers may open and which reductions (reduce_sum / reduce_mean, segment_sum / segment_mean by
// sorted ids) may close a fused group.
struct FuseOptions {
  bool gathers = true;  // gathers may open groups
  bool reductions = true;
  int64_t min_reduce_outputs = 0;  // at least this many output elements
  int64_t max_reduce_extent = 0;   // at most this many elements summed per output (0: any)
  // Sums over the space's last axis (of more than kMaxInnermostReduce elements) may close groups too.
  // The CUDA kernels gave each output a thread that walks its own values: over the last axis, a warp's
  // 32 threads then read 32 separate rows per load instead of one coalesced line, which made fused
  // groups closed that way slower than the unfused reduction on an H200 (2026-11-28). The generated
  // kernel now gives such sums 8 lanes per output (engine/compile/cuda_codegen.cpp), not yet timed:
  // until then CUDA keeps this off unless ORBIT_FUSION_REDUCE=all.
  bool innermost_reduce = true;
  static constexpr int64_t kMaxInnermostReduce = 4;
};
// The options compile() uses on `device`: on the CPU every sum / mean may close a group; on CUDA only
// ORBIT_FUSION_REDUCE=1 allows it (opt-in until timed to win), and then where there are >= 4096 outputs
// of <= 1024 elements each and the last axis is not summed (a thread per output: the generated and
// interpreting kernels' layout); ORBIT_FUSION_REDUCE=all drops the last condition (the 2026-11-28
// behaviour, for comparison). ORBIT_FUSION_REDUCE=0 turns it off everywhere. Gathers open groups on the CPU; on CUDA only with
// ORBIT_FUSION_GATHER=1 (correct on an H200, not yet timed); ORBIT_FUSION_GATHER=0 turns it off everywhere.
FuseOptions fuse_options_for(Device d);

// Recomputation (engine/compile/recompute.cpp), fusion's first step: a cheap elementwise value (a few
// arithmetic ops reading at most one tensor of its own size) whose readers are all elementwise of its
// shape gets a copy per reader, so each reader's fused group computes it instead of reading it. False
// (and `out` untouched) when no value qualifies.
bool recompute_cheap_values(const Graph& g, const std::vector<NodeId>& outputs, Rewritten& out);

// Fusion (engine/compile/fusion.cpp): maximal groups of elementwise ops over one iteration space become
// one `fused` node each, optionally opened by gathers and closed by a (segment) sum or mean. The input
// must be pruned (topologically ordered).
Rewritten fuse(const Graph& g, const std::vector<NodeId>& outputs, const FuseOptions& opts = {});

// MLP fusion (engine/compile/mlp_fusion.cpp): chains of at least two layers act(matmul(h, W) + b) (h 2-D,
// no transposes, W and b leaves, b [out] broadcast over rows, every width <= 128, the activation one of
// engine/mlp_fused.h's or none) whose intermediates nothing else reads become one `mlp_fused` node each,
// longest chains first. The input must be pruned (topologically ordered).
Rewritten fuse_mlp(const Graph& g, const std::vector<NodeId>& outputs);
// Whether compile() runs fuse_mlp: off under NumericsCheck::all and Fusion::off, on under Fusion::on;
// otherwise ORBIT_MLP_FUSION=0|1, then ORBIT_FUSION=0 (off), decide, and the default is on (CPU and CUDA).
bool mlp_fusion_enabled(const CompileOptions& o, Device d);

// What running a lowered graph costs in launches and memory traffic, by a simple model: every op node
// but a reshape that is not an output (a view) is one kernel that reads each of its distinct inputs once
// and writes its output once. Static, so it compares pipelines (and devices) on any machine; caches make
// the real traffic lower.
struct KernelTraffic {
  int kernels = 0;
  int64_t bytes = 0;
};
KernelTraffic kernel_traffic(const Graph& g, const std::vector<NodeId>& outputs);

// compile()'s graph-to-graph pipeline for `device` (engine/program.cpp): simplification (or pruning
// without opts.optimize), the EGNN message expansion where the device wants it, MLP fusion where
// enabled, then elementwise fusion with fuse_options_for(device) when `elementwise_fusion`. The
// kernel emitter (engine/compile/emit_cuda.cpp) runs the same pipeline for CUDA on any machine.
Rewritten lower_for_device(const Graph& g, const std::vector<NodeId>& outputs, const CompileOptions& opts,
                           Device device, bool elementwise_fusion);

}  // namespace orbit::passes
