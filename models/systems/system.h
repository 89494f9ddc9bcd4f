// The Boltzmann target systems of iDEM and the samplers judged against them: GMM-40 (2-D mixture),
// DW4 (4 particles in 2-D, double-well pair potential), LJ13 and LJ55 (Lennard-Jones clusters in 3-D).
// A System names the energy E(x) of a flattened configuration x in R^(n*dim); densities are exp(-E).
// Conventions follow the iDEM code and its reference samples (see docs/systems.md).
#pragma once
#include <string>
#include <vector>

#include "engine/graph.h"
#include "engine/tensor.h"
#include "models/systems/energy_ops.h"

namespace orbit::systems {

enum class Kind { gmm, double_well, lennard_jones };

struct System {
  std::string name;  // gmm40, dw4, lj13, lj55
  Kind kind = Kind::lennard_jones;
  int n_particles = 1;  // GMM: 1 "particle" of dimension 2
  int dim = 2;
  int flat_dim() const { return n_particles * dim; }
  bool is_molecule() const { return kind != Kind::gmm; }  // translation-invariant, samples are mean-free

  // Lennard-Jones: E = pair_scale * sum_{i<j} eps [(rm/d)^12 - 2 (rm/d)^6] + 0.5 oscillator sum_i |x_i - mean|^2,
  // d = sqrt(|x_i - x_j|^2 + softening). pair_scale 2 is iDEM's ordered-pair sum (the convention of the
  // reference samples); 1 is the textbook unique-pair sum.
  double lj_epsilon = 1, lj_rm = 1, lj_softening = 1e-6, oscillator = 1;
  double pair_scale = 2;
  // Double well: E = sum_{i<j} a (d - d0)^4 + b (d - d0)^2, d = |x_i - x_j|.
  double dw_a = 0.9, dw_b = -4, dw_d0 = 4;
  // GMM: E(x) = -log p(scale * x), p an equal-weight mixture of N(mu_k, std^2 I). scale 50 is iDEM's
  // normalised coordinates (x = y / 50); 1 evaluates in the original units.
  std::vector<double> gmm_means;  // [K, dim] row-major
  double gmm_std = 1.3132616875182228;  // softplus(1)
  double gmm_scale = 1;
  int gmm_components() const { return static_cast<int>(gmm_means.size()) / dim; }
};

struct SystemOptions {
  bool unique_pairs = false;    // LJ: textbook unique-pair sum instead of iDEM's ordered pairs
  bool gmm_normalised = false;  // GMM: evaluate at 50 x (iDEM's normalised coordinates)
};

// "gmm40", "dw4", "lj13", "lj55"; throws naming the known systems otherwise.
System system_by_name(const std::string& name, const SystemOptions& opts = {});
const std::vector<std::string>& system_names();

// GMM-40's means exactly as the iDEM code draws them: torch.manual_seed(0); (torch.rand(40, 2) - 0.5) * 80,
// reproduced with MT19937 (torch's CPU generator) without torch. [40 * 2] row-major.
std::vector<double> gmm40_means();

// Checks that x is a float tensor of shape [B, flat_dim] (or [flat_dim]: one configuration) with finite
// values; throws naming `what`, the expected and the actual shape, or the first non-finite entry.
void check_configurations(const System& s, const Tensor& x, const std::string& what);

// The system's energy as a graph op on x [B, flat_dim]: the energy [B], dE/dx [B, flat_dim], or both
// packed [B, 1 + flat_dim] (fused CPU/CUDA kernels, differentiable to any order).
Var energy_op(const System& s, Var x, EnergyOutput out = EnergyOutput::energy);
// The same energy in primitive graph ops (a reference for tests; slower).
Var energy_primitive(const System& s, Var x);

// Energies [B] (f64) and, when `grad` is non-null, dE/dx [B, flat_dim] (f64) of the configurations in x,
// evaluated on `dev` by the fused energy op (the CPU reference or the CUDA kernel).
Tensor energies(const System& s, const Tensor& x, Device dev = Device::cpu(), Tensor* grad = nullptr);

}  // namespace orbit::systems
