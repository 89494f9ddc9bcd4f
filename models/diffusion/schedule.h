// iDEM's variance-exploding noise schedule (geometric): with sigma_d = sigma_max / sigma_min,
//   g(t) = sigma_min sigma_d^t sqrt(2 ln sigma_d),   h(t) = int_0^t g^2 = sigma_min^2 (sigma_d^(2t) - 1),
// x_t = x_0 + sqrt(h(t)) eps, and the prior N(0, h(1) I) (mean-free for particle systems).
#pragma once
#include <cmath>

#include "engine/error.h"
#include "engine/ops.h"

namespace orbit::diffusion {

struct GeometricSchedule {
  double sigma_min = 1e-5, sigma_max = 1;

  GeometricSchedule() = default;
  GeometricSchedule(double lo, double hi) : sigma_min(lo), sigma_max(hi) {
    ORBIT_CHECK(lo > 0 && hi > lo && std::isfinite(hi), "noise schedule needs 0 < sigma_min < sigma_max, got ", lo,
                ", ", hi);
  }
  double log_ratio() const { return std::log(sigma_max / sigma_min); }
  double g(double t) const { return sigma_min * std::exp(t * log_ratio()) * std::sqrt(2 * log_ratio()); }
  double h(double t) const { return sigma_min * sigma_min * std::expm1(2 * t * log_ratio()); }
  double prior_std() const { return std::sqrt(h(1.0)); }

  // The same on graph values t (any shape).
  Var h(Var t) const { return (sigma_min * sigma_min) * (exp(t * (2 * log_ratio())) - 1.0); }
  Var g(Var t) const { return (sigma_min * std::sqrt(2 * log_ratio())) * exp(t * log_ratio()); }
};

}  // namespace orbit::diffusion
