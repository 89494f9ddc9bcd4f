#include <algorithm>
#include <string>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/systems.h"

namespace orbit::cuda {
namespace {

using scalar::GmmParams;
using scalar::PairParams;

template <class T, int DIM>
__global__ void pair_kernel(PairParams p, const T* __restrict__ x, int64_t batch, T* energy, int64_t es, T* grad,
                            int64_t gs, int G) {
  extern __shared__ unsigned char smem_raw[];
  T* smem = reinterpret_cast<T*>(smem_raw);
  const int n = p.n, nd = n * DIM;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int per_warp = 32 / G, group = lane / G, gl = lane % G;
  const int warps = blockDim.x >> 5;
  T* wbuf = smem + static_cast<int64_t>(warp) * per_warp * nd;
  const T half_scale = T(0.5 * p.scale), scale = T(p.scale), osc = T(p.oscillator);
  const int64_t step = static_cast<int64_t>(gridDim.x) * warps * per_warp;
  // `base` is uniform across the warp, so every lane reaches the shuffles below.
  for (int64_t base = (static_cast<int64_t>(blockIdx.x) * warps + warp) * per_warp; base < batch; base += step) {
    const int nconf = static_cast<int>(min(static_cast<int64_t>(per_warp), batch - base));
    const T* src = x + base * nd;
    for (int k = lane; k < nconf * nd; k += 32) wbuf[k] = src[k];
    __syncwarp();
    const bool active = group < nconf;
    const int64_t b = base + group;
    const T* xb = wbuf + group * nd;
    T mean[DIM];
    for (int k = 0; k < DIM; ++k) mean[k] = T(0);
    if (active && p.oscillator != 0) {
      for (int j = 0; j < n; ++j)
        for (int k = 0; k < DIM; ++k) mean[k] += xb[j * DIM + k];
      for (int k = 0; k < DIM; ++k) mean[k] /= T(n);
    }
    T e_acc = T(0);
    for (int i = gl; active && i < n; i += G) {
      T xi[DIM], gi[DIM];
      for (int k = 0; k < DIM; ++k) {
        xi[k] = xb[i * DIM + k];
        gi[k] = T(0);
      }
      T ei = T(0);
      for (int j = 0; j < n; ++j) {
        if (j == i) continue;
        T diff[DIM];
        T r2 = T(0);
        for (int k = 0; k < DIM; ++k) {
          diff[k] = xi[k] - xb[j * DIM + k];
          r2 += diff[k] * diff[k];
        }
        auto t = scalar::pair_term<T>(p, r2);
        ei += t.e;
        for (int k = 0; k < DIM; ++k) gi[k] += T(2) * t.de_dr2 * diff[k];
      }
      ei *= half_scale;  // every unordered pair was visited from both ends
      for (int k = 0; k < DIM; ++k) gi[k] *= scale;
      if (p.oscillator != 0) {
        T sq = T(0);
        for (int k = 0; k < DIM; ++k) {
          T c = xi[k] - mean[k];
          sq += c * c;
          gi[k] += osc * c;
        }
        ei += T(0.5) * osc * sq;
      }
      e_acc += ei;
      if (grad)
        for (int k = 0; k < DIM; ++k) grad[b * gs + i * DIM + k] = gi[k];
    }
    for (int off = G / 2; off > 0; off >>= 1) e_acc += __shfl_xor_sync(0xffffffffu, e_acc, off);
    if (active && gl == 0 && energy) energy[b * es] = e_acc;
    __syncwarp();  // wbuf is reused by the next iteration
  }
}

template <class T>
__global__ void gmm_kernel(GmmParams p, const T* __restrict__ x, const T* __restrict__ means, int64_t batch,
                           T* energy, int64_t es, T* grad, int64_t gs, T log_norm) {
  constexpr int kMaxDim = 8;
  const int d = p.dim;
  const T inv_var = T(1) / (T(p.std) * T(p.std)), scale = T(p.scale);
  for (int64_t b = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; b < batch;
       b += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    T y[kMaxDim], acc[kMaxDim];
    for (int k = 0; k < d; ++k) {
      y[k] = scale * x[b * d + k];
      acc[k] = T(0);
    }
    // Online logsumexp: running max m, sum z = sum exp(q - m), acc = sum exp(q - m) (y - mu).
    T m = -INFINITY, z = T(0);
    for (int c = 0; c < p.components; ++c) {
      T u[kMaxDim], s = T(0);
      for (int k = 0; k < d; ++k) {
        u[k] = y[k] - means[c * d + k];
        s += u[k] * u[k];
      }
      T q = T(-0.5) * s * inv_var;
      if (q > m) {
        T r = exp(m - q);  // rescale what was accumulated under the old maximum
        z *= r;
        for (int k = 0; k < d; ++k) acc[k] *= r;
        m = q;
      }
      T w = exp(q - m);
      z += w;
      for (int k = 0; k < d; ++k) acc[k] += w * u[k];
    }
    if (energy) energy[b * es] = -(m + log(z)) + log_norm;
    if (grad)
      for (int k = 0; k < d; ++k) grad[b * gs + k] = scale * acc[k] / z * inv_var;
  }
}

template <class T, int DIM>
void launch_pair(const PairParams& p, const T* x, int64_t batch, T* energy, int64_t es, T* grad, int64_t gs,
                 cudaStream_t s) {
  int G = 1;
  while (G < p.n && G < 32) G *= 2;
  const int per_warp = 32 / G;
  const size_t per_warp_bytes = static_cast<size_t>(per_warp) * p.n * DIM * sizeof(T);
  constexpr size_t kSmem = 48 * 1024;
  if (per_warp_bytes > kSmem)
    throw CudaFailure("pair_potential: " + std::to_string(p.n) + " particles do not fit in shared memory (" +
                      std::to_string(per_warp_bytes) + " bytes per configuration, at most 49152)");
  int warps = 8;
  while (warps > 1 && warps * per_warp_bytes > kSmem) warps /= 2;
  const int64_t confs_per_block = static_cast<int64_t>(warps) * per_warp;
  int64_t blocks = std::max<int64_t>(1, std::min<int64_t>((batch + confs_per_block - 1) / confs_per_block, kMaxBlocks));
  pair_kernel<T, DIM><<<static_cast<unsigned>(blocks), warps * 32, warps * per_warp_bytes, s>>>(p, x, batch, energy, es,
                                                                                           grad, gs, G);
  check_launch("pair_kernel");
}

template <class T>
void dispatch_pair(const PairParams& p, const void* x, int64_t batch, void* e, int64_t es, void* g, int64_t gs,
                   cudaStream_t s) {
  auto xt = static_cast<const T*>(x);
  auto et = static_cast<T*>(e);
  auto gt = static_cast<T*>(g);
  switch (p.dim) {
    case 1: return launch_pair<T, 1>(p, xt, batch, et, es, gt, gs, s);
    case 2: return launch_pair<T, 2>(p, xt, batch, et, es, gt, gs, s);
    case 3: return launch_pair<T, 3>(p, xt, batch, et, es, gt, gs, s);
    case 4: return launch_pair<T, 4>(p, xt, batch, et, es, gt, gs, s);
    default: throw CudaFailure("pair_potential: spatial dimension " + std::to_string(p.dim) + " not in 1..4");
  }
}

}  // namespace

void pair_potential(Elem t, const PairParams& p, const void* x, int64_t batch, void* energy, int64_t energy_stride,
                    void* grad, int64_t grad_stride, cudaStream_t s) {
  if (batch == 0) return;
  if (t == Elem::f32) return dispatch_pair<float>(p, x, batch, energy, energy_stride, grad, grad_stride, s);
  if (t == Elem::f64) return dispatch_pair<double>(p, x, batch, energy, energy_stride, grad, grad_stride, s);
  throw CudaFailure("pair_potential: f32 or f64 only");
}

void gmm_energy(Elem t, const GmmParams& p, const void* x, const void* means, int64_t batch, void* energy,
                int64_t energy_stride, void* grad, int64_t grad_stride, cudaStream_t s) {
  if (batch == 0) return;
  if (p.dim > 8) throw CudaFailure("gmm_energy: dimension " + std::to_string(p.dim) + " > 8");
  const double log_norm = std::log(static_cast<double>(p.components)) +
                          0.5 * p.dim * std::log(2 * 3.14159265358979323846 * p.std * p.std);
  const unsigned grid = grid_for(batch, 128);
  if (t == Elem::f32) {
    gmm_kernel<float><<<grid, 128, 0, s>>>(p, static_cast<const float*>(x), static_cast<const float*>(means), batch,
                                           static_cast<float*>(energy), energy_stride, static_cast<float*>(grad),
                                           grad_stride, static_cast<float>(log_norm));
  } else if (t == Elem::f64) {
    gmm_kernel<double><<<grid, 128, 0, s>>>(p, static_cast<const double*>(x), static_cast<const double*>(means),
                                            batch, static_cast<double*>(energy), energy_stride,
                                            static_cast<double*>(grad), grad_stride, log_norm);
  } else {
    throw CudaFailure("gmm_energy: f32 or f64 only");
  }
  check_launch("gmm_kernel");
}

}  // namespace orbit::cuda
