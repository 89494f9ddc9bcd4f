// CUDA kernel of the fused elementwise op: one thread per output element (grid-stride) interprets the
// group's register program (kernels/scalar/fused.h), passed whole as a kernel argument; loads follow each
// input's broadcast strides. One launch and one pass over memory for the whole group.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/cuda/kernels.h"
#include "kernels/scalar/fused.h"

namespace orbit::cuda {

// in: p.n_inputs device pointers of the element type t, then p.n_index index arrays (int32 / int64) of the
// gathered inputs (an index out of range reads 0; validate_indices reports it); out: n elements.
void fused_elementwise(Elem t, const scalar::FusedProgram& p, const void* const* in, void* out, int64_t n,
                       cudaStream_t s);

// A group closed by a sum (mean when `mean`): p over the permuted space (engine/fused.h,
// fused_reduce_program); out: n_out elements, each the sum of its n_red values, added in double.
void fused_reduce(Elem t, const scalar::FusedProgram& p, const void* const* in, void* out, int64_t n_out,
                  int64_t n_red, bool mean, cudaStream_t s);

// A group closed by a segment sum (mean when `mean`) by the sorted ids in index array p.seg_index: the
// space is [outer, nids, inner] around the segment dim, out [outer, p.n_segments, inner].
void fused_segment(Elem t, const scalar::FusedProgram& p, const void* const* in, void* out, int64_t outer, int64_t nids,
                   int64_t inner, bool mean, cudaStream_t s);

}  // namespace orbit::cuda
