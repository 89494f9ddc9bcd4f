// The fused EGNN message-passing op's FP32/FP64 CUDA kernels (kernels/cuda/egnn_message.h), included by
// kernels/cuda/egnn_message.cu (which launches them) and by tests/test_emu_egnn.cpp (which runs
// this same source on the CPU through the CUDA emulator, tests/harness/cuda_emu.h). Correctness first,
// deterministic: every sum runs in a fixed order (per-thread loops over k, fixed-shape tree reductions
// in shared memory, the blocks' weight partials summed in block order by a second kernel); no atomics.
// The forward runs one block per receiver (b, i), the backward one block per graph b; threads_for(s)
// threads (one per hidden unit, a power of two).
#pragma once
#include <cmath>
#include <cstdint>

#include "kernels/cuda/device_api.cuh"
#include "kernels/scalar/unary.h"

namespace orbit::cuda::egnn_msg {

struct Shape {
  int B, n, d, H, E;
  bool attention, norm_diff, tanh, self_loops;
  double coords_range, coord_clamp;
};

template <class T>
struct Ptrs {
  const T *P, *Q, *x, *w_r, *W2, *b2, *W3, *b3, *w4, *a, *W_a, *w_att, *b_att;
};

template <class T>
__device__ __forceinline__ T silu(T z) {
  return scalar::Silu{}(z);
}
template <class T>
__device__ __forceinline__ T dsilu(T z) {
  const T s = scalar::Sigmoid{}(z);
  return s * (T(1) + z * (T(1) - s));
}

// Sum of v over the block (blockDim.x a power of two), in a fixed tree order; every thread gets it.
template <class T>
__device__ T block_sum(T v, T* red) {
  const int tid = threadIdx.x;
  red[tid] = v;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (tid < s) red[tid] += red[tid + s];
    __syncthreads();
  }
  const T r = red[0];
  __syncthreads();
  return r;
}

// Per edge (q receiver, qj sender): r and the divisor of norm_diff.
template <class T>
__device__ __forceinline__ void edge_geometry(const Shape& s, const T* x, int q, int qj, T& r, T& sc) {
  r = T(0);
  for (int k = 0; k < s.d; ++k) {
    const T dk = x[q * s.d + k] - x[qj * s.d + k];
    r += dk * dk;
  }
  sc = s.norm_diff ? sqrt(r + T(1e-8)) + T(1) : T(1);
}

template <class T>
__device__ __forceinline__ T edge_pre(const Shape& s, const Ptrs<T>& p, int q, int qj, int i, int j, int b, T r, int h) {
  T pre = p.P[q * s.H + h] + p.Q[qj * s.H + h] + r * p.w_r[h];
  for (int e = 0; e < s.E; ++e) pre += p.a[((static_cast<int64_t>(b) * s.n + i) * s.n + j) * s.E + e] * p.W_a[e * s.H + h];
  return pre;
}

// Unit h of a dense layer over a shared vector: b[h] + sum_k in[k] W[k, h] (W [H, H] row-major).
template <class T>
__device__ __forceinline__ T dense_unit(const T* in, const T* W, const T* b, int H, int h) {
  T z = b[h];
  for (int k = 0; k < H; ++k) z += in[k] * W[k * H + h];
  return z;
}

// The layer's input gradient at entry h: acc + sum_k W[h, k] dz[k] (dz a shared vector).
template <class T>
__device__ __forceinline__ T dense_input_grad(T acc, const T* W, const T* dz, int H, int h) {
  for (int k = 0; k < H; ++k) acc += W[h * H + k] * dz[k];
  return acc;
}

// The layer's parameter gradients of unit h into a partial: dW[k, h] += in[k] dz, db[h] += dz.
template <class T>
__device__ __forceinline__ void dense_param_grad(T* dW, T* db, const T* in, T dz, int H, int h) {
  db[h] += dz;
  for (int k = 0; k < H; ++k) dW[k * H + h] += in[k] * dz;
}

// Shared memory: u1 [NT], ms [NT], buf [NT] (a third vector), red [NT].
template <class T>
__global__ void forward_kernel(Shape s, Ptrs<T> p, T* out) {
  ORBIT_DYNAMIC_SMEM(unsigned char, smem_raw);
  T* sm = reinterpret_cast<T*>(smem_raw);
  const int NT = blockDim.x, h = threadIdx.x;
  T* u1 = sm;
  T* ms = sm + NT;
  T* red = sm + 2 * NT;
  const int q = blockIdx.x, b = q / s.n, i = q - b * s.n;
  const bool hv = h < s.H;
  const T cr = static_cast<T>(s.coords_range), cl = static_cast<T>(s.coord_clamp);
  T magg = 0, xacc = 0;
  for (int j = 0; j < s.n; ++j) {
    if (j == i && !s.self_loops) continue;
    const int qj = b * s.n + j;
    T r, sc;
    edge_geometry(s, p.x, q, qj, r, sc);
    if (hv) u1[h] = silu(edge_pre(s, p, q, qj, i, j, b, r, h));
    __syncthreads();
    T m = 0;
    if (hv) m = silu(dense_unit(u1, p.W2, p.b2, s.H, h));
    if (s.attention) {
      const T g = block_sum(hv ? m * p.w_att[h] : T(0), red) + p.b_att[0];
      m *= scalar::Sigmoid{}(g);
    }
    if (hv) {
      ms[h] = m;
      magg += m;
    }
    __syncthreads();
    T u3 = 0;
    if (hv) u3 = silu(dense_unit(ms, p.W3, p.b3, s.H, h));
    const T w0 = block_sum(hv ? u3 * p.w4[h] : T(0), red);
    const T w = s.tanh ? tanh(w0) * cr : w0;
    if (h < s.d) {
      const T d0 = p.x[q * s.d + h] - p.x[qj * s.d + h];
      T t = (s.norm_diff ? d0 / sc : d0) * w;
      if (s.coord_clamp > 0) t = min(max(t, -cl), cl);
      xacc += t;
    }
  }
  const int W = s.H + s.d;
  if (hv) out[static_cast<int64_t>(q) * W + h] = magg;
  if (h < s.d) out[static_cast<int64_t>(q) * W + s.H + h] = xacc;
}

// Offsets of the packed weight partial: w_r, W2, b2, W3, b3, w4, W_a, w_att, b_att.
struct WOff {
  int64_t wr, W2, b2, W3, b3, w4, Wa, watt, batt, n;
  __host__ __device__ explicit WOff(const Shape& s) {
    const int64_t H = s.H;
    wr = 0, W2 = H, b2 = W2 + H * H, W3 = b2 + H, b3 = W3 + H * H, w4 = b3 + H, Wa = w4 + H;
    watt = Wa + static_cast<int64_t>(s.E) * H;
    batt = watt + (s.attention ? H : 0);
    n = batt + (s.attention ? 1 : 0);
  }
};

// One block per graph b. Shared memory: u1, ms, dz3, dz2, red [NT each].
template <class T>
__global__ void backward_kernel(Shape s, Ptrs<T> p, const T* G, T* gP, T* gQ, T* gx, T* ga, T* part) {
  ORBIT_DYNAMIC_SMEM(unsigned char, smem_raw);
  T* sm = reinterpret_cast<T*>(smem_raw);
  const int NT = blockDim.x, h = threadIdx.x;
  T* u1 = sm;
  T* ms = sm + NT;
  T* dz3s = sm + 2 * NT;
  T* dz2s = sm + 3 * NT;
  T* red = sm + 4 * NT;
  const int b = blockIdx.x, n = s.n, H = s.H, d = s.d, E = s.E, W = H + d;
  const bool hv = h < H;
  const WOff o(s);
  T* pw = part + static_cast<int64_t>(b) * o.n;
  const T cr = static_cast<T>(s.coords_range), cl = static_cast<T>(s.coord_clamp);
  // Zero this graph's node gradients and this block's partial (each thread its own entries).
  for (int i = 0; i < n; ++i) {
    const int64_t q = static_cast<int64_t>(b) * n + i;
    if (hv) gP[q * H + h] = gQ[q * H + h] = T(0);
    if (h < d) gx[q * d + h] = T(0);
    if (E > 0)
      for (int64_t e = h; e < static_cast<int64_t>(n) * E; e += NT) ga[q * n * E + e] = T(0);
  }
  if (hv) {
    pw[o.wr + h] = pw[o.b2 + h] = pw[o.b3 + h] = pw[o.w4 + h] = T(0);
    for (int k = 0; k < H; ++k) pw[o.W2 + k * H + h] = pw[o.W3 + k * H + h] = T(0);
    for (int e = 0; e < E; ++e) pw[o.Wa + e * H + h] = T(0);
    if (s.attention) pw[o.watt + h] = T(0);
  }
  if (s.attention && h == 0) pw[o.batt] = T(0);
  __syncthreads();
  for (int i = 0; i < n; ++i) {
    const int q = b * n + i;
    for (int j = 0; j < n; ++j) {
      if (j == i && !s.self_loops) continue;
      const int qj = b * n + j;
      // The forward, recomputed.
      T r, sc;
      edge_geometry(s, p.x, q, qj, r, sc);
      T pre = 0, z2 = 0, m0 = 0, m = 0, z3 = 0, u3 = 0;
      if (hv) {
        pre = edge_pre(s, p, q, qj, i, j, b, r, h);
        u1[h] = silu(pre);
      }
      __syncthreads();
      if (hv) {
        z2 = dense_unit(u1, p.W2, p.b2, H, h);
        m0 = silu(z2);
      }
      T sg = 1;
      if (s.attention) sg = scalar::Sigmoid{}(block_sum(hv ? m0 * p.w_att[h] : T(0), red) + p.b_att[0]);
      m = m0 * sg;
      if (hv) ms[h] = m;
      __syncthreads();
      if (hv) {
        z3 = dense_unit(ms, p.W3, p.b3, H, h);
        u3 = silu(z3);
      }
      const T w0 = block_sum(hv ? u3 * p.w4[h] : T(0), red);
      const T w = s.tanh ? tanh(w0) * cr : w0;
      // The coordinate branch (every thread, the same order).
      T dw = 0;
      for (int k = 0; k < d; ++k) {
        const T d0 = p.x[q * d + k] - p.x[qj * d + k];
        const T Dk = s.norm_diff ? d0 / sc : d0;
        T dt = G[static_cast<int64_t>(q) * W + H + k];
        if (s.coord_clamp > 0) {
          const T tk = Dk * w;
          if (!(tk > -cl && tk < cl)) dt = 0;
        }
        dw += dt * Dk;
      }
      T dw0 = dw;
      if (s.tanh) {
        const T th = tanh(w0);
        dw0 = dw * cr * (T(1) - th * th);
      }
      T dz3 = 0;
      if (hv) {
        pw[o.w4 + h] += dw0 * u3;
        dz3 = dw0 * p.w4[h] * dsilu(z3);
        dense_param_grad(pw + o.W3, pw + o.b3, ms, dz3, H, h);
        dz3s[h] = dz3;
      }
      __syncthreads();
      T dm = 0;
      if (hv) {
        dm = dense_input_grad(G[static_cast<int64_t>(q) * W + h], p.W3, dz3s, H, h);
      }
      T dm0 = dm;
      if (s.attention) {
        const T dg = block_sum(hv ? dm * m0 : T(0), red) * (sg * (T(1) - sg));
        if (hv) {
          dm0 = dm * sg + dg * p.w_att[h];
          pw[o.watt + h] += dg * m0;
        }
        if (h == 0) pw[o.batt] += dg;
      }
      T dz2 = 0;
      if (hv) {
        dz2 = dm0 * dsilu(z2);
        dense_param_grad(pw + o.W2, pw + o.b2, u1, dz2, H, h);
        dz2s[h] = dz2;
      }
      __syncthreads();
      T dpre = 0;
      if (hv) {
        dpre = dense_input_grad(T(0), p.W2, dz2s, H, h) * dsilu(pre);
        gP[static_cast<int64_t>(q) * H + h] += dpre;
        gQ[static_cast<int64_t>(qj) * H + h] += dpre;
        pw[o.wr + h] += dpre * r;
        for (int e = 0; e < E; ++e)
          pw[o.Wa + e * H + h] += p.a[(static_cast<int64_t>(q) * n + j) * E + e] * dpre;
      }
      T dr = block_sum(hv ? dpre * p.w_r[h] : T(0), red);
      for (int e = 0; e < E; ++e) {
        const T gae = block_sum(hv ? dpre * p.W_a[e * H + h] : T(0), red);
        if (h == 0) ga[(static_cast<int64_t>(q) * n + j) * E + e] = gae;
      }
      if (h < d) {
        T dots = 0;
        if (s.norm_diff) {
          for (int k = 0; k < d; ++k) {
            const T d0 = p.x[q * d + k] - p.x[qj * d + k];
            T dt = G[static_cast<int64_t>(q) * W + H + k];
            if (s.coord_clamp > 0) {
              const T tk = d0 / sc * w;
              if (!(tk > -cl && tk < cl)) dt = 0;
            }
            dots += dt * w * d0;
          }
          dr += -dots / (sc * sc) * (T(0.5) / sqrt(r + T(1e-8)));
        }
        const T d0 = p.x[q * d + h] - p.x[qj * d + h];
        const T Dk = s.norm_diff ? d0 / sc : d0;
        T dt = G[static_cast<int64_t>(q) * W + H + h];
        if (s.coord_clamp > 0) {
          const T tk = Dk * w;
          if (!(tk > -cl && tk < cl)) dt = 0;
        }
        const T dD = dt * w;
        const T v = (s.norm_diff ? dD / sc : dD) + T(2) * dr * d0;
        gx[static_cast<int64_t>(q) * d + h] += v;
        gx[static_cast<int64_t>(qj) * d + h] -= v;
      }
      __syncthreads();
    }
  }
}

// wsum[k] = sum_b part[b, k], b in order.
template <class T>
__global__ void reduce_partials(const T* part, int64_t B, int64_t nw, T* wsum) {
  for (int64_t k = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; k < nw;
       k += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    T acc = 0;
    for (int64_t b = 0; b < B; ++b) acc += part[b * nw + k];
    wsum[k] = acc;
  }
}

// Threads per block: one per hidden unit (and coordinate), a power of two >= 32 for block_sum.
inline int threads_for(const Shape& s) {
  int nt = 32;
  while (nt < s.H || nt < s.d) nt *= 2;
  return nt;
}

}  // namespace orbit::cuda::egnn_msg
