// The weight-sharing prox on plain arrays: prox_{tR}(w) for R(w) = 1/(d-1) sum_{i>j} |w_i - w_j|,
// computed as sort, add the rank velocities v_k = t (d-1-2k)/(d-1), isotonic regression (one of
// three algorithms), optional l1 soft threshold and rho damping of the drift, unsort.
#pragma once
#include <cstdint>

#include "kernels/cpu/prox_types.h"

namespace orbit::cpu::prox {

struct Params {
  double step = 0;  // t >= 0
  double l1 = 0;    // soft threshold of the blocks' final positions (0: none)
  double rho = 0;   // blocks move by (1 - rho) of their drift (0: the exact prox)
  Algorithm algorithm = Algorithm::search;
};

struct Counters {
  int64_t blocks = 0;    // blocks of equal output (runs of the sorted solution)
  int64_t distinct = 0;  // distinct output values
  int64_t zeros = 0;     // outputs exactly 0
  int64_t rounds = 0;    // see IsoCounters
  int64_t depth = 0;
  double solve_seconds = 0;  // the isotonic regression alone (no sort, no output)
};

// out[i] for w[0..n); w must be finite, out may alias w. Sums are accumulated in double.
template <class T>
Counters prox_weight_sharing(const T* w, int64_t n, const Params& p, T* out);

// R(w) from the sorted closed form sum_k (2k - d + 1) x_(k) / (d - 1); 0 for d <= 1.
template <class T>
double weight_sharing_regularizer(const T* w, int64_t n);

}  // namespace orbit::cpu::prox
