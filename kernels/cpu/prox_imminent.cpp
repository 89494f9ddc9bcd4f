// Imminent-collisions rounds over a compact list of block starts (see prox_imminent.h).
#include "kernels/cpu/prox_imminent.h"

#include <algorithm>
#include <utility>

#include "kernels/cpu/parallel.h"
#include "kernels/cpu/prox_scan.h"
#include "kernels/cpu/prox_scratch.h"

namespace orbit::cpu::prox {

IsoCounters isotonic_imminent(const Prefix& z, int64_t n, uint8_t* start) {
  IsoCounters c;
  if (n <= 0) return c;
  auto first = scratch<int64_t>(n + 1), next = scratch<int64_t>(n + 1);  // block starts, then n
  auto mean = scratch<double>(n);
  auto keep = scratch<uint8_t>(n);
  parallel_for(n + 1, 1 << 15, [&](int64_t k) { first[k] = k; });
  int64_t blocks = n;
  constexpr int64_t grain = 1 << 15;  // parallel regions cost more than small rounds save
  for (;;) {
    ++c.rounds;
    parallel_for(blocks, grain, [&](int64_t b) { mean[b] = z.mean(first[b], first[b + 1]); });
    // A block starts a new group unless its left neighbour's mean is >= its own (ties pool).
    parallel_for(blocks, grain, [&](int64_t b) { keep[b] = b == 0 || mean[b - 1] < mean[b]; });
    int64_t kept = compact(keep.get(), first.get(), blocks, next.get());
    if (kept == blocks) break;
    std::swap(first, next);
    blocks = kept;
    first[blocks] = n;
  }
  std::fill(start, start + n, uint8_t(0));
  parallel_for(blocks, 1 << 15, [&](int64_t b) { start[first[b]] = 1; });
  c.blocks = blocks;
  c.depth = c.rounds;
  return c;
}

}  // namespace orbit::cpu::prox
