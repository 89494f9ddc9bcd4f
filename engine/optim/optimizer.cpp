#include "engine/optim/optimizer.h"

#include <cmath>

#include "kernels/cpu/optim.h"

namespace orbit::optim {

namespace {
void require_cpu(const Tensor& t, const char* what) {
  // The CUDA backend's update kernels arrive with its issue; until then say so plainly.
  ORBIT_CHECK(t.device().is_cpu(), what, ": parameters on ", t.device().str(),
              " are not supported by this build's optimizer kernels yet (CPU only)");
}
}  // namespace

Optimizer::Optimizer(std::shared_ptr<LrSchedule> schedule) : schedule_(std::move(schedule)) {
  ORBIT_CHECK(schedule_ != nullptr, "an optimizer needs a learning-rate schedule");
}

void Optimizer::set_clip_norm(double max_norm) {
  ORBIT_CHECK(max_norm >= 0 && std::isfinite(max_norm), "clip norm must be >= 0, got ", max_norm);
  clip_ = max_norm;
}

void Optimizer::add_prox(const std::string& param_name, ProxFn fn) {
  ORBIT_CHECK(fn != nullptr, "add_prox: empty function for '", param_name, "'");
  prox_[param_name].push_back(std::move(fn));
}

double Optimizer::step(ParamStore& store, const std::vector<std::string>& names, std::vector<Tensor> grads) {
  ORBIT_CHECK(names.size() == grads.size(), "optimizer step: ", names.size(), " parameters but ", grads.size(),
              " gradients");
  for (size_t i = 0; i < names.size(); ++i) {
    const Tensor& p = store.get(names[i]);
    ORBIT_CHECK(grads[i].shape() == p.shape() && grads[i].dtype() == p.dtype(), "optimizer step: gradient of '",
                names[i], "' is ", grads[i].shape().str(), " ", dtype_name(grads[i].dtype()), ", parameter is ",
                p.shape().str(), " ", dtype_name(p.dtype()));
  }
  // Own copies on the host, where the parameters live (gradients of a CUDA program come back from
  // the GPU): clipping scales in place and must not touch the caller's tensors.
  for (auto& g : grads) g = g.to(Device::cpu());
  double norm = 0;
  for (auto& g : grads)
    dispatch_float(g.dtype(), [&]<class T>() { norm += cpu::sum_squares(g.data<T>(), g.numel()); });
  norm = std::sqrt(norm);
  ORBIT_CHECK(std::isfinite(norm), "optimizer step ", t_, ": the gradient norm is ", norm,
              " (a NaN or infinite gradient); nothing was updated");
  if (clip_ > 0) clip_grad_norm(grads, clip_);
  double lr = schedule_->lr(t_);
  ++t_;
  for (size_t i = 0; i < names.size(); ++i) {
    Tensor& p = store.get_mut(names[i]);
    require_cpu(p, "optimizer step");
    update(names[i], p, grads[i], lr);
    auto it = prox_.find(names[i]);
    if (it != prox_.end())
      for (auto& f : it->second) f(p, lr);
  }
  return norm;
}

Tensor& Optimizer::slot(const std::string& s, const std::string& name, const Tensor& p) {
  std::string key = this->name() + "/" + s + "/" + name;
  auto it = state_.find(key);
  if (it == state_.end()) it = state_.emplace(key, Tensor::zeros(p.shape(), p.dtype(), p.device())).first;
  return it->second;
}

bool Optimizer::has_slot(const std::string& s, const std::string& name) const {
  return state_.count(this->name() + "/" + s + "/" + name) != 0;
}

void Optimizer::save(std::map<std::string, Tensor>& tensors, std::map<std::string, std::string>& meta) const {
  for (auto& [k, v] : state_) tensors["optim/" + k] = v;
  meta["optim.kind"] = name();
  meta["optim.steps"] = std::to_string(t_);
  meta["optim.schedule"] = schedule_->state();
}

void Optimizer::load(const std::map<std::string, Tensor>& tensors, const std::map<std::string, std::string>& meta) {
  auto kind = meta.find("optim.kind");
  ORBIT_CHECK(kind != meta.end() && kind->second == name(), "checkpoint holds optimizer '",
              kind == meta.end() ? "none" : kind->second, "', this run uses '", name(), "'");
  auto steps = meta.find("optim.steps");
  ORBIT_CHECK(steps != meta.end(), "checkpoint lacks optim.steps");
  try {
    size_t used = 0;
    t_ = std::stoll(steps->second, &used);
    ORBIT_CHECK(used == steps->second.size() && t_ >= 0, "bad optim.steps '", steps->second, "'");
  } catch (const std::logic_error&) {
    throw Error("bad optim.steps '" + steps->second + "' in checkpoint");
  }
  auto sch = meta.find("optim.schedule");
  if (sch != meta.end() && !sch->second.empty()) schedule_->restore(sch->second);
  state_.clear();
  const std::string prefix = "optim/";
  for (auto& [k, v] : tensors)
    if (k.rfind(prefix, 0) == 0) state_[k.substr(prefix.size())] = v.clone();
}

SGD::SGD(std::shared_ptr<LrSchedule> s, double momentum, double wd, bool nesterov)
    : Optimizer(std::move(s)), mu_(momentum), wd_(wd), nesterov_(nesterov) {
  ORBIT_CHECK(momentum >= 0 && momentum < 1, "SGD momentum must be in [0, 1), got ", momentum);
  ORBIT_CHECK(wd >= 0, "weight decay must be >= 0");
  ORBIT_CHECK(!nesterov || momentum > 0, "Nesterov momentum needs momentum > 0");
}

void SGD::update(const std::string& name, Tensor& p, const Tensor& g, double lr) {
  bool first = mu_ != 0 && !has_slot("momentum", name);
  Tensor* buf = mu_ != 0 ? &slot("momentum", name, p) : nullptr;
  dispatch_float(p.dtype(), [&]<class T>() {
    cpu::sgd_update(p.data<T>(), g.data<T>(), buf ? buf->data<T>() : nullptr, p.numel(), lr, mu_, wd_, nesterov_, first);
  });
}

Adam::Adam(std::shared_ptr<LrSchedule> s, double b1, double b2, double eps, double wd, bool decoupled)
    : Optimizer(std::move(s)), b1_(b1), b2_(b2), eps_(eps), wd_(wd), decoupled_(decoupled) {
  ORBIT_CHECK(b1 >= 0 && b1 < 1 && b2 >= 0 && b2 < 1, "Adam betas must be in [0, 1)");
  ORBIT_CHECK(eps > 0 && wd >= 0, "Adam needs eps > 0 and weight decay >= 0");
}

void Adam::update(const std::string& name, Tensor& p, const Tensor& g, double lr) {
  Tensor& m = slot("m", name, p);
  Tensor& v = slot("v", name, p);
  dispatch_float(p.dtype(), [&]<class T>() {
    cpu::adam_update(p.data<T>(), g.data<T>(), m.data<T>(), v.data<T>(), p.numel(), lr, b1_, b2_, eps_, wd_,
                     decoupled_, t_);
  });
}

std::unique_ptr<Optimizer> adamw(std::shared_ptr<LrSchedule> s, double wd) {
  return std::make_unique<Adam>(std::move(s), 0.9, 0.999, 1e-8, wd, true);
}

double clip_grad_norm(std::vector<Tensor>& grads, double max_norm) {
  double s = 0;
  for (auto& g : grads) {
    require_cpu(g, "clip_grad_norm");
    dispatch_float(g.dtype(), [&]<class T>() { s += cpu::sum_squares(g.data<T>(), g.numel()); });
  }
  double norm = std::sqrt(s);
  if (max_norm > 0 && norm > max_norm) {
    double c = max_norm / (norm + 1e-6);
    for (auto& g : grads) dispatch_float(g.dtype(), [&]<class T>() { cpu::scale(g.data<T>(), g.numel(), c); });
  }
  return norm;
}

EMA::EMA(double decay) : decay_(decay) {
  ORBIT_CHECK(decay >= 0 && decay < 1, "EMA decay must be in [0, 1), got ", decay);
}

void EMA::update(const ParamStore& src) {
  for (auto& name : src.names()) {
    const Tensor& p = src.get(name);
    require_cpu(p, "EMA");
    if (!avg_.has(name)) {
      avg_.set(name, p.clone());
      continue;
    }
    Tensor& a = avg_.get_mut(name);
    ORBIT_CHECK(a.shape() == p.shape() && a.dtype() == p.dtype(), "EMA: parameter '", name, "' changed type");
    dispatch_float(p.dtype(), [&]<class T>() { cpu::ema_update(a.data<T>(), p.data<T>(), p.numel(), decay_); });
  }
}

}  // namespace orbit::optim
