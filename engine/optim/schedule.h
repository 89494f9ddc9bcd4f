// Learning-rate schedules. A schedule maps the optimizer's step count (and, for reduce-on-plateau, the
// metrics it has observed) to a learning rate; its state round-trips through checkpoints as text.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

namespace orbit::optim {

class LrSchedule {
 public:
  virtual ~LrSchedule() = default;
  virtual double lr(int64_t step) const = 0;
  // Reports a validation / training metric (lower is better); only reduce-on-plateau reacts.
  virtual void observe(double metric) { (void)metric; }
  virtual std::string state() const { return ""; }
  virtual void restore(const std::string& state) { (void)state; }
  virtual std::string describe() const = 0;
};

class ConstantLr final : public LrSchedule {
 public:
  explicit ConstantLr(double lr);
  double lr(int64_t) const override { return lr_; }
  std::string describe() const override;

 private:
  double lr_;
};

// Linear warm-up over `warmup` steps, then cosine decay from base to min_lr over the remaining steps.
class CosineLr final : public LrSchedule {
 public:
  CosineLr(double base, int64_t total_steps, double min_lr = 0, int64_t warmup = 0);
  double lr(int64_t step) const override;
  std::string describe() const override;

 private:
  double base_, min_;
  int64_t total_, warmup_;
};

// Multiplies the rate by `factor` when the observed metric has not improved by more than `threshold`
// (relative) for more than `patience` observations, never below min_lr (torch's ReduceLROnPlateau, mode
// min, threshold_mode rel).
class ReduceOnPlateau final : public LrSchedule {
 public:
  ReduceOnPlateau(double base, double factor = 0.1, int patience = 10, double threshold = 1e-4, double min_lr = 0);
  double lr(int64_t) const override { return current_; }
  void observe(double metric) override;
  std::string state() const override;
  void restore(const std::string& state) override;
  std::string describe() const override;
  int reductions() const { return reductions_; }

 private:
  double current_, factor_, threshold_, min_;
  int patience_;
  double best_;
  int bad_ = 0, reductions_ = 0;
};

}  // namespace orbit::optim
