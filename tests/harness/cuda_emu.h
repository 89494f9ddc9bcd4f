// A CUDA emulator for the host tests: runs the source of a CUDA kernel on the CPU, one fiber per
// thread, so that kernels written on a machine without a GPU are executed (not only replayed by a
// second implementation) before they reach one.
//
// A test defines ORBIT_CUDA_EMU, includes this header, then the kernel's header
// (kernels/cuda/*_kernel.cuh), and launches the kernel with emu::launch (tests/harness/emu_run.h: guarded
// inputs, both scheduling orders; tests/test_emu_*.cpp use it, tests/test_cuda_emu.cpp checks the emulator). Kernels in those headers are
// templates (or inline): a plain __global__ function would be defined twice in a CUDA build, once by nvcc
// and once by the emulating test. What it models:
//   - threadIdx / blockIdx / blockDim / gridDim (x only), dynamic shared memory (ORBIT_DYNAMIC_SMEM),
//     filled with NaN at every block start and followed by an inaccessible page, so reads of unwritten
//     shared memory show up as NaN and overruns past its end fault;
//   - __syncthreads, __syncwarp, __shfl_xor_sync / __shfl_sync (full mask only), and the TF32
//     mma.sync.m16n8k8 as warp collectives: every lane of the warp must reach the same kind of
//     collective (a divergent collective or a barrier that some thread never reaches is an error,
//     reported instead of hanging);
//   - the MMA's operands must be TF32 values (low 13 bits zero), as cvt.rna.tf32.f32 leaves them;
//     products are exact and the eight-term sums are rounded once to f32 per instruction.
// Blocks run one after another, so a test can launch a small grid and still cover every path of a
// grid-stride (persistent) kernel. What it does not model: timing, memory ordering between blocks,
// bank conflicts, register limits, races inside a warp between collectives (lanes run in turn).
#pragma once
#ifndef ORBIT_CUDA_EMU
#error "define ORBIT_CUDA_EMU before including tests/harness/cuda_emu.h"
#endif
#define ORBIT_CUDA_EMU_BUILTINS 1

#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <math.h>  // the float overloads of sqrt, tanh, ... in the global namespace, as CUDA has them
#include <string>

namespace orbit::emu {

struct Dim3 {
  unsigned x = 1, y = 1, z = 1;
};

const Dim3& thread_index();
const Dim3& block_index();
const Dim3& block_dim();
const Dim3& grid_dim();
void* dynamic_smem();

void syncthreads();
void syncwarp(unsigned mask);
// Every lane of the calling warp puts `bytes` of `mine`; `all` receives the 32 lanes' values in lane
// order. `what` names the collective (lanes of one warp must agree on it).
void warp_exchange(const void* mine, void* all, size_t bytes, const char* what, unsigned mask);

template <class T>
T shfl_xor(unsigned mask, T v, int lane_mask) {
  T all[32];
  warp_exchange(&v, all, sizeof(T), "__shfl_xor_sync", mask);
  return all[(thread_index().x & 31) ^ (lane_mask & 31)];
}
template <class T>
T shfl(unsigned mask, T v, int src) {
  T all[32];
  warp_exchange(&v, all, sizeof(T), "__shfl_sync", mask);
  return all[src & 31];
}

float tf32_round(float v);  // cvt.rna.tf32.f32
// mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32: d += a b over the warp.
void mma_m16n8k8_tf32(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]);

// The order in which the scheduler runs ready threads (and blocks). Between two collectives a thread
// runs alone until it blocks, so a kernel that reads what another thread of its warp or block wrote
// without a barrier in between (a race on a GPU) gives different results in the two orders: tests run
// kernels both ways and require identical outputs.
enum class Order { forward, reverse };

// Runs `kernel` (a call of the __global__ function with its arguments) on grid x block threads with
// `smem_bytes` of dynamic shared memory. Throws std::runtime_error naming the block, thread and
// collective on a deadlock, a divergent collective or a non-TF32 MMA operand; rethrows what a thread
// threw.
void launch(unsigned grid, unsigned block, size_t smem_bytes, const std::function<void()>& kernel,
            Order order = Order::forward);

// `count` elements ending right before an inaccessible page: a kernel reading or writing past the end
// faults at once instead of corrupting its neighbours.
template <class T>
class GuardedArray {
 public:
  explicit GuardedArray(size_t count);
  ~GuardedArray();
  GuardedArray(const GuardedArray&) = delete;
  GuardedArray& operator=(const GuardedArray&) = delete;
  T* data() { return data_; }
  const T* data() const { return data_; }
  size_t size() const { return count_; }
  T& operator[](size_t i) { return data_[i]; }

 private:
  void* base_ = nullptr;
  size_t mapped_ = 0, count_ = 0;
  T* data_ = nullptr;
};

// Page-aligned mapping with a trailing PROT_NONE page; returns the start of `bytes` ending at the guard.
void* map_guarded(size_t bytes, size_t align, void*& base, size_t& mapped);
void unmap_guarded(void* base, size_t mapped);

template <class T>
GuardedArray<T>::GuardedArray(size_t count) : count_(count) {
  data_ = static_cast<T*>(map_guarded(count * sizeof(T), alignof(T) < 16 ? 16 : alignof(T), base_, mapped_));
}
template <class T>
GuardedArray<T>::~GuardedArray() {
  unmap_guarded(base_, mapped_);
}

}  // namespace orbit::emu

// ---------------------------------------------------------------- the CUDA built-ins kernels use

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __grid_constant__
#define __align__(n) alignas(n)
#define threadIdx (::orbit::emu::thread_index())
#define blockIdx (::orbit::emu::block_index())
#define blockDim (::orbit::emu::block_dim())
#define gridDim (::orbit::emu::grid_dim())
#define ORBIT_DYNAMIC_SMEM(T, name) T* const name = static_cast<T*>(::orbit::emu::dynamic_smem())

struct alignas(8) float2 {
  float x, y;
};
struct alignas(16) float4 {
  float x, y, z, w;
};
struct alignas(16) double2 {
  double x, y;
};
inline float2 make_float2(float x, float y) { return {x, y}; }
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
inline double2 make_double2(double x, double y) { return {x, y}; }

inline void __syncthreads() { ::orbit::emu::syncthreads(); }
inline void __syncwarp(unsigned mask = 0xffffffffu) { ::orbit::emu::syncwarp(mask); }
template <class T>
T __shfl_xor_sync(unsigned mask, T v, int lane_mask) {
  return ::orbit::emu::shfl_xor(mask, v, lane_mask);
}
template <class T>
T __shfl_sync(unsigned mask, T v, int src) {
  return ::orbit::emu::shfl(mask, v, src);
}
inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
inline double __fma_rn(double a, double b, double c) { return std::fma(a, b, c); }
inline float __int_as_float(int v) { return std::bit_cast<float>(v); }
inline int __float_as_int(float v) { return std::bit_cast<int>(v); }
inline float __uint_as_float(unsigned v) { return std::bit_cast<float>(v); }
inline unsigned __float_as_uint(float v) { return std::bit_cast<unsigned>(v); }
template <class T>
T __ldcs(const T* p) {
  return *p;
}
template <class T>
T __ldg(const T* p) {
  return *p;
}
template <class T>
void __stcs(T* p, T v) {
  *p = v;
}
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline int64_t min(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t max(int64_t a, int64_t b) { return a > b ? a : b; }
inline float min(float a, float b) { return fminf(a, b); }
inline float max(float a, float b) { return fmaxf(a, b); }
inline double min(double a, double b) { return fmin(a, b); }
inline double max(double a, double b) { return fmax(a, b); }
