#include "kernels/cuda/common.cuh"
#include "kernels/cuda/fused.h"

namespace orbit::cuda {
namespace {

template <class T>
struct FusedInputs {
  const T* p[scalar::kFusedMaxInputs];
};

// The program lives in the kernel's parameter space: every thread reads the same instruction at the
// same time (uniform, cached), so the interpretation does not diverge.
template <class T>
__global__ void fused_kernel(const __grid_constant__ scalar::FusedProgram prog, const FusedInputs<T> in,
                             T* __restrict__ out, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    T reg[scalar::kFusedMaxSlots];
    for (int k = 0; k < prog.n_instrs; ++k) {
      const scalar::FusedInstr& ins = prog.code[k];
      T v;
      if (ins.code == scalar::f_load) v = in.p[ins.a][scalar::fused_offset(prog, ins.a, i)];
      else v = scalar::fused_apply<T>(ins, reg[ins.a], reg[ins.b], reg[ins.c]);
      reg[ins.dst] = v;
    }
    out[i] = reg[prog.out_slot];
  }
}

template <class T>
void launch(const scalar::FusedProgram& p, const void* const* in, void* out, int64_t n, cudaStream_t s) {
  FusedInputs<T> ptrs{};
  for (int k = 0; k < p.n_inputs; ++k) ptrs.p[k] = static_cast<const T*>(in[k]);
  fused_kernel<T><<<grid_for(n), kBlock, 0, s>>>(p, ptrs, static_cast<T*>(out), n);
  check_launch("fused_kernel");
}

}  // namespace

void fused_elementwise(Elem t, const scalar::FusedProgram& p, const void* const* in, void* out, int64_t n,
                       cudaStream_t s) {
  if (n == 0) return;
  if (p.n_inputs > scalar::kFusedMaxInputs || p.n_slots > scalar::kFusedMaxSlots || p.n_instrs > scalar::kFusedMaxInstrs)
    throw CudaFailure("fused_elementwise: program exceeds the kernel's limits");
  if (t == Elem::f32) launch<float>(p, in, out, n, s);
  else if (t == Elem::f64) launch<double>(p, in, out, n, s);
  else throw CudaFailure("fused_elementwise: f32 or f64 only");
}

}  // namespace orbit::cuda
