#include <string>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/systems.h"

namespace orbit::cuda {
namespace {

constexpr int kMaxD = 192;
constexpr int kMaxMeans = 1024;  // GMM: components x dim
constexpr int kThreads = 128;

// Everything inside is double, whatever T is, exactly as the CPU kernel computes: in f32, the energies
// and forces of overlapping LJ configurations (noised at large sigma) overflow to inf, which would drop
// copies (or whole targets) that the CPU keeps.
template <class T>
__global__ void dem_kernel(scalar::DemParams p, const T* __restrict__ x, const T* __restrict__ sigma,
                           const T* __restrict__ means, int64_t batch, T* __restrict__ out, const uint64_t* run_dev) {
  if (run_dev) p.run = *run_dev;  // replayed from a CUDA graph: the counter of this replay
  __shared__ double red[kThreads];
  __shared__ double xb[kMaxD];
  __shared__ double result[kMaxD];
  __shared__ double mu[kMaxMeans];
  __shared__ double m_all;
  const int D = p.D, tid = threadIdx.x;
  const int n_means = p.gmm ? p.mixture.components * p.mixture.dim : 0;
  for (int j = tid; j < n_means; j += kThreads) mu[j] = static_cast<double>(means[j]);
  for (int64_t b = blockIdx.x; b < batch; b += gridDim.x) {
    for (int j = tid; j < D; j += kThreads) xb[j] = static_cast<double>(x[b * D + j]);
    __syncthreads();
    const double s = static_cast<double>(sigma[b]);
    double y[kMaxD], g[kMaxD], acc[kMaxD];
    for (int j = 0; j < D; ++j) acc[j] = 0.0;
    double m = -INFINITY, z = 0.0;
    for (int k = tid; k < p.K; k += kThreads) {
      for (int j = 0; j < D; ++j)
        y[j] = xb[j] + s * scalar::random_normal<double>(p.seed, p.stream, p.run, scalar::dem_noise_index(p, b, k, j));
      double e = p.gmm ? scalar::gmm_energy_grad<double>(p.mixture, y, mu, g) : scalar::pair_energy_grad<double>(p.pair, y, g);
      double l = -e;
      bool ok = isfinite(l);
      for (int j = 0; j < D && ok; ++j) ok = isfinite(g[j]);
      if (!ok) continue;
      if (l > m) {
        double r = exp(m - l);
        z *= r;
        for (int j = 0; j < D; ++j) acc[j] *= r;
        m = l;
      }
      double w = exp(l - m);
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
    const double M = m_all;
    const double r = (z > 0.0 && M > -INFINITY) ? exp(m - M) : 0.0;
    // Sum z, then each coordinate of acc, across the block.
    red[tid] = z * r;
    __syncthreads();
    for (int off = kThreads / 2; off > 0; off >>= 1) {
      if (tid < off) red[tid] += red[tid + off];
      __syncthreads();
    }
    const double Z = red[0];
    __syncthreads();
    for (int j = 0; j < D; ++j) {
      red[tid] = acc[j] * r;
      __syncthreads();
      for (int off = kThreads / 2; off > 0; off >>= 1) {
        if (tid < off) red[tid] += red[tid + off];
        __syncthreads();
      }
      if (tid == 0) result[j] = Z > 0.0 ? red[0] / Z : 0.0;
      __syncthreads();
    }
    if (tid == 0) scalar::dem_clip<double>(p, result);
    __syncthreads();
    for (int j = tid; j < D; j += kThreads) out[b * D + j] = static_cast<T>(result[j]);
    __syncthreads();
  }
}

}  // namespace

void dem_target(Elem t, const scalar::DemParams& p, const void* x, const void* sigma, const void* means,
                int64_t batch, void* out, const uint64_t* run_dev, cudaStream_t s) {
  if (batch == 0) return;
  if (p.D > kMaxD) throw CudaFailure("dem_target: dimension " + std::to_string(p.D) + " > " + std::to_string(kMaxD));
  if (p.gmm && p.mixture.components * p.mixture.dim > kMaxMeans)
    throw CudaFailure("dem_target: " + std::to_string(p.mixture.components) + " x " + std::to_string(p.mixture.dim) +
                      " mixture means > " + std::to_string(kMaxMeans));
  const unsigned grid = static_cast<unsigned>(batch < kMaxBlocks ? batch : kMaxBlocks);
  if (t == Elem::f32)
    dem_kernel<float><<<grid, kThreads, 0, s>>>(p, static_cast<const float*>(x), static_cast<const float*>(sigma),
                                                static_cast<const float*>(means), batch, static_cast<float*>(out), run_dev);
  else if (t == Elem::f64)
    dem_kernel<double><<<grid, kThreads, 0, s>>>(p, static_cast<const double*>(x), static_cast<const double*>(sigma),
                                                 static_cast<const double*>(means), batch, static_cast<double*>(out), run_dev);
  else
    throw CudaFailure("dem_target: f32 or f64 only");
  check_launch("dem_kernel");
}

}  // namespace orbit::cuda
