// Reference solutions on a uniform grid, computed by orbit itself: the heat equation in closed form
// (Fourier modes), Burgers through the Cole-Hopf transform (the heat equation for the potential,
// solved exactly in Fourier space from a quadrature of the initial potential), and a
// finite-difference solver (method of lines, second-order central differences, RK4) for both, whose
// convergence the tests check against the closed forms.
#pragma once
#include <vector>

#include "models/pinn/problem.h"

namespace orbit::pinn {

// u at x_i = i L / nx (i < nx) and t_j = j T / (nt - 1) (j < nt), row-major [nt][nx].
struct GridSolution {
  int nx = 0, nt = 0;
  std::vector<double> x, t, u;
  double at(int j, int i) const { return u[static_cast<size_t>(j) * nx + i]; }
};

double heat_exact(const Problem& p, double x, double t);
// The exact solution on the grid: closed form (heat) or Cole-Hopf with `modes` Fourier modes of the
// potential (Burgers; a power of two, a multiple of nx).
GridSolution exact_solution(const Problem& p, int nx, int nt, int modes = 8192);
// Method of lines on nx cells with RK4 steps of at most `dt_max` (also limited by stability).
GridSolution finite_difference_solution(const Problem& p, int nx, int nt, double dt_max = 1e-3);

// Relative L2 error ||a - b|| / ||b|| over all grid values.
double relative_l2(const std::vector<double>& a, const std::vector<double>& b);

}  // namespace orbit::pinn
