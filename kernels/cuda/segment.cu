// Segment reductions on the GPU (the only file that includes CUB).
//
// Deterministic path (default): the ids are stably sorted with their positions (CUB radix sort),
// unless promised sorted; a binary search gives each segment its range [start[s], start[s+1]) of
// the sorted order; each output element then sums its segment in increasing original position,
// in the element type, exactly as the CPU does, so the two agree bit for bit. Long segments with
// a narrow inner dim use one block per output element instead (a fixed tree, f64/i64 accumulator):
// still deterministic, no longer bit-identical to the CPU.
// Atomic path (opt-in): every element is added into its segment with atomicAdd.
#include <cub/device/device_radix_sort.cuh>
#include <cuda_runtime.h>

#include <algorithm>
#include <type_traits>

#include "kernels/cuda/common.cuh"

namespace orbit::cuda {

namespace {

constexpr size_t kAlign = 256;
size_t align_up(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

template <class T>
using SumAcc = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;

// Workspace layout (each piece 256-byte aligned).
struct Layout {
  size_t sorted_ids = 0, iota = 0, perm = 0, starts = 0, counts = 0, temp = 0, temp_bytes = 0, total = 0;
};

template <class Idx>
size_t sort_temp_bytes(int64_t nids) {
  size_t bytes = 0;
  check(cub::DeviceRadixSort::SortPairs(nullptr, bytes, static_cast<const Idx*>(nullptr), static_cast<Idx*>(nullptr),
                                        static_cast<const int64_t*>(nullptr), static_cast<int64_t*>(nullptr),
                                        static_cast<int>(nids)),
        "cub::DeviceRadixSort::SortPairs (workspace query)");
  return bytes;
}

Layout layout(Elem idx_t, int64_t nids, int64_t nseg, bool sorted, bool mean, bool atomic) {
  Layout l;
  size_t at = 0;
  auto take = [&](size_t bytes) {
    size_t off = at;
    at += align_up(bytes);
    return off;
  };
  if (atomic) {
    if (mean) l.counts = take(sizeof(int64_t) * nseg);
  } else {
    if (!sorted) {
      l.sorted_ids = take(elem_size(idx_t) * nids);
      l.iota = take(sizeof(int64_t) * nids);
      l.perm = take(sizeof(int64_t) * nids);
      l.temp_bytes = idx_t == Elem::i32 ? sort_temp_bytes<int32_t>(nids) : sort_temp_bytes<int64_t>(nids);
      l.temp = take(l.temp_bytes);
    }
    l.starts = take(sizeof(int64_t) * (nseg + 1));
  }
  l.total = at;
  return l;
}

__global__ void iota_kernel(int64_t* p, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) p[i] = i;
}

// start[s] = first position whose id is >= s (s in [0, nseg]); ids outside [0, nseg) fall outside
// every range, so invalid ids are skipped.
template <class Idx>
__global__ void starts_kernel(const Idx* __restrict__ ids, int64_t nids, int64_t nseg, int64_t* __restrict__ starts) {
  for (int64_t s = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; s <= nseg; s += int64_t(gridDim.x) * blockDim.x) {
    int64_t lo = 0, hi = nids;
    while (lo < hi) {
      int64_t mid = lo + (hi - lo) / 2;
      if (static_cast<int64_t>(ids[mid]) < s) lo = mid + 1;
      else hi = mid;
    }
    starts[s] = lo;
  }
}

// One thread per output element (o, s, i), summing its segment in order, in T (the CPU's arithmetic).
template <class T>
__global__ void segment_seq_kernel(const T* __restrict__ x, const int64_t* __restrict__ perm,
                                   const int64_t* __restrict__ starts, T* __restrict__ out, int64_t outer, int64_t nids,
                                   int64_t nseg, int64_t inner, bool mean) {
  const int64_t total = outer * nseg * inner;
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < total; t += int64_t(gridDim.x) * blockDim.x) {
    int64_t os = t / inner, i = t - os * inner;
    int64_t o = os / nseg, s = os - o * nseg;
    int64_t b = starts[s], e = starts[s + 1];
    T acc = T(0);
    const T* px = x + o * nids * inner + i;
    for (int64_t k = b; k < e; ++k) acc += px[(perm ? perm[k] : k) * inner];
    if (mean && e - b > 1) acc /= static_cast<T>(e - b);
    out[t] = acc;
  }
}

// One block per output element, for long segments and narrow rows.
template <class T>
__global__ void segment_block_kernel(const T* __restrict__ x, const int64_t* __restrict__ perm,
                                     const int64_t* __restrict__ starts, T* __restrict__ out, int64_t outer,
                                     int64_t nids, int64_t nseg, int64_t inner, bool mean) {
  using A = SumAcc<T>;
  __shared__ A scratch[32];
  const int64_t total = outer * nseg * inner;
  for (int64_t t = blockIdx.x; t < total; t += gridDim.x) {
    int64_t os = t / inner, i = t - os * inner;
    int64_t o = os / nseg, s = os - o * nseg;
    int64_t b = starts[s], e = starts[s + 1];
    const T* px = x + o * nids * inner + i;
    A acc = 0;
    for (int64_t k = b + threadIdx.x; k < e; k += blockDim.x) acc += static_cast<A>(px[(perm ? perm[k] : k) * inner]);
    acc = block_reduce(acc, scratch, [](A u, A v) { return u + v; });
    if (threadIdx.x == 0) {
      T r = static_cast<T>(acc);
      if (mean && e - b > 1) r /= static_cast<T>(e - b);
      out[t] = r;
    }
  }
}

template <class T>
__device__ __forceinline__ void atomic_add(T* p, T v) {
  if constexpr (std::is_same_v<T, int64_t>)
    atomicAdd(reinterpret_cast<unsigned long long*>(p), static_cast<unsigned long long>(v));
  else
    atomicAdd(p, v);
}

template <class T, class Idx>
__global__ void segment_atomic_kernel(const T* __restrict__ x, const Idx* __restrict__ ids, T* __restrict__ out,
                                      int64_t outer, int64_t nids, int64_t nseg, int64_t inner) {
  const int64_t total = outer * nids * inner;
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < total; t += int64_t(gridDim.x) * blockDim.x) {
    int64_t oe = t / inner, i = t - oe * inner;
    int64_t o = oe / nids, e = oe - o * nids;
    int64_t s = static_cast<int64_t>(ids[e]);
    if (s >= 0 && s < nseg) atomic_add(out + (o * nseg + s) * inner + i, x[t]);
  }
}

template <class Idx>
__global__ void count_kernel(const Idx* __restrict__ ids, int64_t nids, int64_t nseg, int64_t* __restrict__ counts) {
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < nids; e += int64_t(gridDim.x) * blockDim.x) {
    int64_t s = static_cast<int64_t>(ids[e]);
    if (s >= 0 && s < nseg) atomicAdd(reinterpret_cast<unsigned long long*>(counts + s), 1ull);
  }
}

template <class T>
__global__ void divide_kernel(T* __restrict__ out, const int64_t* __restrict__ counts, int64_t outer, int64_t nseg,
                              int64_t inner) {
  const int64_t total = outer * nseg * inner;
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < total; t += int64_t(gridDim.x) * blockDim.x) {
    int64_t s = (t / inner) % nseg;
    int64_t c = counts[s];
    if (c > 1) out[t] /= static_cast<T>(c);
  }
}

template <class T, class Idx>
void run(const T* x, const Idx* ids, T* out, int64_t outer, int64_t nids, int64_t nseg, int64_t inner, bool sorted,
         bool mean, bool atomic, char* ws, const Layout& l, cudaStream_t s) {
  const int64_t nout = outer * nseg * inner;
  if (atomic) {
    check(cudaMemsetAsync(out, 0, sizeof(T) * nout, s), "cudaMemsetAsync");
    if (outer * nids * inner > 0) {
      segment_atomic_kernel<<<grid_for(outer * nids * inner), kBlock, 0, s>>>(x, ids, out, outer, nids, nseg, inner);
      check_launch("segment_atomic_kernel");
    }
    if (mean) {
      auto counts = reinterpret_cast<int64_t*>(ws + l.counts);
      check(cudaMemsetAsync(counts, 0, sizeof(int64_t) * nseg, s), "cudaMemsetAsync");
      if (nids > 0) {
        count_kernel<<<grid_for(nids), kBlock, 0, s>>>(ids, nids, nseg, counts);
        check_launch("count_kernel");
      }
      divide_kernel<<<grid_for(nout), kBlock, 0, s>>>(out, counts, outer, nseg, inner);
      check_launch("divide_kernel");
    }
    return;
  }
  const Idx* keys = ids;
  const int64_t* perm = nullptr;
  if (!sorted && nids > 0) {
    auto sorted_ids = reinterpret_cast<Idx*>(ws + l.sorted_ids);
    auto iota = reinterpret_cast<int64_t*>(ws + l.iota);
    auto p = reinterpret_cast<int64_t*>(ws + l.perm);
    iota_kernel<<<grid_for(nids), kBlock, 0, s>>>(iota, nids);
    check_launch("iota_kernel");
    size_t temp_bytes = l.temp_bytes;
    check(cub::DeviceRadixSort::SortPairs(ws + l.temp, temp_bytes, ids, sorted_ids, iota, p, static_cast<int>(nids),
                                          0, static_cast<int>(sizeof(Idx) * 8), s),
          "cub::DeviceRadixSort::SortPairs");
    keys = sorted_ids;
    perm = p;
  }
  auto starts = reinterpret_cast<int64_t*>(ws + l.starts);
  starts_kernel<<<grid_for(nseg + 1), kBlock, 0, s>>>(keys, nids, nseg, starts);
  check_launch("starts_kernel");
  const bool long_segments = inner < 32 && nseg > 0 && nids / nseg >= 256;
  if (long_segments) {
    segment_block_kernel<<<static_cast<unsigned>(std::min<int64_t>(nout, kMaxBlocks)), kBlock, 0, s>>>(
        x, perm, starts, out, outer, nids, nseg, inner, mean);
    check_launch("segment_block_kernel");
  } else {
    segment_seq_kernel<<<grid_for(nout), kBlock, 0, s>>>(x, perm, starts, out, outer, nids, nseg, inner, mean);
    check_launch("segment_seq_kernel");
  }
}

}  // namespace

size_t segment_workspace(Elem idx_t, int64_t nids, int64_t nseg, bool sorted, bool mean, bool atomic) {
  if (nids >= (int64_t(1) << 31)) throw CudaFailure("segment reduction: more than 2^31 - 1 ids");
  return layout(idx_t, nids, nseg, sorted, mean, atomic).total;
}

void segment_reduce(Elem t, Elem idx_t, const void* x, const void* ids, void* out, int64_t outer, int64_t nids,
                    int64_t nseg, int64_t inner, bool sorted, bool mean, bool atomic, void* workspace,
                    size_t workspace_bytes, cudaStream_t s) {
  if (outer * nseg * inner == 0) return;
  Layout l = layout(idx_t, nids, nseg, sorted, mean, atomic);
  if (workspace_bytes < l.total) throw CudaFailure("segment reduction: workspace too small");
  auto ws = static_cast<char*>(workspace);
  auto with_idx = [&]<class T>() {
    if (idx_t == Elem::i32)
      run(static_cast<const T*>(x), static_cast<const int32_t*>(ids), static_cast<T*>(out), outer, nids, nseg, inner,
          sorted, mean, atomic, ws, l, s);
    else if (idx_t == Elem::i64)
      run(static_cast<const T*>(x), static_cast<const int64_t*>(ids), static_cast<T*>(out), outer, nids, nseg, inner,
          sorted, mean, atomic, ws, l, s);
    else
      throw CudaFailure("segment reduction: ids must be i32 or i64");
  };
  switch (t) {
    case Elem::f32: return with_idx.template operator()<float>();
    case Elem::f64: return with_idx.template operator()<double>();
    case Elem::i32: return with_idx.template operator()<int32_t>();
    case Elem::i64: return with_idx.template operator()<int64_t>();
  }
}

}  // namespace orbit::cuda
