// The E(n)-equivariant graph convolutional layer (E_GCL, Satorras et al. 2021) with every variant
// the EGNN, EGNN_vel, iDEM (EGNN_dynamics) and multi-channel EGNN (Levy et al. 2023) codes use.
// Node i carries invariant features h_i [F] and m vector channels X_i [d, m] (m = 1: plain EGNN).
//
//   D_ij  = X_i - X_j,  r_ij = (||D_ij[:, l]||^2)_l              (channel-wise squared norms)
//   D_ij <- D_ij / (sqrt(r_ij + 1e-8) + 1)                       (norm_diff)
//   m_ij  = phi_e([h_i, h_j, r_ij, a_ij])                         (Lin-act-Lin-act)
//   m_ij <- m_ij * sigmoid(Lin_{H->1}(m_ij))                      (attention)
//   W_ij  = reshape(phi_x(m_ij), m_in x m_out)                    (Lin-act-Lin(no bias, xavier 1e-3))
//   W_ij <- coords_range * tanh(W_ij)                             (tanh)
//   X_i'  = X~_i + agg_j clamp(D_ij W_ij, +-clamp)                 (sum or mean over j; clamp 0 = none)
//   X_i' += v_i (sum_l psi_l.(h_i))      psi = reshape(phi_v(h_i), m_in x m_out)   (velocity; v has one channel)
//   h_i'  = h_i + phi_h([h_i, sum_j m_ij (, node_attr_i)])          (recurrent; Lin-act-Lin)
// with X~ = X (keep), x repeated to m_out channels (replicate: m_in = 1, the first layer) or the mean
// over the channels repeated (mean: the last layer). The coordinate update uses the pre-update h.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/graph.h"
#include "engine/param_store.h"
#include "models/egnn/graph.h"
#include "models/egnn/linear.h"
#include "models/nn/mlp.h"

namespace orbit::egnn {

enum class ChannelInit { keep, replicate, mean };

// Whether a layer on a dense Connectivity uses the fused message-passing op (engine/egnn_message.h):
// possible when ch_in = ch_out = 1, act = silu and the coordinates are updated; otherwise (and on
// sparse graphs) the generic path runs. automatic: on, unless ORBIT_EGNN_FUSED=0 (=1: on); the
// environment variable is read once and overrides only `automatic`. Under `automatic` the node runs
// fused on the CPU and is expanded into the generic ops when compiled for CUDA (its kernel has not
// been run on a GPU yet); `on` runs the fused kernel on both. ORBIT_EGNN_FUSED=forward runs the fused
// forward on CUDA too (f32: the tensor-core kernel) and expands only its VJP there.
enum class FusedMessage { automatic, on, off };

struct LayerOptions {
  int64_t node_in = 64;   // F (h's width)
  int64_t hidden = 64;    // width of the edge, node and coordinate MLPs
  int64_t node_out = 64;  // width of h' (= node_in when recurrent)
  int64_t edge_attr = 0;  // width of a_ij (0: none)
  int64_t node_attr = 0;  // width of the extra node input to phi_h (0: none)
  int64_t ch_in = 1, ch_out = 1;
  ChannelInit channel_init = ChannelInit::keep;
  bool attention = false;
  bool norm_diff = false;
  bool tanh = false;
  double coords_range = 1.0;  // with tanh
  Agg coord_agg = Agg::sum;
  Agg node_agg = Agg::sum;
  double coord_clamp = 0;  // clamp D W to +-coord_clamp before aggregation (0: no clamp)
  bool recurrent = true;
  bool velocity = false;      // the EGNN_vel term
  bool update_coords = true;
  nn::Activation act = nn::Activation::silu;
  FusedMessage fused_message = FusedMessage::automatic;
};

class EGCL {
 public:
  EGCL(Graph& g, const std::string& name, const LayerOptions& opt, DType dtype = DType::f32);

  struct Out {
    Var h;  // node lead + [node_out]
    Var x;  // node lead + [d, ch_out]
  };
  // h: node lead + [node_in]; x: node lead + [d, ch_in]; edge_attr: edge lead + [edge_attr] (dense:
  // broadcastable over the two node axes); vel: node lead + [d, 1]; node_attr: node lead + [node_attr].
  Out operator()(const Connectivity& c, Var h, Var x, Var edge_attr = Var(), Var vel = Var(),
                 Var node_attr = Var()) const;

  void init(ParamStore& store, uint64_t seed) const;  // torch defaults; phi_x's last layer xavier(0.001)
  const std::vector<Var>& params() const { return params_; }
  const LayerOptions& options() const { return opt_; }
  // Whether operator() on connectivity c takes the fused message-passing op.
  bool uses_fused_message(const Connectivity& c) const;

 private:
  Out fused(const Connectivity& c, Var h, Var x, Var edge_attr, Var vel, Var node_attr) const;
  // The coordinate and node updates from the aggregated coordinate updates and messages.
  Out finish(const Connectivity& c, Var h, Var x, Var agg, Var magg, Var vel, Var node_attr) const;

  std::string name_;
  LayerOptions opt_;
  Linear e1_, e2_, att_, x1_, x2_, v1_, v2_, h1_, h2_;
  std::vector<Var> params_;
};

}  // namespace orbit::egnn
