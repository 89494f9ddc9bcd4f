#include "models/pinn/reference.h"

#include <algorithm>
#include <cmath>
#include <complex>

#include "engine/error.h"
#include "models/pinn/fft.h"

namespace orbit::pinn {

namespace {

GridSolution empty_grid(const Problem& p, int nx, int nt) {
  ORBIT_CHECK(nx >= 4 && nt >= 2, "reference grid needs nx >= 4 and nt >= 2, got ", nx, " x ", nt);
  GridSolution g;
  g.nx = nx;
  g.nt = nt;
  for (int i = 0; i < nx; ++i) g.x.push_back(p.length * i / nx);
  for (int j = 0; j < nt; ++j) g.t.push_back(p.t_end * j / (nt - 1));
  g.u.assign(static_cast<size_t>(nx) * nt, 0.0);
  return g;
}

// The initial potential U0(x) = int_0^x u0, periodic because u0 has zero mean.
double potential(const Problem& p, double x) {
  double s = 0;
  for (auto& term : p.initial)
    s += term.amplitude * (std::cos(term.phase) - std::cos(term.wavenumber * x + term.phase)) / term.wavenumber;
  return s;
}

}  // namespace

double heat_exact(const Problem& p, double x, double t) {
  double s = 0;
  for (auto& term : p.initial)
    s += term.amplitude * std::exp(-p.nu * term.wavenumber * term.wavenumber * t) *
         std::sin(term.wavenumber * x + term.phase);
  return s;
}

GridSolution exact_solution(const Problem& p, int nx, int nt, int modes) {
  GridSolution g = empty_grid(p, nx, nt);
  if (p.pde == Pde::heat) {
    for (int j = 0; j < nt; ++j)
      for (int i = 0; i < nx; ++i) g.u[static_cast<size_t>(j) * nx + i] = heat_exact(p, g.x[i], g.t[j]);
    return g;
  }
  // Burgers: u = -2 nu theta_x / theta with theta_t = nu theta_xx, theta(x, 0) = exp(-U0(x) / (2 nu)).
  ORBIT_CHECK(modes >= nx && modes % nx == 0 && (modes & (modes - 1)) == 0, "Cole-Hopf: modes (", modes,
              ") must be a power of two and a multiple of nx (", nx, ")");
  std::vector<double> pot(modes);
  for (int m = 0; m < modes; ++m) pot[m] = potential(p, p.length * m / modes);
  const double lo = *std::min_element(pot.begin(), pot.end());  // scale theta to at most 1: no overflow
  std::vector<std::complex<double>> c(modes);
  for (int m = 0; m < modes; ++m) c[m] = std::exp(-(pot[m] - lo) / (2 * p.nu));
  fft(c, -1);  // trapezoid quadrature of the Fourier coefficients (spectrally accurate: theta0 is periodic)
  std::vector<std::complex<double>> th(modes), thx(modes);
  const int stride = modes / nx;
  for (int j = 0; j < nt; ++j) {
    for (int m = 0; m < modes; ++m) {
      int freq = m <= modes / 2 ? m : m - modes;
      double kappa = 2 * M_PI * freq / p.length;
      std::complex<double> v = c[m] * std::exp(-p.nu * kappa * kappa * g.t[j]) / static_cast<double>(modes);
      th[m] = v;
      thx[m] = (2 * freq == modes) ? 0.0 : v * std::complex<double>(0, kappa);  // Nyquist mode has no odd part
    }
    fft(th, +1);
    fft(thx, +1);
    for (int i = 0; i < nx; ++i) {
      double theta = th[static_cast<size_t>(i) * stride].real();
      ORBIT_CHECK(theta > 0, "Cole-Hopf: the potential lost positivity (increase modes)");
      g.u[static_cast<size_t>(j) * nx + i] = -2 * p.nu * thx[static_cast<size_t>(i) * stride].real() / theta;
    }
  }
  return g;
}

GridSolution finite_difference_solution(const Problem& p, int nx, int nt, double dt_max) {
  GridSolution g = empty_grid(p, nx, nt);
  const double dx = p.length / nx;
  std::vector<double> u(nx), k1(nx), k2(nx), k3(nx), k4(nx), tmp(nx);
  for (int i = 0; i < nx; ++i) u[i] = p.u0(g.x[i]);
  auto rhs = [&](const std::vector<double>& v, std::vector<double>& out) {
    for (int i = 0; i < nx; ++i) {
      double l = v[(i + nx - 1) % nx], c = v[i], r = v[(i + 1) % nx];
      double d = p.nu * (r - 2 * c + l) / (dx * dx);
      if (p.pde == Pde::burgers) d -= (r * r - l * l) / (4 * dx);  // central flux (u^2 / 2)_x
      out[i] = d;
    }
  };
  auto rk4 = [&](double dt) {
    rhs(u, k1);
    for (int i = 0; i < nx; ++i) tmp[i] = u[i] + 0.5 * dt * k1[i];
    rhs(tmp, k2);
    for (int i = 0; i < nx; ++i) tmp[i] = u[i] + 0.5 * dt * k2[i];
    rhs(tmp, k3);
    for (int i = 0; i < nx; ++i) tmp[i] = u[i] + dt * k3[i];
    rhs(tmp, k4);
    for (int i = 0; i < nx; ++i) u[i] += dt / 6 * (k1[i] + 2 * k2[i] + 2 * k3[i] + k4[i]);
  };
  std::copy(u.begin(), u.end(), g.u.begin());
  double t = 0;
  for (int j = 1; j < nt; ++j) {
    while (t < g.t[j] - 1e-14) {
      double umax = 1e-12;
      for (double v : u) umax = std::max(umax, std::abs(v));
      // RK4 is stable for diffusion up to ~2.78 / (4 nu / dx^2) and advection up to ~2.8 dx / |u|.
      double dt = std::min({dt_max, 0.5 * dx * dx / p.nu, 0.5 * dx / umax, g.t[j] - t});
      rk4(dt);
      t += dt;
      for (double v : u) ORBIT_CHECK(std::isfinite(v), "finite differences diverged at t = ", t);
    }
    std::copy(u.begin(), u.end(), g.u.begin() + static_cast<long>(j) * nx);
  }
  return g;
}

double relative_l2(const std::vector<double>& a, const std::vector<double>& b) {
  ORBIT_CHECK(a.size() == b.size() && !a.empty(), "relative_l2: sizes differ (", a.size(), " vs ", b.size(), ")");
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num += (a[i] - b[i]) * (a[i] - b[i]);
    den += b[i] * b[i];
  }
  ORBIT_CHECK(den > 0, "relative_l2: the reference is zero");
  return std::sqrt(num / den);
}

}  // namespace orbit::pinn
