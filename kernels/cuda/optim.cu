// Fused optimizer updates on the GPU: SGD (momentum, Nesterov, weight decay), Adam/AdamW, EMA,
// gradient scaling and the sum of squares behind the global gradient norm. Each element follows
// kernels/cpu/optim.h's formula in double, with every product and sum rounded on its own (the
// __d*_rn intrinsics are never contracted into fused multiply-adds, which the CPU build does not
// use either), then rounds to the element type as the CPU does: identical inputs give identical bits.
// The engine reaches these through BackendHooks (installed below), on the legacy default stream.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <string>

#include "engine/backend_hooks.h"
#include "engine/error.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/optim.h"
#include "kernels/cuda/runtime.h"

namespace orbit::cuda {

namespace {

__device__ __forceinline__ double mul(double a, double b) { return __dmul_rn(a, b); }
__device__ __forceinline__ double add(double a, double b) { return __dadd_rn(a, b); }
__device__ __forceinline__ double sub(double a, double b) { return __dsub_rn(a, b); }

#define ORBIT_GRID_STRIDE(i, n) \
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < (n); i += int64_t(gridDim.x) * blockDim.x)

template <class T>
__global__ void sgd_kernel(T* __restrict__ p, const T* __restrict__ g, T* __restrict__ buf, int64_t n, double lr,
                           double mu, double wd, bool nesterov, bool first) {
  ORBIT_GRID_STRIDE(i, n) {
    const double pi = double(p[i]);
    const double gi = add(double(g[i]), mul(wd, pi));
    double d = gi;
    if (mu != 0) {
      const double b = first ? gi : add(mul(mu, double(buf[i])), gi);
      buf[i] = static_cast<T>(b);
      d = nesterov ? add(gi, mul(mu, b)) : b;
    }
    p[i] = static_cast<T>(sub(pi, mul(lr, d)));
  }
}

// omb1 = 1 - b1, omb2 = 1 - b2, c1 and c2 the bias corrections (computed on the host as the CPU does).
template <class T>
__global__ void adam_kernel(T* __restrict__ p, const T* __restrict__ g, T* __restrict__ m, T* __restrict__ v,
                            int64_t n, double lr, double b1, double b2, double omb1, double omb2, double eps, double wd,
                            bool decoupled, double c1, double c2) {
  ORBIT_GRID_STRIDE(i, n) {
    double pi = double(p[i]), gi = double(g[i]);
    if (decoupled) pi = sub(pi, mul(mul(lr, wd), pi));
    else gi = add(gi, mul(wd, pi));
    const double mi = add(mul(b1, double(m[i])), mul(omb1, gi));
    const double vi = add(mul(b2, double(v[i])), mul(mul(omb2, gi), gi));
    m[i] = static_cast<T>(mi);
    v[i] = static_cast<T>(vi);
    const double den = add(__dsqrt_rn(__ddiv_rn(vi, c2)), eps);
    p[i] = static_cast<T>(sub(pi, __ddiv_rn(mul(lr, __ddiv_rn(mi, c1)), den)));
  }
}

template <class T>
__global__ void ema_kernel(T* __restrict__ avg, const T* __restrict__ p, int64_t n, double decay, double omd) {
  ORBIT_GRID_STRIDE(i, n) avg[i] = static_cast<T>(add(mul(decay, double(avg[i])), mul(omd, double(p[i]))));
}

template <class T>
__global__ void scale_kernel(T* __restrict__ x, int64_t n, double c) {
  ORBIT_GRID_STRIDE(i, n) x[i] = static_cast<T>(mul(double(x[i]), c));
}

// Block b sums the squares of elements b * blockDim + t + k * gridDim * blockDim (fixed by n).
template <class T>
__global__ void sum_squares_partial_kernel(const T* __restrict__ x, int64_t n, double* __restrict__ partial) {
  __shared__ double scratch[32];
  double s = 0;
  ORBIT_GRID_STRIDE(i, n) {
    const double v = double(x[i]);
    s = add(s, mul(v, v));
  }
  s = block_reduce(s, scratch, [](double a, double b) { return __dadd_rn(a, b); });
  if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

__global__ void sum_squares_final_kernel(const double* __restrict__ partial, int64_t parts, double* __restrict__ out) {
  __shared__ double scratch[32];
  double s = 0;
  for (int64_t i = threadIdx.x; i < parts; i += blockDim.x) s = add(s, partial[i]);
  s = block_reduce(s, scratch, [](double a, double b) { return __dadd_rn(a, b); });
  if (threadIdx.x == 0) *out = s;
}

#undef ORBIT_GRID_STRIDE

constexpr int64_t kSumSquaresPerThread = 16;
constexpr int64_t kSumSquaresMaxBlocks = 1024;

// Depends on n only, never on the GPU: the same n always reduces in the same order.
int64_t sum_squares_blocks(int64_t n) {
  int64_t b = (n + kBlock * kSumSquaresPerThread - 1) / (kBlock * kSumSquaresPerThread);
  return std::clamp<int64_t>(b, 1, kSumSquaresMaxBlocks);
}

template <class F>
void float_elem(Elem t, const char* what, F&& f) {
  if (t == Elem::f32) f.template operator()<float>();
  else if (t == Elem::f64) f.template operator()<double>();
  else throw CudaFailure(std::string(what) + ": f32 or f64 only");
}

}  // namespace

void sgd_update(Elem t, void* p, const void* g, void* buf, int64_t n, double lr, double mu, double wd, bool nesterov,
                bool first, cudaStream_t s) {
  float_elem(t, "sgd_update", [&]<class T>() {
    if (n <= 0) return;
    sgd_kernel<T><<<grid_for(n), kBlock, 0, s>>>(static_cast<T*>(p), static_cast<const T*>(g), static_cast<T*>(buf), n,
                                                 lr, mu, wd, nesterov, first);
    check_launch("sgd_kernel");
  });
}

void adam_update(Elem t, void* p, const void* g, void* m, void* v, int64_t n, double lr, double b1, double b2,
                 double eps, double wd, bool decoupled, int64_t step, cudaStream_t s) {
  // As cpu::adam_update: the corrections use the host's pow, so both devices divide by the same values.
  const double c1 = 1 - std::pow(b1, double(step)), c2 = 1 - std::pow(b2, double(step));
  float_elem(t, "adam_update", [&]<class T>() {
    if (n <= 0) return;
    adam_kernel<T><<<grid_for(n), kBlock, 0, s>>>(static_cast<T*>(p), static_cast<const T*>(g), static_cast<T*>(m),
                                                  static_cast<T*>(v), n, lr, b1, b2, 1 - b1, 1 - b2, eps, wd, decoupled,
                                                  c1, c2);
    check_launch("adam_kernel");
  });
}

void ema_update(Elem t, void* avg, const void* p, int64_t n, double decay, cudaStream_t s) {
  float_elem(t, "ema_update", [&]<class T>() {
    if (n <= 0) return;
    ema_kernel<T><<<grid_for(n), kBlock, 0, s>>>(static_cast<T*>(avg), static_cast<const T*>(p), n, decay, 1 - decay);
    check_launch("ema_kernel");
  });
}

void scale(Elem t, void* x, int64_t n, double c, cudaStream_t s) {
  float_elem(t, "scale", [&]<class T>() {
    if (n <= 0) return;
    scale_kernel<T><<<grid_for(n), kBlock, 0, s>>>(static_cast<T*>(x), n, c);
    check_launch("scale_kernel");
  });
}

size_t sum_squares_workspace(int64_t n) {
  const int64_t b = sum_squares_blocks(n);
  return b > 1 ? static_cast<size_t>(b) * sizeof(double) : 0;
}

void sum_squares(Elem t, const void* x, int64_t n, double* out, void* workspace, cudaStream_t s) {
  float_elem(t, "sum_squares", [&]<class T>() {
    if (n <= 0) {
      check(cudaMemsetAsync(out, 0, sizeof(double), s), "cudaMemsetAsync (sum of squares)");
      return;
    }
    const int64_t blocks = sum_squares_blocks(n);
    double* partial = blocks > 1 ? static_cast<double*>(workspace) : out;
    sum_squares_partial_kernel<T><<<static_cast<unsigned>(blocks), kBlock, 0, s>>>(static_cast<const T*>(x), n, partial);
    check_launch("sum_squares_partial_kernel");
    if (blocks > 1) {
      sum_squares_final_kernel<<<1, kBlock, 0, s>>>(partial, blocks, out);
      check_launch("sum_squares_final_kernel");
    }
  });
}

}  // namespace orbit::cuda

// ---- the engine's entry points (BackendHooks) ----
namespace orbit {

namespace {

// The engine's optimizer code runs these between programs, on the legacy default stream: it orders
// itself with Tensor copies (cudaMemcpy) and with the programs' blocking streams, so an update sees
// the gradients a program produced and the next program sees the updated parameters.
constexpr cudaStream_t kStream = 0;

// The hook dtype codes are DType's (0 f32, 1 f64, 2 i32, 3 i64).
cuda::Elem elem_of(int dtype) {
  switch (dtype) {
    case 0: return cuda::Elem::f32;
    case 1: return cuda::Elem::f64;
    case 2: return cuda::Elem::i32;
    case 3: return cuda::Elem::i64;
  }
  throw Error("CUDA optimizer kernels: corrupt dtype code " + std::to_string(dtype));
}

// Hooks are called by engine code that expects orbit::Error.
template <class F>
void optim_call(const char* what, F&& f) {
  try {
    f();
    if (cuda::sync_every_op()) cuda::sync(kStream);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(std::string(what) + " on cuda:0: " + e.what());
  }
}

void hook_sgd_update(int dtype, void* p, const void* g, void* buf, int64_t n, double lr, double mu, double wd,
                     bool nesterov, bool first) {
  optim_call("SGD update", [&] { cuda::sgd_update(elem_of(dtype), p, g, buf, n, lr, mu, wd, nesterov, first, kStream); });
}

void hook_adam_update(int dtype, void* p, const void* g, void* m, void* v, int64_t n, double lr, double b1, double b2,
                      double eps, double wd, bool decoupled, int64_t step) {
  optim_call("Adam update", [&] {
    cuda::adam_update(elem_of(dtype), p, g, m, v, n, lr, b1, b2, eps, wd, decoupled, step, kStream);
  });
}

void hook_ema_update(int dtype, void* avg, const void* p, int64_t n, double decay) {
  optim_call("EMA update", [&] { cuda::ema_update(elem_of(dtype), avg, p, n, decay, kStream); });
}

void hook_scale(int dtype, void* x, int64_t n, double c) {
  optim_call("gradient scaling", [&] { cuda::scale(elem_of(dtype), x, n, c, kStream); });
}

void hook_sum_squares(size_t count, const int* dtypes, const void* const* x, const int64_t* n, double* out) {
  if (count == 0) return;
  optim_call("gradient norm", [&] {
    try {
      size_t ws = 0;
      for (size_t k = 0; k < count; ++k) ws = std::max(ws, cuda::sum_squares_workspace(n[k]));
      auto* sums = static_cast<double*>(cuda::scratch(kStream, count * sizeof(double)));
      void* workspace = ws > 0 ? cuda::scratch(kStream, ws) : nullptr;
      // The launches run in order on one stream, so they share the workspace.
      for (size_t k = 0; k < count; ++k) cuda::sum_squares(elem_of(dtypes[k]), x[k], n[k], sums + k, workspace, kStream);
      cuda::check(cudaMemcpyAsync(out, sums, count * sizeof(double), cudaMemcpyDeviceToHost, kStream),
                  "cudaMemcpyAsync (sums of squares)");
      cuda::sync(kStream);  // the results are on the host; the scratch goes back to the cache
    } catch (...) {
      try {
        cuda::sync(kStream);
      } catch (...) {
      }
      throw;
    }
  });
}

}  // namespace

void install_cuda_optim_hooks(BackendHooks& h) {
  h.cuda_sgd_update = &hook_sgd_update;
  h.cuda_adam_update = &hook_adam_update;
  h.cuda_ema_update = &hook_ema_update;
  h.cuda_scale = &hook_scale;
  h.cuda_sum_squares = &hook_sum_squares;
}

}  // namespace orbit
