// EGNN (Satorras et al. 2021) as a graph builder: an input embedding Linear(node_in -> hidden) and L
// E_GCL layers with one vector channel. With `velocity` it is EGNN_vel (the N-body model); with
// norm_diff + attention + tanh + sum aggregation it is the network of iDEM's EGNN_dynamics, which
// `Dynamics` wraps: the score network s(t, x) for n particles in `dim` dimensions.
//
//   Dynamics dyn(g, "score", {.n_particles = 13, .dim = 3, .hidden = 128, .layers = 5});
//   Var s = dyn(t /* [B, 1] */, x /* [B, n * dim] */);  // [B, n * dim], mean-free over particles
//   dyn.init(*store, seed);                                // parameters "score/..." in a ParamStore
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "models/egnn/egcl.h"

namespace orbit::egnn {

struct EGNNConfig {
  int64_t node_in = 1;    // width of the input node features h^0
  int64_t edge_attr = 0;  // width of the edge attributes a_ij (0: none)
  int64_t node_attr = 0;  // width of extra node inputs to every phi_h (0: none)
  int64_t hidden = 64;
  int64_t layers = 4;
  bool attention = false;
  bool norm_diff = false;
  bool tanh = false;
  double coords_range = 1.0;
  Agg coord_agg = Agg::mean;
  Agg node_agg = Agg::sum;
  double coord_clamp = 100;  // 0: none
  bool recurrent = true;
  bool velocity = false;
  nn::Activation act = nn::Activation::silu;
  FusedMessage fused_message = FusedMessage::automatic;  // every layer's (models/egnn/egcl.h)

  LayerOptions layer() const;  // the per-layer options (one channel)
  void validate() const;
  std::string json() const;
};

class EGNN {
 public:
  EGNN(Graph& g, const std::string& name, const EGNNConfig& cfg, DType dtype = DType::f32);

  struct Out {
    Var h;  // node lead + [hidden]
    Var x;  // node lead + [d]
  };
  // h: node lead + [node_in]; x: node lead + [d]; vel: node lead + [d] (with `velocity`).
  Out operator()(const Connectivity& c, Var h, Var x, Var edge_attr = Var(), Var vel = Var(),
                 Var node_attr = Var()) const;
  void init(ParamStore& store, uint64_t seed) const;
  const std::vector<Var>& params() const { return params_; }
  const EGNNConfig& config() const { return cfg_; }

 private:
  EGNNConfig cfg_;
  Linear embed_;
  std::vector<EGCL> layers_;
  std::vector<Var> params_;
};

// iDEM's EGNN_dynamics (paper spec section 1.1): h^0_i = t (or 1 without time conditioning) ->
// Linear(1 -> H); a_ij = ||x^0_i - x^0_j||^2; L layers with norm_diff, attention, tanh * coords_range,
// sum aggregation, recurrent node updates; output x^L - x^0 with the per-configuration mean removed.
struct DynamicsConfig {
  int64_t n_particles = 4;
  int64_t dim = 2;
  int64_t hidden = 128;
  int64_t layers = 3;
  double coords_range = 0;  // 0: 15 / layers
  bool attention = true;
  bool tanh = true;
  Agg agg = Agg::sum;
  bool condition_time = true;
  bool sparse = false;  // edge lists (gather + segment_sum) instead of the dense batched path
  nn::Activation act = nn::Activation::silu;
  FusedMessage fused_message = FusedMessage::automatic;  // dense path: the fused message-passing op

  EGNNConfig egnn() const;
};

class Dynamics {
 public:
  Dynamics(Graph& g, const std::string& name, const DynamicsConfig& cfg, DType dtype = DType::f32);
  // t: [B, 1] or [B]; x: [B, n_particles * dim] -> [B, n_particles * dim], mean-free per particle axis.
  Var operator()(Var t, Var x) const;
  void init(ParamStore& store, uint64_t seed) const { net_.init(store, seed); }
  const std::vector<Var>& params() const { return net_.params(); }
  const DynamicsConfig& config() const { return cfg_; }

 private:
  Graph* g_;
  DynamicsConfig cfg_;
  EGNN net_;
};

}  // namespace orbit::egnn
