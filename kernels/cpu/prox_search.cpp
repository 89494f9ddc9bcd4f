// Search collisions (see prox_search.h). State: y[k], the fitted value of slot k for the solved
// rows of the current level (non-decreasing inside each row); blocks are runs of equal y.
#include "kernels/cpu/prox_search.h"

#include <algorithm>

#include "kernels/cpu/parallel.h"
#include "kernels/cpu/prox_scratch.h"

namespace orbit::cpu::prox {

namespace {

// The block one row merge creates: slots [begin, end) take `value`; empty when begin == end.
struct RowMerge {
  int64_t begin, end;
  double value;
  int64_t probes;
};

// First k in [lo, hi) with y[k] > v (y non-decreasing there); hi when none.
inline int64_t first_above(const double* y, int64_t lo, int64_t hi, double v) {
  while (lo < hi) {
    int64_t m = lo + (hi - lo) / 2;
    if (y[m] > v) hi = m;
    else lo = m + 1;
  }
  return lo;
}

// First k in [lo, hi) with y[k] >= v; hi when none.
inline int64_t first_at_least(const double* y, int64_t lo, int64_t hi, double v) {
  while (lo < hi) {
    int64_t m = lo + (hi - lo) / 2;
    if (y[m] >= v) hi = m;
    else lo = m + 1;
  }
  return lo;
}

// Merges the solved halves [a, mid) and [mid, b) of one row.
RowMerge merge_row(const Prefix& z, const double* y, int64_t a, int64_t mid, int64_t b) {
  RowMerge r{0, 0, 0.0, 0};
  if (mid >= b || !(y[mid - 1] > y[mid])) return r;  // already non-decreasing
  // joins(i): the block of the left run holding slot i (mean y[i]) pools into the right half, i.e.
  // its minimum prefix average reaches past mid. That average, minimised over the right half, pools
  // exactly the right runs with mean < y[i], so the test is: the slots after the run up to the last
  // such right run average below y[i]. Monotone in i: false ... false true ... true.
  auto joins = [&](int64_t i) {
    ++r.probes;
    const double yi = y[i];
    int64_t after = first_above(y, i, mid, yi);   // end of i's run in the left half
    int64_t upto = first_at_least(y, mid, b, yi);  // end of the right runs below yi
    return upto > mid && z.mean(after, upto) < yi;
  };
  int64_t lo = a, hi = mid - 1;  // joins(mid - 1) holds: y[mid - 1] > y[mid]
  while (lo < hi) {
    int64_t m = lo + (hi - lo) / 2;
    if (joins(m)) hi = m;
    else lo = m + 1;
  }
  const int64_t begin = lo;
  // extends(k): the right run holding slot k has a mean below the average of the pooled block so
  // far (from begin up to the start of that run); true ... true false ... false over the right half.
  auto extends = [&](int64_t k) {
    ++r.probes;
    const double yk = y[k];
    int64_t run_start = first_at_least(y, mid, k + 1, yk);
    return yk < z.mean(begin, run_start);
  };
  lo = mid;
  hi = b - 1;
  while (lo < hi) {
    int64_t m = lo + (hi - lo + 1) / 2;
    if (extends(m)) lo = m;
    else hi = m - 1;
  }
  r.begin = begin;
  r.end = first_above(y, lo, b, y[lo]);
  r.value = z.mean(r.begin, r.end);
  return r;
}

}  // namespace

IsoCounters isotonic_search(const Prefix& z, int64_t n, uint8_t* start) {
  IsoCounters c;
  if (n <= 0) return c;
  auto y = scratch<double>(n);
  parallel_for(n, 1 << 15, [&](int64_t k) { y[k] = z.mean(k, k + 1); });
  auto merges = scratch<RowMerge>((n + 1) / 2);
  for (int64_t s = 2; s / 2 < n; s *= 2) {
    ++c.rounds;
    const int64_t rows = (n + s - 1) / s;
    const int64_t row_grain = std::max<int64_t>(1, (int64_t(1) << 16) / s);  // >= 64K slots a task
    parallel_for(rows, row_grain, [&](int64_t r) {
      const int64_t a = r * s;
      merges[r] = merge_row(z, y.get(), a, std::min(a + s / 2, n), std::min(a + s, n));
    });
    int64_t probes = 0;
    for (int64_t r = 0; r < rows; ++r) probes = std::max(probes, merges[r].probes);
    c.depth += probes;
    // Many rows: one task per row; few (long) rows: each pooled range in parallel.
    if (rows >= 64) {
      parallel_for(rows, row_grain, [&](int64_t r) {
        std::fill(y.get() + merges[r].begin, y.get() + merges[r].end, merges[r].value);
      });
    } else {
      for (int64_t r = 0; r < rows; ++r) {
        const RowMerge& m = merges[r];
        parallel_for(m.end - m.begin, 1 << 15, [&](int64_t k) { y[m.begin + k] = m.value; });
      }
    }
  }
  start[0] = 1;
  parallel_for(n - 1, 1 << 15, [&](int64_t k) { start[k + 1] = y[k + 1] != y[k]; });
  int64_t blocks = 0;
  for (int64_t k = 0; k < n; ++k) blocks += start[k];
  c.blocks = blocks;
  return c;
}

}  // namespace orbit::cpu::prox
