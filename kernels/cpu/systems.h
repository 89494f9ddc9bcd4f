// CPU kernels of the Boltzmann-system energies (the reference the CUDA kernels are checked against):
// energy and gradient of a batch of flattened configurations in one pass, computed in f64 whatever
// the storage type (an f32 result is the rounded f64 value).
#pragma once
#include <cstdint>

#include "kernels/scalar/pair_potential.h"

namespace orbit::cpu {

// Where a kernel writes: energy of configuration b at energy[b * energy_stride] (skipped when energy is
// null), dE/dx at grad[b * grad_stride + k] (skipped when grad is null).
template <class T>
struct EnergyOut {
  T* energy = nullptr;
  int64_t energy_stride = 1;
  T* grad = nullptr;
  int64_t grad_stride = 0;
};

// x: [batch, n * dim] row-major.
template <class T>
void pair_potential(const scalar::PairParams& p, const T* x, int64_t batch, EnergyOut<T> out);

// E(x) = -log( (1/K) sum_k N(scale x; mu_k, std^2 I) ); means: [components, dim].
template <class T>
void gmm_energy(const scalar::GmmParams& p, const T* x, const T* means, int64_t batch, EnergyOut<T> out);

}  // namespace orbit::cpu
