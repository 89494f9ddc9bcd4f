// Reference samplers for the Boltzmann systems: many parallel Markov chains targeting exp(-beta E),
// run as compiled Programs (CPU or CUDA, the same graph), with step-size adaptation during burn-in and
// convergence diagnostics (energy traces, R-hat across chain groups).
//
// Methods: MALA (Langevin proposal + Metropolis-Hastings), HMC (leapfrog, Gaussian momenta) and
// random-walk Metropolis (the recipe the shipped reference samples were made with). For particle
// systems every move is projected onto the zero-centre-of-mass subspace (the energies are
// translation invariant, and the reference sets are mean-free).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/device.h"
#include "engine/tensor.h"
#include "models/systems/system.h"

namespace orbit::systems {

enum class McmcMethod { mala, hmc, rwm };
McmcMethod parse_mcmc_method(const std::string& s);  // "mala" | "hmc" | "rwm"
const char* mcmc_method_name(McmcMethod m);

struct McmcConfig {
  McmcMethod method = McmcMethod::mala;
  int64_t chains = 256;
  int groups = 4;           // chain groups: step sizes are adapted per group, R-hat compares groups
  int64_t burn_in = 2000;   // steps (adaptation runs during burn-in only)
  int64_t steps = 10000;    // steps after burn-in
  int64_t thin = 10;        // keep every chain's state every `thin` steps after burn-in
  int64_t block = 10;       // steps per Program run (unrolled in one graph); energies recorded per block
  int leapfrog = 5;         // HMC: leapfrog steps per proposal
  double step = 0;          // initial step size (MALA: h, HMC: epsilon, RWM: proposal std); 0: per-system default
  double target_accept = 0; // 0: 0.574 (MALA), 0.65 (HMC), 0.3 (RWM)
  double beta = 1;          // inverse temperature
  bool adapt = true;
  // Particle systems: each kept sample gets an independent uniformly random rotation/reflection and
  // particle permutation. The target is invariant under both, so this keeps exact samples exact while
  // removing the slow orientational and label mixing of the chains from the output.
  bool symmetrize = true;
  uint64_t seed = 0;
  DType dtype = DType::f64;
  Device device = Device::cpu();
  bool quiet = true;        // progress bar on stderr when false
};

struct McmcResult {
  Tensor samples;       // [chains * (steps / thin), flat_dim] f64, ordered by time then chain
  Tensor energy_trace;  // [blocks, chains] f64: every chain's energy at the end of each block
  int64_t burn_in_blocks = 0;
  std::vector<double> step_size;   // final step size per group
  std::vector<double> acceptance;  // post-burn-in acceptance rate per group
  double rhat_groups = 0;  // Gelman-Rubin R-hat of the group-mean energy traces (post burn-in)
  double rhat_chains = 0;  // R-hat over all individual chains' energy traces (post burn-in)
  double mean_energy = 0, std_energy = 0;  // over the kept samples
  double seconds = 0;
};

// Initial configurations: particles on a perturbed lattice (LJ: spacing 1.1; DW4: a 2 x 2 square of
// side 4), centred and randomly rotated; GMM: uniform in the box of the means.
Tensor initial_configurations(const System& s, int64_t chains, uint64_t seed);

// Applies an independent uniformly random orthogonal map (Haar, reflections included) and particle
// permutation to every configuration in x ([B, flat_dim] f64, in place; particle systems only).
void apply_random_symmetry(const System& s, Tensor& x, uint64_t seed);

// Runs the chains from `init` ([chains, flat_dim]; default: initial_configurations).
McmcResult run_mcmc(const System& s, const McmcConfig& cfg, const Tensor* init = nullptr);

// Gelman-Rubin potential scale reduction of m sequences of equal length n (traces[j][t]).
double gelman_rubin(const std::vector<std::vector<double>>& traces);

}  // namespace orbit::systems
