// The fusion pass: maximal groups of elementwise ops over one iteration space become one `fused` node
// (engine/fused.h) whose program the CPU and CUDA kernels interpret in one pass over memory.
//
// Grouping, from the graph's end backwards: an unassigned elementwise node starts a group (its root, the
// group's only materialised value); a producer joins when it is elementwise, has the root's shape and
// dtype, is not a requested output, and every one of its consumers is already in the group. Then no value
// inside a group is needed outside it, and a group is convex (no path leaves it and comes back), so the
// rewritten graph stays acyclic and in topological order. Inputs of any broadcastable shape are read with
// broadcast strides; scalar constants become immediates.
//
// A gather (float data, i32 / i64 index, the root's shape) whose consumers are all in a group opens it:
// the group reads the gathered tensor through the index array instead of the gather's output.
// A reduce_sum / reduce_mean (or a segment_sum / segment_mean by sorted ids) whose input is an
// elementwise node read by nothing else closes a group:
// that input is the group's root, grown by the same rule, and the fused node computes the reduction
// itself, so the group's values never go to memory (FuseOptions says where this is allowed).
#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>
#include <string>

#include "engine/builtin_ops.h"
#include "engine/compile/passes.h"
#include "engine/fused.h"
#include "engine/op_registry.h"

namespace orbit::passes {
namespace {

bool fusible(const Node& n) {
  if (n.kind != NodeKind::op || n.op >= id(Op::kCount) || n.op > id(Op::where)) return false;
  if (!is_float(n.dtype)) return false;
  return n.shape.rank() <= scalar::kFusedMaxRank && n.shape.numel() > 0;
}

bool is_scalar_constant(const Node& n) { return n.kind == NodeKind::constant && n.value.numel() == 1; }

// Whether node id holds i32 / i64 indices (what the fused kernels read).
bool index_input(const Graph& g, NodeId id) { return g.node(id).dtype == DType::i32 || g.node(id).dtype == DType::i64; }

// A gather that may open a group: float data, an i32 / i64 index (gathers read its inputs from memory;
// the group does not grow through them).
bool gather_opener(const Graph& g, const Node& n) {
  return is(n, Op::gather) && is_float(n.dtype) && n.shape.rank() <= scalar::kFusedMaxRank && n.shape.numel() > 0 &&
         index_input(g, n.inputs[1]);
}

struct Group {
  NodeId root = -1;
  NodeId closer = -1;           // the closing reduce_sum / reduce_mean, or -1
  std::vector<NodeId> members;  // ascending ids (topological)
  NodeId emitted_at() const { return closer >= 0 ? closer : root; }
};

bool is_sum_or_mean(const Node& n) { return n.kind == NodeKind::op && (is(n, Op::reduce_sum) || is(n, Op::reduce_mean)); }
// A segment sum / mean by ids promised sorted (the deterministic layout every kernel can follow).
bool is_sorted_segment(const Graph& g, const Node& n) {
  return (is(n, Op::segment_sum) || is(n, Op::segment_mean)) && n.attr_as<SegmentAttr>().sorted && index_input(g, n.inputs[1]);
}

// The group's register program, or false when it exceeds the kernels' limits.
bool build_program(const Graph& g, const Group& grp, FusedAttr& a, std::vector<NodeId>& inputs) {
  const Node& root = g.node(grp.root);
  a.shape = root.shape;
  a.dtype = root.dtype;
  NodeId segment_ids = -1;
  if (grp.closer >= 0) {
    const Node& c = g.node(grp.closer);
    if (is_sum_or_mean(c)) {
      const auto& ra = c.attr_as<ReduceAttr>();
      a.reduce = is(c, Op::reduce_mean) ? FusedAttr::mean : FusedAttr::sum;
      a.reduce_axes = ra.axes;
      a.keepdims = ra.keepdims;
    } else {  // a sorted segment sum / mean
      const auto& sa = c.attr_as<SegmentAttr>();
      a.reduce = is(c, Op::segment_mean) ? FusedAttr::mean : FusedAttr::sum;
      a.segment_axis = sa.axis;
      a.num_segments = sa.num_segments;
      segment_ids = c.inputs[1];
    }
  }
  std::set<NodeId> in_group(grp.members.begin(), grp.members.end());
  struct Ins {
    int code;
    int a = 0, b = 0, c = 0;  // value numbers
    double p0 = 0, p1 = 0;
  };
  std::vector<Ins> prog;
  std::map<NodeId, int> value_of;  // node -> value number (= instruction index)
  std::vector<NodeId> index_nodes;  // the gathers' index arrays, each once
  std::vector<int64_t> gathers;     // data input, position in index_nodes, axis
  auto operand = [&](NodeId id) -> int {
    auto it = value_of.find(id);
    if (it != value_of.end()) return it->second;
    const Node& n = g.node(id);
    Ins ins;
    if (is_scalar_constant(n)) {
      ins.code = scalar::f_imm;
      ins.p0 = n.value.at(0);
    } else {
      ins.code = scalar::f_load;
      ins.a = static_cast<int>(inputs.size());
      inputs.push_back(id);
    }
    prog.push_back(ins);
    return value_of[id] = static_cast<int>(prog.size()) - 1;
  };
  std::string names;
  for (NodeId m : grp.members) {
    const Node& n = g.node(m);
    if (is(n, Op::gather)) {  // a load of the gathered tensor through its index array
      Ins ins;
      ins.code = scalar::f_load;
      ins.a = static_cast<int>(inputs.size());
      inputs.push_back(n.inputs[0]);
      auto it = std::find(index_nodes.begin(), index_nodes.end(), n.inputs[1]);
      if (it == index_nodes.end()) it = index_nodes.insert(index_nodes.end(), n.inputs[1]);
      gathers.insert(gathers.end(), {ins.a, it - index_nodes.begin(), n.attr_as<AxisAttr>().axis});
      a.gather_names.push_back(n.name);
      prog.push_back(ins);
      value_of[m] = static_cast<int>(prog.size()) - 1;
      names += (names.empty() ? "" : " ") + std::string("gather");
      continue;
    }
    Ins ins;
    ins.code = n.op;
    int opnd[3] = {0, 0, 0};
    for (size_t k = 0; k < n.inputs.size() && k < 3; ++k) opnd[k] = operand(n.inputs[k]);
    ins.a = opnd[0], ins.b = opnd[1], ins.c = opnd[2];
    if (is(n, Op::pow_scalar)) ins.p0 = n.attr_as<PowScalarAttr>().exponent;
    if (is(n, Op::clamp)) ins.p0 = n.attr_as<ClampAttr>().lo, ins.p1 = n.attr_as<ClampAttr>().hi;
    prog.push_back(ins);
    value_of[m] = static_cast<int>(prog.size()) - 1;
    names += (names.empty() ? "" : " ") + ops().get(n.op).name;
  }
  if (inputs.size() > static_cast<size_t>(scalar::kFusedMaxInputs) || prog.size() > static_cast<size_t>(scalar::kFusedMaxInstrs))
    return false;
  if (segment_ids >= 0) {
    auto it = std::find(index_nodes.begin(), index_nodes.end(), segment_ids);
    if (it == index_nodes.end()) it = index_nodes.insert(index_nodes.end(), segment_ids);
    a.segment_ids = static_cast<int64_t>(inputs.size()) + (it - index_nodes.begin());
  }
  if (index_nodes.size() > static_cast<size_t>(scalar::kFusedMaxInputs)) return false;
  // Index inputs follow the data inputs.
  for (size_t i = 0; i < gathers.size(); i += 3) gathers[i + 1] += static_cast<int64_t>(inputs.size());
  a.gathers = gathers;
  for (NodeId id : index_nodes) a.index_bits.push_back(g.node(id).dtype == DType::i32 ? 32 : 64);
  inputs.insert(inputs.end(), index_nodes.begin(), index_nodes.end());
  // Registers: a value's slot is free after its last reader (an instruction may write the slot it reads).
  const int nv = static_cast<int>(prog.size());
  std::vector<int> last(nv, -1);
  auto arity = [](int code) { return code == scalar::f_where ? 3 : code >= scalar::f_add && code < scalar::f_num_elementwise ? 2 : code < scalar::f_add ? 1 : 0; };
  for (int k = 0; k < nv; ++k) {
    const int r = arity(prog[k].code);
    const int o[3] = {prog[k].a, prog[k].b, prog[k].c};
    for (int j = 0; j < r; ++j) last[o[j]] = k;
  }
  const int out_value = value_of.at(grp.root);
  last[out_value] = nv;  // live to the end
  std::vector<int> slot(nv, -1), free_slots;
  int slots = 0;
  for (int k = 0; k < nv; ++k) {
    const int r = arity(prog[k].code);
    const int o[3] = {prog[k].a, prog[k].b, prog[k].c};
    for (int j = 0; j < r; ++j)
      if (last[o[j]] == k && std::find(free_slots.begin(), free_slots.end(), slot[o[j]]) == free_slots.end())
        free_slots.push_back(slot[o[j]]);
    if (free_slots.empty()) slot[k] = slots++;
    else slot[k] = free_slots.back(), free_slots.pop_back();
    if (last[k] < 0) free_slots.push_back(slot[k]);  // never read (cannot happen for members; harmless)
  }
  if (slots > scalar::kFusedMaxSlots) return false;
  for (int k = 0; k < nv; ++k) {
    const Ins& in = prog[k];
    const int r = arity(in.code);
    const bool load = in.code == scalar::f_load;
    a.code.insert(a.code.end(), {in.code, slot[k], load ? in.a : (r > 0 ? slot[in.a] : 0), r > 1 ? slot[in.b] : 0,
                                 r > 2 ? slot[in.c] : 0});
    a.params.insert(a.params.end(), {in.p0, in.p1});
  }
  a.out_slot = slot[out_value];
  a.slots = slots;
  a.ops = names + (grp.closer < 0 ? ""
                   : a.segmented() ? (a.reduce == FusedAttr::mean ? " | segment_mean" : " | segment_sum")
                                   : (a.reduce == FusedAttr::mean ? " | mean" : " | sum"));
  return true;
}

// Whether the reduction node c may close a group rooted at its input (see FuseOptions).
bool may_close(const Graph& g, const Node& c, const std::vector<std::vector<NodeId>>& consumers,
               const std::set<NodeId>& is_output, const std::vector<int>& group_of, const FuseOptions& o) {
  const bool segment = is_sorted_segment(g, c);
  if (!o.reductions || !(is_sum_or_mean(c) || segment) || !is_float(c.dtype)) return false;
  const NodeId p = c.inputs[0];
  const Node& pn = g.node(p);
  if (group_of[p] >= 0 || !fusible(pn) || is_output.count(p) || consumers[p].size() != 1) return false;
  if (segment) return c.shape.numel() >= o.min_reduce_outputs;
  const auto& axes = c.attr_as<ReduceAttr>().axes;
  if (axes.empty()) return false;
  int64_t extent = 1;
  for (int64_t ax : axes) extent *= pn.shape[static_cast<int>(ax)];
  const int64_t outputs = pn.shape.numel() / std::max<int64_t>(extent, 1);
  if (o.max_reduce_extent > 0 && extent > o.max_reduce_extent) return false;
  const int64_t last = pn.shape.rank() - 1;
  if (!o.innermost_reduce && std::find(axes.begin(), axes.end(), last) != axes.end() &&
      pn.shape[static_cast<int>(last)] > FuseOptions::kMaxInnermostReduce)
    return false;
  return outputs >= o.min_reduce_outputs;
}

}  // namespace

FuseOptions fuse_options_for(Device d) {
  FuseOptions o;
  const char* e = std::getenv("ORBIT_FUSION_REDUCE");
  const std::string v = e ? e : "";
  if (v == "0") {
    o.reductions = false;
  } else if (d.is_cuda()) {
    o.reductions = v == "1" || v == "all";
    o.min_reduce_outputs = 4096;
    o.max_reduce_extent = 1024;
    o.innermost_reduce = v == "all";
  }
  const char* ge = std::getenv("ORBIT_FUSION_GATHER");
  const std::string gv = ge ? ge : "";
  o.gathers = gv == "0" ? false : d.is_cuda() ? gv == "1" : true;
  return o;
}

Rewritten fuse(const Graph& graph, const std::vector<NodeId>& graph_outputs, const FuseOptions& opts) {
  const char* rv = std::getenv("ORBIT_FUSION_RECOMPUTE");  // =0: no copies (to compare)
  Rewritten rec;
  const bool copied = !(rv && std::string(rv) == "0") && recompute_cheap_values(graph, graph_outputs, rec);
  const Graph& g = copied ? rec.graph : graph;
  const std::vector<NodeId>& outputs = copied ? rec.outputs : graph_outputs;
  const int n = g.size();
  std::vector<std::vector<NodeId>> consumers(n);
  for (NodeId i = 0; i < n; ++i)
    for (NodeId in : g.node(i).inputs) consumers[in].push_back(i);
  std::set<NodeId> is_output(outputs.begin(), outputs.end());
  std::vector<int> group_of(n, -1);
  std::vector<Group> groups;
  for (NodeId node = n - 1; node >= 0; --node) {
    if (group_of[node] >= 0) continue;
    const bool closing = may_close(g, g.node(node), consumers, is_output, group_of, opts);
    const NodeId r = closing ? g.node(node).inputs[0] : node;
    const Node& root = g.node(r);
    if (!closing && !fusible(root)) continue;
    std::set<NodeId> members{r};
    for (bool changed = true; changed;) {
      changed = false;
      for (NodeId m : std::vector<NodeId>(members.begin(), members.end())) {
        if (is(g.node(m), Op::gather)) continue;  // an opener: its inputs are read from memory
        for (NodeId p : g.node(m).inputs) {
          const Node& pn = g.node(p);
          const bool opener = opts.gathers && gather_opener(g, pn);
          if (members.count(p) || group_of[p] >= 0 || !(fusible(pn) || opener) || is_output.count(p)) continue;
          if (!(pn.shape == root.shape) || pn.dtype != root.dtype) continue;
          bool all_inside = true;
          for (NodeId c : consumers[p]) all_inside = all_inside && members.count(c);
          if (!all_inside || members.size() >= static_cast<size_t>(scalar::kFusedMaxInstrs / 2)) continue;
          members.insert(p);
          changed = true;
        }
      }
    }
    if (members.size() < (closing ? 1u : 2u)) continue;
    Group grp;
    grp.root = r;
    grp.closer = closing ? node : -1;
    grp.members.assign(members.begin(), members.end());
    const int gid = static_cast<int>(groups.size());
    for (NodeId m : grp.members) group_of[m] = gid;
    if (closing) group_of[node] = gid;
    groups.push_back(std::move(grp));
  }

  Rewritten out;
  std::vector<NodeId> remap(n, -1);
  for (NodeId i = 0; i < n; ++i) {
    const int gid = group_of[i];
    if (gid >= 0 && groups[gid].emitted_at() != i) continue;  // an inner node: computed inside its group
    if (gid >= 0) {
      FusedAttr attr;
      std::vector<NodeId> ins;
      if (build_program(g, groups[gid], attr, ins)) {
        Node node;
        node.kind = NodeKind::op;
        node.op = fused_op();
        node.attr = std::make_shared<FusedAttr>(std::move(attr));
        for (NodeId in : ins) node.inputs.push_back(remap[in]);
        node.shape = g.node(i).shape;  // the root's, or the closing reduction's
        node.dtype = g.node(i).dtype;
        node.name = g.node(i).name;
        remap[i] = out.graph.add_node_unchecked(std::move(node));
        continue;
      }
      // Over the kernels' limits: the group's nodes run unfused, in their original order.
      for (NodeId m : groups[gid].members) {
        if (m == i) break;
        remap[m] = copy_remapped(out.graph, g.node(m), remap);
      }
    }
    remap[i] = copy_remapped(out.graph, g.node(i), remap);
  }
  for (NodeId o : outputs) out.outputs.push_back(remap[o]);
  return out;
}

}  // namespace orbit::passes
