// CPU data movement: strided copies (permute, slice, broadcast, pad, concat), gather and
// segment reductions. Dtype-agnostic where only bytes move.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/cpu/parallel.h"

namespace orbit::cpu {

// dst[off0(i)] = src[off1(i)] over the iteration space `it`.
template <class T>
void copy_strided(T* dst, const T* src, const Strided& plan) {
  if (plan.numel() == 0) return;
  if (plan.rank == 0) {
    dst[0] = src[0];
    return;
  }
  const Strided it = coalesced(plan, 2);  // a broadcast [N, 1, 1] -> [N, 3, 1]: rows of 3, not of 1
  const int64_t sd = it.stride[0][it.rank - 1], ss = it.stride[1][it.rank - 1];
  parallel_rows<2>(it, int64_t(1) << 15, [&](int64_t, const int64_t* off, int64_t c0, int64_t c1) {
    T* pd = dst + off[0];
    const T* ps = src + off[1];
    if (sd == 1 && ss == 1)
      std::memcpy(pd + c0, ps + c0, (c1 - c0) * sizeof(T));
    else if (sd == 1 && ss == 0)
      std::fill(pd + c0, pd + c1, ps[0]);
    else
      for (int64_t i = c0; i < c1; ++i) pd[i * sd] = ps[i * ss];
  });
}

// out[o, e, i] = x[o, idx[e], i]; returns the position of the first out-of-range index, or -1.
template <class T, class I>
int64_t gather(const T* x, const I* idx, T* out, int64_t outer, int64_t axis_len, int64_t nidx, int64_t inner) {
  for (int64_t e = 0; e < nidx; ++e)
    if (idx[e] < 0 || idx[e] >= axis_len) return e;
  parallel_for(outer * nidx, 1 + (1 << 15) / (inner > 0 ? inner : 1), [&](int64_t oe) {
    int64_t o = oe / nidx, e = oe % nidx;
    std::memcpy(out + oe * inner, x + (o * axis_len + idx[e]) * inner, inner * sizeof(T));
  });
  return -1;
}

// out[o, s, i] = sum over e with ids[e] == s of x[o, e, i] (mean: divided by the count, 0 if empty).
// Deterministic: each output row is accumulated in increasing e. Returns the position of the first
// id out of [0, nseg), or of the first descending id when `sorted` is promised, else -1.
template <class T, class I>
int64_t segment_reduce(const T* x, const I* ids, T* out, int64_t outer, int64_t nids, int64_t nseg,
                       int64_t inner, bool sorted, bool mean) {
  for (int64_t e = 0; e < nids; ++e) {
    if (ids[e] < 0 || ids[e] >= nseg) return e;
    if (sorted && e > 0 && ids[e] < ids[e - 1]) return e;
  }
  std::memset(out, 0, sizeof(T) * outer * nseg * inner);
  std::vector<int64_t> count(mean ? nseg : 0, 0);
  if (mean)
    for (int64_t e = 0; e < nids; ++e) ++count[ids[e]];
  if (sorted) {
    // Segment s owns the contiguous range [start[s], start[s + 1]): parallel over segments.
    std::vector<int64_t> start(nseg + 1, 0);
    for (int64_t e = 0; e < nids; ++e) ++start[ids[e] + 1];
    for (int64_t s = 0; s < nseg; ++s) start[s + 1] += start[s];
    parallel_for(outer * nseg, 64, [&](int64_t os) {
      int64_t o = os / nseg, s = os % nseg;
      T* po = out + os * inner;
      for (int64_t e = start[s]; e < start[s + 1]; ++e) {
        const T* px = x + (o * nids + e) * inner;
        for (int64_t i = 0; i < inner; ++i) po[i] += px[i];
      }
    });
  } else if (outer < 2 * max_threads()) {
    // Too few outer rows to share: each segment's positions listed in increasing e (a stable counting
    // sort), then parallel over segments; the additions per output row stay in increasing e.
    std::vector<int64_t> start(nseg + 1, 0), order(nids);
    for (int64_t e = 0; e < nids; ++e) ++start[ids[e] + 1];
    for (int64_t s = 0; s < nseg; ++s) start[s + 1] += start[s];
    {
      std::vector<int64_t> fill(start.begin(), start.end() - 1);
      for (int64_t e = 0; e < nids; ++e) order[fill[ids[e]]++] = e;
    }
    parallel_for(outer * nseg, 64, [&](int64_t os) {
      int64_t o = os / nseg, s = os % nseg;
      T* po = out + os * inner;
      for (int64_t j = start[s]; j < start[s + 1]; ++j) {
        const T* px = x + (o * nids + order[j]) * inner;
        for (int64_t i = 0; i < inner; ++i) po[i] += px[i];
      }
    });
  } else {
    parallel_for(outer, 1, [&](int64_t o) {
      for (int64_t e = 0; e < nids; ++e) {
        const T* px = x + (o * nids + e) * inner;
        T* po = out + (o * nseg + ids[e]) * inner;
        for (int64_t i = 0; i < inner; ++i) po[i] += px[i];
      }
    });
  }
  if (mean) {
    parallel_for(outer * nseg, 256, [&](int64_t os) {
      int64_t c = count[os % nseg];
      if (c > 1)
        for (int64_t i = 0; i < inner; ++i) out[os * inner + i] /= static_cast<T>(c);
    });
  }
  return -1;
}

}  // namespace orbit::cpu
