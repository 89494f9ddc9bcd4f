#include "models/egnn/egcl.h"

#include <cstdlib>
#include <string>

#include "engine/egnn_message.h"
#include "engine/ops.h"

namespace orbit::egnn {

namespace {
std::vector<int64_t> lead_of(Var v, int trailing) {
  auto s = v.shape().vec();
  return std::vector<int64_t>(s.begin(), s.end() - trailing);
}
std::vector<int64_t> with(std::vector<int64_t> lead, std::initializer_list<int64_t> tail) {
  lead.insert(lead.end(), tail.begin(), tail.end());
  return lead;
}

// ORBIT_EGNN_FUSED: -1 unset, 0, 1 or 2 ("forward": fused on CUDA too, its VJP expanded by
// expand_egnn_messages); read once.
int fused_env() {
  static const int v = [] {
    const char* e = std::getenv("ORBIT_EGNN_FUSED");
    if (e && std::string(e) == "0") return 0;
    if (e && std::string(e) == "1") return 1;
    if (e && std::string(e) == "forward") return 2;
    return -1;
  }();
  return v;
}
}  // namespace

bool EGCL::uses_fused_message(const Connectivity& c) const {
  const LayerOptions& o = opt_;
  if (o.fused_message == FusedMessage::off) return false;
  if (o.fused_message == FusedMessage::automatic && fused_env() == 0) return false;
  return c.is_dense() && o.ch_in == 1 && o.ch_out == 1 && o.act == nn::Activation::silu && o.update_coords;
}

EGCL::EGCL(Graph& g, const std::string& name, const LayerOptions& o, DType dtype) : name_(name), opt_(o) {
  ORBIT_CHECK(o.node_in > 0 && o.hidden > 0 && o.node_out > 0, "layer '", name, "': widths must be positive");
  ORBIT_CHECK(o.edge_attr >= 0 && o.node_attr >= 0, "layer '", name, "': attribute widths must be >= 0");
  ORBIT_CHECK(o.ch_in >= 1 && o.ch_out >= 1, "layer '", name, "': channel counts must be >= 1");
  ORBIT_CHECK(!o.recurrent || o.node_in == o.node_out, "layer '", name, "': a recurrent update needs node_in == node_out");
  ORBIT_CHECK(o.channel_init != ChannelInit::keep || o.ch_in == o.ch_out || !o.update_coords, "layer '", name,
              "': keeping the channels needs ch_in == ch_out (got ", o.ch_in, " -> ", o.ch_out, ")");
  ORBIT_CHECK(o.channel_init != ChannelInit::replicate || o.ch_in == 1, "layer '", name,
              "': replicating the position needs ch_in == 1");
  ORBIT_CHECK(o.coord_clamp >= 0 && o.coords_range > 0, "layer '", name, "': coord_clamp >= 0 and coords_range > 0");
  std::vector<int64_t> edge_in{o.node_in, o.node_in, o.ch_in};
  if (o.edge_attr > 0) edge_in.push_back(o.edge_attr);
  e1_ = Linear(g, name + "/edge0", edge_in, o.hidden, true, dtype);
  e2_ = Linear(g, name + "/edge1", {o.hidden}, o.hidden, true, dtype);
  if (o.attention) att_ = Linear(g, name + "/att", {o.hidden}, 1, true, dtype);
  if (o.update_coords) {
    x1_ = Linear(g, name + "/coord0", {o.hidden}, o.hidden, true, dtype);
    x2_ = Linear(g, name + "/coord1", {o.hidden}, o.ch_in * o.ch_out, false, dtype);
    if (o.velocity) {
      v1_ = Linear(g, name + "/vel0", {o.node_in}, o.hidden, true, dtype);
      v2_ = Linear(g, name + "/vel1", {o.hidden}, o.ch_in * o.ch_out, true, dtype);
    }
  }
  std::vector<int64_t> node_in{o.node_in, o.hidden};
  if (o.node_attr > 0) node_in.push_back(o.node_attr);
  h1_ = Linear(g, name + "/node0", node_in, o.hidden, true, dtype);
  h2_ = Linear(g, name + "/node1", {o.hidden}, o.node_out, true, dtype);
  for (const Linear* l : {&e1_, &e2_, &att_, &x1_, &x2_, &v1_, &v2_, &h1_, &h2_})
    for (Var p : l->params()) params_.push_back(p);
}

EGCL::Out EGCL::operator()(const Connectivity& c, Var h, Var x, Var edge_attr, Var vel, Var node_attr) const {
  const LayerOptions& o = opt_;
  auto act = [&](Var v) { return nn::activate(v, o.act); };
  c.check_node(h, "h");
  c.check_node(x, "x");
  ORBIT_CHECK(h.shape()[h.rank() - 1] == o.node_in, "layer '", name_, "': h must have ", o.node_in,
              " features, got ", h.shape().str());
  ORBIT_CHECK(x.rank() == h.rank() + 1 && x.shape()[x.rank() - 1] == o.ch_in, "layer '", name_,
              "': x must be node lead + [d, ", o.ch_in, "], got ", x.shape().str(), " (h ", h.shape().str(), ")");
  ORBIT_CHECK(edge_attr.valid() == (o.edge_attr > 0), "layer '", name_, "': ",
              o.edge_attr > 0 ? "edge attributes are required" : "the layer takes no edge attributes");
  ORBIT_CHECK(vel.valid() == (o.velocity && o.update_coords), "layer '", name_, "': ",
              vel.valid() ? "the layer takes no velocity" : "the velocity is required");
  ORBIT_CHECK(node_attr.valid() == (o.node_attr > 0), "layer '", name_, "': ",
              o.node_attr > 0 ? "node attributes are required" : "the layer takes no node attributes");
  const int64_t d = x.shape()[x.rank() - 2];

  if (o.edge_attr > 0) c.check_edge(edge_attr, "edge_attr");
  if (uses_fused_message(c) && h.rank() == 3 && (o.edge_attr == 0 || edge_attr.rank() == 4))
    return fused(c, h, x, edge_attr, vel, node_attr);

  Var D = c.diff(x);                // edge lead + [d, m_in]
  Var r = sum(square(D), {-2});     // edge lead + [m_in]
  if (o.norm_diff) {
    auto es = lead_of(r, 1);
    D = D / reshape(sqrt(r + 1e-8) + 1.0, with(es, {1, o.ch_in}));
  }
  Var pre = c.at_receiver(e1_.part(0, h)) + c.at_sender(e1_.part(1, h)) + e1_.part(2, r);
  if (o.edge_attr > 0) pre = pre + e1_.part(3, edge_attr);
  Var m = act(e2_(act(pre + e1_.bias())));
  if (o.attention) m = m * sigmoid(att_(m));

  Var agg;
  if (o.update_coords) {
    Var w = x2_(act(x1_(m)));  // edge lead + [m_in * m_out]
    if (o.tanh) w = tanh(w) * o.coords_range;
    auto es = lead_of(w, 1);
    Var trans;
    if (o.ch_in == 1 && o.ch_out == 1) {
      trans = D * reshape(w, with(es, {1, 1}));
    } else {  // (D W)[c, k] = sum_l D[c, l] W[l, k]
      Var W = reshape(w, with(es, {1, o.ch_in, o.ch_out}));
      trans = sum(reshape(D, with(es, {d, o.ch_in, 1})) * W, {-2});
    }
    if (o.coord_clamp > 0) trans = clamp(trans, -o.coord_clamp, o.coord_clamp);
    agg = c.aggregate(trans, o.coord_agg);  // node lead + [d, m_out]
  }
  return finish(c, h, x, agg, c.aggregate(m, o.node_agg), vel, node_attr);
}

EGCL::Out EGCL::fused(const Connectivity& c, Var h, Var x, Var edge_attr, Var vel, Var node_attr) const {
  const LayerOptions& o = opt_;
  const int64_t B = h.shape()[0], n = h.shape()[1], H = o.hidden, F = o.node_in, d = x.shape()[2];
  Var W1 = e1_.params()[0];  // [2F + 1 (+ E), H]: the rows of h_i, h_j, r, a
  EgnnMessageAttr a;
  a.edge_attr = o.edge_attr;
  a.attention = o.attention;
  a.norm_diff = o.norm_diff;
  a.tanh = o.tanh;
  a.coords_range = o.coords_range;
  a.coord_clamp = o.coord_clamp;
  a.self_loops = c.self_loops();
  a.cuda_fused = o.fused_message == FusedMessage::on || fused_env() >= 1;
  EgnnMessageWeights w;
  w.w_r = reshape(slice(W1, 0, 2 * F, 2 * F + 1), {H});
  w.W2 = e2_.params()[0];
  w.b2 = e2_.params()[1];
  w.W3 = x1_.params()[0];
  w.b3 = x1_.params()[1];
  w.w4 = reshape(x2_.params()[0], {H});
  if (o.edge_attr > 0) {
    w.a = edge_attr;
    w.W_a = slice(W1, 0, 2 * F + 1, 2 * F + 1 + o.edge_attr);
  }
  if (o.attention) {
    w.w_att = reshape(att_.params()[0], {H});
    w.b_att = att_.params()[1];
  }
  Var out = egnn_message(e1_.part(0, h) + e1_.bias(), e1_.part(1, h), reshape(x, {B, n, d}), w, a, name_ + "/message");
  Var magg = egnn_message_magg(out, H);
  Var agg = reshape(egnn_message_xagg(out, H), {B, n, d, 1});
  const double inv_deg = 1.0 / static_cast<double>(c.self_loops() ? n : std::max<int64_t>(1, n - 1));
  if (o.node_agg == Agg::mean) magg = magg * inv_deg;
  if (o.coord_agg == Agg::mean) agg = agg * inv_deg;
  return finish(c, h, x, agg, magg, vel, node_attr);
}

EGCL::Out EGCL::finish(const Connectivity& c, Var h, Var x, Var agg, Var magg, Var vel, Var node_attr) const {
  const LayerOptions& o = opt_;
  auto act = [&](Var v) { return nn::activate(v, o.act); };
  const int64_t d = x.shape()[x.rank() - 2];
  Var x_new = x;
  if (o.update_coords) {
    Var base = x;
    if (o.channel_init == ChannelInit::mean) base = mean(x, {-1}, true);
    x_new = base + agg;  // replicate: x [.., d, 1] broadcasts over the m_out channels
    if (o.velocity) {
      c.check_node(vel, "vel");
      ORBIT_CHECK(vel.shape() == Shape(with(lead_of(h, 1), {d, 1})), "layer '", name_, "': vel must be ",
                  Shape(with(lead_of(h, 1), {d, 1})).str(), ", got ", vel.shape().str());
      auto ns = lead_of(h, 1);
      Var psi = reshape(v2_(act(v1_(h))), with(ns, {o.ch_in, o.ch_out}));
      x_new = x_new + vel * reshape(sum(psi, {-2}), with(ns, {1, o.ch_out}));
    }
  }

  Var hid = h1_.part(0, h) + h1_.part(1, magg);
  if (o.node_attr > 0) {
    c.check_node(node_attr, "node_attr");
    hid = hid + h1_.part(2, node_attr);
  }
  Var out = h2_(act(hid + h1_.bias()));
  return {o.recurrent ? h + out : out, x_new};
}

void EGCL::init(ParamStore& store, uint64_t seed) const {
  for (const Linear* l : {&e1_, &e2_, &att_, &x1_, &v1_, &v2_, &h1_, &h2_})
    if (!l->params().empty()) l->init_default(store, seed);
  if (opt_.update_coords) x2_.init_xavier(store, seed, 0.001);
}

}  // namespace orbit::egnn
