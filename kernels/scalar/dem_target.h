// The DEM Monte-Carlo score target (iDEM, Akhound-Sadegh et al. 2024), shared definitions:
//
//   S_K(x, sigma) = grad_x log (1/K) sum_k exp(-E(x + sigma eps_k)) = sum_k softmax_k(-E_k) (-grad E)(x + sigma eps_k)
//
// with eps_k ~ N(0, I) drawn from the shared Philox stream (element ((b K + k) D + j) of (seed, stream,
// run)), so that the CPU and CUDA kernels use the same noise. Copies whose energy is not finite get
// weight 0. The result is clipped to max_norm: per particle (molecules) or as one vector (GMM).
#pragma once
#include "kernels/scalar/pair_potential.h"
#include "kernels/scalar/random.h"

namespace orbit::scalar {

struct DemParams {
  bool gmm = false;  // family: Gaussian mixture (else a pair potential)
  PairParams pair;
  GmmParams mixture;
  int D = 0;          // flat dimension of a configuration
  int K = 1;          // Monte-Carlo copies per point
  uint64_t seed = 0, stream = 0, run = 0;
  double max_norm = 0;        // <= 0: no clipping
  int clip_group = 0;         // clip each group of this many coordinates (a particle); D: the whole vector
};

ORBIT_HD uint64_t dem_noise_index(const DemParams& p, int64_t b, int k, int j) {
  return (static_cast<uint64_t>(b) * static_cast<uint64_t>(p.K) + static_cast<uint64_t>(k)) * static_cast<uint64_t>(p.D) +
         static_cast<uint64_t>(j);
}

// Scales v [D] in place so that each group of clip_group coordinates has norm <= max_norm, as iDEM's
// clipper does: v * min(1, max_norm / (|v| + 1e-6)).
template <class T>
ORBIT_HD void dem_clip(const DemParams& p, T* v) {
#ifndef __CUDACC_RTC__
  using std::sqrt;
#endif
  if (!(p.max_norm > 0)) return;
  const int gsz = p.clip_group > 0 ? p.clip_group : p.D;
  for (int s = 0; s < p.D; s += gsz) {
    T n2 = T(0);
    for (int k = 0; k < gsz; ++k) n2 += v[s + k] * v[s + k];
    T f = T(p.max_norm) / (sqrt(n2) + T(1e-6));
    if (f < T(1))
      for (int k = 0; k < gsz; ++k) v[s + k] *= f;
  }
}

}  // namespace orbit::scalar
