// Training a PINN for one initial condition of the heat or Burgers problem: initial-condition,
// periodic-boundary, residual and (optionally) Lie-point-symmetry losses (the last two on T * Delta,
// the residual in units of the time horizon), Adam on a tanh MLP of
// (x, t), and the relative L2 error on a test grid against orbit's reference solution.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/device.h"
#include "engine/tensor.h"
#include "models/pinn/reference.h"
#include "models/pinn/symmetry.h"

namespace orbit::pinn {

struct PinnConfig {
  Pde pde = Pde::heat;
  SymmetryForm symmetry = SymmetryForm::none;
  int samples = 1000;     // interior collocation points (the sample budget of the study)
  int ic_samples = 128;   // points on t = 0
  int bc_samples = 64;    // periodic pairs (0, t) ~ (L, t)
  std::vector<int64_t> hidden = {32, 32, 32};
  int steps = 3000;
  double lr = 3e-3;        // Adam, cosine decay to 1% of it
  double w_ic = 10, w_bc = 1, w_residual = 1, w_symmetry = 1;
  uint64_t seed = 1;          // network initialisation and sampling
  uint64_t problem_seed = 1;  // which initial condition
  int ic_terms = 10;
  int test_nx = 128, test_nt = 33;
  Device device = Device::cpu();  // where the training step and the evaluation run

  // "quick" (a few minutes on 2 CPU cores) or "paper" (longer, wider, more points); throws on others.
  static PinnConfig preset(const std::string& name, Pde pde);
  std::string json() const;
};

struct PinnLog {
  int step = 0;
  double loss = 0, ic = 0, bc = 0, residual = 0, symmetry = 0, lr = 0;
};

struct PinnResult {
  double rel_l2 = 0;        // on the test grid
  double seconds = 0;       // training wall time
  std::vector<PinnLog> history;  // every logged step
  GridSolution reference;   // the test grid's exact values
  std::vector<double> prediction;  // the network on the same grid
  int kernels = 0;          // of the compiled training step
};

// Trains; `on_log(log)` is called every `log_every` steps and at the last step.
PinnResult train_pinn(const PinnConfig& cfg, const std::function<void(const PinnLog&)>& on_log = {},
                      int log_every = 50);

}  // namespace orbit::pinn
