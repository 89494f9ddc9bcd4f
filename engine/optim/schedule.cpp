#include "engine/optim/schedule.h"

#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

#include "engine/error.h"
#include "engine/util/parse.h"

namespace orbit::optim {

ConstantLr::ConstantLr(double lr) : lr_(lr) { ORBIT_CHECK(lr > 0 && std::isfinite(lr), "learning rate must be positive, got ", lr); }
std::string ConstantLr::describe() const { return detail::cat("constant(", lr_, ")"); }

CosineLr::CosineLr(double base, int64_t total, double min_lr, int64_t warmup)
    : base_(base), min_(min_lr), total_(total), warmup_(warmup) {
  ORBIT_CHECK(base > 0 && std::isfinite(base), "cosine schedule: base rate must be positive, got ", base);
  ORBIT_CHECK(min_lr >= 0 && min_lr <= base, "cosine schedule: min_lr must be in [0, base]");
  ORBIT_CHECK(total > 0 && warmup >= 0 && warmup < total, "cosine schedule: need 0 <= warmup < total steps");
}

double CosineLr::lr(int64_t step) const {
  if (step < warmup_) return base_ * static_cast<double>(step + 1) / static_cast<double>(warmup_);
  double t = std::min(1.0, static_cast<double>(step - warmup_) / static_cast<double>(total_ - warmup_));
  return min_ + 0.5 * (base_ - min_) * (1 + std::cos(M_PI * t));
}

std::string CosineLr::describe() const {
  return detail::cat("cosine(base ", base_, ", total ", total_, ", min ", min_, ", warmup ", warmup_, ")");
}

ReduceOnPlateau::ReduceOnPlateau(double base, double factor, int patience, double threshold, double min_lr)
    : current_(base), factor_(factor), threshold_(threshold), min_(min_lr), patience_(patience),
      best_(std::numeric_limits<double>::infinity()) {
  ORBIT_CHECK(base > 0 && std::isfinite(base), "reduce-on-plateau: base rate must be positive");
  ORBIT_CHECK(factor > 0 && factor < 1, "reduce-on-plateau: factor must be in (0, 1), got ", factor);
  ORBIT_CHECK(patience >= 0 && threshold >= 0 && min_lr >= 0, "reduce-on-plateau: bad patience/threshold/min_lr");
}

void ReduceOnPlateau::observe(double metric) {
  ORBIT_CHECK(!std::isnan(metric), "reduce-on-plateau observed NaN");
  if (metric < best_ * (1 - threshold_) || best_ == std::numeric_limits<double>::infinity()) {
    best_ = metric;
    bad_ = 0;
    return;
  }
  if (++bad_ > patience_) {
    double next = std::max(current_ * factor_, min_);
    if (next < current_) ++reductions_;
    current_ = next;
    bad_ = 0;
  }
}

std::string ReduceOnPlateau::state() const {
  char buf[160];
  std::snprintf(buf, sizeof buf, "%.17g %.17g %d %d", current_, best_, bad_, reductions_);
  return buf;
}

void ReduceOnPlateau::restore(const std::string& s) {
  std::istringstream is(s);
  std::string best;
  is >> current_ >> best >> bad_ >> reductions_;
  ORBIT_CHECK(!is.fail(), "reduce-on-plateau: cannot restore state '", s, "'");
  if (best == "inf") {
    best_ = std::numeric_limits<double>::infinity();
    return;
  }
  ORBIT_CHECK(util::parse_double(best, best_), "reduce-on-plateau: cannot restore state '", s, "'");
}

std::string ReduceOnPlateau::describe() const {
  return detail::cat("reduce_on_plateau(lr ", current_, ", factor ", factor_, ", patience ", patience_, ")");
}

}  // namespace orbit::optim
