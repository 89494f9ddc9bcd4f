// Device helpers shared by the kernel files: launch shapes, strided offsets, block reductions.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/kernels.h"

namespace orbit::cuda {

constexpr int kBlock = 256;
// Grid-stride kernels never need more blocks than this (132 SMs x 16 resident blocks, rounded up).
constexpr int64_t kMaxBlocks = 1 << 16;

inline unsigned grid_for(int64_t n, int block = kBlock) {
  int64_t b = (n + block - 1) / block;
  if (b < 1) b = 1;
  return static_cast<unsigned>(b < kMaxBlocks ? b : kMaxBlocks);
}

// The same descriptor as Iter, by value in kernel parameters, with an index type for the math.
template <class I, int N>
struct DevIter {
  int rank;
  I shape[Iter::kMax];
  I stride[N][Iter::kMax];
};

template <class I, int N>
inline DevIter<I, N> to_dev(const Iter& it) {
  DevIter<I, N> d{};
  d.rank = it.rank;
  for (int i = 0; i < it.rank; ++i) {
    d.shape[i] = static_cast<I>(it.shape[i]);
    for (int k = 0; k < N; ++k) d.stride[k][i] = static_cast<I>(it.stride[k][i]);
  }
  return d;
}

// Offsets of every operand for flat row-major index `flat` of the iteration space.
template <class I, int N>
__device__ __forceinline__ void offsets(const DevIter<I, N>& it, I flat, I (&off)[N]) {
#pragma unroll
  for (int k = 0; k < N; ++k) off[k] = 0;
  for (int d = it.rank - 1; d >= 0; --d) {
    I q = flat / it.shape[d];
    I idx = flat - q * it.shape[d];
#pragma unroll
    for (int k = 0; k < N; ++k) off[k] += idx * it.stride[k][d];
    flat = q;
  }
}

// 32-bit strided iteration for the elementwise and copy kernels. DevIter is indexed by a run-time
// dim, which makes nvcc copy the whole descriptor into local memory in every thread (80+ bytes of
// stores before the first element; these kernels ran at a quarter of the H100's bandwidth). Here
// dims are right-aligned, so the innermost is always slot kMax-1 and every index is static, and
// divisions are a multiply-high and a shift (magic numbers made on the host). Every offset and the
// element count must be below 2^31 (fits_u32).
template <int N>
struct FastIter {
  int first;  // slot of the outermost dim: kMax - rank
  uint32_t shape[Iter::kMax];
  uint32_t stride[N][Iter::kMax];
  uint32_t magic[Iter::kMax];  // flat / shape[d] == (umulhi(flat, magic[d]) + flat) >> shift[d]
  uint32_t shift[Iter::kMax];
};

template <int N>
inline FastIter<N> to_fast(const Iter& it) {
  FastIter<N> f{};
  const int r = it.rank > 0 ? it.rank : 1;
  f.first = Iter::kMax - r;
  for (int d = 0; d < Iter::kMax; ++d) {
    const int src = d - f.first;  // the Iter dim in this slot, or < 0
    const uint64_t dim = (src >= 0 && it.rank > 0) ? static_cast<uint64_t>(it.shape[src]) : 1;
    f.shape[d] = static_cast<uint32_t>(dim);
    for (int k = 0; k < N; ++k) f.stride[k][d] = (src >= 0 && it.rank > 0) ? static_cast<uint32_t>(it.stride[k][src]) : 0;
    // Round-up method for 31-bit dividends (Granlund-Montgomery): valid for 1 <= divisor < 2^31.
    const uint64_t div = dim > 0 ? dim : 1;
    uint32_t s = 0;
    while ((uint64_t(1) << s) < div) ++s;
    f.shift[d] = s;
    f.magic[d] = static_cast<uint32_t>(((uint64_t(1) << 32) * ((uint64_t(1) << s) - div)) / div + 1);
  }
  return f;
}

template <int N>
__device__ __forceinline__ void fast_offsets(const FastIter<N>& it, uint32_t flat, uint32_t (&off)[N]) {
#pragma unroll
  for (int k = 0; k < N; ++k) off[k] = 0;
#pragma unroll
  for (int d = Iter::kMax - 1; d >= 0; --d) {
    if (d < it.first) break;  // uniform across the grid
    uint32_t idx = flat;
    if (d > it.first) {  // the outermost dim needs no division: what is left is its index
      const uint32_t q = (__umulhi(flat, it.magic[d]) + flat) >> it.shift[d];
      idx = flat - q * it.shape[d];
      flat = q;
    }
#pragma unroll
    for (int k = 0; k < N; ++k) off[k] += idx * it.stride[k][d];
  }
}

// Drops size-1 dims and merges neighbours that every operand walks contiguously (fewer divisions).
inline Iter coalesce(const Iter& in, int operands) {
  Iter out;
  for (int d = 0; d < in.rank; ++d) {
    if (in.shape[d] == 1) continue;
    if (out.rank > 0) {
      int p = out.rank - 1;
      bool merge = true;
      for (int k = 0; k < operands; ++k) merge = merge && out.stride[k][p] == in.stride[k][d] * in.shape[d];
      if (merge) {
        out.shape[p] *= in.shape[d];
        for (int k = 0; k < operands; ++k) out.stride[k][p] = in.stride[k][d];
        continue;
      }
    }
    out.shape[out.rank] = in.shape[d];
    for (int k = 0; k < operands; ++k) out.stride[k][out.rank] = in.stride[k][d];
    ++out.rank;
  }
  return out;
}

// True when every offset of the iteration space fits in 32 bits.
inline bool fits_u32(const Iter& it, int operands) {
  const int64_t lim = int64_t(1) << 31;
  if (it.numel() >= lim) return false;
  for (int k = 0; k < operands; ++k) {
    int64_t span = 0;
    for (int d = 0; d < it.rank; ++d) span += (it.shape[d] - 1) * (it.stride[k][d] < 0 ? -it.stride[k][d] : it.stride[k][d]);
    if (span >= lim) return false;
  }
  return true;
}

// Deterministic block-wide reduction of one value per thread (a fixed shuffle tree, then warp 0).
// `scratch` holds 32 values; every thread of the block must call it; the result is valid in thread 0.
template <class A, class Combine>
__device__ __forceinline__ A block_reduce(A v, A* scratch, Combine combine) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = combine(v, __shfl_down_sync(0xffffffffu, v, o));
  __syncthreads();  // scratch may still be read by a previous call
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = scratch[lane < warps ? lane : 0];
    if (lane >= warps) v = scratch[0];  // placeholder, never combined below
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
      A other = __shfl_down_sync(0xffffffffu, v, o);
      if (lane + o < warps) v = combine(v, other);
    }
  }
  return v;
}

}  // namespace orbit::cuda
