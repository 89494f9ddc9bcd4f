#include <algorithm>
#include <string>

#include <cstdlib>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/pair_potential_kernels.cuh"
#include "kernels/cuda/systems.h"

namespace orbit::cuda {
namespace {

using scalar::GmmParams;
using scalar::PairParams;
using pair::pair_kernel_ordered;
using pair::pair_kernel_ring;

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

// ORBIT_PAIR_CUDA_ORDERED=1: the kernel that visits every pair from both ends (the one before the ring
// schedule; also what runs for n > 128).
bool ordered_requested() {
  const char* e = std::getenv("ORBIT_PAIR_CUDA_ORDERED");
  return e && e[0] == '1' && e[1] == 0;
}

template <class T, int DIM, int SLOTS>
bool launch_ring(const PairParams& p, const T* x, int64_t batch, T* energy, int64_t es, T* grad, int64_t gs, int G,
                 cudaStream_t s) {
  const int per_warp = 32 / G;
  const size_t per_warp_bytes = static_cast<size_t>(per_warp) * p.n * 8 * sizeof(T);
  constexpr size_t kSmem = 48 * 1024;
  if (per_warp_bytes > kSmem) return false;
  int warps = 8;
  while (warps > 1 && warps * per_warp_bytes > kSmem) warps /= 2;
  const int64_t confs_per_block = static_cast<int64_t>(warps) * per_warp;
  const int64_t blocks = std::max<int64_t>(1, std::min<int64_t>((batch + confs_per_block - 1) / confs_per_block, kMaxBlocks));
  pair_kernel_ring<T, DIM, SLOTS><<<static_cast<unsigned>(blocks), warps * 32, warps * per_warp_bytes, s>>>(
      p, x, batch, energy, es, grad, gs, G);
  check_launch("pair_kernel_ring");
  return true;
}

template <class T, int DIM>
void launch_pair(const PairParams& p, const T* x, int64_t batch, T* energy, int64_t es, T* grad, int64_t gs,
                 cudaStream_t s) {
  int G = 1;
  while (G < p.n && G < 32) G *= 2;
  if (!ordered_requested() && p.n <= 4 * G) {
    const int slots = (p.n + G - 1) / G;
    bool done = false;
    if (slots <= 1) done = launch_ring<T, DIM, 1>(p, x, batch, energy, es, grad, gs, G, s);
    else if (slots == 2) done = launch_ring<T, DIM, 2>(p, x, batch, energy, es, grad, gs, G, s);
    else done = launch_ring<T, DIM, 4>(p, x, batch, energy, es, grad, gs, G, s);
    if (done) return;
  }
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
  pair_kernel_ordered<T, DIM><<<static_cast<unsigned>(blocks), warps * 32, warps * per_warp_bytes, s>>>(
      p, x, batch, energy, es, grad, gs, G);
  check_launch("pair_kernel_ordered");
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
