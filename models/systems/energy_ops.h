// The Boltzmann energies as custom ops of the engine. One op per family:
//   pair_potential(x)      Lennard-Jones / double-well pair sums (+ harmonic confinement), x [B, n*dim]
//   gmm_energy(x, means)   -log of an equal-weight isotropic Gaussian mixture, x [B, dim], means [K, dim]
// Each op computes, in one pass, the energy [B], its gradient dE/dx [B, D], or both packed as [B, 1 + D]
// (column 0 the energy), with a CPU kernel and a CUDA kernel.
//
// VJP rules: the energy's VJP is the fused gradient op; the gradient's VJP (a Hessian-vector product)
// is written in primitive graph ops (the same energy built from sub/square/sum/...), differentiated
// twice by the ordinary autodiff, so gradients of any order exist (force matching differentiates the
// forces w.r.t. parameters; tests take third derivatives). The GMM means are not differentiated.
#pragma once
#include "engine/attrs.h"
#include "engine/graph.h"
#include "kernels/scalar/pair_potential.h"

namespace orbit::systems {

enum class EnergyOutput : int64_t { energy = 0, grad = 1, both = 2 };

struct PairPotentialAttr : Attr<PairPotentialAttr> {
  static constexpr const char* kName = "pair_potential";
  int64_t kind = 0, n = 0, dim = 0;
  double scale = 1, oscillator = 0, eps = 1, rm = 1, softening = 0, a = 0, b = 0, d0 = 0;
  int64_t output = 0;  // an EnergyOutput
  auto fields() const {
    return std::tie(kind, n, dim, scale, oscillator, eps, rm, softening, a, b, d0, output);
  }
  EnergyOutput out() const { return static_cast<EnergyOutput>(output); }
  scalar::PairParams params() const;
  static PairPotentialAttr from(const scalar::PairParams& p, EnergyOutput out);
};

struct GmmEnergyAttr : Attr<GmmEnergyAttr> {
  static constexpr const char* kName = "gmm_energy";
  double std = 1, scale = 1;
  int64_t output = 0;  // an EnergyOutput
  auto fields() const { return std::tie(std, scale, output); }
  EnergyOutput out() const { return static_cast<EnergyOutput>(output); }
};

// Registers both ops (idempotent, thread-safe) and returns their ids.
OpId pair_potential_op();
OpId gmm_energy_op();
void register_energy_ops();

Var pair_potential(Var x, const scalar::PairParams& p, EnergyOutput out = EnergyOutput::energy);
Var gmm_energy(Var x, Var means, double std, double scale, EnergyOutput out = EnergyOutput::energy);

// The same energies in primitive ops only ([B]): the reference of the fused kernels, and the graph the
// gradient outputs' VJP differentiates.
Var pair_potential_primitive(Var x, const scalar::PairParams& p);
Var gmm_energy_primitive(Var x, Var means, double std, double scale);

}  // namespace orbit::systems
