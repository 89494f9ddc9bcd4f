// The MLP pass: chains of dense layers act(matmul(h, W) + b) become one `mlp_fused` node
// (engine/mlp_fused.h) whose kernels keep a tile of rows on chip through every layer.
//
// A layer: m = matmul(h, W) (no transposes, h [N, in] 2-D, W [in, out] a leaf: parameter, input or
// constant), a = add(m, b) or add(b, m) with b [out] a leaf, then optionally one activation (relu, tanh,
// silu, sigmoid, gelu, softplus) of a. m, and a when an activation follows, must have no other consumer
// and not be requested outputs. A chain goes on while a layer's output has exactly one consumer, the next
// layer's matmul (as its left operand), and is not a requested output. Scanning matmuls in topological
// order gives each chain from its first layer, so chains are the longest possible; a chain shorter than two
// layers is left alone (in training graphs the backward pass reads every hidden activation, so only lone
// last layers would qualify). The fused node takes the place of the chain's last node: its inputs (x and
// the leaves) all come earlier, and no node outside the chain reads an inner node, so the graph stays in
// topological order.
#include <cstdlib>
#include <optional>
#include <set>
#include <string>

#include "engine/builtin_ops.h"
#include "engine/compile/passes.h"
#include "engine/mlp_fused.h"
#include "engine/op_registry.h"
#include "engine/program.h"

namespace orbit::passes {
namespace {

constexpr int64_t kMaxWidth = 128;  // the CUDA kernel's on-chip limit (kernels/cuda/mlp_fused.h)

bool is_leaf(const Node& n) {
  return n.kind == NodeKind::input || n.kind == NodeKind::parameter || n.kind == NodeKind::constant;
}

std::optional<MlpAct> activation_of(const Node& n) {
  if (n.kind != NodeKind::op) return std::nullopt;
  if (is(n, Op::relu)) return MlpAct::relu;
  if (is(n, Op::tanh)) return MlpAct::tanh;
  if (is(n, Op::silu)) return MlpAct::silu;
  if (is(n, Op::sigmoid)) return MlpAct::sigmoid;
  if (is(n, Op::gelu)) return MlpAct::gelu;
  if (is(n, Op::softplus)) return MlpAct::softplus;
  return std::nullopt;
}

struct Layer {
  NodeId mm = -1, add = -1, act_node = -1, out = -1;
  NodeId h = -1, w = -1, b = -1;
  MlpAct act = MlpAct::identity;
};

struct Matcher {
  const Graph& g;
  const std::vector<std::vector<NodeId>>& consumers;
  const std::set<NodeId>& is_output;

  bool only_consumer(NodeId n, NodeId& c) const {
    if (is_output.count(n) || consumers[n].size() != 1) return false;
    c = consumers[n][0];
    return true;
  }

  std::optional<Layer> layer(NodeId mm) const {
    const Node& m = g.node(mm);
    if (!is(m, Op::matmul) || m.inputs.size() != 2) return std::nullopt;
    const auto& ma = m.attr_as<MatmulAttr>();
    if (ma.trans_a || ma.trans_b) return std::nullopt;
    if (m.dtype != DType::f32 && m.dtype != DType::f64) return std::nullopt;
    const Node& h = g.node(m.inputs[0]);
    const Node& w = g.node(m.inputs[1]);
    if (h.shape.rank() != 2 || w.shape.rank() != 2 || !is_leaf(w) || m.inputs[0] == m.inputs[1]) return std::nullopt;
    if (h.shape[0] < 1 || h.shape[1] < 1 || w.shape[1] < 1 || h.shape[1] > kMaxWidth || w.shape[1] > kMaxWidth)
      return std::nullopt;
    Layer L;
    L.mm = mm;
    L.h = m.inputs[0];
    L.w = m.inputs[1];
    if (!only_consumer(mm, L.add)) return std::nullopt;
    const Node& a = g.node(L.add);
    if (!is(a, Op::add) || a.inputs.size() != 2 || !(a.shape == m.shape) || a.dtype != m.dtype) return std::nullopt;
    if (a.inputs[0] == mm && a.inputs[1] != mm) L.b = a.inputs[1];
    else if (a.inputs[1] == mm && a.inputs[0] != mm) L.b = a.inputs[0];
    else return std::nullopt;
    const Node& b = g.node(L.b);
    if (!is_leaf(b) || b.dtype != m.dtype || b.shape.rank() != 1 || b.shape[0] != w.shape[1]) return std::nullopt;
    L.out = L.add;
    NodeId c;
    if (only_consumer(L.add, c)) {
      const Node& cn = g.node(c);
      if (auto act = activation_of(cn); act && cn.inputs.size() == 1 && cn.inputs[0] == L.add) {
        L.act = *act;
        L.act_node = c;
        L.out = c;
      }
    }
    return L;
  }

  // The next layer of a chain whose last layer ends in `out`, if it continues.
  std::optional<Layer> next(NodeId out) const {
    NodeId c;
    if (!only_consumer(out, c)) return std::nullopt;
    const Node& cn = g.node(c);
    if (!is(cn, Op::matmul) || cn.inputs.size() != 2 || cn.inputs[0] != out) return std::nullopt;
    return layer(c);
  }
};

}  // namespace

bool mlp_fusion_enabled(const CompileOptions& o, Device d) {
  (void)d;  // on for both devices: the CPU and CUDA kernels both beat the per-layer programs
  if (o.numerics == NumericsCheck::all || o.fusion == CompileOptions::Fusion::off) return false;
  if (o.fusion == CompileOptions::Fusion::on) return true;
  const char* e = std::getenv("ORBIT_MLP_FUSION");
  if (e && std::string(e) == "0") return false;
  if (e && std::string(e) == "1") return true;
  const char* f = std::getenv("ORBIT_FUSION");
  if (f && std::string(f) == "0") return false;
  return true;
}

Rewritten fuse_mlp(const Graph& g, const std::vector<NodeId>& outputs) {
  const int n = g.size();
  std::vector<std::vector<NodeId>> consumers(n);
  for (NodeId i = 0; i < n; ++i)
    for (NodeId in : g.node(i).inputs) consumers[in].push_back(i);
  const std::set<NodeId> is_output(outputs.begin(), outputs.end());
  const Matcher match{g, consumers, is_output};

  std::vector<std::vector<Layer>> chains;
  std::vector<int> chain_of(n, -1);  // every node of a chain (matmuls, adds, activations)
  for (NodeId i = 0; i < n; ++i) {
    if (chain_of[i] >= 0 || !is(g.node(i), Op::matmul)) continue;
    std::optional<Layer> l = match.layer(i);
    if (!l) continue;
    std::vector<Layer> chain{*l};
    while (static_cast<int>(chain.size()) < scalar::kMlpMaxLayers) {
      std::optional<Layer> nx = match.next(chain.back().out);
      if (!nx) break;
      chain.push_back(*nx);
    }
    if (chain.size() < 2) continue;
    const int cid = static_cast<int>(chains.size());
    for (const Layer& L : chain)
      for (NodeId m : {L.mm, L.add, L.act_node})
        if (m >= 0) chain_of[m] = cid;
    chains.push_back(std::move(chain));
  }

  Rewritten out;
  std::vector<NodeId> remap(n, -1);
  for (NodeId i = 0; i < n; ++i) {
    const int cid = chain_of[i];
    if (cid >= 0 && chains[cid].back().out != i) continue;  // inside a chain: computed by the fused node
    if (cid >= 0) {
      const std::vector<Layer>& chain = chains[cid];
      auto attr = std::make_shared<MlpFusedAttr>();
      Node node;
      node.kind = NodeKind::op;
      node.op = mlp_fused_op();
      node.inputs.push_back(remap[chain.front().h]);
      for (const Layer& L : chain) {
        node.inputs.push_back(remap[L.w]);
        node.inputs.push_back(remap[L.b]);
        attr->acts.push_back(L.act);
      }
      node.attr = std::move(attr);
      node.shape = g.node(i).shape;
      node.dtype = g.node(i).dtype;
      node.name = g.node(i).name;
      remap[i] = out.graph.add_node_unchecked(std::move(node));
      continue;
    }
    remap[i] = copy_remapped(out.graph, g.node(i), remap);
  }
  for (NodeId o : outputs) out.outputs.push_back(remap[o]);
  return out;
}

}  // namespace orbit::passes
