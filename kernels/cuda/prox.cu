// The weight-sharing prox on the GPU (see prox.h), mirroring kernels/cpu/prox_ws.cpp step by step so
// that both devices take the same decisions:
//   sort      CUB radix sort of order-preserving integer keys with int32 indices (stable, -0 < +0,
//             the CPU's permutation exactly);
//   z         x_(k) + t (d-1-2k)/(d-1) in double, no fused multiply-adds (the CPU's bits);
//   prefix    inclusive scan of double-double pairs (TwoSum): P[k] = z[0] + ... + z[k-1] to ~2^-100,
//             so a block's mean (P[b]-P[a])/(b-a) is accurate to about its own rounding and the
//             comparisons of means are not decided by accumulated error (a 1-slot block's mean is z);
//   isotonic  one of three algorithms, each leaving start[k] = 1 where a block begins:
//     pava      the sequential stack algorithm in one device thread (the reference, not a fast path);
//     imminent  rounds of: a flag kernel (block b starts a group unless mean(b-1) >= mean(b)), a CUB
//               DeviceSelect::Flagged compaction of the block starts, a 1-thread finish kernel that
//               counts the round and detects the fixed point; the block list and its size stay on the
//               device, the host reads a two-word state every few rounds (1, 2, 4, ... up to 64) and
//               launches with an upper bound of the size (extra rounds after the fixed point copy);
//     search    the divide and conquer of kernels/cpu/prox_search.cpp: levels s = 2, 4, ..., 2048 in
//               one launch over 2048-slot tiles (fitted values in shared memory, one thread per row,
//               a block barrier per level), then per higher level one merge launch (one warp per
//               row: the CPU's binary searches over the fitted values y and prefix-sum differences,
//               the run boundaries found 32-ary by the warp) and one fill launch, all rows at once;
//   tail      canonical blocks (neighbours with equal means pooled: two scans), the soft threshold and
//             rho damping per block, the scatter out[perm[k]] = value, and the counters (zeros,
//             distinct values, blocks) with atomics; one small read-back at the end (and a CUB sort of
//             the block values when rho leaves them unsorted, as the CPU's std::sort).
#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_scan.cuh>
#include <cub/device/device_select.cuh>
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/prox.h"
#include "kernels/cuda/runtime.h"

namespace orbit::cuda::prox {

namespace {

using cpu::prox::Algorithm;
using cpu::prox::Counters;
using cpu::prox::Params;

constexpr int kThreads = 256;
constexpr size_t kAlign = 256;
size_t align_up(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

unsigned grid(int64_t n) { return grid_for(n, kThreads); }

// ---- keys: floats as unsigned integers of the same order (negatives flipped entirely) ----
template <class T>
using Bits = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;

template <class T>
__device__ __forceinline__ Bits<T> to_bits(T x) {
  if constexpr (sizeof(T) == 4) return __float_as_uint(x);
  else return static_cast<uint64_t>(__double_as_longlong(x));
}
template <class T>
__device__ __forceinline__ T from_bits(Bits<T> u) {
  if constexpr (sizeof(T) == 4) return __uint_as_float(u);
  else return __longlong_as_double(static_cast<long long>(u));
}
template <class T>
__device__ __forceinline__ Bits<T> order_key(T x) {
  using U = Bits<T>;
  const U u = to_bits(x), sign = U(1) << (8 * sizeof(U) - 1);
  return (u & sign) ? U(~u) : U(u | sign);
}
template <class T>
__device__ __forceinline__ T from_order_key(Bits<T> u) {
  using U = Bits<T>;
  const U sign = U(1) << (8 * sizeof(U) - 1);
  return from_bits<T>((u & sign) ? U(u ^ sign) : U(~u));
}

// ---- double-double prefix sums ----
struct DD {
  double hi, lo;
};

// TwoSum of the high parts, the low parts added to the error, renormalised. Additions only, so the
// compiler cannot contract anything; the explicit _rn intrinsics say so.
struct DDAdd {
  __device__ __forceinline__ DD operator()(const DD& a, const DD& b) const {
    const double s = __dadd_rn(a.hi, b.hi);
    const double bb = __dsub_rn(s, a.hi);
    double e = __dadd_rn(__dsub_rn(a.hi, __dsub_rn(s, bb)), __dsub_rn(b.hi, bb));
    e = __dadd_rn(e, __dadd_rn(a.lo, b.lo));
    const double hi = __dadd_rn(s, e);
    return DD{hi, __dsub_rn(e, __dsub_rn(hi, s))};
  }
};

// z and its prefix sums P[0..n] (P[0] = 0): the device twin of cpu::prox::Prefix.
struct Zp {
  const double* z;
  const DD* p;
  __device__ __forceinline__ double mean(int64_t a, int64_t b) const {
    if (b - a == 1) return z[a];
    const DD pb = p[b], pa = p[a];
    return __dadd_rn(__dsub_rn(pb.hi, pa.hi), __dsub_rn(pb.lo, pa.lo)) / static_cast<double>(b - a);
  }
};

// Device counters, read back at once at the end (and the imminent state every few rounds).
enum Slot : int {
  kNb = 0,        // imminent: current number of blocks
  kDone = 1,      // imminent: the last round pooled nothing
  kRounds = 2,    // imminent: rounds taken
  kSelected = 3,  // imminent: CUB's output count
  kZeros = 4,     // outputs exactly 0
  kDistinct = 5,  // block values differing from their left neighbour
  kUnsorted = 6,  // block values below their left neighbour (then the distinct count needs a sort)
  kBlocks = 7,    // canonical blocks
  kPava = 8,      // pava: blocks on the stack
  kBad = 9,       // first_nonfinite
  kLevels = 16,   // search: the most probes any row of level l took, l < 64
  kSlots = 80
};
using ull = unsigned long long;

// ---- the pipeline's elementwise steps ----
template <class T>
__global__ void keys_kernel(const T* w, int64_t n, Bits<T>* keys, int32_t* idx) {
  for (int64_t k = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; k < n; k += int64_t(gridDim.x) * blockDim.x) {
    keys[k] = order_key(w[k]);
    idx[k] = static_cast<int32_t>(k);
  }
}

template <class T>
__global__ void decode_kernel(const Bits<T>* keys, int64_t n, T* x) {
  for (int64_t k = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; k < n; k += int64_t(gridDim.x) * blockDim.x)
    x[k] = from_order_key<T>(keys[k]);
}

// z[k] = x_(k) + t (d-1-2k)/(d-1), exactly the CPU's expression; p1[k] = (z[k], 0) to be scanned.
template <class T>
__global__ void z_kernel(const Bits<T>* keys, int64_t n, double t, double* z, DD* p1) {
  const double dm1 = static_cast<double>(n - 1);
  for (int64_t k = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; k < n; k += int64_t(gridDim.x) * blockDim.x) {
    const double x = static_cast<double>(from_order_key<T>(keys[k]));
    const double v = n > 1 ? __dmul_rn(t, __dsub_rn(dm1, __dmul_rn(2.0, static_cast<double>(k)))) / dm1 : 0.0;
    const double zk = __dadd_rn(x, v);
    z[k] = zk;
    p1[k] = DD{zk, 0.0};
  }
}

// ---- (1) pava: the sequential reference in one thread ----
__global__ void pava_kernel(Zp z, int64_t n, int32_t* first, double* mean, int32_t* start, ull* ctr) {
  if (blockIdx.x != 0 || threadIdx.x != 0) return;
  int64_t top = 0;
  for (int64_t k = 0; k < n; ++k) {
    first[top] = static_cast<int32_t>(k);
    mean[top++] = z.mean(k, k + 1);
    while (top > 1 && mean[top - 2] >= mean[top - 1]) {
      --top;
      mean[top - 1] = z.mean(first[top - 1], k + 1);
    }
  }
  ctr[kPava] = static_cast<ull>(top);
}

// start[first[b]] = 1 for the count[0] blocks (start zeroed before).
__global__ void mark_starts_kernel(const int32_t* first, const ull* count, int64_t ub, int32_t* start) {
  const int64_t nb = static_cast<int64_t>(*count);
  for (int64_t b = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; b < ub && b < nb; b += int64_t(gridDim.x) * blockDim.x)
    start[first[b]] = 1;
}

// ---- (2) imminent collisions ----
__global__ void iota_kernel(int32_t* a, int64_t m) {
  for (int64_t k = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; k < m; k += int64_t(gridDim.x) * blockDim.x)
    a[k] = static_cast<int32_t>(k);
}

// keep[b] for b < ub: 0 past the current count; after the fixed point 1 (the round copies); else
// block b starts a new group unless its left neighbour's mean is >= its own (ties pool). cur holds
// the nb block starts and cur[nb] = n.
__global__ void imminent_flags_kernel(Zp z, const int32_t* cur, int64_t ub, const ull* ctr, uint8_t* keep) {
  const int64_t nb = static_cast<int64_t>(ctr[kNb]);
  const bool done = ctr[kDone] != 0;
  for (int64_t b = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; b < ub; b += int64_t(gridDim.x) * blockDim.x) {
    uint8_t f = 0;
    if (b < nb) {
      if (done || b == 0) f = 1;
      else f = z.mean(cur[b - 1], cur[b]) < z.mean(cur[b], cur[b + 1]) ? 1 : 0;
    }
    keep[b] = f;
  }
}

// After a round's compaction: the sentinel, the round count, the fixed-point test.
__global__ void imminent_finish_kernel(ull* ctr, int32_t* next, int64_t n) {
  if (blockIdx.x != 0 || threadIdx.x != 0) return;
  const ull m = ctr[kSelected];
  next[m] = static_cast<int32_t>(n);
  if (ctr[kDone] == 0) {
    ++ctr[kRounds];
    if (m == ctr[kNb]) ctr[kDone] = 1;
    ctr[kNb] = m;
  }
}

// ---- (3) search collisions (the device twin of kernels/cpu/prox_search.cpp) ----
struct RowMerge {
  int32_t begin, end;  // slots [begin, end) take value; empty when begin == end
  int32_t probes;
  double value;
};

// y in a shared-memory tile starting at slot `base`, indexed by slot.
struct TileY {
  const double* s;
  int64_t base;
  __device__ __forceinline__ double operator[](int64_t k) const { return s[k - base]; }
};

// First k in [lo, hi) with y[k] > v (y non-decreasing there); hi when none.
template <class Y>
__device__ __forceinline__ int64_t first_above(const Y& y, int64_t lo, int64_t hi, double v) {
  while (lo < hi) {
    const int64_t m = lo + (hi - lo) / 2;
    if (y[m] > v) hi = m;
    else lo = m + 1;
  }
  return lo;
}

// First k in [lo, hi) with y[k] >= v; hi when none.
template <class Y>
__device__ __forceinline__ int64_t first_at_least(const Y& y, int64_t lo, int64_t hi, double v) {
  while (lo < hi) {
    const int64_t m = lo + (hi - lo) / 2;
    if (y[m] >= v) hi = m;
    else lo = m + 1;
  }
  return lo;
}

// Merges the solved halves [a, mid) and [mid, b) of one row: the CPU's merge_row, step for step
// (the same probes in the same order, so the same block and the same probe count).
template <class Y>
__device__ RowMerge merge_row(const Zp& z, const Y& y, int64_t a, int64_t mid, int64_t b) {
  RowMerge r{0, 0, 0, 0.0};
  if (mid >= b || !(y[mid - 1] > y[mid])) return r;  // already non-decreasing
  int32_t probes = 0;
  // joins(i): the block of the left run holding slot i pools into the right half.
  int64_t lo = a, hi = mid - 1;  // joins(mid - 1) holds
  while (lo < hi) {
    const int64_t m = lo + (hi - lo) / 2;
    ++probes;
    const double yi = y[m];
    const int64_t after = first_above(y, m, mid, yi);   // end of m's run in the left half
    const int64_t upto = first_at_least(y, mid, b, yi);  // end of the right runs below yi
    if (upto > mid && z.mean(after, upto) < yi) hi = m;
    else lo = m + 1;
  }
  const int64_t begin = lo;
  // extends(k): the right run holding slot k has a mean below the average of the pooled block so far.
  lo = mid;
  hi = b - 1;
  while (lo < hi) {
    const int64_t m = lo + (hi - lo + 1) / 2;
    ++probes;
    const double yk = y[m];
    const int64_t run_start = first_at_least(y, mid, m + 1, yk);
    if (yk < z.mean(begin, run_start)) lo = m;
    else hi = m - 1;
  }
  const int64_t end = first_above(y, lo, b, y[lo]);
  r.begin = static_cast<int32_t>(begin);
  r.end = static_cast<int32_t>(end);
  r.probes = probes;
  r.value = z.mean(begin, end);
  return r;
}

constexpr int kTileLog = 11;
constexpr int kTile = 1 << kTileLog;  // slots per tile: levels s = 2 .. kTile run in shared memory
constexpr int kTileThreads = 256;

// Levels 0 .. levels-1 (row sizes 2 .. 2^levels <= kTile) of one 2048-slot tile, y = z to start.
// Rows never cross tiles (kTile is a multiple of every row size here), and a tile's last rows are
// clipped at n exactly as the CPU clips them. level_max[l] receives the most probes of any row.
__global__ void __launch_bounds__(kTileThreads) search_tile_kernel(Zp z, int64_t n, int levels, double* y,
                                                                    ull* level_max) {
  __shared__ double ys[kTile];
  __shared__ RowMerge rows_m[kTile / 2];
  __shared__ int probes[kTileLog];
  const int tid = threadIdx.x;
  const int64_t base = static_cast<int64_t>(blockIdx.x) * kTile;
  const int count = static_cast<int>(n - base < kTile ? n - base : kTile);
  for (int i = tid; i < count; i += blockDim.x) ys[i] = z.z[base + i];
  if (tid < kTileLog) probes[tid] = 0;
  __syncthreads();
  const TileY Y{ys, base};
  for (int l = 0; l < levels; ++l) {
    const int shift = l + 1;  // row size s = 2^shift
    const int64_t s = int64_t(1) << shift;
    const int rows = (count + static_cast<int>(s) - 1) >> shift;
    for (int r = tid; r < rows; r += blockDim.x) {
      const int64_t a = base + (static_cast<int64_t>(r) << shift);
      const int64_t mid = a + s / 2 < n ? a + s / 2 : n, b = a + s < n ? a + s : n;
      const RowMerge m = merge_row(z, Y, a, mid, b);
      rows_m[r] = m;
      if (m.probes > 0) atomicMax(&probes[l], m.probes);
    }
    __syncthreads();
    for (int i = tid; i < count; i += blockDim.x) {
      const RowMerge& m = rows_m[i >> shift];
      const int64_t k = base + i;
      if (k >= m.begin && k < m.end) ys[i] = m.value;
    }
    __syncthreads();
  }
  for (int i = tid; i < count; i += blockDim.x) y[base + i] = ys[i];
  if (tid < levels && probes[tid] > 0) atomicMax(&level_max[tid], static_cast<ull>(probes[tid]));
}

// ---- the levels above the tiles: one warp per row ----
// The first k in [lo, hi) with pred(y[k]), pred monotone (false ... true) there; hi when none. Every
// lane of the warp calls it with the same arguments and gets the same answer: each step the 32 lanes
// test the last slot of 32 equal chunks and keep the first chunk whose last slot passes, so a search
// over m slots takes ceil(log32 m) dependent loads instead of log2 m. The answer of a monotone
// predicate is unique, so it is the sequential binary search's exactly.
template <class P>
__device__ __forceinline__ int64_t warp_first(const double* y, int64_t lo, int64_t hi, P pred) {
  const int lane = threadIdx.x & 31;
  while (hi - lo > 32) {
    const int64_t step = (hi - lo + 31) / 32;
    const int64_t chunk = lo + lane * step;
    const int64_t last = (chunk + step < hi ? chunk + step : hi) - 1;
    const bool pass = chunk >= hi || pred(y[last]);  // empty chunks (past hi) count as passing
    const unsigned mask = __ballot_sync(0xffffffffu, pass);
    if (mask == 0) return hi;
    const int j = __ffs(mask) - 1;
    const int64_t cj = lo + j * step;
    if (cj >= hi) return hi;  // every slot before hi failed
    lo = cj;
    hi = (cj + step < hi ? cj + step : hi) - 1;  // pred holds there: the answer is in [lo, hi]
  }
  const int64_t k = lo + lane;
  const unsigned mask = __ballot_sync(0xffffffffu, k < hi && pred(y[k]));
  return mask ? lo + (__ffs(mask) - 1) : hi;
}

// merge_row with the run boundaries found by warp_first: the same probes in the same order, the
// same answers (the fitted values are non-decreasing inside each half), 4-5x fewer dependent loads.
__device__ RowMerge merge_row_warp(const Zp& z, const double* y, int64_t a, int64_t mid, int64_t b) {
  RowMerge r{0, 0, 0, 0.0};
  if (mid >= b || !(y[mid - 1] > y[mid])) return r;
  int32_t probes = 0;
  int64_t lo = a, hi = mid - 1;
  while (lo < hi) {
    const int64_t m = lo + (hi - lo) / 2;
    ++probes;
    const double yi = y[m];
    const int64_t after = warp_first(y, m, mid, [yi](double v) { return v > yi; });
    const int64_t upto = warp_first(y, mid, b, [yi](double v) { return v >= yi; });
    if (upto > mid && z.mean(after, upto) < yi) hi = m;
    else lo = m + 1;
  }
  const int64_t begin = lo;
  lo = mid;
  hi = b - 1;
  while (lo < hi) {
    const int64_t m = lo + (hi - lo + 1) / 2;
    ++probes;
    const double yk = y[m];
    const int64_t run_start = warp_first(y, mid, m + 1, [yk](double v) { return v >= yk; });
    if (yk < z.mean(begin, run_start)) lo = m;
    else hi = m - 1;
  }
  const double ylo = y[lo];
  const int64_t end = warp_first(y, lo, b, [ylo](double v) { return v > ylo; });
  r.begin = static_cast<int32_t>(begin);
  r.end = static_cast<int32_t>(end);
  r.probes = probes;
  r.value = z.mean(begin, end);
  return r;
}

constexpr int kMergeThreads = 128;  // 4 warps, one row each

// One level above the tiles: row r = [r s, (r+1) s) clipped at n, one warp per row, all rows at once.
__global__ void __launch_bounds__(kMergeThreads) search_merge_kernel(Zp z, const double* y, int64_t n, int shift,
                                                                     int64_t rows, RowMerge* out, ull* level_max) {
  const int64_t s = int64_t(1) << shift;
  const int64_t warps = int64_t(gridDim.x) * (blockDim.x / 32);
  for (int64_t r = blockIdx.x * int64_t(blockDim.x / 32) + threadIdx.x / 32; r < rows; r += warps) {
    const int64_t a = r << shift;
    const int64_t mid = a + s / 2 < n ? a + s / 2 : n, b = a + s < n ? a + s : n;
    const RowMerge m = merge_row_warp(z, y, a, mid, b);
    if ((threadIdx.x & 31) == 0) {
      out[r] = m;
      if (m.probes > 0) atomicMax(level_max, static_cast<ull>(m.probes));
    }
  }
}

__global__ void search_fill_kernel(double* y, int64_t n, int shift, const RowMerge* rows_m) {
  for (int64_t k = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; k < n; k += int64_t(gridDim.x) * blockDim.x) {
    const RowMerge m = rows_m[k >> shift];
    if (k >= m.begin && k < m.end) y[k] = m.value;
  }
}

__global__ void runs_kernel(const double* y, int64_t n, int32_t* start) {
  for (int64_t k = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; k < n; k += int64_t(gridDim.x) * blockDim.x)
    start[k] = k == 0 || y[k] != y[k - 1];
}

// ---- the tail: canonical blocks, values, scatter, counters ----
// bid = inclusive scan of start: slot k lies in block bid[k] - 1. first[b] = start of block b,
// first[nb] = n.
__global__ void first_kernel(const int32_t* start, const int32_t* bid, int64_t n, int32_t* first) {
  for (int64_t k = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; k < n; k += int64_t(gridDim.x) * blockDim.x) {
    if (start[k]) first[bid[k] - 1] = static_cast<int32_t>(k);
    if (k == n - 1) first[bid[k]] = static_cast<int32_t>(n);
  }
}

// cstart[k] = 1 where a canonical block begins: a block start whose mean differs from the left
// neighbour's (the CPU's keep[b] = b == 0 || mean[b - 1] != mean[b]).
__global__ void canon_flags_kernel(Zp z, const int32_t* start, const int32_t* bid, const int32_t* first, int64_t n,
                                   int32_t* cstart) {
  for (int64_t k = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; k < n; k += int64_t(gridDim.x) * blockDim.x) {
    int32_t f = 0;
    if (start[k]) {
      const int64_t b = bid[k] - 1;
      f = b == 0 || z.mean(first[b - 1], k) != z.mean(k, first[b + 1]);
    }
    cstart[k] = f;
  }
}

// cid = inclusive scan of cstart. canon[c] = start of canonical block c, canon[nc] = n.
__global__ void canon_kernel(const int32_t* cid, int64_t n, int32_t* canon, ull* ctr) {
  for (int64_t k = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; k < n; k += int64_t(gridDim.x) * blockDim.x) {
    if (k == 0 || cid[k] != cid[k - 1]) canon[cid[k] - 1] = static_cast<int32_t>(k);
    if (k == n - 1) {
      canon[cid[k]] = static_cast<int32_t>(n);
      ctr[kBlocks] = static_cast<ull>(cid[k]);
    }
  }
}

// The CPU's block_value: soft threshold of the final position, then damp the drift by rho.
template <class T>
__global__ void values_kernel(Zp z, const int32_t* canon, const ull* ctr, int64_t n, double t, double l1, double rho,
                              T* value) {
  const int64_t nc = static_cast<int64_t>(ctr[kBlocks]);
  const double dm1 = static_cast<double>(n - 1);
  for (int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; c < nc; c += int64_t(gridDim.x) * blockDim.x) {
    const int64_t a = canon[c], e = canon[c + 1];
    const double zb = z.mean(a, e);
    const double vb = n > 1 ? __dmul_rn(t, static_cast<double>(n - a - e)) / dm1 : 0.0;
    T v;
    if (l1 > 0 && fabs(zb) < l1) {
      v = T(0);
    } else {
      const double s = l1 > 0 ? (zb > 0 ? l1 : -l1) : 0.0;
      v = static_cast<T>(__dsub_rn(__dsub_rn(zb, s), __dmul_rn(rho, __dsub_rn(vb, s))));
    }
    value[c] = v;
  }
}

// out[perm[k]] = value of k's canonical block; counts the zeros.
template <class T>
__global__ void scatter_kernel(const T* value, const int32_t* cid, const int32_t* perm, int64_t n, T* out, ull* ctr) {
  for (int64_t k0 = blockIdx.x * int64_t(blockDim.x); k0 < n; k0 += int64_t(gridDim.x) * blockDim.x) {
    const int64_t k = k0 + threadIdx.x;
    bool zero = false;
    if (k < n) {
      const T v = value[cid[k] - 1];
      out[perm[k]] = v;
      zero = v == T(0);
    }
    const int zeros = __syncthreads_count(zero);
    if (threadIdx.x == 0 && zeros > 0) atomicAdd(&ctr[kZeros], static_cast<ull>(zeros));
  }
}

// Values differing from (below) their left neighbour, over the first `count` values.
template <class T>
__global__ void distinct_kernel(const T* value, const ull* count, int64_t ub, ull* ctr) {
  const int64_t nc = static_cast<int64_t>(*count);
  for (int64_t c0 = blockIdx.x * int64_t(blockDim.x); c0 < ub; c0 += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = c0 + threadIdx.x;
    bool fresh = false, down = false;
    if (c < nc) {
      fresh = c == 0 || value[c] != value[c - 1];
      down = c > 0 && value[c] < value[c - 1];
    }
    const int nf = __syncthreads_count(fresh), nd = __syncthreads_count(down);
    if (threadIdx.x == 0) {
      if (nf > 0) atomicAdd(&ctr[kDistinct], static_cast<ull>(nf));
      if (nd > 0) atomicAdd(&ctr[kUnsorted], static_cast<ull>(nd));
    }
  }
}

template <class T>
__global__ void nonfinite_kernel(const T* w, int64_t n, ull* ctr) {
  for (int64_t k = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; k < n; k += int64_t(gridDim.x) * blockDim.x)
    if (!isfinite(w[k])) atomicMin(&ctr[kBad], static_cast<ull>(k));
}

// ---- host side ----
// One scratch allocation carved into 256-byte aligned pieces.
struct Carver {
  size_t at = 0;
  size_t take(size_t bytes) {
    const size_t off = at;
    at += align_up(bytes > 0 ? bytes : 1);
    return off;
  }
};

template <class T>
struct Layout {
  size_t ctr, keys_in, keys, idx_in, perm, z, p, start, bid, first, cstart, canon, value, sorted_value, imm_a, imm_b,
      keep, pava_mean, rows, temp, temp_bytes = 0, total;
};

void cub_check(cudaError_t e, const char* call) { check(e, call); }

template <class T>
size_t temp_bytes_for(int64_t n) {
  using U = Bits<T>;
  const int ni = static_cast<int>(n);
  size_t need = 0, b = 0;
  cub_check(cub::DeviceRadixSort::SortPairs(nullptr, b, static_cast<const U*>(nullptr), static_cast<U*>(nullptr),
                                            static_cast<const int32_t*>(nullptr), static_cast<int32_t*>(nullptr), ni),
            "cub::DeviceRadixSort::SortPairs (workspace query)");
  need = std::max(need, b);
  b = 0;
  cub_check(cub::DeviceScan::InclusiveScan(nullptr, b, static_cast<DD*>(nullptr), static_cast<DD*>(nullptr), DDAdd{}, ni),
            "cub::DeviceScan::InclusiveScan (workspace query)");
  need = std::max(need, b);
  b = 0;
  cub_check(cub::DeviceScan::InclusiveSum(nullptr, b, static_cast<const int32_t*>(nullptr),
                                          static_cast<int32_t*>(nullptr), ni),
            "cub::DeviceScan::InclusiveSum (workspace query)");
  need = std::max(need, b);
  b = 0;
  cub_check(cub::DeviceSelect::Flagged(nullptr, b, static_cast<const int32_t*>(nullptr),
                                       static_cast<const uint8_t*>(nullptr), static_cast<int32_t*>(nullptr),
                                       static_cast<ull*>(nullptr), n),
            "cub::DeviceSelect::Flagged (workspace query)");
  need = std::max(need, b);
  b = 0;
  cub_check(cub::DeviceRadixSort::SortKeys(nullptr, b, static_cast<const T*>(nullptr), static_cast<T*>(nullptr), ni),
            "cub::DeviceRadixSort::SortKeys (workspace query)");
  return std::max(need, b);
}

int levels_of(int64_t n) {  // the CPU's loop: s = 2, 4, ... while s / 2 < n
  int l = 0;
  for (int64_t s = 2; s / 2 < n; s *= 2) ++l;
  return l;
}

// Sort keys with indices into keys/perm (the prox's first step).
template <class T>
void sort_pairs(const T* w, int64_t n, Bits<T>* keys_in, Bits<T>* keys, int32_t* idx_in, int32_t* perm, void* temp,
                size_t temp_bytes, cudaStream_t s) {
  keys_kernel<T><<<grid(n), kThreads, 0, s>>>(w, n, keys_in, idx_in);
  check_launch("prox keys_kernel");
  size_t tb = temp_bytes;
  check(cub::DeviceRadixSort::SortPairs(temp, tb, keys_in, keys, idx_in, perm, static_cast<int>(n), 0,
                                        int(8 * sizeof(Bits<T>)), s),
        "cub::DeviceRadixSort::SortPairs");
}

void check_size(int64_t n, const char* what) {
  if (n >= int64_t(INT_MAX))
    throw CudaFailure(std::string(what) + ": the CUDA prox takes fewer than 2^31 - 1 weights, got " + std::to_string(n));
}

}  // namespace

template <class T>
Counters prox_weight_sharing(const T* w, int64_t n, const Params& p, T* out, void* stream) {
  using U = Bits<T>;
  Counters c;
  if (n <= 0) return c;
  check_size(n, "prox_weight_sharing");
  cudaStream_t s = static_cast<cudaStream_t>(stream);

  Layout<T> l;
  Carver cv;
  l.ctr = cv.take(sizeof(ull) * kSlots);
  l.keys_in = cv.take(sizeof(U) * n);
  l.keys = cv.take(sizeof(U) * n);
  l.idx_in = cv.take(sizeof(int32_t) * n);
  l.perm = cv.take(sizeof(int32_t) * n);
  l.z = cv.take(sizeof(double) * n);
  l.p = cv.take(sizeof(DD) * (n + 1));
  l.start = cv.take(sizeof(int32_t) * n);
  l.bid = cv.take(sizeof(int32_t) * n);
  l.first = cv.take(sizeof(int32_t) * (n + 1));
  l.cstart = cv.take(sizeof(int32_t) * n);
  l.canon = cv.take(sizeof(int32_t) * (n + 1));
  l.value = cv.take(sizeof(T) * n);
  l.sorted_value = cv.take(sizeof(T) * n);
  // Algorithm scratch: imminent's two block lists and flags, pava's stack means, search's y and rows.
  l.imm_a = cv.take(sizeof(int32_t) * (n + 1));
  l.imm_b = cv.take(sizeof(int32_t) * (n + 1));
  l.keep = cv.take(sizeof(uint8_t) * n);
  l.pava_mean = cv.take(sizeof(double) * n);
  l.rows = cv.take(sizeof(RowMerge) * ((n + 1) / 2));
  l.temp_bytes = temp_bytes_for<T>(n);
  l.temp = cv.take(l.temp_bytes);
  l.total = cv.at;
  char* base = static_cast<char*>(scratch(s, l.total));
  auto at = [&](size_t off) { return static_cast<void*>(base + off); };
  ull* ctr = static_cast<ull*>(at(l.ctr));
  U* keys = static_cast<U*>(at(l.keys));
  int32_t* perm = static_cast<int32_t*>(at(l.perm));
  double* z = static_cast<double*>(at(l.z));
  DD* pp = static_cast<DD*>(at(l.p));
  int32_t* start = static_cast<int32_t*>(at(l.start));
  void* temp = at(l.temp);
  const Zp zp{z, pp};

  check(cudaMemsetAsync(ctr, 0, sizeof(ull) * kSlots, s), "cudaMemsetAsync (prox counters)");
  sort_pairs<T>(w, n, static_cast<U*>(at(l.keys_in)), keys, static_cast<int32_t*>(at(l.idx_in)), perm, temp,
                l.temp_bytes, s);

  // z and its double-double prefix sums P[0] = 0, P[k + 1] = z[0] + ... + z[k].
  z_kernel<T><<<grid(n), kThreads, 0, s>>>(keys, n, p.step, z, pp + 1);
  check_launch("prox z_kernel");
  check(cudaMemsetAsync(pp, 0, sizeof(DD), s), "cudaMemsetAsync (prox prefix)");
  {
    size_t tb = l.temp_bytes;
    check(cub::DeviceScan::InclusiveScan(temp, tb, pp + 1, pp + 1, DDAdd{}, static_cast<int>(n), s),
          "cub::DeviceScan::InclusiveScan (prefix sums)");
  }

  cudaEvent_t ev0 = nullptr, ev1 = nullptr;
  check(cudaEventCreate(&ev0), "cudaEventCreate");
  check(cudaEventCreate(&ev1), "cudaEventCreate");
  struct EventGuard {
    cudaEvent_t a, b;
    ~EventGuard() {
      cudaEventDestroy(a);
      cudaEventDestroy(b);
    }
  } guard{ev0, ev1};
  check(cudaEventRecord(ev0, s), "cudaEventRecord");

  // ---- isotonic regression: start[k] = 1 where a block begins ----
  int64_t host_rounds = 0;
  int levels = 0;
  switch (p.algorithm) {
    case Algorithm::pava: {
      int32_t* first = static_cast<int32_t*>(at(l.imm_a));
      check(cudaMemsetAsync(start, 0, sizeof(int32_t) * n, s), "cudaMemsetAsync (prox starts)");
      pava_kernel<<<1, 1, 0, s>>>(zp, n, first, static_cast<double*>(at(l.pava_mean)), start, ctr);
      check_launch("prox pava_kernel");
      mark_starts_kernel<<<grid(n), kThreads, 0, s>>>(first, ctr + kPava, n, start);
      check_launch("prox mark_starts_kernel");
      host_rounds = n;
      break;
    }
    case Algorithm::imminent: {
      int32_t* cur = static_cast<int32_t*>(at(l.imm_a));
      int32_t* next = static_cast<int32_t*>(at(l.imm_b));
      uint8_t* keep = static_cast<uint8_t*>(at(l.keep));
      iota_kernel<<<grid(n + 1), kThreads, 0, s>>>(cur, n + 1);
      check_launch("prox iota_kernel");
      const ull nb0 = static_cast<ull>(n);
      check(cudaMemcpyAsync(ctr + kNb, &nb0, sizeof nb0, cudaMemcpyHostToDevice, s), "cudaMemcpyAsync (prox state)");
      int64_t ub = n;       // an upper bound of the device's block count
      int64_t between = 1;  // rounds between two reads of the state: 1, 2, 4, ... 64
      for (;;) {
        for (int64_t r = 0; r < between; ++r) {
          imminent_flags_kernel<<<grid(ub), kThreads, 0, s>>>(zp, cur, ub, ctr, keep);
          check_launch("prox imminent_flags_kernel");
          size_t tb = l.temp_bytes;
          check(cub::DeviceSelect::Flagged(temp, tb, cur, keep, next, ctr + kSelected, ub, s),
                "cub::DeviceSelect::Flagged (imminent round)");
          imminent_finish_kernel<<<1, 1, 0, s>>>(ctr, next, n);
          check_launch("prox imminent_finish_kernel");
          std::swap(cur, next);
        }
        ull state[2];  // kNb, kDone
        check(cudaMemcpyAsync(state, ctr + kNb, sizeof state, cudaMemcpyDeviceToHost, s),
              "cudaMemcpyAsync (prox state)");
        check(cudaStreamSynchronize(s), "cudaStreamSynchronize (prox imminent round)");
        if (state[1] != 0) break;
        ub = static_cast<int64_t>(state[0]);
        between = std::min<int64_t>(between * 2, 64);
      }
      check(cudaMemsetAsync(start, 0, sizeof(int32_t) * n, s), "cudaMemsetAsync (prox starts)");
      mark_starts_kernel<<<grid(ub), kThreads, 0, s>>>(cur, ctr + kNb, ub, start);
      check_launch("prox mark_starts_kernel");
      break;
    }
    case Algorithm::search: {
      double* y = static_cast<double*>(at(l.pava_mean));
      RowMerge* rows_m = static_cast<RowMerge*>(at(l.rows));
      levels = levels_of(n);
      if (levels > 64) throw CudaFailure("prox search: too many levels");
      const int tile_levels = std::min(levels, kTileLog);
      const int64_t tiles = (n + kTile - 1) / kTile;
      // Grids are at most 2^31 - 1 blocks in x; tiles <= 2^31 / 2048 here.
      search_tile_kernel<<<static_cast<unsigned>(tiles), kTileThreads, 0, s>>>(zp, n, tile_levels, y,
                                                                                  ctr + kLevels);
      check_launch("prox search_tile_kernel");
      for (int lv = tile_levels; lv < levels; ++lv) {
        const int shift = lv + 1;
        const int64_t rows = (n + (int64_t(1) << shift) - 1) >> shift;
        search_merge_kernel<<<grid_for(rows, kMergeThreads / 32), kMergeThreads, 0, s>>>(zp, y, n, shift, rows, rows_m,
                                                                                          ctr + kLevels + lv);
        check_launch("prox search_merge_kernel");
        search_fill_kernel<<<grid(n), kThreads, 0, s>>>(y, n, shift, rows_m);
        check_launch("prox search_fill_kernel");
      }
      runs_kernel<<<grid(n), kThreads, 0, s>>>(y, n, start);
      check_launch("prox runs_kernel");
      host_rounds = levels;
      break;
    }
  }
  check(cudaEventRecord(ev1, s), "cudaEventRecord");

  // ---- canonical blocks, values, scatter ----
  int32_t* bid = static_cast<int32_t*>(at(l.bid));
  int32_t* first = static_cast<int32_t*>(at(l.first));
  int32_t* cid = static_cast<int32_t*>(at(l.cstart));
  int32_t* canon = static_cast<int32_t*>(at(l.canon));
  T* value = static_cast<T*>(at(l.value));
  {
    size_t tb = l.temp_bytes;
    check(cub::DeviceScan::InclusiveSum(temp, tb, start, bid, static_cast<int>(n), s),
          "cub::DeviceScan::InclusiveSum (blocks)");
  }
  first_kernel<<<grid(n), kThreads, 0, s>>>(start, bid, n, first);
  check_launch("prox first_kernel");
  canon_flags_kernel<<<grid(n), kThreads, 0, s>>>(zp, start, bid, first, n, cid);
  check_launch("prox canon_flags_kernel");
  {
    size_t tb = l.temp_bytes;
    check(cub::DeviceScan::InclusiveSum(temp, tb, cid, cid, static_cast<int>(n), s),
          "cub::DeviceScan::InclusiveSum (canonical blocks)");
  }
  canon_kernel<<<grid(n), kThreads, 0, s>>>(cid, n, canon, ctr);
  check_launch("prox canon_kernel");
  values_kernel<T><<<grid(n), kThreads, 0, s>>>(zp, canon, ctr, n, p.step, p.l1, p.rho, value);
  check_launch("prox values_kernel");
  scatter_kernel<T><<<grid(n), kThreads, 0, s>>>(value, cid, perm, n, out, ctr);
  check_launch("prox scatter_kernel");
  distinct_kernel<T><<<grid(n), kThreads, 0, s>>>(value, ctr + kBlocks, n, ctr);
  check_launch("prox distinct_kernel");

  ull h[kSlots];
  check(cudaMemcpyAsync(h, ctr, sizeof h, cudaMemcpyDeviceToHost, s), "cudaMemcpyAsync (prox counters)");
  check(cudaStreamSynchronize(s), "cudaStreamSynchronize (prox)");
  if (h[kUnsorted] != 0) {  // rho > 0 may leave the values unsorted: count distinct ones after a sort
    const int nc = static_cast<int>(h[kBlocks]);
    T* sorted = static_cast<T*>(at(l.sorted_value));
    size_t tb = l.temp_bytes;
    check(cub::DeviceRadixSort::SortKeys(temp, tb, value, sorted, nc, 0, int(8 * sizeof(T)), s),
          "cub::DeviceRadixSort::SortKeys (block values)");
    check(cudaMemsetAsync(ctr + kDistinct, 0, sizeof(ull) * 2, s), "cudaMemsetAsync (prox counters)");
    distinct_kernel<T><<<grid(nc), kThreads, 0, s>>>(sorted, ctr + kBlocks, nc, ctr);
    check_launch("prox distinct_kernel (sorted)");
    check(cudaMemcpyAsync(h, ctr, sizeof h, cudaMemcpyDeviceToHost, s), "cudaMemcpyAsync (prox counters)");
    check(cudaStreamSynchronize(s), "cudaStreamSynchronize (prox)");
  }
  float ms = 0;
  check(cudaEventElapsedTime(&ms, ev0, ev1), "cudaEventElapsedTime");
  sync(s);  // returns the scratch

  c.blocks = static_cast<int64_t>(h[kBlocks]);
  c.distinct = static_cast<int64_t>(h[kDistinct]);
  c.zeros = static_cast<int64_t>(h[kZeros]);
  c.solve_seconds = ms * 1e-3;
  switch (p.algorithm) {
    case Algorithm::pava:
      c.rounds = c.depth = host_rounds;
      break;
    case Algorithm::imminent:
      c.rounds = c.depth = static_cast<int64_t>(h[kRounds]);
      break;
    case Algorithm::search:
      c.rounds = levels;
      for (int lv = 0; lv < levels; ++lv) c.depth += static_cast<int64_t>(h[kLevels + lv]);
      break;
  }
  return c;
}

template <class T>
int64_t first_nonfinite(const T* w, int64_t n, double* value, void* stream) {
  if (n <= 0) return -1;
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  ull* ctr = static_cast<ull*>(scratch(s, sizeof(ull) * kSlots));
  check(cudaMemsetAsync(ctr + kBad, 0xff, sizeof(ull), s), "cudaMemsetAsync (prox check)");
  nonfinite_kernel<T><<<grid(n), kThreads, 0, s>>>(w, n, ctr);
  check_launch("prox nonfinite_kernel");
  ull bad = 0;
  check(cudaMemcpyAsync(&bad, ctr + kBad, sizeof bad, cudaMemcpyDeviceToHost, s), "cudaMemcpyAsync (prox check)");
  check(cudaStreamSynchronize(s), "cudaStreamSynchronize (prox check)");
  int64_t at = bad == ~0ull ? -1 : static_cast<int64_t>(bad);
  if (at >= 0 && value) {
    T v{};
    check(cudaMemcpyAsync(&v, w + at, sizeof v, cudaMemcpyDeviceToHost, s), "cudaMemcpyAsync (prox check)");
    check(cudaStreamSynchronize(s), "cudaStreamSynchronize (prox check)");
    *value = static_cast<double>(v);
  }
  sync(s);
  return at;
}

template <class T>
void radix_argsort(const T* w, int64_t n, T* sorted, int32_t* perm, void* stream) {
  using U = Bits<T>;
  if (n <= 0) return;
  check_size(n, "radix_argsort");
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  Carver cv;
  const size_t ki = cv.take(sizeof(U) * n), ko = cv.take(sizeof(U) * n), ii = cv.take(sizeof(int32_t) * n);
  const size_t tbytes = temp_bytes_for<T>(n), tt = cv.take(tbytes);
  char* base = static_cast<char*>(scratch(s, cv.at));
  U* keys = reinterpret_cast<U*>(base + ko);
  sort_pairs<T>(w, n, reinterpret_cast<U*>(base + ki), keys, reinterpret_cast<int32_t*>(base + ii), perm, base + tt,
                tbytes, s);
  decode_kernel<T><<<grid(n), kThreads, 0, s>>>(keys, n, sorted);
  check_launch("prox decode_kernel");
  sync(s);  // returns the scratch
}

template Counters prox_weight_sharing<float>(const float*, int64_t, const Params&, float*, void*);
template Counters prox_weight_sharing<double>(const double*, int64_t, const Params&, double*, void*);
template int64_t first_nonfinite<float>(const float*, int64_t, double*, void*);
template int64_t first_nonfinite<double>(const double*, int64_t, double*, void*);
template void radix_argsort<float>(const float*, int64_t, float*, int32_t*, void*);
template void radix_argsort<double>(const double*, int64_t, double*, int32_t*, void*);

}  // namespace orbit::cuda::prox
