// passes::kernel_traffic: launches and modeled memory traffic of a lowered graph (engine/compile/passes.h).
#include <set>

#include "engine/builtin_ops.h"
#include "engine/compile/passes.h"

namespace orbit::passes {

KernelTraffic kernel_traffic(const Graph& g, const std::vector<NodeId>& outputs) {
  const std::set<NodeId> is_output(outputs.begin(), outputs.end());
  auto bytes_of = [&](NodeId i) { return g.node(i).shape.numel() * static_cast<int64_t>(dtype_size(g.node(i).dtype)); };
  KernelTraffic t;
  for (NodeId i = 0; i < g.size(); ++i) {
    const Node& n = g.node(i);
    if (n.kind != NodeKind::op || (is(n, Op::reshape) && !is_output.count(i))) continue;
    ++t.kernels;
    t.bytes += bytes_of(i);
    for (NodeId in : std::set<NodeId>(n.inputs.begin(), n.inputs.end())) t.bytes += bytes_of(in);
  }
  return t;
}

}  // namespace orbit::passes
