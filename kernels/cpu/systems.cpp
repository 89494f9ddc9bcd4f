#include "kernels/cpu/systems.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/cpu/parallel.h"

namespace orbit::cpu {

// Both kernels evaluate the single-configuration scalar code (kernels/scalar/pair_potential.h) in f64
// on a copy of each configuration, one configuration per iteration of the parallel loop.
template <class T>
void pair_potential(const scalar::PairParams& p, const T* x, int64_t batch, EnergyOut<T> out) {
  const int nd = p.n * p.dim;
  parallel_for(batch, 16, [&](int64_t b) {
    std::vector<double> y(x + b * nd, x + (b + 1) * nd), g(out.grad ? nd : 0);
    const double e = scalar::pair_energy_grad<double>(p, y.data(), out.grad ? g.data() : nullptr);
    if (out.energy) out.energy[b * out.energy_stride] = static_cast<T>(e);
    if (out.grad)
      for (int k = 0; k < nd; ++k) out.grad[b * out.grad_stride + k] = static_cast<T>(g[k]);
  });
}

template <class T>
void gmm_energy(const scalar::GmmParams& p, const T* x, const T* means, int64_t batch, EnergyOut<T> out) {
  const int d = p.dim;
  const std::vector<double> mu(means, means + static_cast<int64_t>(p.components) * d);
  parallel_for(batch, 64, [&](int64_t b) {
    std::vector<double> y(x + b * d, x + (b + 1) * d), g(out.grad ? d : 0);
    const double e = scalar::gmm_energy_grad<double>(p, y.data(), mu.data(), out.grad ? g.data() : nullptr);
    if (out.energy) out.energy[b * out.energy_stride] = static_cast<T>(e);
    if (out.grad)
      for (int k = 0; k < d; ++k) out.grad[b * out.grad_stride + k] = static_cast<T>(g[k]);
  });
}

template void pair_potential<float>(const scalar::PairParams&, const float*, int64_t, EnergyOut<float>);
template void pair_potential<double>(const scalar::PairParams&, const double*, int64_t, EnergyOut<double>);
template void gmm_energy<float>(const scalar::GmmParams&, const float*, const float*, int64_t, EnergyOut<float>);
template void gmm_energy<double>(const scalar::GmmParams&, const double*, const double*, int64_t, EnergyOut<double>);

}  // namespace orbit::cpu
