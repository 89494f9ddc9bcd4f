#include "kernels/cpu/systems.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/cpu/parallel.h"

namespace orbit::cpu {

template <class T>
void pair_potential(const scalar::PairParams& p, const T* x, int64_t batch, EnergyOut<T> out) {
  const int n = p.n, dim = p.dim, nd = n * dim;
  parallel_for(batch, 16, [&](int64_t b) {
    const T* xb = x + b * nd;
    std::vector<double> g(out.grad ? nd : 0, 0.0);
    double e = 0;
    for (int i = 0; i < n; ++i)
      for (int j = i + 1; j < n; ++j) {
        double diff[8];
        double r2 = 0;
        for (int k = 0; k < dim; ++k) {
          diff[k] = static_cast<double>(xb[i * dim + k]) - static_cast<double>(xb[j * dim + k]);
          r2 += diff[k] * diff[k];
        }
        auto t = scalar::pair_term<double>(p, r2);
        e += t.e;
        if (out.grad)
          for (int k = 0; k < dim; ++k) {
            double f = 2.0 * t.de_dr2 * diff[k];
            g[i * dim + k] += f;
            g[j * dim + k] -= f;
          }
      }
    e *= p.scale;
    for (auto& v : g) v *= p.scale;
    if (p.oscillator != 0) {
      double mean[8] = {};
      for (int i = 0; i < n; ++i)
        for (int k = 0; k < dim; ++k) mean[k] += static_cast<double>(xb[i * dim + k]) / n;
      double sq = 0;
      for (int i = 0; i < n; ++i)
        for (int k = 0; k < dim; ++k) {
          double c = static_cast<double>(xb[i * dim + k]) - mean[k];
          sq += c * c;
          if (out.grad) g[i * dim + k] += p.oscillator * c;
        }
      e += 0.5 * p.oscillator * sq;
    }
    if (out.energy) out.energy[b * out.energy_stride] = static_cast<T>(e);
    if (out.grad)
      for (int k = 0; k < nd; ++k) out.grad[b * out.grad_stride + k] = static_cast<T>(g[k]);
  });
}

template <class T>
void gmm_energy(const scalar::GmmParams& p, const T* x, const T* means, int64_t batch, EnergyOut<T> out) {
  const int d = p.dim, K = p.components;
  const double var = p.std * p.std;
  const double log_norm = std::log(static_cast<double>(K)) + 0.5 * d * std::log(2 * M_PI * var);
  parallel_for(batch, 64, [&](int64_t b) {
    std::vector<double> y(d), q(K);
    for (int k = 0; k < d; ++k) y[k] = p.scale * static_cast<double>(x[b * d + k]);
    double qmax = -INFINITY;
    for (int c = 0; c < K; ++c) {
      double s = 0;
      for (int k = 0; k < d; ++k) {
        double u = y[k] - static_cast<double>(means[c * d + k]);
        s += u * u;
      }
      q[c] = -0.5 * s / var;
      qmax = std::max(qmax, q[c]);
    }
    double z = 0;
    for (int c = 0; c < K; ++c) z += std::exp(q[c] - qmax);
    if (out.energy) out.energy[b * out.energy_stride] = static_cast<T>(-(qmax + std::log(z)) + log_norm);
    if (out.grad)
      for (int k = 0; k < d; ++k) {
        double gk = 0;  // scale * sum_c w_c (y - mu_c) / var with w = softmax(q)
        for (int c = 0; c < K; ++c)
          gk += std::exp(q[c] - qmax) / z * (y[k] - static_cast<double>(means[c * d + k]));
        out.grad[b * out.grad_stride + k] = static_cast<T>(p.scale * gk / var);
      }
  });
}

template void pair_potential<float>(const scalar::PairParams&, const float*, int64_t, EnergyOut<float>);
template void pair_potential<double>(const scalar::PairParams&, const double*, int64_t, EnergyOut<double>);
template void gmm_energy<float>(const scalar::GmmParams&, const float*, const float*, int64_t, EnergyOut<float>);
template void gmm_energy<double>(const scalar::GmmParams&, const double*, const double*, int64_t, EnergyOut<double>);

}  // namespace orbit::cpu
