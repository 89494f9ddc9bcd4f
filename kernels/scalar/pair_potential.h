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

namespace orbit::scalar {

// Energy of one configuration x [n * dim] and, when g is non-null, its gradient (written to g):
// the single-thread form used where one thread owns a whole configuration (the DEM score target).
template <class T>
ORBIT_HD T pair_energy_grad(const PairParams& p, const T* x, T* g) {
  const int n = p.n, d = p.dim;
  if (g)
    for (int k = 0; k < n * d; ++k) g[k] = T(0);
  T e = T(0);
  for (int i = 0; i < n; ++i)
    for (int j = i + 1; j < n; ++j) {
      T diff[4];
      T r2 = T(0);
      for (int k = 0; k < d; ++k) {
        diff[k] = x[i * d + k] - x[j * d + k];
        r2 += diff[k] * diff[k];
      }
      PairTerm<T> t = pair_term<T>(p, r2);
      e += t.e;
      if (g)
        for (int k = 0; k < d; ++k) {
          T f = T(2) * t.de_dr2 * diff[k];
          g[i * d + k] += f;
          g[j * d + k] -= f;
        }
    }
  const T scale = T(p.scale);
  e *= scale;
  if (g)
    for (int k = 0; k < n * d; ++k) g[k] *= scale;
  if (p.oscillator != 0) {
    const T osc = T(p.oscillator);
    for (int k = 0; k < d; ++k) {
      T m = T(0);
      for (int i = 0; i < n; ++i) m += x[i * d + k];
      m /= T(n);
      for (int i = 0; i < n; ++i) {
        T c = x[i * d + k] - m;
        e += T(0.5) * osc * c * c;
        if (g) g[i * d + k] += osc * c;
      }
    }
  }
  return e;
}

// The same for the Gaussian mixture (x [dim], means [components, dim]); a stable logsumexp.
template <class T>
ORBIT_HD T gmm_energy_grad(const GmmParams& p, const T* x, const T* means, T* g) {
#ifndef __CUDACC_RTC__
  using std::exp;
  using std::log;
#endif
  const int d = p.dim;
  const T inv_var = T(1) / (T(p.std) * T(p.std)), scale = T(p.scale);
  T m = T(0), z = T(0), acc[8];
  bool first = true;
  for (int k = 0; k < d; ++k) acc[k] = T(0);
  for (int c = 0; c < p.components; ++c) {
    T u[8], s = T(0);
    for (int k = 0; k < d; ++k) {
      u[k] = scale * x[k] - means[c * d + k];
      s += u[k] * u[k];
    }
    T q = T(-0.5) * s * inv_var;
    if (first || q > m) {
      T r = first ? T(0) : exp(m - q);
      z *= r;
      for (int k = 0; k < d; ++k) acc[k] *= r;
      m = q;
      first = false;
    }
    T w = exp(q - m);
    z += w;
    for (int k = 0; k < d; ++k) acc[k] += w * u[k];
  }
  const T log_norm = log(T(p.components)) + T(0.5) * T(d) * log(T(6.283185307179586) / inv_var);
  if (g)
    for (int k = 0; k < d; ++k) g[k] = scale * acc[k] / z * inv_var;
  return -(m + log(z)) + log_norm;
}

}  // namespace orbit::scalar
