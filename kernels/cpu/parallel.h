// A parallel loop for CPU kernels: OpenMP when the build has it, serial otherwise.
// Work below `grain` iterations runs serially (threads cost more than they save there).
#pragma once
#include <algorithm>
#include <bit>
#include <cstdint>

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace orbit::cpu {

// The threads a parallel_for may use (1 without OpenMP).
inline int max_threads() {
#if defined(_OPENMP)
  return omp_get_max_threads();
#else
  return 1;
#endif
}

template <class F>
void parallel_for(int64_t n, int64_t grain, F&& f) {
#if defined(_OPENMP)
  if (n >= 2 * grain) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) f(i);
    return;
  }
#endif
  (void)grain;
  for (int64_t i = 0; i < n; ++i) f(i);
}

// Row ranges for a sum over many short rows: a power of two (balanced on 2^j threads), at most 32, about
// 2^16 elements each or more; set by the size alone so that results never depend on the thread count.
inline int64_t range_count(int64_t elements) {
  return static_cast<int64_t>(std::bit_floor(static_cast<uint64_t>(std::clamp<int64_t>(elements >> 16, 1, 32))));
}

// Iteration space of up to 6 dims with per-operand element strides (0 where an operand broadcasts).
struct Strided {
  static constexpr int kMax = 6;
  int rank = 0;
  int64_t shape[kMax] = {};
  int64_t stride[3][kMax] = {};  // up to three operands

  int64_t numel() const {
    int64_t n = 1;
    for (int i = 0; i < rank; ++i) n *= shape[i];
    return n;
  }
  // Offset of operand k for the flat row-major index `flat` of the iteration space.
  int64_t offset(int k, int64_t flat) const {
    int64_t off = 0;
    for (int i = rank - 1; i >= 0; --i) {
      int64_t q = flat / shape[i];
      off += (flat - q * shape[i]) * stride[k][i];
      flat = q;
    }
    return off;
  }
};

}  // namespace orbit::cpu
