#include "models/diffusion/ode.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "engine/error.h"

namespace orbit::diffusion {

void OdeOptions::validate() const {
  ORBIT_CHECK(solver == "rk4" || solver == "dopri5", "ODE solver must be rk4 or dopri5, got '", solver, "'");
  ORBIT_CHECK(steps >= 1, "ODE steps must be >= 1, got ", steps);
  ORBIT_CHECK(atol > 0 && rtol >= 0 && std::isfinite(atol) && std::isfinite(rtol), "ODE tolerances must be atol > 0, rtol >= 0, got ",
              atol, " and ", rtol);
  ORBIT_CHECK(max_nfe >= 8, "the ODE's evaluation limit must be >= 8, got ", max_nfe);
}

namespace {

struct Evaluator {
  const OdeField& f;
  OdeStats& stats;
  void operator()(double t, const std::vector<double>& y, std::vector<double>& dy) const {
    f(t, y, dy);
    ++stats.nfe;
    ORBIT_CHECK(dy.size() == y.size(), "ODE field returned ", dy.size(), " values for a state of ", y.size());
    for (size_t i = 0; i < dy.size(); ++i)
      ORBIT_CHECK(std::isfinite(dy[i]), "the ODE's field is not finite at t = ", t, " (component ", i, " of ", dy.size(),
                  "): the model diverges on this input");
  }
};

// y + h * sum_j c_j k_j over the stages with a non-zero coefficient.
void combine(const std::vector<double>& y, double h, std::initializer_list<std::pair<double, const std::vector<double>*>> terms,
             std::vector<double>& out) {
  out.resize(y.size());
  for (size_t i = 0; i < y.size(); ++i) {
    double s = 0;
    for (const auto& [c, k] : terms) s += c * (*k)[i];
    out[i] = y[i] + h * s;
  }
}

OdeStats rk4(const Evaluator& f, std::vector<double>& y, double t0, double t1, int64_t steps,
             const std::function<void(double)>& progress) {
  const double h = (t1 - t0) / static_cast<double>(steps);
  std::vector<double> k1, k2, k3, k4, tmp;
  for (int64_t s = 0; s < steps; ++s) {
    const double t = t0 + static_cast<double>(s) * h;
    f(t, y, k1);
    combine(y, 0.5 * h, {{1.0, &k1}}, tmp);
    f(t + 0.5 * h, tmp, k2);
    combine(y, 0.5 * h, {{1.0, &k2}}, tmp);
    f(t + 0.5 * h, tmp, k3);
    combine(y, h, {{1.0, &k3}}, tmp);
    f(t + h, tmp, k4);
    for (size_t i = 0; i < y.size(); ++i) y[i] += h / 6 * (k1[i] + 2 * k2[i] + 2 * k3[i] + k4[i]);
    ++f.stats.accepted;
    if (progress) progress(s + 1 == steps ? t1 : t + h);
  }
  return f.stats;
}

// max over blocks of the RMS of v_i / (atol + rtol * max(|a_i|, |b_i|)).
double error_norm(const std::vector<double>& v, const std::vector<double>& a, const std::vector<double>& b,
                  const std::vector<int64_t>& blocks, double atol, double rtol) {
  double worst = 0;
  size_t off = 0;
  for (int64_t n : blocks) {
    double q = 0;
    for (size_t i = off; i < off + static_cast<size_t>(n); ++i) {
      const double sc = atol + rtol * std::max(std::abs(a[i]), std::abs(b[i]));
      q += (v[i] / sc) * (v[i] / sc);
    }
    if (n > 0) worst = std::max(worst, std::sqrt(q / static_cast<double>(n)));
    off += static_cast<size_t>(n);
  }
  return worst;
}

// Dormand-Prince 5(4): the fifth-order solution advances, the embedded fourth-order one estimates the
// error; the last stage is the next step's first (FSAL).
constexpr double c2 = 1.0 / 5, c3 = 3.0 / 10, c4 = 4.0 / 5, c5 = 8.0 / 9;
constexpr double a21 = 1.0 / 5;
constexpr double a31 = 3.0 / 40, a32 = 9.0 / 40;
constexpr double a41 = 44.0 / 45, a42 = -56.0 / 15, a43 = 32.0 / 9;
constexpr double a51 = 19372.0 / 6561, a52 = -25360.0 / 2187, a53 = 64448.0 / 6561, a54 = -212.0 / 729;
constexpr double a61 = 9017.0 / 3168, a62 = -355.0 / 33, a63 = 46732.0 / 5247, a64 = 49.0 / 176, a65 = -5103.0 / 18656;
constexpr double b1 = 35.0 / 384, b3 = 500.0 / 1113, b4 = 125.0 / 192, b5 = -2187.0 / 6784, b6 = 11.0 / 84;
// b - b*, b* the fourth-order weights (5179/57600, 0, 7571/16695, 393/640, -92097/339200, 187/2100, 1/40).
constexpr double e1 = 71.0 / 57600, e3 = -71.0 / 16695, e4 = 71.0 / 1920, e5 = -17253.0 / 339200, e6 = 22.0 / 525,
                 e7 = -1.0 / 40;

OdeStats dopri5(const Evaluator& f, std::vector<double>& y, double t0, double t1, const std::vector<int64_t>& blocks,
                const OdeOptions& o, const std::function<void(double)>& progress) {
  const double span = std::abs(t1 - t0), dir = t1 > t0 ? 1.0 : -1.0;
  if (span == 0) return f.stats;
  std::vector<double> k1, k2, k3, k4, k5, k6, k7, tmp, ynew, err(y.size());
  f(t0, y, k1);
  // Initial step (Hairer, Norsett & Wanner, Solving ODEs I, II.4): from the sizes of y, f and f's change.
  const double d0 = error_norm(y, y, y, blocks, o.atol, o.rtol), d1 = error_norm(k1, y, y, blocks, o.atol, o.rtol);
  double h0 = (d0 < 1e-5 || d1 < 1e-5) ? 1e-6 : 0.01 * d0 / d1;
  h0 = std::min(h0, span);
  combine(y, dir * h0, {{1.0, &k1}}, tmp);
  f(t0 + dir * h0, tmp, k2);
  for (size_t i = 0; i < y.size(); ++i) err[i] = (k2[i] - k1[i]) / h0;
  const double d2 = error_norm(err, y, y, blocks, o.atol, o.rtol);
  const double h1 = std::max(d1, d2) <= 1e-15 ? std::max(1e-6, h0 * 1e-3) : std::pow(0.01 / std::max(d1, d2), 1.0 / 5);
  double h = std::min({100 * h0, h1, span});
  double t = t0;
  while (dir * (t1 - t) > 0) {
    if (f.stats.nfe + 6 > o.max_nfe)
      throw OdeBudgetExceeded(detail::cat("dopri5 needs more than ", o.max_nfe, " field evaluations (at t = ", t, ", step ",
                                          h, ", ", f.stats.accepted, " steps so far); loosen the tolerance, raise the "
                                          "limit or use rk4"),
                              f.stats);
    ORBIT_CHECK(h > 1e-12 * span, "dopri5's step fell to ", h, " at t = ", t, ": the field is too stiff or rough here");
    const bool last = h >= dir * (t1 - t) * (1 - 1e-12);
    if (last) h = dir * (t1 - t);
    const double s = dir * h;
    combine(y, s, {{a21, &k1}}, tmp);
    f(t + c2 * s, tmp, k2);
    combine(y, s, {{a31, &k1}, {a32, &k2}}, tmp);
    f(t + c3 * s, tmp, k3);
    combine(y, s, {{a41, &k1}, {a42, &k2}, {a43, &k3}}, tmp);
    f(t + c4 * s, tmp, k4);
    combine(y, s, {{a51, &k1}, {a52, &k2}, {a53, &k3}, {a54, &k4}}, tmp);
    f(t + c5 * s, tmp, k5);
    combine(y, s, {{a61, &k1}, {a62, &k2}, {a63, &k3}, {a64, &k4}, {a65, &k5}}, tmp);
    f(t + s, tmp, k6);
    combine(y, s, {{b1, &k1}, {b3, &k3}, {b4, &k4}, {b5, &k5}, {b6, &k6}}, ynew);
    const double tn = last ? t1 : t + s;
    f(tn, ynew, k7);
    for (size_t i = 0; i < y.size(); ++i)
      err[i] = s * (e1 * k1[i] + e3 * k3[i] + e4 * k4[i] + e5 * k5[i] + e6 * k6[i] + e7 * k7[i]);
    const double e = error_norm(err, y, ynew, blocks, o.atol, o.rtol);
    // The usual controller: safety 0.9, growth at most 10x, shrink at most 5x per step.
    const double factor = e == 0 ? 10.0 : std::clamp(0.9 * std::pow(e, -1.0 / 5), 0.2, 10.0);
    if (e <= 1) {
      y.swap(ynew);
      k1.swap(k7);
      t = tn;
      ++f.stats.accepted;
      if (progress) progress(t);
      h = std::min(h * factor, span);
    } else {
      ++f.stats.rejected;
      h *= std::min(factor, 0.9);
    }
  }
  return f.stats;
}

}  // namespace

OdeStats integrate_ode(const OdeField& f, std::vector<double>& y, double t0, double t1,
                       const std::vector<int64_t>& blocks, const OdeOptions& o,
                       const std::function<void(double t)>& progress) {
  o.validate();
  ORBIT_CHECK(std::isfinite(t0) && std::isfinite(t1), "ODE interval must be finite, got [", t0, ", ", t1, "]");
  const int64_t total = std::accumulate(blocks.begin(), blocks.end(), int64_t{0});
  ORBIT_CHECK(total == static_cast<int64_t>(y.size()), "ODE state blocks cover ", total, " values, the state has ", y.size());
  for (double v : y) ORBIT_CHECK(std::isfinite(v), "ODE initial state is not finite");
  OdeStats stats;
  Evaluator ev{f, stats};
  if (o.solver == "rk4") return rk4(ev, y, t0, t1, o.steps, progress);
  return dopri5(ev, y, t0, t1, blocks, o, progress);
}

}  // namespace orbit::diffusion
