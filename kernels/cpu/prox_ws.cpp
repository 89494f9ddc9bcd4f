// The weight-sharing prox pipeline over plain arrays (see prox_ws.h). A block [a, b) of the sorted
// solution has mean velocity t (d - a - b)/(d - 1), so its output needs only its mean of z.
#include "kernels/cpu/prox_ws.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "kernels/cpu/parallel.h"
#include "kernels/cpu/prox_imminent.h"
#include "kernels/cpu/prox_pava.h"
#include "kernels/cpu/prox_scan.h"
#include "kernels/cpu/prox_scratch.h"
#include "kernels/cpu/prox_search.h"
#include "kernels/cpu/prox_sort.h"

namespace orbit::cpu::prox {

namespace {

IsoCounters isotonic(Algorithm a, const Prefix& z, int64_t n, uint8_t* start) {
  switch (a) {
    case Algorithm::pava: return isotonic_pava(z, n, start);
    case Algorithm::imminent: return isotonic_imminent(z, n, start);
    case Algorithm::search: break;
  }
  return isotonic_search(z, n, start);
}

}  // namespace

template <class T>
Counters prox_weight_sharing(const T* w, int64_t n, const Params& p, T* out) {
  Counters c;
  if (n <= 0) return c;
  auto x = scratch<T>(n);
  auto perm = scratch<int64_t>(n);
  radix_argsort(w, n, x.get(), perm.get());

  // z = sorted weights + rank velocities; its compensated prefix sums drive every algorithm.
  const double t = p.step, dm1 = static_cast<double>(n - 1);
  auto z = scratch<double>(n), hi = scratch<double>(n + 1), lo = scratch<double>(n + 1);
  parallel_for(n, 1 << 15, [&](int64_t k) {
    z[k] = static_cast<double>(x[k]) + (n > 1 ? t * (dm1 - 2.0 * static_cast<double>(k)) / dm1 : 0.0);
  });
  compensated_prefix(z.get(), n, hi.get(), lo.get());
  const Prefix zp{z.get(), hi.get(), lo.get()};

  auto start = scratch<uint8_t>(n);
  auto t0 = std::chrono::steady_clock::now();
  IsoCounters iso = isotonic(p.algorithm, zp, n, start.get());
  c.solve_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  c.rounds = iso.rounds;
  c.depth = iso.depth;

  // Canonical blocks: pool neighbours whose means are equal, so that every algorithm (ties pooled
  // or not) yields the same partition, which matters once rho moves blocks by their own velocity.
  auto first = scratch<int64_t>(n + 1), canon = scratch<int64_t>(n + 1);
  int64_t blocks = flagged_indices(start.get(), n, first.get());
  first[blocks] = n;
  auto mean = scratch<double>(blocks);
  auto keep = scratch<uint8_t>(blocks);
  parallel_for(blocks, 1 << 15, [&](int64_t b) { mean[b] = zp.mean(first[b], first[b + 1]); });
  parallel_for(blocks, 1 << 15, [&](int64_t b) { keep[b] = b == 0 || mean[b - 1] != mean[b]; });
  blocks = compact(keep.get(), first.get(), blocks, canon.get());
  canon[blocks] = n;
  c.blocks = blocks;

  // Output per block: soft threshold of the final position, then damp the drift by rho.
  auto value = scratch<T>(blocks);
  const double l1 = p.l1, rho = p.rho;
  auto block_value = [&](int64_t b) {
    const int64_t a = canon[b], e = canon[b + 1];
    const double zb = zp.mean(a, e);
    const double vb = n > 1 ? t * static_cast<double>(n - a - e) / dm1 : 0.0;
    if (l1 > 0 && std::fabs(zb) < l1) return T(0);
    const double s = l1 > 0 ? (zb > 0 ? l1 : -l1) : 0.0;
    return static_cast<T>((zb - s) - rho * (vb - s));
  };
  // Many blocks: one task per block; few (large) blocks: each block's slots in parallel.
  if (blocks >= 64) {
    const int64_t grain = std::max<int64_t>(1, blocks * (int64_t(1) << 16) / n);  // >= 64K slots a task
    parallel_for(blocks, grain, [&](int64_t b) {
      const T v = value[b] = block_value(b);
      for (int64_t k = canon[b]; k < canon[b + 1]; ++k) out[perm[k]] = v;
    });
  } else {
    for (int64_t b = 0; b < blocks; ++b) {
      const T v = value[b] = block_value(b);
      const int64_t a = canon[b];
      parallel_for(canon[b + 1] - a, 1 << 15, [&](int64_t k) { out[perm[a + k]] = v; });
    }
  }

  for (int64_t b = 0; b < blocks; ++b)
    if (value[b] == T(0)) c.zeros += canon[b + 1] - canon[b];
  T* v = value.get();
  if (!std::is_sorted(v, v + blocks)) std::sort(v, v + blocks);  // already sorted when rho = 0
  c.distinct = std::unique(v, v + blocks) - v;
  return c;
}

template <class T>
double weight_sharing_regularizer(const T* w, int64_t n) {
  if (n <= 1) return 0;
  auto x = scratch<T>(n);
  auto perm = scratch<int64_t>(n);
  radix_argsort(w, n, x.get(), perm.get());
  // Compensated sum of c_k x_k with c_k = 2k - d + 1.
  double s = 0, e = 0;
  for (int64_t k = 0; k < n; ++k) {
    double term = static_cast<double>(2 * k - n + 1) * static_cast<double>(x[k]);
    double u = s + term;
    e += std::fabs(s) >= std::fabs(term) ? (s - u) + term : (term - u) + s;
    s = u;
  }
  return (s + e) / static_cast<double>(n - 1);
}

template Counters prox_weight_sharing<float>(const float*, int64_t, const Params&, float*);
template Counters prox_weight_sharing<double>(const double*, int64_t, const Params&, double*);
template double weight_sharing_regularizer<float>(const float*, int64_t);
template double weight_sharing_regularizer<double>(const double*, int64_t);

}  // namespace orbit::cpu::prox
