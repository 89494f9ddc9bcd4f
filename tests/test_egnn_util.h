// Shared helpers of the EGNN tests: the model variants, random inputs and group actions, and a runner
// that builds a variant on a dense or sparse graph and returns its outputs.
#pragma once
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/optim/init.h"
#include "engine/orbit.h"
#include "kernels/scalar/random.h"
#include "models/egnn/egnn.h"
#include "models/egnn/mc_egnn.h"

namespace orbit::egnn_test {

using namespace orbit::egnn;

struct Variant {
  std::string label;
  MCEGNNConfig cfg;   // channels = 0: plain EGNN
  bool edge_q = false;  // edge attributes [q_i q_j, ||x_i - x_j||^2] (cfg.edge_attr = 2)
};

inline std::vector<Variant> variants() {
  std::vector<Variant> v;
  auto base = [] {
    MCEGNNConfig c;
    c.node_in = 2;
    c.hidden = 8;
    c.layers = 2;
    c.channels = 0;
    c.coord_clamp = 0;
    c.coord_agg = Agg::sum;
    return c;
  };
  {
    Variant a{"egnn sum", base()};
    v.push_back(a);
  }
  {
    Variant a{"egnn_vel mean clamp edge-attr", base()};
    a.cfg.coord_agg = Agg::mean;
    a.cfg.coord_clamp = 100;  // the paper's; an active clamp (per component) would break E(n) equivariance
    a.cfg.velocity = true;
    a.cfg.edge_attr = 2;
    a.edge_q = true;
    v.push_back(a);
  }
  {
    Variant a{"egnn attention norm_diff tanh node-attr mean-nodes non-recurrent", base()};
    a.cfg.attention = a.cfg.norm_diff = a.cfg.tanh = true;
    a.cfg.coords_range = 2.5;
    a.cfg.node_attr = 2;
    a.cfg.node_agg = Agg::mean;
    a.cfg.recurrent = false;
    a.cfg.layers = 3;
    v.push_back(a);
  }
  {
    Variant a{"mc-egnn m=3 velocity edge-attr mean clamp", base()};
    a.cfg.channels = 3;
    a.cfg.layers = 3;
    a.cfg.coord_agg = Agg::mean;
    a.cfg.coord_clamp = 100;
    a.cfg.velocity = true;
    a.cfg.edge_attr = 2;
    a.edge_q = true;
    v.push_back(a);
  }
  {
    Variant a{"mc-egnn m=2 out=2 attention norm_diff tanh", base()};
    a.cfg.channels = 2;
    a.cfg.channels_out = 2;
    a.cfg.layers = 3;
    a.cfg.attention = a.cfg.norm_diff = a.cfg.tanh = true;
    v.push_back(a);
  }
  return v;
}

// Deterministic pseudo-random values.
inline std::vector<double> randn(size_t n, uint64_t seed, uint64_t stream) {
  std::vector<double> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = scalar::random_normal<double>(seed, stream, 0, i);
  return v;
}

struct Inputs {
  int64_t B = 2, n = 5, d = 3;
  Tensor h, x, v, q, na;  // [B, n, 2], [B, n, d], [B, n, d], [B, n, 1], [B, n, 2] (f64)
};

inline Inputs make_inputs(int64_t B, int64_t n, int64_t d, uint64_t seed) {
  Inputs in;
  in.B = B, in.n = n, in.d = d;
  in.h = Tensor::from<double>({B, n, 2}, randn(B * n * 2, seed, 1));
  in.x = Tensor::from<double>({B, n, d}, randn(B * n * d, seed, 2));
  in.v = Tensor::from<double>({B, n, d}, randn(B * n * d, seed, 3));
  auto q = randn(B * n, seed, 4);
  for (auto& e : q) e = e < 0 ? -1.0 : 1.0;
  in.q = Tensor::from<double>({B, n, 1}, q);
  in.na = Tensor::from<double>({B, n, 2}, randn(B * n * 2, seed, 5));
  return in;
}

// A random orthogonal d x d matrix (det -1 when `reflect`).
inline std::vector<double> random_orthogonal(int64_t d, uint64_t seed, bool reflect) {
  auto a = randn(d * d, seed, 77);
  std::vector<double> Q(d * d);
  for (int64_t c = 0; c < d; ++c) {
    std::vector<double> col(d);
    for (int64_t r = 0; r < d; ++r) col[r] = a[r * d + c];
    for (int64_t p = 0; p < c; ++p) {
      double dot = 0;
      for (int64_t r = 0; r < d; ++r) dot += col[r] * Q[r * d + p];
      for (int64_t r = 0; r < d; ++r) col[r] -= dot * Q[r * d + p];
    }
    double nrm = 0;
    for (double e : col) nrm += e * e;
    nrm = std::sqrt(nrm);
    for (int64_t r = 0; r < d; ++r) Q[r * d + c] = col[r] / nrm;
  }
  // Fix the determinant's sign: compute det via the product of ... (d <= 3): explicit.
  double det = d == 1 ? Q[0] : d == 2 ? Q[0] * Q[3] - Q[1] * Q[2]
                             : Q[0] * (Q[4] * Q[8] - Q[5] * Q[7]) - Q[1] * (Q[3] * Q[8] - Q[5] * Q[6]) +
                                   Q[2] * (Q[3] * Q[7] - Q[4] * Q[6]);
  if ((det < 0) != reflect)
    for (int64_t r = 0; r < d; ++r) Q[r * d] = -Q[r * d];
  return Q;
}

// Rows of t (any [.., d]) times Q, plus `shift` (length d, or empty).
inline Tensor transform(const Tensor& t, const std::vector<double>& Q, const std::vector<double>& shift) {
  const int64_t d = t.shape()[t.rank() - 1];
  auto v = t.to_vector();
  std::vector<double> o(v.size());
  for (size_t r = 0; r < v.size() / d; ++r)
    for (int64_t c = 0; c < d; ++c) {
      double s = shift.empty() ? 0.0 : shift[c];
      for (int64_t k = 0; k < d; ++k) s += v[r * d + k] * Q[k * d + c];
      o[r * d + c] = s;
    }
  return Tensor::from<double>(t.shape(), o);
}

// Permutes axis 1 (the particles) of a [B, n, ...] tensor: out[:, i] = t[:, perm[i]].
inline Tensor permute_nodes(const Tensor& t, const std::vector<int64_t>& perm) {
  const int64_t B = t.shape()[0], n = t.shape()[1], inner = t.numel() / (B * n);
  auto v = t.to_vector();
  std::vector<double> o(v.size());
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < n; ++i)
      for (int64_t k = 0; k < inner; ++k) o[(b * n + i) * inner + k] = v[(b * n + perm[i]) * inner + k];
  return Tensor::from<double>(t.shape(), o);
}

// Gives every parameter O(1) values (uniform +-1.2/sqrt(rows)), so the coordinate updates matter
// (the paper's 0.001-gain init would make them nearly invisible).
inline void randomize(ParamStore& store, const std::vector<Var>& params, uint64_t seed) {
  for (Var p : params) {
    const double rows = p.rank() == 2 ? static_cast<double>(p.shape()[0]) : 4.0;
    const double b = 1.2 / std::sqrt(rows);
    init::param(store, p, init::Initializer::uniform(-b, b), seed);
  }
}

enum class GraphKind { dense, sparse_full, sparse_ring };

// Builds the variant on a graph of the given kind and returns {x_out [B, n, d] (or [B, n, m_out, d]),
// h_out [B, n, hidden]} (on the CPU, computed on `dev`). The parameters come from (and are created in)
// `store` with `seed`.
inline std::vector<Tensor> run_variant(const Variant& var, const Inputs& in, GraphKind kind,
                                       std::shared_ptr<ParamStore> store, uint64_t seed = 5,
                                       Device dev = Device::cpu()) {
  const int64_t B = in.B, n = in.n, d = in.d;
  Graph g;
  Var h = g.input("h", {B, n, 2}, DType::f64), x = g.input("x", {B, n, d}, DType::f64);
  Var v = g.input("v", {B, n, d}, DType::f64), q = g.input("q", {B, n, 1}, DType::f64);
  Var na = g.input("na", {B, n, 2}, DType::f64);
  Connectivity c = Connectivity::dense(n);
  auto flat = [&](Var t) {
    if (kind == GraphKind::dense) return t;
    auto s = t.shape().vec();
    s.erase(s.begin());
    s[0] = B * n;
    return reshape(t, s);
  };
  if (kind == GraphKind::sparse_full) c = Connectivity::sparse_fully_connected(g, B, n);
  if (kind == GraphKind::sparse_ring) {  // each node receives from its two ring neighbours and node (i+2)
    std::vector<int32_t> r, s;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < n; ++i)
        for (int64_t off : {int64_t{1}, n - 1, int64_t{2}}) {
          r.push_back(static_cast<int32_t>(b * n + i));
          s.push_back(static_cast<int32_t>(b * n + (i + off) % n));
        }
    c = Connectivity::sparse(g, B * n, r, s);
  }
  Var hf = flat(h), xf = flat(x), vf = flat(v), qf = flat(q), naf = flat(na);
  Var ea;
  if (var.edge_q) ea = concat({c.at_receiver(qf) * c.at_sender(qf), sum(square(c.diff(xf)), {-1}, true)}, -1);
  Var vel = var.cfg.velocity ? vf : Var();
  Var nattr = var.cfg.node_attr > 0 ? naf : Var();
  Var xo, ho;
  std::vector<Var> params;
  if (var.cfg.channels == 0) {
    EGNN net(g, "net", var.cfg, DType::f64);
    auto o = net(c, hf, xf, ea, vel, nattr);
    xo = o.x, ho = o.h, params = net.params();
  } else {
    MCEGNN net(g, "net", var.cfg, DType::f64);
    auto o = net(c, hf, xf, ea, vel, nattr);
    xo = var.cfg.channels_out == 1 ? o.x : transpose(o.X, -1, -2), ho = o.h, params = net.params();
  }
  if (!store->has(params[0].name())) randomize(*store, params, seed);
  auto unflat = [&](Var t) {
    if (kind == GraphKind::dense) return t;
    auto s = t.shape().vec();
    s[0] = n;
    s.insert(s.begin(), B);
    return reshape(t, s);
  };
  CompileOptions o;
  o.params = store;
  auto outs = compile(g, {unflat(xo), unflat(ho)}, dev, o)
                  .run({{"h", in.h}, {"x", in.x}, {"v", in.v}, {"q", in.q}, {"na", in.na}});
  for (auto& t : outs) t = t.to(Device::cpu());
  return outs;
}

inline double max_abs_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.numel() == b.numel());
  double m = 0;
  for (int64_t i = 0; i < a.numel(); ++i) m = std::max(m, std::abs(a.at(i) - b.at(i)));
  return m;
}
inline double max_abs(const Tensor& a) {
  double m = 0;
  for (int64_t i = 0; i < a.numel(); ++i) m = std::max(m, std::abs(a.at(i)));
  return m;
}

}  // namespace orbit::egnn_test
