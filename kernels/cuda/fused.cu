#include <string>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/fused.h"

namespace orbit::cuda {
namespace {

template <class T>
struct FusedInputs {
  const T* p[scalar::kFusedMaxInputs];
  const void* index[scalar::kFusedMaxInputs];  // the gathered inputs' index arrays
};

// Everything travels as kernel parameters, which must stay within 4 KB (the limit before CUDA 12.1).
static_assert(sizeof(scalar::FusedProgram) + sizeof(FusedInputs<double>) + 64 <= 4096,
              "the fused kernels' parameters exceed 4 KB");

// Input k at element i; 0 where a gathered input's index is out of range (validate_indices reports it).
template <class T>
__device__ __forceinline__ T fused_load(const scalar::FusedProgram& prog, const FusedInputs<T>& in, int k, int64_t i) {
  const int64_t off = scalar::fused_offset(prog, k, i, in.index);
  return off < 0 ? T(0) : in.p[k][off];
}

// The program's value at element i. The program lives in the kernel's parameter space: every thread
// reads the same instruction at the same time (uniform, cached), so the interpretation does not diverge.
template <class T>
__device__ __forceinline__ T run_program(const scalar::FusedProgram& prog, const FusedInputs<T>& in, int64_t i) {
  T reg[scalar::kFusedMaxSlots];
  for (int k = 0; k < prog.n_instrs; ++k) {
    const scalar::FusedInstr& ins = prog.code[k];
    T v;
    if (ins.code == scalar::f_load) v = fused_load(prog, in, ins.a, i);
    else v = scalar::fused_apply<T>(ins, reg[ins.a], reg[ins.b], reg[ins.c]);
    reg[ins.dst] = v;
  }
  return reg[prog.out_slot];
}

template <class T>
__global__ void fused_kernel(const __grid_constant__ scalar::FusedProgram prog, const FusedInputs<T> in,
                             T* __restrict__ out, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    out[i] = run_program(prog, in, i);
}

// A group closed by a sum / mean: one thread per output (grid-stride) walks its R values in order
// (the permuted program puts them at [o R, (o + 1) R)) and adds them in double, as the CPU does. The
// fusion pass closes groups on CUDA only where there are many outputs and short reductions (e.g. an
// EGNN aggregation over neighbours), so consecutive threads read consecutive elements of the kept dims.
template <class T>
__global__ void fused_reduce_kernel(const __grid_constant__ scalar::FusedProgram prog, const FusedInputs<T> in,
                                    T* __restrict__ out, int64_t n_out, int64_t n_red, bool mean) {
  for (int64_t o = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; o < n_out; o += int64_t(gridDim.x) * blockDim.x) {
    double acc = 0;
    for (int64_t j = 0; j < n_red; ++j) acc += static_cast<double>(run_program(prog, in, o * n_red + j));
    out[o] = static_cast<T>(mean ? acc / static_cast<double>(n_red) : acc);
  }
}

template <class T>
FusedInputs<T> pointers(const scalar::FusedProgram& p, const void* const* in) {
  FusedInputs<T> ptrs{};
  for (int k = 0; k < p.n_inputs; ++k) ptrs.p[k] = static_cast<const T*>(in[k]);
  for (int j = 0; j < p.n_index; ++j) ptrs.index[j] = in[p.n_inputs + j];
  return ptrs;
}

template <class T>
void launch(const scalar::FusedProgram& p, const void* const* in, void* out, int64_t n, cudaStream_t s) {
  fused_kernel<T><<<grid_for(n), kBlock, 0, s>>>(p, pointers<T>(p, in), static_cast<T*>(out), n);
  check_launch("fused_kernel");
}

template <class T>
void launch_reduce(const scalar::FusedProgram& p, const void* const* in, void* out, int64_t n_out, int64_t n_red,
                   bool mean, cudaStream_t s) {
  fused_reduce_kernel<T><<<grid_for(n_out), kBlock, 0, s>>>(p, pointers<T>(p, in), static_cast<T*>(out), n_out, n_red, mean);
  check_launch("fused_reduce_kernel");
}

void check_limits(const scalar::FusedProgram& p, const char* what) {
  if (p.n_inputs > scalar::kFusedMaxInputs || p.n_index > scalar::kFusedMaxInputs || p.n_slots > scalar::kFusedMaxSlots ||
      p.n_instrs > scalar::kFusedMaxInstrs)
    throw CudaFailure(std::string(what) + ": program exceeds the kernel's limits");
}

}  // namespace

void fused_elementwise(Elem t, const scalar::FusedProgram& p, const void* const* in, void* out, int64_t n,
                       cudaStream_t s) {
  if (n == 0) return;
  check_limits(p, "fused_elementwise");
  if (t == Elem::f32) launch<float>(p, in, out, n, s);
  else if (t == Elem::f64) launch<double>(p, in, out, n, s);
  else throw CudaFailure("fused_elementwise: f32 or f64 only");
}

void fused_reduce(Elem t, const scalar::FusedProgram& p, const void* const* in, void* out, int64_t n_out,
                  int64_t n_red, bool mean, cudaStream_t s) {
  if (n_out == 0) return;
  check_limits(p, "fused_reduce");
  if (t == Elem::f32) launch_reduce<float>(p, in, out, n_out, n_red, mean, s);
  else if (t == Elem::f64) launch_reduce<double>(p, in, out, n_out, n_red, mean, s);
  else throw CudaFailure("fused_reduce: f32 or f64 only");
}

}  // namespace orbit::cuda
