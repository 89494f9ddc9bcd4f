#include "kernels/cpu/dem_target.h"

#include <cmath>
#include <vector>

#include "kernels/cpu/parallel.h"

namespace orbit::cpu {

template <class T>
void dem_target(const scalar::DemParams& p, const T* x, const T* sigma, const T* means, int64_t batch, T* out) {
  const int D = p.D;
  std::vector<double> mu;
  if (p.gmm) mu.assign(means, means + static_cast<int64_t>(p.mixture.components) * p.mixture.dim);
  parallel_for(batch, 1, [&](int64_t b) {
    std::vector<double> y(D), g(D), acc(D, 0.0);
    const double s = static_cast<double>(sigma[b]);
    double m = -INFINITY, z = 0;
    for (int k = 0; k < p.K; ++k) {
      for (int j = 0; j < D; ++j)
        y[j] = static_cast<double>(x[b * D + j]) +
               s * scalar::random_normal<double>(p.seed, p.stream, p.run, scalar::dem_noise_index(p, b, k, j));
      double e = p.gmm ? scalar::gmm_energy_grad<double>(p.mixture, y.data(), mu.data(), g.data())
                       : scalar::pair_energy_grad<double>(p.pair, y.data(), g.data());
      const double l = -e;
      if (!std::isfinite(l)) continue;  // an infinite energy has weight 0 (NaN: left out too)
      bool finite_grad = true;
      for (int j = 0; j < D; ++j) finite_grad = finite_grad && std::isfinite(g[j]);
      if (!finite_grad) continue;
      if (l > m) {  // online softmax: rescale what was accumulated under the old maximum
        const double r = std::exp(m - l);
        z *= r;
        for (int j = 0; j < D; ++j) acc[j] *= r;
        m = l;
      }
      const double w = std::exp(l - m);
      z += w;
      for (int j = 0; j < D; ++j) acc[j] -= w * g[j];
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
