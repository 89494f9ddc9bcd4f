// Elementwise CUDA kernels: one templated kernel per arity over the scalar functors the CPU uses
// (kernels/scalar), so both devices evaluate the same formula; plus cast, fill and Philox fills.
#include <cuda_runtime.h>

#include <cstdio>
#include <string>

#include "kernels/cuda/common.cuh"
#include "kernels/scalar/binary.h"
#include "kernels/scalar/random.h"
#include "kernels/scalar/unary.h"

namespace orbit::cuda {

void check(cudaError_t e, const char* call) {
  if (e == cudaSuccess) return;
  cudaGetLastError();  // clear a non-sticky error so the next call starts clean
  throw CudaFailure(std::string(call) + " failed: " + cudaGetErrorString(e) + " (" + cudaGetErrorName(e) + ")");
}

void check_launch(const char* kernel) {
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess)
    throw CudaFailure(std::string("launch of ") + kernel + " failed: " + cudaGetErrorString(e) + " (" +
                      cudaGetErrorName(e) + ")");
}

namespace {

template <class T, class F>
__global__ void unary_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t n, F f) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    y[i] = f(x[i]);
}

template <class T, class F>
__global__ void binary_flat_kernel(const T* __restrict__ a, const T* __restrict__ b, T* __restrict__ out, int64_t n,
                                   F f) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    out[i] = f(a[i], b[i]);
}

template <class T, class F, class I>
__global__ void binary_strided_kernel(const T* __restrict__ a, const T* __restrict__ b, T* __restrict__ out, I n,
                                      DevIter<I, 2> it, F f) {
  for (I i = blockIdx.x * I(blockDim.x) + threadIdx.x; i < n; i += I(gridDim.x) * blockDim.x) {
    I off[2];
    offsets(it, i, off);
    out[i] = f(a[off[0]], b[off[1]]);
  }
}

// The same with 32-bit indices and a static-index descriptor (common.cuh: no local-memory copy).
template <class T, class F>
__global__ void binary_fast_kernel(const T* __restrict__ a, const T* __restrict__ b, T* __restrict__ out, uint32_t n,
                                   FastIter<2> it, F f) {
  for (uint32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
    uint32_t off[2];
    fast_offsets(it, i, off);
    out[i] = f(a[off[0]], b[off[1]]);
  }
}

template <class T, class I>
__global__ void where_kernel(const T* __restrict__ c, const T* __restrict__ a, const T* __restrict__ b,
                             T* __restrict__ out, I n, DevIter<I, 3> it) {
  scalar::Where f;
  for (I i = blockIdx.x * I(blockDim.x) + threadIdx.x; i < n; i += I(gridDim.x) * blockDim.x) {
    I off[3];
    offsets(it, i, off);
    out[i] = f(c[off[0]], a[off[1]], b[off[2]]);
  }
}

template <class T>
__global__ void where_fast_kernel(const T* __restrict__ c, const T* __restrict__ a, const T* __restrict__ b,
                                  T* __restrict__ out, uint32_t n, FastIter<3> it) {
  scalar::Where f;
  for (uint32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
    uint32_t off[3];
    fast_offsets(it, i, off);
    out[i] = f(c[off[0]], a[off[1]], b[off[2]]);
  }
}

template <class S, class D>
__global__ void cast_kernel(const S* __restrict__ x, D* __restrict__ y, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    y[i] = static_cast<D>(x[i]);
}

template <class T>
__global__ void fill_kernel(T* __restrict__ y, int64_t n, T v) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    y[i] = v;
}

template <class T>
__global__ void random_kernel(T* __restrict__ y, int64_t n, uint64_t seed, uint64_t stream, uint64_t run,
                              const uint64_t* run_dev, bool normal) {
  if (run_dev) run = *run_dev;  // replayed from a CUDA graph: the counter of this replay
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    y[i] = normal ? scalar::random_normal<T>(seed, stream, run, static_cast<uint64_t>(i))
                  : scalar::random_uniform<T>(seed, stream, run, static_cast<uint64_t>(i));
}

// Calls f.template operator()<T>() for the C++ type of t (ints only when allowed).
template <bool Ints, class Fn>
void dispatch(Elem t, const char* what, Fn&& fn) {
  switch (t) {
    case Elem::f32: fn.template operator()<float>(); return;
    case Elem::f64: fn.template operator()<double>(); return;
    case Elem::i32:
      if constexpr (Ints) {
        fn.template operator()<int32_t>();
        return;
      }
      break;
    case Elem::i64:
      if constexpr (Ints) {
        fn.template operator()<int64_t>();
        return;
      }
      break;
  }
  throw CudaFailure(std::string(what) + ": unsupported element type");
}

template <bool Ints, class F>
void run_unary(Elem t, const void* x, void* y, int64_t n, F f, cudaStream_t s) {
  dispatch<Ints>(t, "unary", [&]<class T>() {
    unary_kernel<<<grid_for(n), kBlock, 0, s>>>(static_cast<const T*>(x), static_cast<T*>(y), n, f);
    check_launch("unary_kernel");
  });
}

template <class T, class F>
void launch_binary(const T* a, const T* b, T* out, const Iter& full, F f, cudaStream_t s) {
  const int64_t n = full.numel();
  Iter it = coalesce(full, 2);
  if (it.rank <= 1 && (it.rank == 0 || (it.stride[0][0] == 1 && it.stride[1][0] == 1))) {
    if (it.rank == 0) {  // every operand is one element (or the output is)
      it.rank = 1;
      it.shape[0] = n;
      it.stride[0][0] = it.stride[1][0] = 0;
    } else {
      binary_flat_kernel<<<grid_for(n), kBlock, 0, s>>>(a, b, out, n, f);
      check_launch("binary_flat_kernel");
      return;
    }
  }
  if (fits_u32(it, 2)) {
    binary_fast_kernel<<<grid_for(n), kBlock, 0, s>>>(a, b, out, static_cast<uint32_t>(n), to_fast<2>(it), f);
  } else {
    binary_strided_kernel<<<grid_for(n), kBlock, 0, s>>>(a, b, out, n, to_dev<int64_t, 2>(it), f);
  }
  check_launch("binary_strided_kernel");
}

template <bool Ints, class F>
void run_binary(Elem t, const void* a, const void* b, void* out, const Iter& it, cudaStream_t s) {
  dispatch<Ints>(t, "binary", [&]<class T>() {
    launch_binary(static_cast<const T*>(a), static_cast<const T*>(b), static_cast<T*>(out), it, F{}, s);
  });
}

}  // namespace

void unary(UnaryOp op, Elem t, const void* x, void* y, int64_t n, double p0, double p1, cudaStream_t s) {
  if (n == 0) return;
  using namespace scalar;
  switch (op) {
    case UnaryOp::neg: return run_unary<true>(t, x, y, n, Neg{}, s);
    case UnaryOp::abs: return run_unary<true>(t, x, y, n, Abs{}, s);
    case UnaryOp::sign: return run_unary<true>(t, x, y, n, Sign{}, s);
    case UnaryOp::exp: return run_unary<false>(t, x, y, n, Exp{}, s);
    case UnaryOp::log: return run_unary<false>(t, x, y, n, Log{}, s);
    case UnaryOp::log1p: return run_unary<false>(t, x, y, n, Log1p{}, s);
    case UnaryOp::sqrt: return run_unary<false>(t, x, y, n, Sqrt{}, s);
    case UnaryOp::rsqrt: return run_unary<false>(t, x, y, n, Rsqrt{}, s);
    case UnaryOp::square: return run_unary<true>(t, x, y, n, Square{}, s);
    case UnaryOp::sin: return run_unary<false>(t, x, y, n, Sin{}, s);
    case UnaryOp::cos: return run_unary<false>(t, x, y, n, Cos{}, s);
    case UnaryOp::tanh: return run_unary<false>(t, x, y, n, Tanh{}, s);
    case UnaryOp::erf: return run_unary<false>(t, x, y, n, Erf{}, s);
    case UnaryOp::sigmoid: return run_unary<false>(t, x, y, n, Sigmoid{}, s);
    case UnaryOp::silu: return run_unary<false>(t, x, y, n, Silu{}, s);
    case UnaryOp::relu: return run_unary<true>(t, x, y, n, Relu{}, s);
    case UnaryOp::gelu: return run_unary<false>(t, x, y, n, Gelu{}, s);
    case UnaryOp::softplus: return run_unary<false>(t, x, y, n, Softplus{}, s);
    case UnaryOp::pow_scalar: return run_unary<false>(t, x, y, n, PowScalar{p0}, s);
    case UnaryOp::clamp: return run_unary<true>(t, x, y, n, Clamp{p0, p1}, s);
  }
  throw CudaFailure("unary: unknown op");
}

void binary(BinaryOp op, Elem t, const void* a, const void* b, void* out, const Iter& it, cudaStream_t s) {
  if (it.numel() == 0) return;
  using namespace scalar;
  switch (op) {
    case BinaryOp::add: return run_binary<true, Add>(t, a, b, out, it, s);
    case BinaryOp::sub: return run_binary<true, Sub>(t, a, b, out, it, s);
    case BinaryOp::mul: return run_binary<true, Mul>(t, a, b, out, it, s);
    case BinaryOp::div: return run_binary<false, Div>(t, a, b, out, it, s);
    case BinaryOp::pow: return run_binary<false, Pow>(t, a, b, out, it, s);
    case BinaryOp::maximum: return run_binary<true, Maximum>(t, a, b, out, it, s);
    case BinaryOp::minimum: return run_binary<true, Minimum>(t, a, b, out, it, s);
    case BinaryOp::lt: return run_binary<true, Lt>(t, a, b, out, it, s);
    case BinaryOp::le: return run_binary<true, Le>(t, a, b, out, it, s);
    case BinaryOp::gt: return run_binary<true, Gt>(t, a, b, out, it, s);
    case BinaryOp::ge: return run_binary<true, Ge>(t, a, b, out, it, s);
    case BinaryOp::eq: return run_binary<true, Eq>(t, a, b, out, it, s);
    case BinaryOp::ne: return run_binary<true, Ne>(t, a, b, out, it, s);
  }
  throw CudaFailure("binary: unknown op");
}

void where(Elem t, const void* c, const void* a, const void* b, void* out, const Iter& full, cudaStream_t s) {
  const int64_t n = full.numel();
  if (n == 0) return;
  Iter it = coalesce(full, 3);
  if (it.rank == 0) {
    it.rank = 1;
    it.shape[0] = n;
  }
  dispatch<true>(t, "where", [&]<class T>() {
    auto pc = static_cast<const T*>(c), pa = static_cast<const T*>(a), pb = static_cast<const T*>(b);
    if (fits_u32(it, 3))
      where_fast_kernel<<<grid_for(n), kBlock, 0, s>>>(pc, pa, pb, static_cast<T*>(out), static_cast<uint32_t>(n),
                                                       to_fast<3>(it));
    else
      where_kernel<<<grid_for(n), kBlock, 0, s>>>(pc, pa, pb, static_cast<T*>(out), n, to_dev<int64_t, 3>(it));
    check_launch("where_kernel");
  });
}

void cast(Elem from, Elem to, const void* x, void* y, int64_t n, cudaStream_t s) {
  if (n == 0) return;
  dispatch<true>(from, "cast", [&]<class S>() {
    dispatch<true>(to, "cast", [&]<class D>() {
      cast_kernel<<<grid_for(n), kBlock, 0, s>>>(static_cast<const S*>(x), static_cast<D*>(y), n);
      check_launch("cast_kernel");
    });
  });
}

void fill(Elem t, void* out, int64_t n, double value, cudaStream_t s) {
  if (n == 0) return;
  dispatch<true>(t, "fill", [&]<class T>() {
    fill_kernel<<<grid_for(n), kBlock, 0, s>>>(static_cast<T*>(out), n, static_cast<T>(value));
    check_launch("fill_kernel");
  });
}

void random_fill(Elem t, void* out, int64_t n, uint64_t seed, uint64_t stream, uint64_t run, const uint64_t* run_dev,
                 bool normal, cudaStream_t s) {
  if (n == 0) return;
  dispatch<false>(t, "random", [&]<class T>() {
    random_kernel<<<grid_for(n), kBlock, 0, s>>>(static_cast<T*>(out), n, seed, stream, run, run_dev, normal);
    check_launch("random_kernel");
  });
}

}  // namespace orbit::cuda
