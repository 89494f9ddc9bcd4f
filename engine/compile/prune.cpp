#include <string>

#include "engine/compile/passes.h"

namespace orbit::passes {

Rewritten prune(const Graph& g, const std::vector<NodeId>& outputs) {
  const int n = g.size();
  // Iterative DFS with colours: 0 unseen, 1 on the stack, 2 done. Post-order is topological.
  std::vector<char> colour(n, 0);
  std::vector<NodeId> order;
  std::vector<std::pair<NodeId, size_t>> stack;
  for (NodeId root : outputs) {
    ORBIT_CHECK(root >= 0 && root < n, "compile: output id ", root, " is not a node of the graph");
    if (colour[root]) continue;
    stack.push_back({root, 0});
    colour[root] = 1;
    while (!stack.empty()) {
      auto& [id, next] = stack.back();
      const Node& node = g.node(id);
      if (next < node.inputs.size()) {
        NodeId in = node.inputs[next++];
        ORBIT_CHECK(in >= 0 && in < n, "compile: node '", node.name, "' has a dangling input (id ", in, ")");
        if (colour[in] == 1) {
          std::string cycle = "'" + g.node(in).name + "'";
          for (auto it = stack.rbegin(); it != stack.rend() && it->first != in; ++it)
            cycle = "'" + g.node(it->first).name + "' -> " + cycle;
          throw Error("compile: the graph has a cycle: '" + g.node(in).name + "' -> " + cycle);
        }
        if (colour[in] == 0) {
          colour[in] = 1;
          stack.push_back({in, 0});
        }
      } else {
        colour[id] = 2;
        order.push_back(id);
        stack.pop_back();
      }
    }
  }
  Rewritten r;
  std::vector<NodeId> remap(n, -1);
  for (NodeId old : order) {
    remap[old] = copy_remapped(r.graph, g.node(old), remap);
  }
  for (NodeId o : outputs) r.outputs.push_back(remap[o]);
  return r;
}

}  // namespace orbit::passes
