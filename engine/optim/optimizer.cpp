#include "engine/optim/optimizer.h"

#include <cmath>

#include "engine/backend_hooks.h"
#include "kernels/cpu/optim.h"

namespace orbit::optim {

// Every update runs where its parameter lives: CPU tensors in kernels/cpu/optim.h, CUDA tensors in
// the CUDA backend's fused kernels (kernels/cuda/optim.cu, through BackendHooks), with the same
// per-element math, so the two agree to rounding.
namespace {

int dtype_code(DType t) { return static_cast<int>(t); }

const BackendHooks& hooks() { return backend_hooks(); }

// Throws unless this build has optimizer kernels for tensors on t's device.
void require_kernels(const Tensor& t, const char* what) {
  if (t.device().is_cpu()) return;
  ORBIT_CHECK(t.device().is_cuda() && hooks().cuda_sgd_update != nullptr && hooks().cuda_adam_update != nullptr &&
                  hooks().cuda_ema_update != nullptr && hooks().cuda_scale != nullptr &&
                  hooks().cuda_sum_squares != nullptr,
              what, ": parameters on ", t.device().str(),
              " need the CUDA backend's optimizer kernels, and this orbit build has no CUDA backend");
}

// The sum of the squares of every tensor, each where it lives, added in order (in f64). The CUDA
// tensors are reduced together, with one wait for all of them.
double sum_squares(const std::vector<Tensor>& ts, const char* what) {
  std::vector<double> sums(ts.size(), 0.0);
  std::vector<size_t> on_gpu;
  std::vector<int> dtypes;
  std::vector<const void*> ptrs;
  std::vector<int64_t> counts;
  for (size_t i = 0; i < ts.size(); ++i) {
    const Tensor& g = ts[i];
    require_kernels(g, what);
    dispatch_float(g.dtype(), [&]<class T>() {
      if (g.device().is_cpu()) {
        sums[i] = cpu::sum_squares(g.data<T>(), g.numel());
      } else {
        on_gpu.push_back(i);
        dtypes.push_back(dtype_code(g.dtype()));
        ptrs.push_back(g.data<T>());
        counts.push_back(g.numel());
      }
    });
  }
  if (!on_gpu.empty()) {
    std::vector<double> out(on_gpu.size());
    hooks().cuda_sum_squares(on_gpu.size(), dtypes.data(), ptrs.data(), counts.data(), out.data());
    for (size_t k = 0; k < on_gpu.size(); ++k) sums[on_gpu[k]] = out[k];
  }
  double s = 0;
  for (double v : sums) s += v;
  return s;
}

// g *= c where g lives.
void scale_in_place(Tensor& g, double c, const char* what) {
  require_kernels(g, what);
  dispatch_float(g.dtype(), [&]<class T>() {
    if (g.device().is_cpu()) cpu::scale(g.data<T>(), g.numel(), c);
    else hooks().cuda_scale(dtype_code(g.dtype()), g.data<T>(), g.numel(), c);
  });
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
  // Each gradient moves to its parameter's device (a CUDA program's gradients stay on the GPU when
  // the parameters live there, and come back to the host when they live there). Clipping scales in
  // place and must not touch the caller's tensors: a gradient not copied here is cloned before.
  std::vector<char> owned(grads.size(), 0);
  for (size_t i = 0; i < names.size(); ++i) {
    const Tensor& p = store.get(names[i]);
    require_kernels(p, "optimizer step");
    if (grads[i].device() != p.device()) {
      grads[i] = grads[i].to(p.device());
      owned[i] = 1;
    }
  }
  double norm = std::sqrt(sum_squares(grads, "optimizer step"));
  ORBIT_CHECK(std::isfinite(norm), "optimizer step ", t_, ": the gradient norm is ", norm,
              " (a NaN or infinite gradient); nothing was updated");
  if (clip_ > 0 && norm > clip_) {  // as clip_grad_norm(grads, clip_), without summing twice
    const double c = clip_ / (norm + 1e-6);
    for (size_t i = 0; i < grads.size(); ++i) {
      if (!owned[i]) grads[i] = grads[i].clone();
      scale_in_place(grads[i], c, "optimizer step");
    }
  }
  double lr = schedule_->lr(t_);
  ++t_;
  for (size_t i = 0; i < names.size(); ++i) {
    Tensor& p = store.get_mut(names[i]);
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
  if (it == state_.end()) return state_.emplace(key, Tensor::zeros(p.shape(), p.dtype(), p.device())).first->second;
  Tensor& t = it->second;
  ORBIT_CHECK(t.shape() == p.shape() && t.dtype() == p.dtype(), "optimizer state '", key, "' is ", t.shape().str(), " ",
              dtype_name(t.dtype()), " but parameter '", name, "' is ", p.shape().str(), " ", dtype_name(p.dtype()));
  // State restored by load() waits on the host until its parameter's first update moves it over.
  if (t.device() != p.device()) t = t.to(p.device());
  return t;
}

bool Optimizer::has_slot(const std::string& s, const std::string& name) const {
  return state_.count(this->name() + "/" + s + "/" + name) != 0;
}

void Optimizer::save(std::map<std::string, Tensor>& tensors, std::map<std::string, std::string>& meta) const {
  // Checkpoints hold host tensors: state on the GPU is copied back.
  for (auto& [k, v] : state_) tensors["optim/" + k] = v.device().is_cpu() ? v : v.to(Device::cpu());
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
  // Each slot goes back to the device its predecessor lived on; a slot this optimizer has not used
  // yet stays on the host until its parameter's first update moves it to the parameter's device.
  std::map<std::string, Device> where;
  for (auto& [k, v] : state_) where[k] = v.device();
  state_.clear();
  const std::string prefix = "optim/";
  for (auto& [k, v] : tensors) {
    if (k.rfind(prefix, 0) != 0) continue;
    std::string key = k.substr(prefix.size());
    auto w = where.find(key);
    state_[key] = v.to(w == where.end() ? v.device() : w->second);
  }
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
    T* b = buf ? buf->data<T>() : nullptr;
    if (p.device().is_cpu())
      cpu::sgd_update(p.data<T>(), g.data<T>(), b, p.numel(), lr, mu_, wd_, nesterov_, first);
    else
      hooks().cuda_sgd_update(dtype_code(p.dtype()), p.data<T>(), g.data<T>(), b, p.numel(), lr, mu_, wd_, nesterov_,
                              first);
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
    if (p.device().is_cpu())
      cpu::adam_update(p.data<T>(), g.data<T>(), m.data<T>(), v.data<T>(), p.numel(), lr, b1_, b2_, eps_, wd_,
                       decoupled_, t_);
    else
      hooks().cuda_adam_update(dtype_code(p.dtype()), p.data<T>(), g.data<T>(), m.data<T>(), v.data<T>(), p.numel(),
                               lr, b1_, b2_, eps_, wd_, decoupled_, t_);
  });
}

std::unique_ptr<Optimizer> adamw(std::shared_ptr<LrSchedule> s, double wd) {
  return std::make_unique<Adam>(std::move(s), 0.9, 0.999, 1e-8, wd, true);
}

double clip_grad_norm(std::vector<Tensor>& grads, double max_norm) {
  double norm = std::sqrt(sum_squares(grads, "clip_grad_norm"));
  if (max_norm > 0 && norm > max_norm) {
    double c = max_norm / (norm + 1e-6);
    for (auto& g : grads) scale_in_place(g, c, "clip_grad_norm");
  }
  return norm;
}

EMA::EMA(double decay) : decay_(decay) {
  ORBIT_CHECK(decay >= 0 && decay < 1, "EMA decay must be in [0, 1), got ", decay);
}

void EMA::update(const ParamStore& src) {
  for (auto& name : src.names()) {
    const Tensor& p = src.get(name);
    require_kernels(p, "EMA");
    if (!avg_.has(name)) {
      avg_.set(name, p.clone());
      continue;
    }
    Tensor& a = avg_.get_mut(name);
    ORBIT_CHECK(a.shape() == p.shape() && a.dtype() == p.dtype(), "EMA: parameter '", name, "' changed type");
    // An average restored from a checkpoint (on the host) follows its parameter to its device.
    if (a.device() != p.device()) a = a.to(p.device());
    dispatch_float(p.dtype(), [&]<class T>() {
      if (p.device().is_cpu()) cpu::ema_update(a.data<T>(), p.data<T>(), p.numel(), decay_);
      else hooks().cuda_ema_update(dtype_code(p.dtype()), a.data<T>(), p.data<T>(), p.numel(), decay_);
    });
  }
}

}  // namespace orbit::optim
