#include "kernels/cpu/dem_target.h"

#include <cmath>
#include <vector>

#include "kernels/cpu/isa/gmm_energy.h"
#include "kernels/cpu/isa/select.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cpu/random.h"
#include "kernels/scalar/host_math.h"

#define ORBIT_ISA_NS isa_baseline
#include "kernels/cpu/isa/gmm_energy_body.inc"
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
  parallel_for(batch, 1, [&](int64_t b) {
    std::vector<double> y(D), g(D), acc(D, 0.0), q(C), w(C);
    // The point's K x D normals are consecutive in the stream: drawn at once, at the vector width
    // (one at a time they were 70% of a DW4 paper-preset step).
    thread_local std::vector<double> eps;
    eps.resize(static_cast<size_t>(p.K) * static_cast<size_t>(D));
    random_normals_f64(p.seed, p.stream, p.run, scalar::dem_noise_index(p, b, 0, 0), static_cast<int64_t>(eps.size()),
                       eps.data());
    const double s = static_cast<double>(sigma[b]);
    double m = -INFINITY, z = 0;
    for (int k = 0; k < p.K; ++k) {
      for (int j = 0; j < D; ++j)
        y[j] = static_cast<double>(x[b * D + j]) + s * eps[static_cast<size_t>(k) * D + j];
      double e = p.gmm ? gmm_energy(p.mixture.dim, C, inv_var, p.mixture.scale, y.data(), mu_t.data(), q.data(),
                                    w.data(), g.data())
                       : scalar::pair_energy_grad<double>(p.pair, y.data(), g.data());
      const double l = -e;
      if (!std::isfinite(l)) continue;  // an infinite energy has weight 0 (NaN: left out too)
      bool finite_grad = true;
      for (int j = 0; j < D; ++j) finite_grad = finite_grad && std::isfinite(g[j]);
      if (!finite_grad) continue;
      if (l > m) {  // online softmax: rescale what was accumulated under the old maximum
        const double r = scalar::hm::exp(m - l);
        z *= r;
        for (int j = 0; j < D; ++j) acc[j] *= r;
        m = l;
      }
      const double wk = scalar::hm::exp(l - m);
      z += wk;
      for (int j = 0; j < D; ++j) acc[j] -= wk * g[j];
    }
    for (int j = 0; j < D; ++j) acc[j] = z > 0 ? acc[j] / z : 0.0;
    scalar::dem_clip<double>(p, acc.data());
    for (int j = 0; j < D; ++j) out[b * D + j] = static_cast<T>(acc[j]);
  });
}

template void dem_target<float>(const scalar::DemParams&, const float*, const float*, const float*, int64_t, float*);
template void dem_target<double>(const scalar::DemParams&, const double*, const double*, const double*, int64_t,
                                 double*);

}  // namespace orbit::cpu
