// Reductions over any set of axes (sum, mean, max, logsumexp) and softmax on the GPU.
//
// The input splits into kept dims (one output each) and reduced dims (engine/ops/cpu_reduce.cpp's
// decomposition). Two kernels cover the shapes:
//  - thread per output, when neighbouring outputs are neighbours in memory (coalesced), or the
//    reduction is short;
//  - block per output otherwise (the reduced dims are innermost): a warp when the rows are short.
// Either may split a long reduction into chunks whose partials a third kernel combines, so a sum of
// one huge tensor still fills the GPU. Chunk counts depend on the shapes only (never on the GPU),
// so results are deterministic and identical on every card. Floating sums accumulate in f64 and
// integer sums in i64 (the CPU does the same), logsumexp and softmax normalisers in f64.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "kernels/cuda/common.cuh"

namespace orbit::cuda {

namespace {

constexpr int64_t kTargetThreads = 1 << 18;  // enough to fill an H100 (132 SMs x 2048 threads)
constexpr int64_t kTargetBlocks = 1 << 10;
constexpr int64_t kMinChunkThread = 64;      // shortest chunk a thread reduces on its own
constexpr int64_t kMinChunkBlock = 4096;     // shortest chunk a block reduces

template <class T>
using SumAcc = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;

struct LsePart {
  double m, s;
};

template <class T>
__device__ __forceinline__ T max_nan(T a, T b) {  // NaN propagates, as on the CPU
  if (a != a) return a;
  if (b != b) return b;
  return b > a ? b : a;
}

template <class T>
__device__ __forceinline__ T lowest() {
  if constexpr (std::is_floating_point_v<T>) return -std::numeric_limits<T>::infinity();
  else return std::numeric_limits<T>::lowest();
}

// Walks the reduced dims from flat position j0 without divisions after the first step.
template <class I>
struct Odometer {
  I idx[Iter::kMax];
  I off;
  __device__ Odometer(const DevIter<I, 1>& r, I j0) {
    off = 0;
    for (int d = r.rank - 1; d >= 0; --d) {
      I q = j0 / r.shape[d];
      idx[d] = j0 - q * r.shape[d];
      off += idx[d] * r.stride[0][d];
      j0 = q;
    }
  }
  __device__ __forceinline__ void next(const DevIter<I, 1>& r) {
    for (int d = r.rank - 1; d >= 0; --d) {
      off += r.stride[0][d];
      if (++idx[d] < r.shape[d]) return;
      off -= r.stride[0][d] * r.shape[d];
      idx[d] = 0;
    }
  }
};

template <class I>
__device__ __forceinline__ I offset1(const DevIter<I, 1>& it, I flat) {
  I off[1];
  offsets(it, flat, off);
  return off[0];
}

// ---- thread per (output, chunk) ----
// Output o, chunk c: partial index c * nout + o (neighbouring threads: neighbouring outputs).
template <class T, ReduceOp Op, class I>
__global__ void reduce_thread_kernel(const T* __restrict__ x, T* __restrict__ out, void* __restrict__ partial, I nout,
                                     I nred, I chunk, I chunks, DevIter<I, 1> kept, DevIter<I, 1> red) {
  const I total = nout * chunks;
  for (I t = blockIdx.x * I(blockDim.x) + threadIdx.x; t < total; t += I(gridDim.x) * blockDim.x) {
    I o = t % nout, c = t / nout;
    I j0 = c * chunk, j1 = j0 + chunk < nred ? j0 + chunk : nred;
    I base = offset1(kept, o);
    if constexpr (Op == ReduceOp::sum || Op == ReduceOp::mean) {
      SumAcc<T> s = 0;
      Odometer<I> od(red, j0);
      for (I j = j0; j < j1; ++j, od.next(red)) s += static_cast<SumAcc<T>>(x[base + od.off]);
      if (chunks > 1) static_cast<SumAcc<T>*>(partial)[t] = s;
      else if (Op == ReduceOp::mean) out[o] = static_cast<T>(s / static_cast<SumAcc<T>>(nred));
      else out[o] = static_cast<T>(s);
    } else if constexpr (Op == ReduceOp::max) {
      T m = lowest<T>();
      Odometer<I> od(red, j0);
      for (I j = j0; j < j1; ++j, od.next(red)) m = max_nan(m, x[base + od.off]);
      if (chunks > 1) static_cast<T*>(partial)[t] = m;
      else out[o] = m;
    } else {
      T m = lowest<T>();
      {
        Odometer<I> od(red, j0);
        for (I j = j0; j < j1; ++j, od.next(red)) {
          T v = x[base + od.off];
          m = v > m ? v : m;  // NaN is skipped here and propagates through the sum
        }
      }
      double s = 0;
      if (isfinite(m) || chunks > 1) {
        Odometer<I> od(red, j0);
        for (I j = j0; j < j1; ++j, od.next(red)) {
          T v = x[base + od.off];
          s += (isinf(v) && v < 0) ? 0.0 : exp(double(v) - double(m));
        }
      }
      if (chunks > 1) static_cast<LsePart*>(partial)[t] = LsePart{double(m), s};
      else out[o] = isfinite(m) ? static_cast<T>(double(m) + log(s)) : m;
    }
  }
}

// ---- block per (output, chunk) ----
template <class T, ReduceOp Op, class I>
__global__ void reduce_block_kernel(const T* __restrict__ x, T* __restrict__ out, void* __restrict__ partial, I nout,
                                    I nred, I chunk, I chunks, DevIter<I, 1> kept, DevIter<I, 1> red) {
  using A = std::conditional_t<Op == ReduceOp::max, T, std::conditional_t<Op == ReduceOp::logsumexp, double, SumAcc<T>>>;
  __shared__ A scratch[32];
  __shared__ T shared_max;
  const I total = nout * chunks;
  const bool contiguous = red.rank == 1;
  for (I t = blockIdx.x; t < total; t += gridDim.x) {
    I o = t % nout, c = t / nout;
    I j0 = c * chunk, j1 = j0 + chunk < nred ? j0 + chunk : nred;
    I base = offset1(kept, o);
    auto at = [&](I j) { return x[base + (contiguous ? j * red.stride[0][0] : offset1(red, j))]; };
    if constexpr (Op == ReduceOp::sum || Op == ReduceOp::mean) {
      A s = 0;
      for (I j = j0 + threadIdx.x; j < j1; j += blockDim.x) s += static_cast<A>(at(j));
      s = block_reduce(s, scratch, [](A a, A b) { return a + b; });
      if (threadIdx.x == 0) {
        if (chunks > 1) static_cast<A*>(partial)[t] = s;
        else if (Op == ReduceOp::mean) out[o] = static_cast<T>(s / static_cast<A>(nred));
        else out[o] = static_cast<T>(s);
      }
    } else if constexpr (Op == ReduceOp::max) {
      T m = lowest<T>();
      for (I j = j0 + threadIdx.x; j < j1; j += blockDim.x) m = max_nan(m, at(j));
      m = block_reduce(m, scratch, [](T a, T b) { return max_nan(a, b); });
      if (threadIdx.x == 0) {
        if (chunks > 1) static_cast<T*>(partial)[t] = m;
        else out[o] = m;
      }
    } else {
      T m = lowest<T>();
      for (I j = j0 + threadIdx.x; j < j1; j += blockDim.x) {
        T v = at(j);
        m = v > m ? v : m;
      }
      double md = block_reduce(double(m), scratch, [](double a, double b) { return b > a ? b : a; });
      if (threadIdx.x == 0) shared_max = static_cast<T>(md);
      __syncthreads();
      m = shared_max;
      double s = 0;
      if (isfinite(m) || chunks > 1)
        for (I j = j0 + threadIdx.x; j < j1; j += blockDim.x) {
          T v = at(j);
          s += (isinf(v) && v < 0) ? 0.0 : exp(double(v) - double(m));
        }
      s = block_reduce(s, scratch, [](double a, double b) { return a + b; });
      if (threadIdx.x == 0) {
        if (chunks > 1) static_cast<LsePart*>(partial)[t] = LsePart{double(m), s};
        else out[o] = isfinite(m) ? static_cast<T>(double(m) + log(s)) : m;
      }
      __syncthreads();  // shared_max is rewritten by the next output
    }
  }
}

// ---- combine the chunks' partials, in chunk order ----
template <class T, ReduceOp Op>
__global__ void reduce_combine_kernel(const void* __restrict__ partial, T* __restrict__ out, int64_t nout,
                                      int64_t chunks, int64_t nred) {
  for (int64_t o = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; o < nout; o += int64_t(gridDim.x) * blockDim.x) {
    if constexpr (Op == ReduceOp::sum || Op == ReduceOp::mean) {
      auto p = static_cast<const SumAcc<T>*>(partial);
      SumAcc<T> s = 0;
      for (int64_t c = 0; c < chunks; ++c) s += p[c * nout + o];
      out[o] = Op == ReduceOp::mean ? static_cast<T>(s / static_cast<SumAcc<T>>(nred)) : static_cast<T>(s);
    } else if constexpr (Op == ReduceOp::max) {
      auto p = static_cast<const T*>(partial);
      T m = p[o];
      for (int64_t c = 1; c < chunks; ++c) m = max_nan(m, p[c * nout + o]);
      out[o] = m;
    } else {
      auto p = static_cast<const LsePart*>(partial);
      double M = p[o].m;
      for (int64_t c = 1; c < chunks; ++c) M = p[c * nout + o].m > M ? p[c * nout + o].m : M;
      if (!isfinite(M)) {
        out[o] = static_cast<T>(M);
        continue;
      }
      double s = 0;
      for (int64_t c = 0; c < chunks; ++c) s += p[c * nout + o].s * exp(p[c * nout + o].m - M);
      out[o] = static_cast<T>(M + log(s));
    }
  }
}

// ---- softmax ----
// One warp per row of length n (inner == 1, n <= 1024).
template <class T>
__global__ void softmax_warp_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t rows, int64_t n) {
  const int lane = threadIdx.x & 31;
  const int64_t warps_per_grid = int64_t(gridDim.x) * (blockDim.x >> 5);
  for (int64_t r = blockIdx.x * int64_t(blockDim.x >> 5) + (threadIdx.x >> 5); r < rows; r += warps_per_grid) {
    const T* px = x + r * n;
    T* py = y + r * n;
    T m = -std::numeric_limits<T>::infinity();
    for (int64_t k = lane; k < n; k += 32) m = px[k] > m ? px[k] : m;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
      T other = __shfl_xor_sync(0xffffffffu, m, o);
      m = other > m ? other : m;
    }
    double s = 0;
    for (int64_t k = lane; k < n; k += 32) s += exp(double(px[k]) - double(m));
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    for (int64_t k = lane; k < n; k += 32) py[k] = static_cast<T>(exp(double(px[k]) - double(m)) / s);
  }
}

// One block per row (inner == 1, long rows).
template <class T>
__global__ void softmax_block_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t rows, int64_t n) {
  __shared__ double scratch[32];
  __shared__ double bcast;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* px = x + r * n;
    T* py = y + r * n;
    T m = -std::numeric_limits<T>::infinity();
    for (int64_t k = threadIdx.x; k < n; k += blockDim.x) m = px[k] > m ? px[k] : m;
    double md = block_reduce(double(m), scratch, [](double a, double b) { return b > a ? b : a; });
    if (threadIdx.x == 0) bcast = md;
    __syncthreads();
    m = static_cast<T>(bcast);
    double s = 0;
    for (int64_t k = threadIdx.x; k < n; k += blockDim.x) s += exp(double(px[k]) - double(m));
    s = block_reduce(s, scratch, [](double a, double b) { return a + b; });
    __syncthreads();  // everyone has read bcast (the max)
    if (threadIdx.x == 0) bcast = s;
    __syncthreads();
    s = bcast;
    for (int64_t k = threadIdx.x; k < n; k += blockDim.x) py[k] = static_cast<T>(exp(double(px[k]) - double(m)) / s);
    __syncthreads();  // bcast is rewritten for the next row
  }
}

// One thread per (outer, inner) column, stepping through the axis (inner > 1: coalesced across threads).
template <class T>
__global__ void softmax_column_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t outer, int64_t n,
                                      int64_t inner) {
  const int64_t total = outer * inner;
  for (int64_t oi = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; oi < total; oi += int64_t(gridDim.x) * blockDim.x) {
    int64_t o = oi / inner, i = oi - o * inner;
    const T* px = x + o * n * inner + i;
    T* py = y + o * n * inner + i;
    T m = -std::numeric_limits<T>::infinity();
    for (int64_t k = 0; k < n; ++k) m = px[k * inner] > m ? px[k * inner] : m;
    double s = 0;
    for (int64_t k = 0; k < n; ++k) s += exp(double(px[k * inner]) - double(m));
    for (int64_t k = 0; k < n; ++k) py[k * inner] = static_cast<T>(exp(double(px[k * inner]) - double(m)) / s);
  }
}

// ---- planning ----
struct Plan {
  Iter kept, red;  // coalesced (one operand: stride[0])
  int64_t nout = 0, nred = 0;
  bool block = false;
  int threads = kBlock;  // per block in block mode
  int64_t chunks = 1, chunk = 0;
  bool small_index = false;
};

Iter coalesce_one(const Iter& it) {
  Iter c = coalesce(it, 1);
  if (c.rank == 0) {  // a single element: one dim of size one keeps the kernels' loops simple
    c.rank = 1;
    c.shape[0] = 1;
    c.stride[0][0] = 0;
  }
  return c;
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

Plan make_plan(const Iter& kept, const Iter& reduced) {
  Plan p;
  p.kept = coalesce_one(kept);
  p.red = coalesce_one(reduced);
  p.nout = kept.numel();
  p.nred = reduced.numel();
  const bool coalesced_outputs = p.kept.stride[0][p.kept.rank - 1] == 1 && p.kept.shape[p.kept.rank - 1] >= 32;
  // Thread per output whenever neighbouring outputs are neighbours in memory: a warp then reads 32
  // consecutive values per step, also for a few outputs over a tall reduction (a bias gradient over
  // a million rows), which a block per output would read with a stride (an eighth of the bandwidth).
  p.block = !(p.nred <= 32 || coalesced_outputs);
  if (p.block) {
    p.chunks = std::max<int64_t>(1, std::min(ceil_div(kTargetBlocks, p.nout), ceil_div(p.nred, kMinChunkBlock)));
  } else {
    p.chunks = std::max<int64_t>(1, std::min(ceil_div(kTargetThreads, p.nout), ceil_div(p.nred, kMinChunkThread)));
  }
  p.chunk = ceil_div(p.nred, p.chunks);
  p.chunks = ceil_div(p.nred, p.chunk);  // no empty chunk
  // Short rows (the last axis of an edge tensor, say): one warp per output, not a block of idle threads.
  if (p.block && p.chunk <= 512) p.threads = 32;
  int64_t span = 0;
  for (const Iter* it : {&p.kept, &p.red})
    for (int d = 0; d < it->rank; ++d) span += (it->shape[d] - 1) * it->stride[0][d];
  const int64_t lim = int64_t(1) << 31;
  p.small_index = span < lim && p.nout * p.chunks < lim && p.nred < lim && p.chunk * p.chunks < lim;
  return p;
}

size_t partial_bytes(ReduceOp op, Elem t) {
  if (op == ReduceOp::logsumexp) return sizeof(LsePart);
  if (op == ReduceOp::max) return elem_size(t);
  return 8;  // f64 or i64 accumulators
}

template <class T, ReduceOp Op, class I>
void launch_reduce(const T* x, T* out, const Plan& p, void* ws, cudaStream_t s) {
  auto kept = to_dev<I, 1>(p.kept);
  auto red = to_dev<I, 1>(p.red);
  if (p.block) {
    reduce_block_kernel<T, Op, I><<<static_cast<unsigned>(std::min<int64_t>(p.nout * p.chunks, kMaxBlocks)), p.threads, 0, s>>>(
        x, out, ws, I(p.nout), I(p.nred), I(p.chunk), I(p.chunks), kept, red);
    check_launch("reduce_block_kernel");
  } else {
    reduce_thread_kernel<T, Op, I><<<grid_for(p.nout * p.chunks), kBlock, 0, s>>>(x, out, ws, I(p.nout), I(p.nred),
                                                                                 I(p.chunk), I(p.chunks), kept, red);
    check_launch("reduce_thread_kernel");
  }
  if (p.chunks > 1) {
    reduce_combine_kernel<T, Op><<<grid_for(p.nout), kBlock, 0, s>>>(ws, out, p.nout, p.chunks, p.nred);
    check_launch("reduce_combine_kernel");
  }
}

template <ReduceOp Op>
void reduce_op(Elem t, const void* x, void* out, const Plan& p, void* ws, cudaStream_t s) {
  auto go = [&]<class T>() {
    if (p.small_index) launch_reduce<T, Op, uint32_t>(static_cast<const T*>(x), static_cast<T*>(out), p, ws, s);
    else launch_reduce<T, Op, int64_t>(static_cast<const T*>(x), static_cast<T*>(out), p, ws, s);
  };
  constexpr bool kFloatOnly = Op == ReduceOp::mean || Op == ReduceOp::logsumexp;
  switch (t) {
    case Elem::f32: return go.template operator()<float>();
    case Elem::f64: return go.template operator()<double>();
    case Elem::i32:
      if constexpr (!kFloatOnly) return go.template operator()<int32_t>();
      break;
    case Elem::i64:
      if constexpr (!kFloatOnly) return go.template operator()<int64_t>();
      break;
  }
  throw CudaFailure("reduce: unsupported element type");
}

}  // namespace

size_t reduce_workspace(ReduceOp op, Elem t, const Iter& kept, const Iter& reduced) {
  if (kept.numel() == 0 || reduced.numel() == 0) return 0;
  Plan p = make_plan(kept, reduced);
  return p.chunks > 1 ? static_cast<size_t>(p.nout * p.chunks) * partial_bytes(op, t) : 0;
}

void reduce(ReduceOp op, Elem t, const void* x, void* out, const Iter& kept, const Iter& reduced, void* workspace,
            cudaStream_t s) {
  const int64_t nout = kept.numel();
  if (nout == 0) return;
  if (reduced.numel() == 0) {  // empty reductions: the CPU's values
    double v = 0;
    if (op == ReduceOp::max || op == ReduceOp::logsumexp)
      v = (t == Elem::f32 || t == Elem::f64) ? -HUGE_VAL : 0.0;
    fill(t, out, nout, v, s);
    return;
  }
  Plan p = make_plan(kept, reduced);
  switch (op) {
    case ReduceOp::sum: return reduce_op<ReduceOp::sum>(t, x, out, p, workspace, s);
    case ReduceOp::mean: return reduce_op<ReduceOp::mean>(t, x, out, p, workspace, s);
    case ReduceOp::max: return reduce_op<ReduceOp::max>(t, x, out, p, workspace, s);
    case ReduceOp::logsumexp: return reduce_op<ReduceOp::logsumexp>(t, x, out, p, workspace, s);
  }
}

void softmax(Elem t, const void* x, void* y, int64_t outer, int64_t n, int64_t inner, cudaStream_t s) {
  if (outer * n * inner == 0) return;
  auto go = [&]<class T>() {
    auto px = static_cast<const T*>(x);
    auto py = static_cast<T*>(y);
    if (inner > 1) {
      softmax_column_kernel<<<grid_for(outer * inner), kBlock, 0, s>>>(px, py, outer, n, inner);
      check_launch("softmax_column_kernel");
    } else if (n <= 1024) {
      softmax_warp_kernel<<<grid_for(outer, kBlock / 32), kBlock, 0, s>>>(px, py, outer, n);
      check_launch("softmax_warp_kernel");
    } else {
      softmax_block_kernel<<<static_cast<unsigned>(std::min<int64_t>(outer, kMaxBlocks)), kBlock, 0, s>>>(px, py, outer, n);
      check_launch("softmax_block_kernel");
    }
  };
  if (t == Elem::f32) go.template operator()<float>();
  else if (t == Elem::f64) go.template operator()<double>();
  else throw CudaFailure("softmax: f32 or f64 only");
}

}  // namespace orbit::cuda
