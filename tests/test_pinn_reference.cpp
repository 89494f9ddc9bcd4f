// PINN building blocks: reference solutions converge, and the residual and symmetry losses vanish
// on exact solutions of the PDEs (to rounding) but not on perturbed ones.
#include <doctest/doctest.h>

#include <cmath>

#include "engine/orbit.h"
#include "models/pinn/reference.h"
#include "models/pinn/symmetry.h"

using namespace orbit;
using namespace orbit::pinn;

namespace {

Tensor grid_points(const Problem& p, int nx, int nt) {
  Tensor X = Tensor::empty({static_cast<int64_t>(nx) * nt, 2}, DType::f64);
  for (int j = 0; j < nt; ++j)
    for (int i = 0; i < nx; ++i) {
      X.data<double>()[2 * (j * nx + i)] = p.length * (i + 0.37) / nx;
      X.data<double>()[2 * (j * nx + i) + 1] = p.t_end * (j + 0.5) / nt;
    }
  return X;
}

// max |term| over the points for the residual and every symmetry term of `form`.
std::vector<double> losses_on(const Problem& p, const std::function<Var(Var)>& u_of, SymmetryForm form,
                              const Tensor& pts) {
  Graph g;
  Var X = g.input("X", pts.shape(), DType::f64);
  Jet j = make_jet(X, u_of, true);
  std::vector<Var> outs{residual(p, j)};
  for (auto& t : symmetry_terms(p, j, X, form)) outs.push_back(t);
  auto res = compile(g, outs).run({{"X", pts}});
  std::vector<double> worst;
  for (auto& r : res) {
    double m = 0;
    for (int64_t i = 0; i < r.numel(); ++i) m = std::max(m, std::abs(r.at(i)));
    worst.push_back(m);
  }
  return worst;
}

}  // namespace

TEST_SUITE("cpu") {
  TEST_CASE("pinn reference: finite differences converge to the heat closed form at second order") {
    Problem p = Problem::standard(Pde::heat, 3);
    GridSolution exact = exact_solution(p, 256, 9);
    double prev = 0;
    for (int nx : {32, 64, 128}) {
      GridSolution fd = finite_difference_solution(p, nx, 9, 1e-2);
      std::vector<double> sub;  // exact values at the coarse grid's points
      for (int j = 0; j < 9; ++j)
        for (int i = 0; i < nx; ++i) sub.push_back(exact.at(j, i * (256 / nx)));
      double err = relative_l2(fd.u, sub);
      if (prev > 0) CHECK(prev / err > 3.5);  // second order: about 4x per halving of dx
      prev = err;
    }
    CHECK(prev < 2e-3);
  }

  TEST_CASE("pinn reference: Cole-Hopf Burgers converges in modes and matches finite differences") {
    Problem p = Problem::standard(Pde::burgers, 5);
    GridSolution a = exact_solution(p, 256, 6, 4096), b = exact_solution(p, 256, 6, 8192);
    CHECK(relative_l2(a.u, b.u) < 1e-10);
    for (int i = 0; i < 256; ++i) CHECK(a.at(0, i) == doctest::Approx(p.u0(a.x[i])).epsilon(1e-9));
    double prev = 0;
    for (int nx : {256, 512}) {
      GridSolution fd = finite_difference_solution(p, nx, 6, 2e-4);
      GridSolution ex = exact_solution(p, nx, 6, 8192);
      double err = relative_l2(fd.u, ex.u);
      if (prev > 0) CHECK(prev / err > 3.0);
      prev = err;
    }
    CHECK(prev < 5e-3);
  }

  TEST_CASE("pinn losses vanish on an exact heat solution and not on a perturbed one") {
    Problem p = Problem::standard(Pde::heat, 7, 3);
    auto exact = [&](Var X) {
      Var x = col(X, 0), t = col(X, 1), u;
      for (auto& s : p.initial) {
        Var term = s.amplitude * exp(t * (-p.nu * s.wavenumber * s.wavenumber)) * sin(x * s.wavenumber + s.phase);
        u = u.valid() ? u + term : term;
      }
      return u;
    };
    Tensor pts = grid_points(p, 8, 5);
    for (auto form : {SymmetryForm::point, SymmetryForm::evolutionary}) {
      auto w = losses_on(p, exact, form, pts);
      CHECK(w.size() == (form == SymmetryForm::point ? 5u : 7u));
      for (double v : w) CHECK(v < 1e-12);
      auto perturbed = [&](Var X) { return exact(X) + 0.01 * square(col(X, 0)) * col(X, 1); };
      auto wp = losses_on(p, perturbed, form, pts);
      for (size_t k = 0; k < wp.size(); ++k) {
        INFO("term " << k);
        CHECK(wp[k] > 1e-4);
      }
    }
  }

  TEST_CASE("pinn losses vanish on an exact Burgers solution and not on a perturbed one") {
    // Cole-Hopf of theta = 1 + 0.5 exp(-nu k^2 t) cos(k x): u = nu k e sin(kx) / (1 + 0.5 e cos(kx)).
    Problem p = Problem::standard(Pde::burgers, 1);
    const double k = 2.0, nu = p.nu;
    auto exact = [&](Var X) {
      Var x = col(X, 0), t = col(X, 1);
      Var e = exp(t * (-nu * k * k));
      return (nu * k) * e * sin(x * k) / (1.0 + 0.5 * e * cos(x * k));
    };
    Tensor pts = grid_points(p, 8, 5);
    for (auto form : {SymmetryForm::point, SymmetryForm::evolutionary}) {
      auto w = losses_on(p, exact, form, pts);
      for (double v : w) CHECK(v < 1e-12);
      auto perturbed = [&](Var X) { return exact(X) + 0.01 * sin(col(X, 0) * 3.0) * col(X, 1); };
      auto wp = losses_on(p, perturbed, form, pts);
      for (double v : wp) CHECK(v > 1e-5);
    }
  }

  TEST_CASE("pinn: point and evolutionary terms obey pr v(Delta) = L[Q] + xi D_x Delta + tau D_t Delta") {
    // For the heat scaling generator v4 = x d_x + 2t d_t: form A term = -2 Delta, form B term
    // = -(2 Delta + x D_x Delta + 2t D_t Delta); both rescaled by their coefficient bounds.
    Problem p = Problem::standard(Pde::heat, 2, 2);
    Graph g;
    Tensor pts = grid_points(p, 4, 3);
    Var X = g.input("X", pts.shape(), DType::f64);
    auto f = [](Var X) { return sin(col(X, 0)) * exp(col(X, 1) * 0.1) + square(col(X, 0)) * col(X, 1) * 0.01; };
    Jet j = make_jet(X, f, true);
    auto a = symmetry_terms(p, j, X, SymmetryForm::point);
    auto b = symmetry_terms(p, j, X, SymmetryForm::evolutionary);
    Var x = col(X, 0) - p.length / 2, t = col(X, 1);
    Var dx = j.uxt - p.nu * j.uxxx, dt = j.utt - p.nu * j.uxxt;
    double sa = 2.0, sb = 2 + p.length / 2 + 2 * p.t_end;  // the coefficient bounds of v4's terms
    Var identity = a[1] * sa - (b[3] * sb + x * dx + 2.0 * t * dt);
    auto out = compile(g, {identity}).run({{"X", pts}})[0];
    for (int64_t i = 0; i < out.numel(); ++i) CHECK(std::abs(out.at(i)) < 1e-12);
  }
}
