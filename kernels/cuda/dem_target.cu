#include <string>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/systems.h"

namespace orbit::cuda {
namespace {

constexpr int kMaxD = 192;
constexpr int kThreads = 128;

template <class T>
__global__ void dem_kernel(scalar::DemParams p, const T* __restrict__ x, const T* __restrict__ sigma,
                           const T* __restrict__ means, int64_t batch, T* __restrict__ out) {
  __shared__ T red[kThreads];
  __shared__ T xb[kMaxD];
  __shared__ T result[kMaxD];
  __shared__ T m_all;
  const int D = p.D, tid = threadIdx.x;
  for (int64_t b = blockIdx.x; b < batch; b += gridDim.x) {
    for (int j = tid; j < D; j += kThreads) xb[j] = x[b * D + j];
    __syncthreads();
    const T s = sigma[b];
    T y[kMaxD], g[kMaxD], acc[kMaxD];
    for (int j = 0; j < D; ++j) acc[j] = T(0);
    T m = -INFINITY, z = T(0);
    for (int k = tid; k < p.K; k += kThreads) {
      for (int j = 0; j < D; ++j)
        y[j] = xb[j] + s * scalar::random_normal<T>(p.seed, p.stream, p.run, scalar::dem_noise_index(p, b, k, j));
      T e = p.gmm ? scalar::gmm_energy_grad<T>(p.mixture, y, means, g) : scalar::pair_energy_grad<T>(p.pair, y, g);
      T l = -e;
      bool ok = isfinite(l);
      for (int j = 0; j < D && ok; ++j) ok = isfinite(g[j]);
      if (!ok) continue;
      if (l > m) {
        T r = exp(m - l);
        z *= r;
        for (int j = 0; j < D; ++j) acc[j] *= r;
        m = l;
      }
      T w = exp(l - m);
      z += w;
      for (int j = 0; j < D; ++j) acc[j] -= w * g[j];
    }
    // Block maximum of the per-thread maxima, then every thread rescales to it.
    red[tid] = m;
    __syncthreads();
    for (int off = kThreads / 2; off > 0; off >>= 1) {
      if (tid < off) red[tid] = red[tid] > red[tid + off] ? red[tid] : red[tid + off];
      __syncthreads();
    }
    if (tid == 0) m_all = red[0];
    __syncthreads();
    const T M = m_all;
    const T r = (z > T(0) && M > -INFINITY) ? exp(m - M) : T(0);
    // Sum z, then each coordinate of acc, across the block.
    red[tid] = z * r;
    __syncthreads();
    for (int off = kThreads / 2; off > 0; off >>= 1) {
      if (tid < off) red[tid] += red[tid + off];
      __syncthreads();
    }
    const T Z = red[0];
    __syncthreads();
    for (int j = 0; j < D; ++j) {
      red[tid] = acc[j] * r;
      __syncthreads();
      for (int off = kThreads / 2; off > 0; off >>= 1) {
        if (tid < off) red[tid] += red[tid + off];
        __syncthreads();
      }
      if (tid == 0) result[j] = Z > T(0) ? red[0] / Z : T(0);
      __syncthreads();
    }
    if (tid == 0) scalar::dem_clip<T>(p, result);
    __syncthreads();
    for (int j = tid; j < D; j += kThreads) out[b * D + j] = result[j];
    __syncthreads();
  }
}

}  // namespace

void dem_target(Elem t, const scalar::DemParams& p, const void* x, const void* sigma, const void* means,
                int64_t batch, void* out, cudaStream_t s) {
  if (batch == 0) return;
  if (p.D > kMaxD) throw CudaFailure("dem_target: dimension " + std::to_string(p.D) + " > " + std::to_string(kMaxD));
  const unsigned grid = static_cast<unsigned>(batch < kMaxBlocks ? batch : kMaxBlocks);
  if (t == Elem::f32)
    dem_kernel<float><<<grid, kThreads, 0, s>>>(p, static_cast<const float*>(x), static_cast<const float*>(sigma),
                                                static_cast<const float*>(means), batch, static_cast<float*>(out));
  else if (t == Elem::f64)
    dem_kernel<double><<<grid, kThreads, 0, s>>>(p, static_cast<const double*>(x), static_cast<const double*>(sigma),
                                                 static_cast<const double*>(means), batch, static_cast<double*>(out));
  else
    throw CudaFailure("dem_target: f32 or f64 only");
  check_launch("dem_kernel");
}

}  // namespace orbit::cuda
