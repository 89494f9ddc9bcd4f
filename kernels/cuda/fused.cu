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
// (the permuted program puts them at [o R, (o + 1) R)) and adds them in double. (The CPU and the
// generated kernels group the additions in eight interleaved sums, kernels/cpu/sum.h, so the last bits
// may differ from them; this interpreter is the fallback and keeps one sum.) The
// fusion pass closes groups on CUDA only where there are many outputs and short reductions (e.g. an
// EGNN aggregation over neighbours), so consecutive threads read consecutive elements of the kept dims.
template <class T>
__global__ void fused_reduce_kernel(const __grid_constant__ scalar::FusedProgram prog, const FusedInputs<T> in,
                                    T* __restrict__ out, int64_t n_out, int64_t n_red, bool mean) {
  for (int64_t o = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; o < n_out; o += int64_t(gridDim.x) * blockDim.x) {
    double acc = 0;
    for (int64_t j = 0; j < n_red; ++j) acc += static_cast<double>(run_program(prog, in, o * n_red + j));
    out[o] = static_cast<T>(!mean ? acc : n_red > 0 ? acc / static_cast<double>(n_red) : 0.0);
  }
}

// The first row e in [0, n) of the sorted ids with ids[e] >= s.
__device__ __forceinline__ int64_t lower_row(const void* ids, bool is32, int64_t n, int64_t s) {
  int64_t lo = 0, hi = n;
  while (lo < hi) {
    const int64_t mid = (lo + hi) / 2;
    const int64_t v = is32 ? static_cast<const int32_t*>(ids)[mid] : static_cast<const int64_t*>(ids)[mid];
    if (v < s) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// A group closed by a segment sum / mean by sorted ids: one thread per output element [o, s, i] finds
// its segment's rows by binary search and adds their values in increasing order in T, as the CPU does.
template <class T>
__global__ void fused_segment_kernel(const __grid_constant__ scalar::FusedProgram prog, const FusedInputs<T> in,
                                     T* __restrict__ out, int64_t outer, int64_t nids, int64_t inner, bool mean) {
  const int64_t nseg = prog.n_segments, n_out = outer * nseg * inner;
  const void* ids = in.index[prog.seg_index];
  const bool is32 = prog.index_is32[prog.seg_index];
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < n_out; t += int64_t(gridDim.x) * blockDim.x) {
    const int64_t i = t % inner, os = t / inner, s = os % nseg, o = os / nseg;
    const int64_t e0 = lower_row(ids, is32, nids, s), e1 = lower_row(ids, is32, nids, s + 1);
    T acc = T(0);
    for (int64_t e = e0; e < e1; ++e) acc += run_program(prog, in, (o * nids + e) * inner + i);
    if (mean && e1 - e0 > 1) acc /= static_cast<T>(e1 - e0);
    out[t] = acc;
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

template <class T>
void launch_segment(const scalar::FusedProgram& p, const void* const* in, void* out, int64_t outer, int64_t nids,
                    int64_t inner, bool mean, cudaStream_t s) {
  fused_segment_kernel<T><<<grid_for(outer * p.n_segments * inner), kBlock, 0, s>>>(p, pointers<T>(p, in),
                                                                                    static_cast<T*>(out), outer, nids,
                                                                                    inner, mean);
  check_launch("fused_segment_kernel");
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

void fused_segment(Elem t, const scalar::FusedProgram& p, const void* const* in, void* out, int64_t outer, int64_t nids,
                   int64_t inner, bool mean, cudaStream_t s) {
  if (outer * p.n_segments * inner == 0) return;
  check_limits(p, "fused_segment");
  if (p.seg_index < 0 || p.seg_index >= p.n_index) throw CudaFailure("fused_segment: no segment ids");
  if (t == Elem::f32) launch_segment<float>(p, in, out, outer, nids, inner, mean, s);
  else if (t == Elem::f64) launch_segment<double>(p, in, out, outer, nids, inner, mean, s);
  else throw CudaFailure("fused_segment: f32 or f64 only");
}

}  // namespace orbit::cuda
