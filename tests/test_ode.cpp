// The probability-flow ODE integrators (models/diffusion/ode.h) on equations with known solutions:
// RK4's fourth order, dopri5's error control (per block, in both directions), and clear errors for a
// diverging field, an exhausted evaluation budget and bad options.
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "engine/error.h"
#include "models/diffusion/ode.h"
#include "tests/test_io_util.h"

using namespace orbit;
using namespace orbit::diffusion;
using io_test::error_of;

namespace {
// y' = -2 t y: y(t) = y(0) exp(-t^2), one component per initial value.
void gaussian_decay(double t, const std::vector<double>& y, std::vector<double>& dy) {
  dy.resize(y.size());
  for (size_t i = 0; i < y.size(); ++i) dy[i] = -2 * t * y[i];
}
}  // namespace

TEST_SUITE("cpu") {
  TEST_CASE("ode: rk4 converges at fourth order, forwards and backwards") {
    OdeOptions o;
    o.solver = "rk4";
    double last = 0, last_round = 0;
    for (int64_t steps : {10, 20, 40}) {
      o.steps = steps;
      std::vector<double> y{1.0, -3.0};
      int reports = 0;
      const OdeStats st = integrate_ode(gaussian_decay, y, 0.0, 2.0, {2}, o, [&](double) { ++reports; });
      CHECK(st.nfe == 4 * steps);
      CHECK(st.accepted == steps);
      CHECK(reports == steps);
      const double err = std::abs(y[0] - std::exp(-4.0));
      CHECK(y[1] == doctest::Approx(-3 * std::exp(-4.0)).epsilon(1e-2));
      if (last > 0) CHECK(last / err == doctest::Approx(16).epsilon(0.25));  // halving h: 2^4 less error
      last = err;
      // Backwards from t = 2 to 0 undoes it, to at least the same order (for a linear field the round
      // trip's h^4 terms cancel: R(z) R(-z) = 1 + O(z^6) per step).
      integrate_ode(gaussian_decay, y, 2.0, 0.0, {2}, o);
      const double round = std::abs(y[0] - 1.0);
      CHECK(round < 1e-2);
      if (last_round > 0) CHECK(last_round / round > 12);
      last_round = round;
    }
  }

  TEST_CASE("ode: dopri5 meets its tolerance with few evaluations, tighter tolerances cost more") {
    OdeOptions o;
    o.solver = "dopri5";
    int64_t last_nfe = 0;
    for (double tol : {1e-3, 1e-6, 1e-9}) {
      INFO("tol " << tol);
      o.atol = o.rtol = tol;
      std::vector<double> y{1.0, 2.0};
      double reached = 0;
      const OdeStats st = integrate_ode(gaussian_decay, y, 0.0, 2.0, {2}, o, [&](double t) { reached = t; });
      CHECK(reached == 2.0);  // the last step lands exactly on t1
      CHECK(std::abs(y[0] - std::exp(-4.0)) < 20 * tol);
      CHECK(std::abs(y[1] - 2 * std::exp(-4.0)) < 40 * tol);
      CHECK(st.nfe == 2 + 6 * (st.accepted + st.rejected));  // initial-step probe, then six per attempt (FSAL)
      CHECK(st.nfe > last_nfe);
      last_nfe = st.nfe;
      // And back to t = 0 (negative steps).
      integrate_ode(gaussian_decay, y, 2.0, 0.0, {2}, o);
      CHECK(std::abs(y[0] - 1.0) < 400 * tol);
    }
    CHECK(last_nfe < 1000);
  }

  TEST_CASE("ode: dopri5 controls each block on its own, so a small block is not drowned by a large one") {
    // 4000 constant components (exact in one step) and one oscillator y' = 30 cos(30 t): a norm over
    // the whole state would see the oscillator's error divided by sqrt(4001) and step too far.
    auto f = [](double t, const std::vector<double>& y, std::vector<double>& dy) {
      dy.assign(y.size(), 0.0);
      dy.back() = 30 * std::cos(30 * t);
    };
    OdeOptions o;
    o.solver = "dopri5";
    o.atol = o.rtol = 1e-6;
    std::vector<double> y(4001, 1.0);
    y.back() = 0;
    integrate_ode(f, y, 0.0, 3.0, {4000, 1}, o);
    CHECK(std::abs(y.back() - std::sin(90.0)) < 2e-5);
    std::vector<double> z(4001, 1.0);
    z.back() = 0;
    integrate_ode(f, z, 0.0, 3.0, {4001}, o);  // one block: the loose control the split avoids
    CHECK(std::abs(z.back() - std::sin(90.0)) > std::abs(y.back() - std::sin(90.0)));
  }

  TEST_CASE("ode: a stiff or diverging field and bad options are errors, not hangs or NaN") {
    OdeOptions o;
    o.solver = "dopri5";
    o.max_nfe = 300;
    // Stiff: dopri5's stability region keeps h ~ 3e-6, so the budget runs out (named, with t and h).
    auto stiff = [](double t, const std::vector<double>& y, std::vector<double>& dy) {
      dy = {-1e6 * (y[0] - std::cos(t))};
    };
    std::vector<double> y{0.0};
    std::string e = error_of([&] { integrate_ode(stiff, y, 0.0, 1.0, {1}, o); });
    CHECK(e.find("more than 300 field evaluations") != std::string::npos);
    // A field that blows up: y' = y^2 from y(0) = 1 is infinite at t = 1.
    auto blowup = [](double, const std::vector<double>& v, std::vector<double>& dy) { dy = {v[0] * v[0]}; };
    o.max_nfe = 1000000;
    y = {1.0};
    e = error_of([&] { integrate_ode(blowup, y, 0.0, 2.0, {1}, o); });
    CHECK((e.find("not finite") != std::string::npos || e.find("step fell") != std::string::npos));
    // A model that returns NaN part-way (fixed steps would carry it into every result).
    auto nan_late = [](double t, const std::vector<double>&, std::vector<double>& dy) { dy = {t > 0.5 ? NAN : 1.0}; };
    OdeOptions r;
    r.solver = "rk4";
    r.steps = 4;
    y = {1.0};
    e = error_of([&] { integrate_ode(nan_late, y, 0.0, 2.0, {1}, r); });
    CHECK(e.find("not finite at t = 0.75") != std::string::npos);
    // Bad options and states.
    y = {1.0};
    OdeOptions bad;
    bad.solver = "euler";
    CHECK(error_of([&] { integrate_ode(gaussian_decay, y, 0, 1, {1}, bad); }).find("rk4 or dopri5") != std::string::npos);
    bad = OdeOptions{};
    bad.atol = 0;
    CHECK(error_of([&] { integrate_ode(gaussian_decay, y, 0, 1, {1}, bad); }).find("atol > 0") != std::string::npos);
    bad = OdeOptions{};
    bad.steps = 0;
    CHECK(error_of([&] { integrate_ode(gaussian_decay, y, 0, 1, {1}, bad); }).find("steps must be >= 1") != std::string::npos);
    CHECK(error_of([&] { integrate_ode(gaussian_decay, y, 0, 1, {2}, OdeOptions{}); }).find("blocks cover 2") !=
          std::string::npos);
    y = {NAN};
    CHECK(error_of([&] { integrate_ode(gaussian_decay, y, 0, 1, {1}, OdeOptions{}); }).find("initial state") !=
          std::string::npos);
    y = {1.0};
    CHECK(error_of([&] { integrate_ode(gaussian_decay, y, 0, INFINITY, {1}, OdeOptions{}); }).find("interval") !=
          std::string::npos);
    // An empty interval is no work.
    o.solver = "dopri5";
    CHECK(integrate_ode(gaussian_decay, y, 0.5, 0.5, {1}, o).nfe == 0);
    CHECK(y[0] == 1.0);
  }
}
