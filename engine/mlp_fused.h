// The fused MLP op (tiny-cuda-nn style): y = act_L(... act_1(x W_1 + b_1) ... W_L + b_L) in one kernel.
// Inputs: x [N, in], then W_l [in_l, out_l] and b_l [out_l] for each layer (in_{l+1} = out_l); the
// attribute holds one activation per layer. The compiler's MLP pass (engine/compile/mlp_fusion.cpp,
// passes::fuse_mlp) puts it in place of chains act(matmul(h, W) + b) whose intermediates nothing else
// reads; row tiles then go through every layer on chip (CUDA) or in cache (CPU). It is a full op: its
// VJP expands it into matmul, add and the activations, so gradients of any order work as unfused.
#pragma once
#include <ostream>
#include <string>
#include <vector>

#include "engine/graph.h"
#include "kernels/scalar/mlp_act.h"

namespace orbit {

using MlpAct = scalar::MlpAct;

}  // namespace orbit

namespace orbit::scalar {
// How attribute printing (engine/attrs.h) writes an activation: found by argument-dependent lookup.
inline void put(std::ostream& os, MlpAct a) { os << mlp_act_name(a); }
}  // namespace orbit::scalar

namespace orbit {

struct MlpFusedAttr : Attr<MlpFusedAttr> {
  static constexpr const char* kName = "mlp_fused";
  std::vector<MlpAct> acts;  // one per layer; identity for a layer without activation
  auto fields() const { return std::tie(acts); }
  int layers() const { return static_cast<int>(acts.size()); }
};

// The op's id (registered on first use).
OpId mlp_fused_op();

// The activation op that `act` stands for ("relu", ...; "identity" for none).
const char* mlp_act_op_name(MlpAct act);

// A fused MLP node: x [N, in], w[l] [in_l, out_l], b[l] [out_l], acts[l] after layer l.
Var mlp_fused(Var x, const std::vector<Var>& w, const std::vector<Var>& b, const std::vector<MlpAct>& acts,
              const std::string& name = "");

// The same network built from primitive ops (matmul, add, the activations) over the fused node's inputs
// (x, W_0, b_0, W_1, b_1, ...), in the graph of the inputs.
Var expand_mlp_fused(const MlpFusedAttr& attr, const std::vector<Var>& inputs);

// How the activation op is applied in a graph (identity: x itself).
Var apply_mlp_act(MlpAct act, Var x);

}  // namespace orbit
