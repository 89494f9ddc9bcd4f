// Pair potentials and the Gaussian-mixture energy as scalar code shared by the CPU kernels and the
// CUDA kernels (one definition of each energy's value and derivative).
//
// A pair term is written as a function of the squared distance r2 = |x_i - x_j|^2: it returns the
// energy e(r2) and de/dr2, so the gradient on particle i is 2 de/dr2 (x_i - x_j) and no square root is
// taken where the potential does not need one (Lennard-Jones).
#pragma once
#ifndef __CUDACC_RTC__
#include <cmath>
#include <cstdint>
#endif
#include "kernels/scalar/hd.h"

namespace orbit::scalar {

enum class PairKind : int { lennard_jones = 0, double_well = 1 };

// Parameters of E(x) = scale * sum_{i<j} e(|x_i - x_j|^2) + 0.5 oscillator sum_i |x_i - mean(x)|^2.
struct PairParams {
  PairKind kind = PairKind::lennard_jones;
  int n = 0, dim = 0;     // particles, spatial dimension
  double scale = 1;       // 2: every pair counted in both orders (iDEM's LJ)
  double oscillator = 0;  // harmonic confinement to the centre of mass
  // Lennard-Jones: e = eps [(rm^2/d2)^6 - 2 (rm^2/d2)^3], d2 = r2 + softening.
  double eps = 1, rm = 1, softening = 0;
  // Double well: e = a (d - d0)^4 + b (d - d0)^2, d = sqrt(r2).
  double a = 0, b = 0, d0 = 0;
};

// E(x) = -log( (1/K) sum_k N(scale x; mu_k, std^2 I) ), the means passed separately ([K, dim]).
struct GmmParams {
  int dim = 2, components = 1;
  double std = 1, scale = 1;
};

template <class T>
struct PairTerm {
  T e, de_dr2;
};

// Lennard-Jones with the r^-12 term formed as s3*s3 from s = rm^2/d2: no pow, and in f32 the
// intermediates stay finite down to d2 ~ 1e-6 (s3^2 <= 1e36 < FLT_MAX).
template <class T>
ORBIT_HD PairTerm<T> lennard_jones(T r2, T eps, T rm2, T softening) {
  T inv = T(1) / (r2 + softening);
  T s = rm2 * inv;
  T s3 = s * s * s;
  return {eps * (s3 * s3 - T(2) * s3), eps * T(6) * inv * (s3 - s3 * s3)};
}

// Double well in the pair distance. At r2 = 0 (coincident particles) the direction is undefined and
// de/dr2 is reported as 0, not NaN, so that a sampler's rejection step sees a finite gradient.
template <class T>
ORBIT_HD PairTerm<T> double_well(T r2, T a, T b, T d0) {
#ifndef __CUDACC_RTC__
  using std::sqrt;
#endif
  T d = sqrt(r2);
  T u = d - d0;
  T u2 = u * u;
  T e = a * u2 * u2 + b * u2;
  T de_dd = T(4) * a * u2 * u + T(2) * b * u;
  return {e, d > T(0) ? de_dd / (T(2) * d) : T(0)};
}

template <class T>
ORBIT_HD PairTerm<T> pair_term(const PairParams& p, T r2) {
  if (p.kind == PairKind::lennard_jones)
    return lennard_jones<T>(r2, T(p.eps), T(p.rm * p.rm), T(p.softening));
  return double_well<T>(r2, T(p.a), T(p.b), T(p.d0));
}

}  // namespace orbit::scalar
