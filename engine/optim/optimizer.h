// Optimizers as fused updates over a ParamStore: SGD (momentum, Nesterov), Adam and AdamW, global
// gradient-norm clipping, a learning-rate schedule, and proximal hooks applied after each update
// (forward-backward splitting: the weight-sharing prox plugs in here). Updates run where each
// parameter lives: on the CPU, or on the GPU as fused CUDA kernels (one per tensor, same math) when
// the build has the CUDA backend; state slots live with their parameter.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/optim/schedule.h"
#include "engine/param_store.h"

namespace orbit::optim {

// prox(param, step): replaces param by prox_{step * R}(param) in place; `step` is the current
// learning rate (scale it inside the hook, e.g. ws_lr * lr).
using ProxFn = std::function<void(Tensor& param, double step)>;

class Optimizer {
 public:
  explicit Optimizer(std::shared_ptr<LrSchedule> schedule);
  virtual ~Optimizer() = default;

  // One update of the named parameters with their gradients (same order, same shapes and dtypes).
  // Applies clipping (if set), the update rule, then the prox hooks; returns the gradient norm
  // before clipping.
  double step(ParamStore& store, const std::vector<std::string>& names, std::vector<Tensor> grads);

  void set_clip_norm(double max_norm);  // 0 disables
  void add_prox(const std::string& param_name, ProxFn fn);
  int64_t steps() const { return t_; }
  double lr() const { return schedule_->lr(t_); }
  LrSchedule& schedule() { return *schedule_; }

  // Optimizer state as named tensors ("<kind>/<slot>/<param>") and text (step, schedule state).
  // save() gives host tensors (GPU state is copied back); load() restores each slot to the device
  // of the slot it replaces, or keeps it on the host until its parameter's next update moves it to
  // the parameter's device.
  virtual void save(std::map<std::string, Tensor>& tensors, std::map<std::string, std::string>& meta) const;
  virtual void load(const std::map<std::string, Tensor>& tensors, const std::map<std::string, std::string>& meta);
  virtual std::string name() const = 0;

 protected:
  virtual void update(const std::string& name, Tensor& p, const Tensor& g, double lr) = 0;
  // The state slot `slot` of parameter `name`, created as zeros like `p` (on p's device) on first use;
  // moved to p's device if it lives elsewhere (after load()).
  Tensor& slot(const std::string& slot, const std::string& name, const Tensor& p);
  bool has_slot(const std::string& slot, const std::string& name) const;

  int64_t t_ = 0;  // completed steps

 private:
  std::shared_ptr<LrSchedule> schedule_;
  double clip_ = 0;
  std::map<std::string, std::vector<ProxFn>> prox_;
  std::map<std::string, Tensor> state_;
};

class SGD final : public Optimizer {
 public:
  SGD(std::shared_ptr<LrSchedule> schedule, double momentum = 0, double weight_decay = 0, bool nesterov = false);
  std::string name() const override { return "sgd"; }

 protected:
  void update(const std::string& name, Tensor& p, const Tensor& g, double lr) override;

 private:
  double mu_, wd_;
  bool nesterov_;
};

class Adam final : public Optimizer {
 public:
  // decoupled = true is AdamW (decay applied to the weights, not added to the gradient).
  Adam(std::shared_ptr<LrSchedule> schedule, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8,
       double weight_decay = 0, bool decoupled = false);
  std::string name() const override { return decoupled_ ? "adamw" : "adam"; }

 protected:
  void update(const std::string& name, Tensor& p, const Tensor& g, double lr) override;

 private:
  double b1_, b2_, eps_, wd_;
  bool decoupled_;
};

std::unique_ptr<Optimizer> adamw(std::shared_ptr<LrSchedule> schedule, double weight_decay = 1e-2);

// Global L2 norm of all gradients (each on its own device, CPU or CUDA); scales them in place to norm
// max_norm when larger. Returns the norm before scaling.
double clip_grad_norm(std::vector<Tensor>& grads, double max_norm);

// Exponential moving average of parameters (for sampling with averaged weights).
class EMA {
 public:
  explicit EMA(double decay);
  // avg = decay * avg + (1 - decay) * p for every parameter of `src` (copies on first use), on the
  // parameter's device.
  void update(const ParamStore& src);
  const ParamStore& averaged() const { return avg_; }
  std::shared_ptr<ParamStore> averaged_copy() const { return std::make_shared<ParamStore>(avg_); }
  double decay() const { return decay_; }
  ParamStore& mutable_averaged() { return avg_; }

 private:
  double decay_;
  ParamStore avg_;
};

}  // namespace orbit::optim
