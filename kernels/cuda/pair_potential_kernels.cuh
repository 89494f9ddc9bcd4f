// The CUDA pair-potential kernels (energies and gradients of batches of particle configurations),
// included by kernels/cuda/systems.cu (which picks and launches one) and by
// tests/test_emu_pair.cpp (which runs this same source on the CPU through the CUDA emulator,
// tests/harness/cuda_emu.h). A group of G lanes (a power of two) per configuration, 32 / G
// configurations per warp, staged in shared memory.
#pragma once
#include <cstdint>

#include "kernels/cuda/device_api.cuh"
#include "kernels/scalar/pair_potential.h"
#include "kernels/scalar/pair_ring.h"

namespace orbit::cuda::pair {

using scalar::PairParams;

// Every unordered pair visited from both ends (n > 128, or ORBIT_PAIR_CUDA_ORDERED=1): shared memory
// [warps][32 / G][n * DIM].
template <class T, int DIM>
__global__ void pair_kernel_ordered(PairParams p, const T* __restrict__ x, int64_t batch, T* energy, int64_t es, T* grad,
                            int64_t gs, int G) {
  ORBIT_DYNAMIC_SMEM(unsigned char, smem_raw);
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
  ORBIT_DYNAMIC_SMEM(unsigned char, smem_raw);
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

}  // namespace orbit::cuda::pair
