#include "models/sharing/nets.h"

#include <algorithm>
#include <cmath>

#include "engine/error.h"
#include "engine/ops.h"
#include "engine/optim/init.h"

namespace orbit::sharing {

std::vector<int32_t> torus_neighbours(int64_t side) {
  std::vector<int32_t> idx;
  idx.reserve(static_cast<size_t>(side * side * 9));
  for (int64_t y = 0; y < side; ++y)
    for (int64_t x = 0; x < side; ++x)
      for (int k = 0; k < 9; ++k) {
        int64_t yy = (y + k / 3 - 1 + side) % side, xx = (x + k % 3 - 1 + side) % side;
        idx.push_back(static_cast<int32_t>(yy * side + xx));
      }
  return idx;
}

TorusNet::TorusNet(Graph& g, const NetSpec& spec) : spec_(spec) {
  ORBIT_CHECK(spec.side >= 3 && spec.side <= 64, "TorusNet: side ", spec.side, " is outside 3..64");
  ORBIT_CHECK(!spec.channels.empty() && spec.channels.size() <= 4, "TorusNet: 1 to 4 hidden layers, got ",
              spec.channels.size());
  for (int64_t c : spec.channels) ORBIT_CHECK(c >= 1 && c <= 1024, "TorusNet: channel count ", c, " is outside 1..1024");
  ORBIT_CHECK(spec.classes >= 2, "TorusNet: needs at least 2 classes");
  ORBIT_CHECK(spec.dropout >= 0 && spec.dropout < 1, "TorusNet: dropout ", spec.dropout, " is outside [0, 1)");
  const int64_t P = spec.side * spec.side;
  int64_t cin = 1;
  for (size_t l = 0; l < spec.channels.size(); ++l) {
    const int64_t cout = spec.channels[l];
    const std::string n = std::to_string(l + 1);
    if (spec.kind == NetKind::fc) {
      w_.push_back(g.param("fc" + n + "/w", {P * cin, P * cout}));
      b_.push_back(g.param("fc" + n + "/b", {P * cout}));
    } else {
      w_.push_back(g.param("conv" + n + "/w", {9 * cin, cout}));
      b_.push_back(g.param("conv" + n + "/b", {cout}));
    }
    params_.push_back(w_.back());
    params_.push_back(b_.back());
    if (spec.batch_norm) {
      const std::string layer = (spec.kind == NetKind::fc ? "fc" : "conv") + n;
      const int64_t f = spec.kind == NetKind::fc ? P * cout : cout;  // normalised features
      gamma_.push_back(g.param(layer + "/bn_gamma", {f}));
      beta_.push_back(g.param(layer + "/bn_beta", {f}));
      rmean_.push_back(g.param(layer + "/bn_mean", {f}));
      rvar_.push_back(g.param(layer + "/bn_var", {f}));
      params_.push_back(gamma_.back());
      params_.push_back(beta_.back());
    }
    cin = cout;
  }
  wo_ = g.param("out/w", {cin, int64_t(spec.classes)});
  bo_ = g.param("out/b", {int64_t(spec.classes)});
  params_.push_back(wo_);
  params_.push_back(bo_);
  if (spec.kind == NetKind::cnn)
    idx_ = g.constant(Tensor::from<int32_t>(Shape({P * 9}), torus_neighbours(spec.side)), "torus_3x3");
}

Forward TorusNet::forward(Var x, bool training, uint64_t dropout_seed) const {
  const int64_t P = spec_.side * spec_.side;
  ORBIT_CHECK(x.rank() == 2 && x.shape()[1] == P, "TorusNet expects images [B, ", P, "], got ", x.shape().str());
  const int64_t B = x.shape()[0];
  const int64_t last = spec_.channels.back();
  Forward out;
  // batch norm of the rows of h [n, f] (features in columns), then ReLU
  auto norm_relu = [&](Var h, size_t l) {
    if (!spec_.batch_norm) return relu(h);
    const double eps = 1e-5;
    Var hn;
    if (training) {
      Var mu = mean(h, {0});
      Var var = mean(square(h - mu), {0});
      out.batch_mean.push_back(mu);
      out.batch_var.push_back(var);
      out.stat_count.push_back(h.shape()[0]);
      hn = (h - mu) * rsqrt(var + eps);
    } else {
      hn = (h - rmean_[l]) * rsqrt(rvar_[l] + eps);
    }
    return relu(hn * gamma_[l] + beta_[l]);
  };
  Var pooled;
  if (spec_.kind == NetKind::fc) {
    Var h = x;
    for (size_t l = 0; l < w_.size(); ++l) {
      h = norm_relu(matmul(h, w_[l]) + b_[l], l);
      if (training && spec_.dropout > 0) {
        Var keep = ge(random_uniform(*x.graph(), h.shape(), dropout_seed * 7919 + l), x.graph()->scalar(spec_.dropout));
        h = h * keep * (1.0 / (1.0 - spec_.dropout));
      }
    }
    pooled = mean(reshape(h, {B, last, P}), {2});  // units c * P + p: average over the positions
  } else {
    Var h = reshape(x, {B, P, 1});
    int64_t cin = 1;
    for (size_t l = 0; l < w_.size(); ++l) {
      Var patches = reshape(gather(h, idx_, 1), {B * P, 9 * cin});  // [B, P*9, cin] -> rows (b, p)
      h = reshape(norm_relu(matmul(patches, w_[l]) + b_[l], l), {B, P, spec_.channels[l]});
      cin = spec_.channels[l];
    }
    pooled = mean(h, {1});
  }
  out.logits = matmul(pooled, wo_) + bo_;
  return out;
}

void TorusNet::init(ParamStore& store, uint64_t seed) const {
  for (size_t l = 0; l < gamma_.size(); ++l) {
    init::param(store, gamma_[l], init::Initializer::ones(), seed);
    init::param(store, beta_[l], init::Initializer::zeros(), seed);
    init::param(store, rmean_[l], init::Initializer::zeros(), seed);
    init::param(store, rvar_[l], init::Initializer::ones(), seed);
  }
  for (const Var& p : params_) {
    if (p.name().find("/bn_") != std::string::npos) continue;
    // fan_in: rows of a weight; a bias takes its layer's weight's fan_in
    const std::string& name = p.name();
    int64_t fan_in = 0;
    if (name == "out/b") fan_in = wo_.shape()[0];
    else if (p.rank() == 2) fan_in = p.shape()[0];
    else
      for (size_t l = 0; l < b_.size(); ++l)
        if (b_[l].name() == name) fan_in = w_[l].shape()[0];
    const double k = 1.0 / std::sqrt(double(fan_in));
    init::param(store, p, init::Initializer::uniform(-k, k), seed);
  }
}

std::vector<std::string> TorusNet::layer_weights() const {
  std::vector<std::string> n;
  for (auto& w : w_) n.push_back(w.name());
  return n;
}

std::vector<std::string> TorusNet::running_mean_names() const {
  std::vector<std::string> n;
  for (size_t l = 0; l < w_.size(); ++l) n.push_back(l < rmean_.size() ? rmean_[l].name() : "");
  return n;
}

std::vector<std::string> TorusNet::running_var_names() const {
  std::vector<std::string> n;
  for (size_t l = 0; l < w_.size(); ++l) n.push_back(l < rvar_.size() ? rvar_[l].name() : "");
  return n;
}

std::vector<std::string> TorusNet::layer_biases() const {
  std::vector<std::string> n;
  for (auto& b : b_) n.push_back(b.name());
  return n;
}

Tensor TorusNet::first_layer_dense(const ParamStore& store) const {
  const int64_t P = spec_.side * spec_.side, C = spec_.channels[0];
  const Tensor& w = store.get(w_[0].name());
  ORBIT_CHECK(w.dtype() == DType::f32 && w.device().is_cpu(), "first_layer_dense: expected CPU f32 weights");
  if (spec_.kind == NetKind::fc) return w.clone();  // already [P, C*P]
  Tensor d = Tensor::zeros(Shape({P, C * P}), DType::f32);
  const auto idx = torus_neighbours(spec_.side);
  const float* k = w.data<float>();  // [9, C]
  float* o = d.data<float>();
  for (int64_t c = 0; c < C; ++c)
    for (int64_t p = 0; p < P; ++p)
      for (int j = 0; j < 9; ++j) o[idx[p * 9 + j] * (C * P) + c * P + p] += k[j * C + c];
  return d;
}

Var cross_entropy(Var logits, Var onehot) {
  Var mask = sum(onehot, {1});
  Var nll = (logsumexp(logits, {1}) - sum(onehot * logits, {1})) * mask;
  return sum(nll) / maximum(sum(mask), ones_like(sum(mask)));
}

FilterStats filter_stats(const Tensor& dense, int64_t side) {
  const int64_t P = side * side;
  ORBIT_CHECK(dense.rank() == 2 && dense.shape()[0] == P && dense.shape()[1] % P == 0 && dense.dtype() == DType::f32,
              "filter_stats: expected a [", P, ", C*", P, "] f32 matrix, got ", dense.shape().str());
  const int64_t C = dense.shape()[1] / P, cols = dense.shape()[1];
  const float* a = dense.data<float>();
  double within = 0, total = 0, local = 0;
  std::vector<double> f(P), mean_c(P), tmp(P);
  for (int64_t c = 0; c < C; ++c) {
    std::fill(mean_c.begin(), mean_c.end(), 0.0);
    std::vector<std::vector<double>> al(P, std::vector<double>(P));
    for (int64_t p = 0; p < P; ++p) {
      const int64_t py = p / side, px = p % side;
      double m = 0;
      for (int64_t q = 0; q < P; ++q) m += (f[q] = a[q * cols + c * P + p]);
      m /= double(P);
      // rolled back by the unit's position: entry at (qy - py, qx - px)
      for (int64_t q = 0; q < P; ++q) {
        const int64_t ry = ((q / side - py) % side + side) % side, rx = ((q % side - px) % side + side) % side;
        al[p][ry * side + rx] = f[q];
      }
      for (int64_t q = 0; q < P; ++q) {
        total += (f[q] - m) * (f[q] - m);
        mean_c[q] += al[p][q] / double(P);
      }
      // locality about the median
      tmp.assign(f.begin(), f.end());
      std::nth_element(tmp.begin(), tmp.begin() + P / 2, tmp.end());
      const double med = tmp[P / 2];
      int64_t peak = 0;
      double e = 0;
      for (int64_t q = 0; q < P; ++q) {
        e += (f[q] - med) * (f[q] - med);
        if (std::abs(f[q] - med) > std::abs(f[peak] - med)) peak = q;
      }
      double in = 0;
      for (int dy = -2; dy <= 2; ++dy)
        for (int dx = -2; dx <= 2; ++dx) {
          const int64_t q = ((peak / side + dy + side) % side) * side + (peak % side + dx + side) % side;
          in += (f[q] - med) * (f[q] - med);
        }
      local += e > 0 ? in / e : 0.0;  // a constant filter has no local structure
    }
    for (int64_t p = 0; p < P; ++p)
      for (int64_t q = 0; q < P; ++q) within += (al[p][q] - mean_c[q]) * (al[p][q] - mean_c[q]);
  }
  FilterStats s;
  s.shift_sharing = total > 0 ? 1.0 - within / total : 1.0;
  s.locality = local / double(C * P);
  return s;
}

}  // namespace orbit::sharing
