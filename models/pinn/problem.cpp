#include "models/pinn/problem.h"

#include <cmath>

#include "engine/error.h"
#include "kernels/scalar/random.h"

namespace orbit::pinn {

Pde pde_from_name(const std::string& n) {
  if (n == "heat") return Pde::heat;
  if (n == "burgers") return Pde::burgers;
  throw Error("unknown PDE '" + n + "': expected heat or burgers");
}

const char* pde_name(Pde p) { return p == Pde::heat ? "heat" : "burgers"; }

double Problem::u0(double x) const {
  double s = 0;
  for (auto& term : initial) s += term.amplitude * std::sin(term.wavenumber * x + term.phase);
  return s;
}

Problem Problem::standard(Pde pde, uint64_t seed, int terms) {
  ORBIT_CHECK(terms >= 1 && terms <= 1000, "initial condition needs 1..1000 sine terms, got ", terms);
  Problem p;
  p.pde = pde;
  if (pde == Pde::burgers) {
    p.nu = 0.1;
    p.length = 2 * M_PI;
    p.t_end = 2.475;
  }
  const uint64_t stream = 0x5111e5;  // a fixed stream: the seed alone picks the condition
  for (int j = 0; j < terms; ++j) {
    double a = scalar::random_uniform<double>(seed, stream, 0, 3 * j) - 0.5;
    int l = 1 + static_cast<int>(3 * scalar::random_uniform<double>(seed, stream, 0, 3 * j + 1));
    double phi = 2 * M_PI * scalar::random_uniform<double>(seed, stream, 0, 3 * j + 2);
    p.initial.push_back({a, 2 * M_PI * std::min(l, 3) / p.length, phi});
  }
  return p;
}

}  // namespace orbit::pinn
