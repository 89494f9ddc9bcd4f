// Relaxation of outlier configurations before Metropolis refinement (beyond the iDEM paper).
//
// A diffusion sampler occasionally emits a configuration with two particles almost on top of each
// other (LJ13 quick preset, 2026-11-27: one sample of 1000 at E = 3.9e7 against a reference range of
// [-64, -18]). MALA cannot repair it: at such forces every proposal is rejected, the sample never
// moves, and that single row then dominates the energy W2. relax_outliers moves only the rows whose
// energy is above median + k * MAD of the batch, by gradient descent with every particle's step
// capped (so huge forces cannot fling particles apart) and a step that halves whenever the energy
// would rise, until each reaches the batch's median energy: a row left just under the threshold still
// has forces at which MALA rejects every proposal (measured: it did not move in 1000 steps). The
// other rows are returned untouched.
#pragma once
#include <cstdint>

#include "engine/device.h"
#include "engine/tensor.h"
#include "models/systems/system.h"

namespace orbit::systems {

struct RelaxOptions {
  // outlier: E > median(E) + mad_factor * MAD(E). 1 by default: on the LJ13 quick-preset samples every
  // row above about median + 1 MAD stayed frozen through 10,000 MALA steps (its forces were too large for
  // the step size the chain group adapted to), so these are the rows that need a better start.
  double mad_factor = 1;
  double max_displacement = 0; // per particle and step; 0: 0.05 of the system's length (LJ r_m, DW d0 / 4)
  int64_t max_iters = 5000;    // per row
  Device device = Device::cpu();
};

struct RelaxReport {
  int64_t outliers = 0;   // rows above the threshold on entry
  int64_t relaxed = 0;    // of those, rows brought down to the target
  int64_t iterations = 0; // descent steps taken (the slowest row)
  double threshold = 0;   // outliers: energy above this (median + mad_factor * MAD)
  double target = 0;      // relaxed rows descend to this energy (the median)
};

// x [B, flat_dim] (any float dtype; returned in f64). Throws on non-finite input.
Tensor relax_outliers(const System& s, const Tensor& x, const RelaxOptions& opt = {}, RelaxReport* report = nullptr);

}  // namespace orbit::systems
