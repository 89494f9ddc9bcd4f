#include "models/egnn/mc_egnn.h"

#include "engine/ops.h"

namespace orbit::egnn {

LayerOptions MCEGNNConfig::layer(int64_t l) const {
  LayerOptions o = EGNNConfig::layer();
  const bool first = l == 0, last = l == layers - 1;
  o.ch_in = first ? 1 : channels;
  o.ch_out = last ? channels_out : channels;
  o.channel_init = first ? ChannelInit::replicate : last ? ChannelInit::mean : ChannelInit::keep;
  return o;
}

std::string MCEGNNConfig::json() const {
  std::string j = EGNNConfig::json();
  j.pop_back();
  return j + ", \"channels\": " + std::to_string(channels) + ", \"channels_out\": " + std::to_string(channels_out) + "}";
}

MCEGNN::MCEGNN(Graph& g, const std::string& name, const MCEGNNConfig& cfg, DType dtype) : cfg_(cfg) {
  cfg.validate();
  ORBIT_CHECK(cfg.channels >= 1 && cfg.channels <= 1024, "MC-EGNN: channels must be in [1, 1024], got ", cfg.channels);
  ORBIT_CHECK(cfg.channels_out >= 1 && cfg.channels_out <= 1024, "MC-EGNN: channels_out must be in [1, 1024], got ",
              cfg.channels_out);
  embed_ = Linear(g, name + "/embed", {cfg.node_in}, cfg.hidden, true, dtype);
  for (Var p : embed_.params()) params_.push_back(p);
  for (int64_t l = 0; l < cfg.layers; ++l) {
    layers_.emplace_back(g, name + "/gcl" + std::to_string(l), cfg.layer(l), dtype);
    for (Var p : layers_.back().params()) params_.push_back(p);
  }
}

MCEGNN::Out MCEGNN::operator()(const Connectivity& c, Var h, Var x, Var edge_attr, Var vel, Var node_attr) const {
  c.check_node(x, "x");
  auto xs = x.shape().vec();
  xs.push_back(1);
  Var X = reshape(x, xs);
  Var V;
  if (vel.valid()) {
    ORBIT_CHECK(vel.shape() == x.shape(), "MC-EGNN: vel must have x's shape ", x.shape().str(), ", got ",
                vel.shape().str());
    V = reshape(vel, xs);
  }
  Var hh = embed_(h);
  for (auto& layer : layers_) {
    auto o = layer(c, hh, X, edge_attr, V, node_attr);
    hh = o.h;
    X = o.x;
  }
  Var x0 = cfg_.channels_out == 1 ? reshape(X, x.shape().vec()) : reshape(slice(X, -1, 0, 1), x.shape().vec());
  return {hh, X, x0};
}

void MCEGNN::init(ParamStore& store, uint64_t seed) const {
  embed_.init_default(store, seed);
  for (auto& l : layers_) l.init(store, seed);
}

}  // namespace orbit::egnn
