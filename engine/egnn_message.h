// The fused message-passing op of the dense EGNN layer (issue 7): the per-edge work of one E_GCL layer
// with one vector channel (plain EGNN, EGNN_vel, iDEM's EGNN_dynamics) on B complete graphs of n nodes,
// without materialising any [B, n, n, H] edge tensor.
//
// Inputs (weights in the "in x out" layout of models/egnn/linear.h: y = x W + b):
//   P [B, n, H]   receiver part of the first edge layer, its bias included (h W_recv + b1)
//   Q [B, n, H]   sender part (h W_send)
//   x [B, n, d]   positions
//   w_r [H]       the radial row of the first edge layer
//   W2 [H, H], b2 [H]     second edge layer
//   W3 [H, H], b3 [H]     first coordinate layer
//   w4 [H]                second coordinate layer (no bias)
//   then, with edge_attr E > 0: a [B, n, n, E] (exactly; egnn_message() broadcasts) and W_a [E, H]
//   then, with attention: w_att [H], b_att [1]
// Per edge (i receiver, j sender; j != i unless self_loops):
//   D = x_i - x_j, r = |D|^2; norm_diff: D <- D / (sqrt(r + 1e-8) + 1)
//   pre = P_i + Q_j + r w_r + a_ij W_a;  m = act(act(pre) W2 + b2);  attention: m *= sigmoid(m.w_att + b_att)
//   w = act(m W3 + b3).w4;  tanh: w = coords_range tanh(w);  t = D w, clamped to +-coord_clamp if > 0
// Output [B, n, H + d]: [..., :H] = sum_j m_ij, [..., H:] = sum_j t_ij (sums; a mean is a scale outside).
// act is silu (the EGNN / iDEM activation) throughout; models fall back to the generic path for others.
//
// The VJP is a second fused op, egnn_message_vjp (the forward inputs, then the cotangent G [B, n, H + d]),
// that recomputes the edges tile by tile and returns every input's gradient, flattened and concatenated
// in input order (egnn_message_grad_offsets). Its own VJP expands it into primitive ops (the forward
// expansion and that expansion's VJP sweep), so gradients of any order work and no op is a dead end.
#pragma once
#include <string>
#include <vector>

#include "engine/graph.h"

namespace orbit {

struct EgnnMessageAttr : Attr<EgnnMessageAttr> {
  static constexpr const char* kName = "egnn_message";
  int64_t edge_attr = 0;  // E (0: no a, W_a inputs)
  bool attention = false;
  bool norm_diff = false;
  bool tanh = false;
  double coords_range = 1.0;  // with tanh
  double coord_clamp = 0;     // > 0: clamp t to +-coord_clamp (per component) before the sum
  bool self_loops = false;    // include the edges i = i
  // false: compile() for CUDA expands the node into primitive ops (expand_egnn_messages) instead of
  // running the fused CUDA kernel, which has not been run on a GPU yet. The CPU always runs the kernel.
  bool cuda_fused = true;
  auto fields() const {
    return std::tie(edge_attr, attention, norm_diff, tanh, coords_range, coord_clamp, self_loops, cuda_fused);
  }
  int num_inputs() const { return 9 + (edge_attr > 0 ? 2 : 0) + (attention ? 2 : 0); }
};

struct EgnnMessageVjpAttr : Attr<EgnnMessageVjpAttr> {
  static constexpr const char* kName = "egnn_message_vjp";
  EgnnMessageAttr fwd;
  auto fields() const { return fwd.fields(); }
};

// Input positions (optional inputs follow the fixed ones).
namespace egnn_msg {
enum : int { P = 0, Q = 1, X = 2, WR = 3, W2 = 4, B2 = 5, W3 = 6, B3 = 7, W4 = 8, kFixed = 9 };
inline int a_index(const EgnnMessageAttr& a) { return a.edge_attr > 0 ? kFixed : -1; }
inline int wa_index(const EgnnMessageAttr& a) { return a.edge_attr > 0 ? kFixed + 1 : -1; }
inline int watt_index(const EgnnMessageAttr& a) { return a.attention ? kFixed + (a.edge_attr > 0 ? 2 : 0) : -1; }
inline int batt_index(const EgnnMessageAttr& a) { return a.attention ? watt_index(a) + 1 : -1; }
}  // namespace egnn_msg

OpId egnn_message_op();
OpId egnn_message_vjp_op();

struct EgnnMessageWeights {
  Var w_r, W2, b2, W3, b3, w4;
  Var a, W_a;       // with edge attributes (a may broadcast over [B, n, n])
  Var w_att, b_att; // with attention
};

// The fused node; returns [B, n, H + d] (see above). Shapes are checked with errors naming the input.
Var egnn_message(Var P, Var Q, Var x, const EgnnMessageWeights& w, const EgnnMessageAttr& attr,
                 const std::string& name = "");
// The node's output split: [B, n, H] (sum of messages) and [B, n, d] (sum of coordinate updates).
Var egnn_message_magg(Var out, int64_t H);
Var egnn_message_xagg(Var out, int64_t H);

// The same computation in primitive ops (broadcasts over [B, n, n, ...], matmul, silu, masked sums).
Var expand_egnn_message(const EgnnMessageAttr& attr, const std::vector<Var>& inputs);

// The compiler's hook (engine/program.cpp): on CUDA, every egnn_message / egnn_message_vjp node with
// cuda_fused = false is replaced by its expansion into primitive ops (the graph stays topologically
// ordered). Returns false, leaving `graph` / `outputs` alone, when there is no such node.
// ORBIT_EGNN_FUSED=forward: the egnn_message_vjp nodes are expanded on CUDA whatever their cuda_fused
// (the forward runs the fused kernel, the backward the generic ops), read at every call.
bool expand_egnn_messages(Graph& graph, std::vector<NodeId>& outputs, Device device);
bool egnn_cuda_vjp_expanded();

// Element offsets of each input's gradient in egnn_message_vjp's flat output (inputs.size() + 1 entries,
// the last one the total), for the inputs' shapes.
std::vector<int64_t> egnn_message_grad_offsets(const std::vector<Shape>& input_shapes);

}  // namespace orbit
