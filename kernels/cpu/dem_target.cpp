#include "kernels/cpu/dem_target.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/cpu/isa/gmm_energy.h"
#include "kernels/cpu/isa/pair_energy_lanes.h"
#include "kernels/cpu/isa/select.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cpu/random.h"
#include "kernels/scalar/host_math.h"

#define ORBIT_ISA_NS isa_baseline
#include "kernels/cpu/isa/gmm_energy_body.inc"
#include "kernels/cpu/isa/pair_energy_lanes_body.inc"
#undef ORBIT_ISA_NS

namespace orbit::cpu {

template <class T>
void dem_target(const scalar::DemParams& p, const T* x, const T* sigma, const T* means, int64_t batch, T* out) {
  const int D = p.D;
  const int C = p.gmm ? p.mixture.components : 0;
  std::vector<double> mu_t(static_cast<size_t>(C) * p.mixture.dim);  // the means by coordinate
  for (int c = 0; c < C; ++c)
    for (int k = 0; k < p.mixture.dim; ++k)
      mu_t[k * C + c] = static_cast<double>(means[c * p.mixture.dim + k]);
  // The GMM's energy: the instruction-set variant of the CPU (a profile of a GMM-40 training step
  // found this op 98% of it, 55% of that in the C library's scalar exp).
  const auto gmm_energy = ORBIT_ISA_SELECT(active_isa(), gmm_energy_grad);
  const double inv_var = 1.0 / (p.mixture.std * p.mixture.std);
  // Pair potentials: kPairLanes noisy copies per call, vectorised across copies.
  const auto pair_energy = ORBIT_ISA_SELECT(active_isa(), pair_energy_grad_lanes);
  parallel_for(batch, 1, [&](int64_t b) {
    std::vector<double> y(D), g(D), acc(D, 0.0), q(C), w(C);
    // The point's K x D normals are consecutive in the stream: drawn at once, at the vector width
    // (drawn one at a time they were most of this op in a DW4 paper-preset step).
    thread_local std::vector<double> eps;
    eps.resize(static_cast<size_t>(p.K) * static_cast<size_t>(D));
    random_normals_f64(p.seed, p.stream, p.run, scalar::dem_noise_index(p, b, 0, 0), static_cast<int64_t>(eps.size()),
                       eps.data());
    const double s = static_cast<double>(sigma[b]);
    // Online softmax over the copies, in copy order: rescale what was accumulated under the old maximum.
    double m = -INFINITY, z = 0;
    auto add_copy = [&](double e, auto grad) {
      const double l = -e;
      if (!std::isfinite(l)) return;  // an infinite energy has weight 0 (NaN: left out too)
      for (int j = 0; j < D; ++j)
        if (!std::isfinite(grad(j))) return;
      if (l > m) {
        const double r = scalar::hm::exp(m - l);
        z *= r;
        for (int j = 0; j < D; ++j) acc[j] *= r;
        m = l;
      }
      const double wk = scalar::hm::exp(l - m);
      z += wk;
      for (int j = 0; j < D; ++j) acc[j] -= wk * grad(j);
    };
    if (p.gmm) {
      for (int k = 0; k < p.K; ++k) {
        for (int j = 0; j < D; ++j) y[j] = static_cast<double>(x[b * D + j]) + s * eps[static_cast<size_t>(k) * D + j];
        const double e = gmm_energy(p.mixture.dim, C, inv_var, p.mixture.scale, y.data(), mu_t.data(), q.data(),
                                    w.data(), g.data());
        add_copy(e, [&](int j) { return g[j]; });
      }
    } else {
      // kPairLanes copies at a time, lane-minor (a short last block repeats its last copy).
      constexpr int L = kPairLanes;
      thread_local std::vector<double> ys, gs;
      ys.resize(static_cast<size_t>(D) * L), gs.resize(static_cast<size_t>(D) * L);
      double es[L];
      for (int k0 = 0; k0 < p.K; k0 += L) {
        const int lanes = std::min(L, p.K - k0);
        for (int j = 0; j < D; ++j)
          for (int l = 0; l < L; ++l)
            ys[static_cast<size_t>(j) * L + l] =
                static_cast<double>(x[b * D + j]) + s * eps[static_cast<size_t>(k0 + std::min(l, lanes - 1)) * D + j];
        pair_energy(p.pair, ys.data(), es, gs.data());
        for (int l = 0; l < lanes; ++l) add_copy(es[l], [&](int j) { return gs[static_cast<size_t>(j) * L + l]; });
      }
    }
    for (int j = 0; j < D; ++j) acc[j] = z > 0 ? acc[j] / z : 0.0;
    scalar::dem_clip<double>(p, acc.data());
    for (int j = 0; j < D; ++j) out[b * D + j] = static_cast<T>(acc[j]);
  });
}

void pair_energy_grad_lanes(const scalar::PairParams& p, const double* y, double* e, double* g) {
  ORBIT_ISA_SELECT(active_isa(), pair_energy_grad_lanes)(p, y, e, g);
}

template void dem_target<float>(const scalar::DemParams&, const float*, const float*, const float*, int64_t, float*);
template void dem_target<double>(const scalar::DemParams&, const double*, const double*, const double*, int64_t,
                                 double*);

}  // namespace orbit::cpu
