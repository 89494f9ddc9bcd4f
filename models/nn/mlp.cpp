#include "models/nn/mlp.h"

#include <cmath>

#include "engine/ops.h"
#include "engine/optim/init.h"

namespace orbit::nn {

Var activate(Var x, Activation a) {
  switch (a) {
    case Activation::tanh: return tanh(x);
    case Activation::relu: return relu(x);
    case Activation::silu: return silu(x);
    case Activation::gelu: return gelu(x);
    case Activation::sigmoid: return sigmoid(x);
    case Activation::softplus: return softplus(x);
  }
  throw Error("unknown activation");
}

MLP::MLP(Graph& g, const std::string& name, std::vector<int64_t> widths, Activation act, DType dtype)
    : widths_(std::move(widths)), act_(act), dtype_(dtype) {
  ORBIT_CHECK(widths_.size() >= 2, "MLP '", name, "' needs at least an input and an output width");
  for (auto w : widths_) ORBIT_CHECK(w > 0, "MLP '", name, "' has a non-positive width ", w);
  for (size_t i = 0; i + 1 < widths_.size(); ++i) {
    w_.push_back(g.param(name + "/w" + std::to_string(i), {widths_[i], widths_[i + 1]}, dtype));
    b_.push_back(g.param(name + "/b" + std::to_string(i), {widths_[i + 1]}, dtype));
    params_.push_back(w_.back());
    params_.push_back(b_.back());
  }
}

Var MLP::operator()(Var x) const {
  ORBIT_CHECK(x.rank() >= 1 && x.shape()[x.rank() - 1] == widths_[0], "MLP expects inputs [..., ", widths_[0],
              "], got '", x.name(), "' ", x.shape().str());
  Var h = x;
  for (size_t i = 0; i < w_.size(); ++i) {
    h = matmul(h, w_[i]) + b_[i];
    if (i + 1 < w_.size()) h = activate(h, act_);
  }
  return h;
}

void MLP::init(ParamStore& store, uint64_t seed) const {
  for (size_t i = 0; i < w_.size(); ++i) {
    init::param(store, w_[i], init::Initializer::xavier_uniform(), seed);
    init::param(store, b_[i], init::Initializer::zeros(), seed);
  }
}

}  // namespace orbit::nn
