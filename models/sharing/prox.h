// Weight-sharing regularization on tensors: R(w) = 1/(d-1) sum_{i>j} |w_i - w_j| over all entries
// of w (any shape, flattened), its proximal map prox_{tR} (with the optional l1 soft threshold and
// rho damping of the paper's code), and an optimizer hook for forward-backward splitting.
#pragma once
#include <cstdint>
#include <string>

#include "engine/optim/optimizer.h"
#include "engine/tensor.h"

namespace orbit::sharing {

enum class ProxAlgorithm {
  pava,      // sequential pool-adjacent-violators (the reference)
  imminent,  // parallel rounds pooling adjacent violators (d rounds in the worst case)
  search,    // divide and conquer with binary searches: ceil(log2 d) levels, O(log^3 d) depth
};
const char* algorithm_name(ProxAlgorithm a);
ProxAlgorithm parse_algorithm(const std::string& name);  // "pava", "imminent" or "search"

struct ProxOptions {
  double l1 = 0;   // soft threshold applied to the blocks' final positions (not scaled by the lr)
  double rho = 0;  // in [0, 1]: blocks share their mean but move by (1 - rho) of their drift
  ProxAlgorithm algorithm = ProxAlgorithm::search;
};

struct ProxStats {
  int64_t d = 0;         // entries
  int64_t distinct = 0;  // distinct output values
  int64_t zeros = 0;     // outputs exactly 0
  int64_t blocks = 0;    // groups of weights that became (and stay) shared
  int64_t rounds = 0;    // pava: d sequential steps; imminent: rounds; search: levels
  int64_t depth = 0;     // search: binary-search probes on the critical path; others: = rounds
  double solve_seconds = 0;  // time of the isotonic regression alone (no sort, no output)
};

// prox_{step R}(w), same shape, dtype and device (f32 or f64; CPU, or CUDA: computed on the GPU by
// kernels/cuda/prox.h on the legacy default stream, which the call synchronises; stats as on the CPU,
// solve_seconds then being device time). Errors on NaN/inf in w, step < 0, l1 < 0 or rho outside [0, 1].
Tensor prox_weight_sharing(const Tensor& w, double step, const ProxOptions& opts = {}, ProxStats* stats = nullptr);
// The same, written into w's own storage.
void prox_weight_sharing_inplace(Tensor& w, double step, const ProxOptions& opts = {}, ProxStats* stats = nullptr);

// The CPU kernels keep large scratch blocks per thread (up to 1 GiB) for the next call; this frees
// the calling thread's.
void release_prox_workspace();

// R(w) of all entries of w (0 when w has fewer than two); a CUDA tensor is copied to the CPU for it.
double R(const Tensor& w);

// A prox hook for Optimizer::add_prox: replaces the parameter by prox_{ws_lr * lr * R} of it,
// flattened (register the bias separately as its own parameter), on the parameter's device.
optim::ProxFn weight_sharing_hook(double ws_lr, ProxOptions opts = {});

}  // namespace orbit::sharing
