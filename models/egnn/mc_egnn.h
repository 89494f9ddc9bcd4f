// Multi-channel EGNN (Levy et al. 2023, paper spec section 3.2): every node carries m vector
// channels X_i in R^{d x m}. Layer 0 maps the single input position to m channels (each channel starts
// at x_i), middle layers map m -> m, the last layer maps m -> channels_out with X~ = the channel mean;
// channel mixing D_ij W_ij acts on the right, so it commutes with E(n). With m = 1 it is EGNN (the
// same parameters give the same outputs as EGNN).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "models/egnn/egnn.h"

namespace orbit::egnn {

struct MCEGNNConfig : EGNNConfig {
  int64_t channels = 2;      // m
  int64_t channels_out = 1;  // vector channels of the last layer's output

  LayerOptions layer(int64_t l) const;  // options of layer l (channel counts and X~)
  std::string json() const;
};

class MCEGNN {
 public:
  MCEGNN(Graph& g, const std::string& name, const MCEGNNConfig& cfg, DType dtype = DType::f32);

  struct Out {
    Var h;  // node lead + [hidden]
    Var X;  // node lead + [d, channels_out]
    Var x;  // node lead + [d]: channel 0 of X
  };
  // h: node lead + [node_in]; x: node lead + [d] (one position per node); vel: node lead + [d].
  Out operator()(const Connectivity& c, Var h, Var x, Var edge_attr = Var(), Var vel = Var(),
                 Var node_attr = Var()) const;
  void init(ParamStore& store, uint64_t seed) const;
  const std::vector<Var>& params() const { return params_; }
  const MCEGNNConfig& config() const { return cfg_; }

 private:
  MCEGNNConfig cfg_;
  Linear embed_;
  std::vector<EGCL> layers_;
  std::vector<Var> params_;
};

}  // namespace orbit::egnn
