// Shared plain types of the weight-sharing prox kernels (no engine types, so CUDA versions can reuse
// them): the algorithm choice, the block counters an algorithm reports, and compensated prefix sums.
#pragma once
#include <cstdint>

namespace orbit::cpu::prox {

enum class Algorithm { pava, imminent, search };

// What an isotonic-regression algorithm reports besides its partition into blocks.
struct IsoCounters {
  int64_t blocks = 0;  // blocks of the partition it returned
  int64_t rounds = 0;  // pava: sequential steps (d); imminent: rounds; search: levels
  int64_t depth = 0;   // sequential probes on the critical path (search); = rounds otherwise
};

// z and its prefix sums kept as an unevaluated pair hi + lo (Neumaier compensation): the sum of
// any range is accurate to about one rounding of that sum itself, not of the (much larger) prefix,
// so comparisons of block means are not decided by accumulated rounding. A one-slot block's mean
// is z itself, exactly.
struct Prefix {
  const double* z = nullptr;   // n entries
  const double* hi = nullptr;  // n + 1 entries, hi[0] = 0
  const double* lo = nullptr;  // n + 1 entries, lo[0] = 0

  double sum(int64_t a, int64_t b) const { return (hi[b] - hi[a]) + (lo[b] - lo[a]); }  // z[a..b)
  double mean(int64_t a, int64_t b) const {
    return b - a == 1 ? z[a] : sum(a, b) / static_cast<double>(b - a);
  }
};

}  // namespace orbit::cpu::prox
