#include "models/egnn/linear.h"

#include <cmath>

#include "engine/ops.h"
#include "engine/optim/init.h"

namespace orbit::egnn {

Linear::Linear(Graph& g, const std::string& name, std::vector<int64_t> in_widths, int64_t out, bool bias, DType dtype)
    : name_(name), in_(std::move(in_widths)), out_(out) {
  ORBIT_CHECK(!in_.empty(), "linear layer '", name, "' has no inputs");
  ORBIT_CHECK(out > 0, "linear layer '", name, "' has output width ", out);
  int64_t total = 0;
  for (auto w : in_) {
    ORBIT_CHECK(w > 0, "linear layer '", name, "' has an input of width ", w);
    offset_.push_back(total);
    total += w;
  }
  w_ = g.param(name + "/w", {total, out}, dtype);
  if (bias) b_ = g.param(name + "/b", {out}, dtype);
}

int64_t Linear::in_width() const {
  int64_t t = 0;
  for (auto w : in_) t += w;
  return t;
}

Var Linear::part(size_t k, Var x) const {
  ORBIT_CHECK(k < in_.size(), "linear layer '", name_, "' has no input part ", k);
  const int64_t w = in_[k];
  ORBIT_CHECK(x.rank() >= 1 && x.shape()[x.rank() - 1] == w, "linear layer '", name_, "' part ", k, " expects [..., ", w,
              "], got '", x.name(), "' ", x.shape().str());
  Var wk = in_.size() == 1 ? w_ : slice(w_, 0, offset_[k], offset_[k] + w);
  if (w == 1) return x * reshape(wk, {out_});  // a broadcast product: no matrix product for one column
  Shape s = x.shape();
  if (s.rank() == 2) return matmul(x, wk);
  std::vector<int64_t> lead(s.begin(), s.end() - 1);
  int64_t rows = 1;
  for (auto d : lead) rows *= d;
  Var y = matmul(reshape(x, {rows, w}), wk);
  lead.push_back(out_);
  return reshape(y, lead);
}

Var Linear::operator()(Var x) const {
  ORBIT_CHECK(in_.size() == 1, "linear layer '", name_, "' has ", in_.size(), " input parts: apply them with part()");
  Var y = part(0, x);
  return b_.valid() ? y + b_ : y;
}

void Linear::init_default(ParamStore& store, uint64_t seed) const {
  const double bound = 1.0 / std::sqrt(static_cast<double>(in_width()));
  init::param(store, w_, init::Initializer::uniform(-bound, bound), seed);
  if (b_.valid()) init::param(store, b_, init::Initializer::uniform(-bound, bound), seed);
}

void Linear::init_xavier(ParamStore& store, uint64_t seed, double gain) const {
  init::param(store, w_, init::Initializer::xavier_uniform(gain), seed);
  if (b_.valid()) init::param(store, b_, init::Initializer::zeros(), seed);
}

std::vector<Var> Linear::params() const {
  if (!w_.valid()) return {};
  std::vector<Var> p{w_};
  if (b_.valid()) p.push_back(b_);
  return p;
}

}  // namespace orbit::egnn
