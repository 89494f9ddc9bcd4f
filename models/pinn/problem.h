// The PDE problems of the Lie-point-symmetry PINN study: 1D periodic heat and viscous Burgers
// equations on [0, L) x [0, T] with an initial condition that is a sum of sines
// f(x) = sum_j A_j sin(2 pi l_j x / L + phi_j) (zero mean, so Burgers' Cole-Hopf potential is periodic).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace orbit::pinn {

enum class Pde { heat, burgers };
Pde pde_from_name(const std::string& name);  // "heat" | "burgers"; throws on anything else
const char* pde_name(Pde p);

struct SineTerm {
  double amplitude, wavenumber, phase;  // A, k = 2 pi l / L, phi
};

struct Problem {
  Pde pde = Pde::heat;
  double nu = 0.01;     // diffusivity / viscosity
  double length = 6;    // L: the periodic domain [0, L)
  double t_end = 16;    // T
  std::vector<SineTerm> initial;

  double u0(double x) const;
  // The problem of the study for `pde` (heat: L = 6, nu = 0.01, T = 16; Burgers: L = 2 pi, nu = 0.1,
  // T = 2.475) with `terms` sine terms, A ~ U(-0.5, 0.5), l in {1, 2, 3}, phi ~ U(0, 2 pi) from `seed`.
  static Problem standard(Pde pde, uint64_t seed, int terms = 10);
};

}  // namespace orbit::pinn
