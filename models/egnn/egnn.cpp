#include "models/egnn/egnn.h"

#include <cmath>
#include <sstream>

#include "engine/ops.h"

namespace orbit::egnn {

namespace {
const char* act_name(nn::Activation a) {
  switch (a) {
    case nn::Activation::tanh: return "tanh";
    case nn::Activation::relu: return "relu";
    case nn::Activation::silu: return "silu";
    case nn::Activation::gelu: return "gelu";
    case nn::Activation::sigmoid: return "sigmoid";
    case nn::Activation::softplus: return "softplus";
  }
  return "?";
}
}  // namespace

LayerOptions EGNNConfig::layer() const {
  LayerOptions o;
  o.node_in = o.node_out = hidden;
  o.hidden = hidden;
  o.edge_attr = edge_attr;
  o.node_attr = node_attr;
  o.attention = attention;
  o.norm_diff = norm_diff;
  o.tanh = tanh;
  o.coords_range = coords_range;
  o.coord_agg = coord_agg;
  o.node_agg = node_agg;
  o.coord_clamp = coord_clamp;
  o.recurrent = recurrent;
  o.velocity = velocity;
  o.act = act;
  o.fused_message = fused_message;
  return o;
}

void EGNNConfig::validate() const {
  ORBIT_CHECK(node_in >= 1, "EGNN: node_in must be >= 1, got ", node_in);
  ORBIT_CHECK(edge_attr >= 0 && node_attr >= 0, "EGNN: attribute widths must be >= 0");
  ORBIT_CHECK(hidden >= 1 && hidden <= 65536, "EGNN: hidden must be in [1, 65536], got ", hidden);
  ORBIT_CHECK(layers >= 1 && layers <= 1000, "EGNN: layers must be in [1, 1000], got ", layers);
  ORBIT_CHECK(coords_range > 0 && std::isfinite(coords_range), "EGNN: coords_range must be positive");
  ORBIT_CHECK(coord_clamp >= 0, "EGNN: coord_clamp must be >= 0");
}

std::string EGNNConfig::json() const {
  std::ostringstream os;
  os.precision(17);
  os << "{\"node_in\": " << node_in << ", \"edge_attr\": " << edge_attr << ", \"node_attr\": " << node_attr
     << ", \"hidden\": " << hidden << ", \"layers\": " << layers << ", \"attention\": " << (attention ? "true" : "false")
     << ", \"norm_diff\": " << (norm_diff ? "true" : "false") << ", \"tanh\": " << (tanh ? "true" : "false")
     << ", \"coords_range\": " << coords_range << ", \"coord_agg\": \"" << agg_name(coord_agg)
     << "\", \"node_agg\": \"" << agg_name(node_agg) << "\", \"coord_clamp\": " << coord_clamp
     << ", \"recurrent\": " << (recurrent ? "true" : "false") << ", \"velocity\": " << (velocity ? "true" : "false")
     << ", \"act\": \"" << act_name(act) << "\"}";
  return os.str();
}

EGNN::EGNN(Graph& g, const std::string& name, const EGNNConfig& cfg, DType dtype) : cfg_(cfg) {
  cfg.validate();
  embed_ = Linear(g, name + "/embed", {cfg.node_in}, cfg.hidden, true, dtype);
  for (Var p : embed_.params()) params_.push_back(p);
  for (int64_t l = 0; l < cfg.layers; ++l) {
    layers_.emplace_back(g, name + "/gcl" + std::to_string(l), cfg.layer(), dtype);
    for (Var p : layers_.back().params()) params_.push_back(p);
  }
}

EGNN::Out EGNN::operator()(const Connectivity& c, Var h, Var x, Var edge_attr, Var vel, Var node_attr) const {
  c.check_node(x, "x");
  auto xs = x.shape().vec();
  xs.push_back(1);
  Var X = reshape(x, xs);  // one channel: [..., d, 1]
  Var V;
  if (vel.valid()) {
    ORBIT_CHECK(vel.shape() == x.shape(), "EGNN: vel must have x's shape ", x.shape().str(), ", got ", vel.shape().str());
    V = reshape(vel, xs);
  }
  Var hh = embed_(h);
  for (auto& layer : layers_) {
    auto o = layer(c, hh, X, edge_attr, V, node_attr);
    hh = o.h;
    X = o.x;
  }
  return {hh, reshape(X, x.shape().vec())};
}

void EGNN::init(ParamStore& store, uint64_t seed) const {
  embed_.init_default(store, seed);
  for (auto& l : layers_) l.init(store, seed);
}

EGNNConfig DynamicsConfig::egnn() const {
  EGNNConfig c;
  c.node_in = 1;
  c.edge_attr = 1;
  c.hidden = hidden;
  c.layers = layers;
  c.attention = attention;
  c.norm_diff = true;
  c.tanh = tanh;
  c.coords_range = coords_range > 0 ? coords_range : 15.0 / static_cast<double>(layers);
  c.coord_agg = agg;
  c.node_agg = Agg::sum;
  c.coord_clamp = 0;
  c.recurrent = true;
  c.velocity = false;
  c.act = act;
  c.fused_message = fused_message;
  return c;
}

Dynamics::Dynamics(Graph& g, const std::string& name, const DynamicsConfig& cfg, DType dtype)
    : g_(&g), cfg_(cfg), net_(g, name, cfg.egnn(), dtype) {
  ORBIT_CHECK(cfg.n_particles >= 2, "EGNN_dynamics needs at least 2 particles, got ", cfg.n_particles);
  ORBIT_CHECK(cfg.dim >= 1, "EGNN_dynamics needs dim >= 1, got ", cfg.dim);
}

Var Dynamics::operator()(Var t, Var x) const {
  const int64_t n = cfg_.n_particles, d = cfg_.dim;
  ORBIT_CHECK(x.valid() && x.rank() == 2 && x.shape()[1] == n * d, "EGNN_dynamics expects x [B, ", n * d,
              "] (", n, " particles x ", d, " dims, flattened), got '", x.valid() ? x.name() : "", "' ",
              x.valid() ? x.shape().str() : "");
  const int64_t B = x.shape()[0];
  ORBIT_CHECK(t.valid() && t.dtype() == x.dtype() &&
                  ((t.rank() == 2 && t.shape()[0] == B && t.shape()[1] == 1) || (t.rank() == 1 && t.shape()[0] == B)),
              "EGNN_dynamics expects t [", B, ", 1] or [", B, "] of x's dtype, got '", t.valid() ? t.name() : "", "' ",
              t.valid() ? t.shape().str() : "");
  const bool sp = cfg_.sparse;
  // Node lead: [B, n] (dense) or [B * n] (edge lists).
  std::vector<int64_t> lead = sp ? std::vector<int64_t>{B * n} : std::vector<int64_t>{B, n};
  auto node = [&](std::vector<int64_t> tail) {
    auto s = lead;
    s.insert(s.end(), tail.begin(), tail.end());
    return Shape(s);
  };
  Connectivity c = sp ? Connectivity::sparse_fully_connected(*g_, B, n) : Connectivity::dense(n);
  Var x0 = reshape(x, node({d}).vec());
  Var h0 = cfg_.condition_time ? broadcast_to(reshape(t, {B, 1, 1}), Shape({B, n, 1}))
                               : full(*g_, 1.0, Shape({B, n, 1}), x.dtype());
  h0 = reshape(h0, node({1}).vec());
  Var a = sum(square(c.diff(x0)), {-1}, true);  // ||x0_i - x0_j||^2, fixed for all layers
  Var xl = net_(c, h0, x0, a).x;
  Var v = reshape(xl - x0, {B, n, d});
  v = v - mean(v, {1}, true);
  return reshape(v, {B, n * d});
}

}  // namespace orbit::egnn
