#include "models/diffusion/mlp_score.h"

#include <cmath>

#include "engine/ops.h"

namespace orbit::diffusion {

Var sinusoidal_embedding(Var z, int64_t size, double scale) {
  ORBIT_CHECK(size >= 4 && size % 2 == 0, "sinusoidal embedding size must be even and >= 4, got ", size);
  const int64_t half = size / 2, c = z.shape()[1];
  Tensor f = Tensor::empty(Shape({1, 1, half}), z.dtype());
  for (int64_t k = 0; k < half; ++k) {
    double v = std::exp(-static_cast<double>(k) * std::log(10000.0) / static_cast<double>(half - 1));
    if (z.dtype() == DType::f64) f.data<double>()[k] = v;
    else f.data<float>()[k] = static_cast<float>(v);
  }
  Var arg = reshape(z * scale, {-1, c, 1}) * z.graph()->constant(f);  // [B, c, half]
  return reshape(concat({sin(arg), cos(arg)}, 2), {-1, c * size});
}

MlpScore::MlpScore(Graph& g, const std::string& name, const MlpScoreConfig& cfg, DType dtype) : cfg_(cfg) {
  in_ = egnn::Linear(g, name + "/in", {cfg.dim * cfg.embedding, cfg.embedding}, cfg.hidden, true, dtype);
  for (int64_t i = 0; i < cfg.blocks; ++i)
    blocks_.emplace_back(g, name + "/block" + std::to_string(i), std::vector<int64_t>{cfg.hidden}, cfg.hidden, true,
                         dtype);
  out_ = egnn::Linear(g, name + "/out", {cfg.hidden}, cfg.dim, true, dtype);
}

Var MlpScore::operator()(Var t, Var x) const {
  Var ex = sinusoidal_embedding(x, cfg_.embedding, cfg_.x_scale);
  Var et = sinusoidal_embedding(reshape(t, {-1, 1}), cfg_.embedding, cfg_.t_scale);
  Var h = gelu(in_.part(0, ex) + in_.part(1, et) + in_.bias());
  for (auto& b : blocks_) h = h + gelu(b(h));
  return out_(h);
}

void MlpScore::init(ParamStore& store, uint64_t seed) const {
  in_.init_default(store, seed);
  for (auto& b : blocks_) b.init_default(store, seed);
  out_.init_default(store, seed);
}

std::vector<Var> MlpScore::params() const {
  std::vector<Var> p = in_.params();
  for (auto& b : blocks_)
    for (auto& v : b.params()) p.push_back(v);
  for (auto& v : out_.params()) p.push_back(v);
  return p;
}

}  // namespace orbit::diffusion
