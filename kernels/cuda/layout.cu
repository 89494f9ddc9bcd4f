// Data movement on the GPU: one strided-copy kernel for permute, slice, pad, concat and
// broadcast_to; gather; and the device-side validation of index tensors.
#include <cuda_runtime.h>

#include "kernels/cuda/common.cuh"

namespace orbit::cuda {

namespace {

template <class U, class I>
__global__ void copy_strided_kernel(U* __restrict__ dst, const U* __restrict__ src, I n, DevIter<I, 2> it) {
  for (I i = blockIdx.x * I(blockDim.x) + threadIdx.x; i < n; i += I(gridDim.x) * blockDim.x) {
    I off[2];
    offsets(it, i, off);
    dst[off[0]] = src[off[1]];
  }
}

// 32-bit indices with a static-index descriptor (common.cuh: no local-memory copy per thread).
template <class U>
__global__ void copy_fast_kernel(U* __restrict__ dst, const U* __restrict__ src, uint32_t n, FastIter<2> it) {
  for (uint32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
    uint32_t off[2];
    fast_offsets(it, i, off);
    dst[off[0]] = src[off[1]];
  }
}

// I: the type of the index arithmetic (32 bits when every offset fits).
template <class U, class Idx, class I>
__global__ void gather_kernel(const U* __restrict__ x, const Idx* __restrict__ idx, U* __restrict__ out, I outer,
                              I len, I nidx, I inner) {
  const I n = outer * nidx * inner;
  for (I i = blockIdx.x * I(blockDim.x) + threadIdx.x; i < n; i += I(gridDim.x) * blockDim.x) {
    I oe = i / inner, in = i - oe * inner;
    I o = oe / nidx, e = oe - o * nidx;
    int64_t k = static_cast<int64_t>(idx[e]);
    out[i] = (k >= 0 && k < static_cast<int64_t>(len)) ? x[(o * len + static_cast<I>(k)) * inner + in] : U(0);
  }
}

template <class Idx>
__global__ void validate_kernel(const Idx* __restrict__ idx, int64_t n, int64_t limit, bool sorted,
                                unsigned long long* flag) {
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < n; e += int64_t(gridDim.x) * blockDim.x) {
    int64_t v = static_cast<int64_t>(idx[e]);
    bool bad = v < 0 || v >= limit || (sorted && e > 0 && v < static_cast<int64_t>(idx[e - 1]));
    if (bad) atomicMin(flag, static_cast<unsigned long long>(e));
  }
}

// Runs after validate_kernel on the same stream: records the offending id and its predecessor while
// the index tensor is still intact (its memory may be reused by later ops of the program).
template <class Idx>
__global__ void record_kernel(const Idx* __restrict__ idx, unsigned long long* flag) {
  unsigned long long e = flag[0];
  if (e == ~0ull) return;
  flag[1] = static_cast<unsigned long long>(static_cast<int64_t>(idx[e]));
  flag[2] = e > 0 ? static_cast<unsigned long long>(static_cast<int64_t>(idx[e - 1])) : 0ull;
}

template <class U>
void launch_copy(U* dst, const U* src, const Iter& full, cudaStream_t s) {
  const int64_t n = full.numel();
  Iter it = coalesce(full, 2);
  if (it.rank == 1 && it.stride[0][0] == 1 && it.stride[1][0] == 1) {
    check(cudaMemcpyAsync(dst, src, n * sizeof(U), cudaMemcpyDeviceToDevice, s), "cudaMemcpyAsync");
    return;
  }
  if (it.rank == 0) {
    it.rank = 1;
    it.shape[0] = n;
  }
  if (fits_u32(it, 2))
    copy_fast_kernel<<<grid_for(n), kBlock, 0, s>>>(dst, src, static_cast<uint32_t>(n), to_fast<2>(it));
  else
    copy_strided_kernel<<<grid_for(n), kBlock, 0, s>>>(dst, src, n, to_dev<int64_t, 2>(it));
  check_launch("copy_strided_kernel");
}

}  // namespace

void copy_strided(size_t elem_bytes, void* dst, const void* src, const Iter& it, cudaStream_t s) {
  if (it.numel() == 0) return;
  if (elem_bytes == 4) launch_copy(static_cast<uint32_t*>(dst), static_cast<const uint32_t*>(src), it, s);
  else if (elem_bytes == 8) launch_copy(static_cast<uint64_t*>(dst), static_cast<const uint64_t*>(src), it, s);
  else throw CudaFailure("copy_strided: elements of 4 or 8 bytes only");
}

void gather(size_t elem_bytes, Elem idx_t, const void* x, const void* idx, void* out, int64_t outer, int64_t axis_len,
            int64_t nidx, int64_t inner, cudaStream_t s) {
  const int64_t n = outer * nidx * inner;
  if (n == 0) return;
  const bool small = n < (int64_t(1) << 31) && outer * axis_len * inner < (int64_t(1) << 31);
  auto go = [&]<class U>() {
    auto with = [&]<class Idx>() {
      auto px = static_cast<const U*>(x);
      auto pi = static_cast<const Idx*>(idx);
      auto po = static_cast<U*>(out);
      if (small)
        gather_kernel<<<grid_for(n), kBlock, 0, s>>>(px, pi, po, uint32_t(outer), uint32_t(axis_len), uint32_t(nidx),
                                                     uint32_t(inner));
      else
        gather_kernel<<<grid_for(n), kBlock, 0, s>>>(px, pi, po, outer, axis_len, nidx, inner);
      check_launch("gather_kernel");
    };
    if (idx_t == Elem::i32) with.template operator()<int32_t>();
    else if (idx_t == Elem::i64) with.template operator()<int64_t>();
    else throw CudaFailure("gather: indices must be i32 or i64");
  };
  if (elem_bytes == 4) go.template operator()<uint32_t>();
  else if (elem_bytes == 8) go.template operator()<uint64_t>();
  else throw CudaFailure("gather: elements of 4 or 8 bytes only");
}

void validate_indices(Elem idx_t, const void* idx, int64_t n, int64_t limit, bool sorted, unsigned long long* flag,
                      cudaStream_t s) {
  if (n == 0) return;
  if (idx_t == Elem::i32) {
    validate_kernel<<<grid_for(n), kBlock, 0, s>>>(static_cast<const int32_t*>(idx), n, limit, sorted, flag);
    check_launch("validate_kernel");
    record_kernel<<<1, 1, 0, s>>>(static_cast<const int32_t*>(idx), flag);
  } else if (idx_t == Elem::i64) {
    validate_kernel<<<grid_for(n), kBlock, 0, s>>>(static_cast<const int64_t*>(idx), n, limit, sorted, flag);
    check_launch("validate_kernel");
    record_kernel<<<1, 1, 0, s>>>(static_cast<const int64_t*>(idx), flag);
  } else {
    throw CudaFailure("validate_indices: indices must be i32 or i64");
  }
  check_launch("record_kernel");
}

}  // namespace orbit::cuda
