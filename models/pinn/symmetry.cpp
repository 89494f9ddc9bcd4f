#include "models/pinn/symmetry.h"

#include <algorithm>
#include <cmath>

#include "engine/autodiff.h"
#include "engine/ops.h"

namespace orbit::pinn {

SymmetryForm symmetry_form_from_name(const std::string& n) {
  if (n == "off" || n == "none") return SymmetryForm::none;
  if (n == "point" || n == "A" || n == "on") return SymmetryForm::point;
  if (n == "evolutionary" || n == "B") return SymmetryForm::evolutionary;
  throw Error("unknown symmetry loss '" + n + "': expected off, point (form A) or evolutionary (form B)");
}

const char* symmetry_form_name(SymmetryForm f) {
  switch (f) {
    case SymmetryForm::none: return "off";
    case SymmetryForm::point: return "point";
    case SymmetryForm::evolutionary: return "evolutionary";
  }
  return "?";
}

Jet make_jet(Var X, const std::function<Var(Var)>& u_of, bool third) {
  ORBIT_CHECK(X.rank() == 2 && X.shape()[1] == 2, "PINN points must be [N, 2] (x, t), got ", X.shape().str());
  Jet j;
  j.u = u_of(X);
  ORBIT_CHECK(j.u.shape() == Shape({X.shape()[0], 1}), "the network must map [N, 2] to [N, 1], got ",
              j.u.shape().str());
  Var g1 = grad(sum(j.u), {X})[0];
  j.ux = col(g1, 0);
  j.ut = col(g1, 1);
  Var gx = grad(sum(j.ux), {X})[0];
  j.uxx = col(gx, 0);
  j.uxt = col(gx, 1);
  if (third) {
    j.utt = col(grad(sum(j.ut), {X})[0], 1);
    Var gxx = grad(sum(j.uxx), {X})[0];
    j.uxxx = col(gxx, 0);
    j.uxxt = col(gxx, 1);
  }
  return j;
}

Var residual(const Problem& p, const Jet& j) {
  if (p.pde == Pde::heat) return j.ut - p.nu * j.uxx;
  return j.ut + j.u * j.ux - p.nu * j.uxx;
}

namespace {

// Largest sum of |coefficients| of a generator term over the domain (x from the centre, t in [0, T]).
double coefficient_scale(const Problem& p, const std::function<double(double, double)>& magnitude) {
  double m = 0;
  for (int a = 0; a <= 20; ++a)
    for (int b = 0; b <= 20; ++b)
      m = std::max(m, magnitude(-p.length / 2 + p.length * a / 20, p.t_end * b / 20));
  return m > 0 ? m : 1;
}

}  // namespace

std::vector<Var> symmetry_terms(const Problem& p, const Jet& j, Var X, SymmetryForm form) {
  if (form == SymmetryForm::none) return {};
  Var x = col(X, 0) - p.length / 2, t = col(X, 1);
  Var d = residual(p, j);
  const double nu = p.nu;
  std::vector<std::pair<Var, double>> terms;  // (term, scale of its coefficients)
  auto add = [&](Var term, std::function<double(double, double)> mag) {
    terms.push_back({term, coefficient_scale(p, mag)});
  };
  if (form == SymmetryForm::point) {
    if (p.pde == Pde::heat) {
      add(d, [](double, double) { return 1.0; });                                         // v3
      add(d * -2.0, [](double, double) { return 2.0; });                                  // v4
      add(-(x * d), [](double x, double) { return std::abs(x); });                        // v5
      add(-((x * x + 10 * nu * t) * d), [nu](double x, double t) { return x * x + 10 * nu * t; });  // v6
    } else {
      add(d * -3.0, [](double, double) { return 3.0; });                                  // scaling
      add(t * d * -3.0, [](double, double t) { return 3 * t; });                          // projective
    }
  } else {
    ORBIT_CHECK(j.uxxx.valid(), "the evolutionary symmetry loss needs a third-order jet");
    Var dx, dt;  // D_x Delta, D_t Delta
    if (p.pde == Pde::heat) {
      dx = j.uxt - nu * j.uxxx;
      dt = j.utt - nu * j.uxxt;
      add(-dx, [](double, double) { return 1.0; });                                       // v1
      add(-dt, [](double, double) { return 1.0; });                                       // v2
      add(d, [](double, double) { return 1.0; });                                         // v3
      add(-(2.0 * d + x * dx + 2.0 * t * dt), [](double x, double t) { return 2 + std::abs(x) + 2 * t; });  // v4
      add(-(x * d + 2 * nu * t * dx), [nu](double x, double t) { return std::abs(x) + 2 * nu * t; });      // v5
      add(-((x * x + 10 * nu * t) * d + 4 * nu * t * x * dx + 4 * nu * t * t * dt),
          [nu](double x, double t) { return x * x + 10 * nu * t + 4 * nu * t * std::abs(x) + 4 * nu * t * t; });  // v6
    } else {
      dx = j.uxt + j.ux * j.ux + j.u * j.uxx - nu * j.uxxx;
      dt = j.utt + j.ut * j.ux + j.u * j.uxt - nu * j.uxxt;
      add(-dx, [](double, double) { return 1.0; });                                                  // d_x
      add(-dt, [](double, double) { return 1.0; });                                                  // d_t
      add(-(t * dx), [](double, double t) { return t; });                                            // Galilean
      add(-(3.0 * d + x * dx + 2.0 * t * dt), [](double x, double t) { return 3 + std::abs(x) + 2 * t; });  // scaling
      add(-(t * (3.0 * d + x * dx + t * dt)), [](double x, double t) { return t * (3 + std::abs(x) + t); });  // projective
    }
  }
  std::vector<Var> out;
  for (auto& [term, scale] : terms) out.push_back(term * (1.0 / scale));
  return out;
}

Var symmetry_loss(const Problem& p, const Jet& j, Var X, SymmetryForm form) {
  auto terms = symmetry_terms(p, j, X, form);
  if (terms.empty()) return X.graph()->scalar(0.0, X.dtype());
  Var total;
  for (auto& term : terms) total = total.valid() ? total + mean(square(term)) : mean(square(term));
  return total;
}

}  // namespace orbit::pinn
