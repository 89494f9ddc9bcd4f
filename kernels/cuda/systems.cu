#include <algorithm>
#include <string>

#include <cstdlib>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/systems.h"
#include "kernels/scalar/pair_ring.h"

namespace orbit::cuda {
namespace {

using scalar::GmmParams;
using scalar::PairParams;

template <class T, int DIM>
__global__ void pair_kernel_ordered(PairParams p, const T* __restrict__ x, int64_t batch, T* energy, int64_t es, T* grad,
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

// Positions and force accumulators in shared memory have a stride of 4 elements per particle.
template <class T, int DIM>
__device__ __forceinline__ void load4(const T* p, T (&v)[DIM]) {
  if constexpr (sizeof(T) == 4 && DIM >= 3) {
    const float4 t = *reinterpret_cast<const float4*>(p);
    const T w[4] = {t.x, t.y, t.z, t.w};
#pragma unroll
    for (int k = 0; k < DIM; ++k) v[k] = w[k];
  } else if constexpr (DIM == 2) {
    if constexpr (sizeof(T) == 4) {
      const float2 t = *reinterpret_cast<const float2*>(p);
      v[0] = t.x, v[1] = t.y;
    } else {
      const double2 t = *reinterpret_cast<const double2*>(p);
      v[0] = t.x, v[1] = t.y;
    }
  } else {
#pragma unroll
    for (int k = 0; k < DIM; ++k) v[k] = p[k];
  }
}

// Every unordered pair once (kernels/scalar/pair_ring.h). A group of G lanes per configuration, lane gl
// owning slots gl + k G (k < SLOTS, n <= SLOTS G): its particles' positions and own forces in registers;
// at step s it computes the pair (p, p + s mod n) of each owned slot, adds the force to its own and
// subtracts it from the partner's accumulator in shared memory (all partners of a step are distinct:
// plain read-modify-writes, one __syncwarp per step). Deterministic.
template <class T, int DIM, int SLOTS>
__global__ void pair_kernel_ring(PairParams p, const T* __restrict__ x, int64_t batch, T* energy, int64_t es, T* grad,
                                 int64_t gs, int G) {
  extern __shared__ __align__(16) unsigned char smem_raw[];
  T* smem = reinterpret_cast<T*>(smem_raw);
  const int n = p.n, nd = n * DIM;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int per_warp = 32 / G, group = lane / G, gl = lane % G;
  const int warps = blockDim.x >> 5;
  T* X = smem + static_cast<int64_t>(warp) * per_warp * n * 8;  // [per_warp][n][4] positions
  T* F = X + per_warp * n * 4;                                   // [per_warp][n][4] reactions
  const T scale = T(p.scale), osc = T(p.oscillator);
  const int steps = scalar::ring_steps(n);
  const int64_t step = static_cast<int64_t>(gridDim.x) * warps * per_warp;
  for (int64_t base = (static_cast<int64_t>(blockIdx.x) * warps + warp) * per_warp; base < batch; base += step) {
    const int nconf = static_cast<int>(min(static_cast<int64_t>(per_warp), batch - base));
    const T* src = x + base * nd;
    for (int k = lane; k < per_warp * nd; k += 32) {
      const int c = k / nd, r = k - c * nd, q = r / DIM, dd = r - q * DIM;
      X[(c * n + q) * 4 + dd] = c < nconf ? src[k] : T(0);
      F[(c * n + q) * 4 + dd] = T(0);
    }
    __syncwarp();
    const bool active = group < nconf;
    const int64_t b = base + group;
    const T* Xg = X + group * n * 4;
    T* Fg = F + group * n * 4;
    T xi[SLOTS][DIM], gi[SLOTS][DIM];
#pragma unroll
    for (int k = 0; k < SLOTS; ++k) {
      const int q = gl + k * G;
#pragma unroll
      for (int dd = 0; dd < DIM; ++dd) {
        xi[k][dd] = q < n ? Xg[q * 4 + dd] : T(0);
        gi[k][dd] = T(0);
      }
    }
    T e_acc = T(0);
    for (int s = 1; s <= steps; ++s) {
#pragma unroll
      for (int k = 0; k < SLOTS; ++k) {
        const int q = gl + k * G;
        if (active && q < n && scalar::ring_active(n, s, q)) {
          const int j = scalar::ring_partner(n, s, q);
          T xj[DIM], diff[DIM];
          load4<T, DIM>(Xg + j * 4, xj);
          T r2 = T(0);
#pragma unroll
          for (int dd = 0; dd < DIM; ++dd) {
            diff[dd] = xi[k][dd] - xj[dd];
            r2 += diff[dd] * diff[dd];
          }
          const auto t = scalar::pair_term<T>(p, r2);
          e_acc += t.e;
#pragma unroll
          for (int dd = 0; dd < DIM; ++dd) {
            const T f = T(2) * t.de_dr2 * diff[dd];
            gi[k][dd] += f;
            Fg[j * 4 + dd] -= f;
          }
        }
      }
      __syncwarp();  // this step's reactions land before the next step's (other lanes' partners)
    }
    e_acc *= scale;
    T mean[DIM];
#pragma unroll
    for (int dd = 0; dd < DIM; ++dd) mean[dd] = T(0);
    if (active && p.oscillator != 0) {
      for (int j = 0; j < n; ++j)
#pragma unroll
        for (int dd = 0; dd < DIM; ++dd) mean[dd] += Xg[j * 4 + dd];
#pragma unroll
      for (int dd = 0; dd < DIM; ++dd) mean[dd] /= T(n);
    }
#pragma unroll
    for (int k = 0; k < SLOTS; ++k) {
      const int q = gl + k * G;
      if (!active || q >= n) continue;
      T g[DIM];
#pragma unroll
      for (int dd = 0; dd < DIM; ++dd) g[dd] = (gi[k][dd] + Fg[q * 4 + dd]) * scale;
      if (p.oscillator != 0) {
        T sq = T(0);
#pragma unroll
        for (int dd = 0; dd < DIM; ++dd) {
          const T c = xi[k][dd] - mean[dd];
          sq += c * c;
          g[dd] += osc * c;
        }
        e_acc += T(0.5) * osc * sq;
      }
      if (grad)
#pragma unroll
        for (int dd = 0; dd < DIM; ++dd) grad[b * gs + q * DIM + dd] = g[dd];
    }
    for (int off = G / 2; off > 0; off >>= 1) e_acc += __shfl_xor_sync(0xffffffffu, e_acc, off);
    if (active && gl == 0 && energy) energy[b * es] = e_acc;
    __syncwarp();  // X and F are reused by the next iteration
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
