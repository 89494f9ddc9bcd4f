// Recomputation before fusion: a cheap elementwise value read by several elementwise consumers of its
// own shape is computed again inside each of them instead of once into memory.
//
// Fusion only absorbs a producer whose consumers all join the same group, so a value like
// 1 - tanh(z)^2, which a network's derivatives read in several places, stayed a kernel of its own and
// every reader became a one-op kernel around it (a PINN step had 16 lone `mul` kernels that way). A
// copy per reader lets each reader's group absorb it. Only where that costs no memory traffic: the
// value reads at most one tensor of its own size (small broadcast inputs and scalar constants are
// free), so each copy reads that tensor where the reader read the value, and the value itself is no
// longer written; and only a few arithmetic instructions per copy (no transcendental functions).
#include <map>
#include <set>
#include <utility>

#include "engine/builtin_ops.h"
#include "engine/compile/passes.h"

namespace orbit::passes {
namespace {

constexpr int kMaxCopies = 8;  // copies of one value, over all its readers' copies

bool cheap_op(const Node& n) {
  if (n.kind != NodeKind::op || !is_float(n.dtype) || n.shape.numel() <= 0) return false;
  switch (static_cast<Op>(n.op)) {
    case Op::neg: case Op::abs: case Op::square: case Op::relu: case Op::clamp:
    case Op::add: case Op::sub: case Op::mul: case Op::maximum: case Op::minimum:
      return true;
    default: return false;
  }
}

// An elementwise node fusion can group with a value of shape s and dtype t (fusion.cpp's rule).
bool fusible_reader(const Node& n, const Node& value) {
  return n.kind == NodeKind::op && n.op <= id(Op::where) && is_float(n.dtype) && n.shape == value.shape &&
         n.dtype == value.dtype;
}

}  // namespace

bool recompute_cheap_values(const Graph& g, const std::vector<NodeId>& outputs, Rewritten& out) {
  const int n = g.size();
  std::vector<std::vector<NodeId>> readers(n);
  for (NodeId i = 0; i < n; ++i) {
    std::set<NodeId> seen;
    for (NodeId in : g.node(i).inputs)
      if (seen.insert(in).second) readers[in].push_back(i);
  }
  const std::set<NodeId> is_output(outputs.begin(), outputs.end());

  // copies[i]: how many instances of node i the rewritten graph holds. From the end backwards: a
  // recomputable value gets one instance per instance of each reader; instance k of reader r reads
  // instance which[{i, {r, k}}] of i.
  std::vector<int> copies(n, 1);
  std::map<std::pair<NodeId, std::pair<NodeId, int>>, int> which;
  for (NodeId i = n - 1; i >= 0; --i) {
    const Node& v = g.node(i);
    if (readers[i].size() < 1 || is_output.count(i) || !cheap_op(v)) continue;
    int instances = 0;
    bool ok = true;
    for (NodeId r : readers[i]) {
      ok = ok && fusible_reader(g.node(r), v);
      instances += copies[r];
    }
    if (!ok || instances < 2 || instances > kMaxCopies) continue;
    std::set<NodeId> full;  // inputs as large as the value
    for (NodeId in : v.inputs)
      if (g.node(in).shape.numel() == v.shape.numel()) full.insert(in);
    // (Not over a gather: read by one value it opens that value's group; read by copies in several
    // groups it would be materialised.)
    if (full.size() > 1 || (full.size() == 1 && is(g.node(*full.begin()), Op::gather))) continue;
    int k = 0;
    for (NodeId r : readers[i])
      for (int c = 0; c < copies[r]; ++c) which[{i, {r, c}}] = k++;
    copies[i] = instances;
  }
  if (which.empty()) return false;  // nothing to copy: the graph stays as it is

  // Rebuild in order: instance c of node i reads, for each input, the instance assigned to it.
  out = Rewritten{};
  std::vector<std::vector<NodeId>> inst(n);
  for (NodeId i = 0; i < n; ++i) {
    const Node& node = g.node(i);
    for (int c = 0; c < copies[i]; ++c) {
      Node copy = node;
      for (NodeId& in : copy.inputs) {
        auto it = which.find({in, {i, c}});
        in = inst[in][it == which.end() ? 0 : it->second];
      }
      inst[i].push_back(out.graph.add_node_unchecked(std::move(copy)));
    }
  }
  for (NodeId o : outputs) out.outputs.push_back(inst[o][0]);
  return true;
}

}  // namespace orbit::passes
