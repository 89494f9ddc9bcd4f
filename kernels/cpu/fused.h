// CPU kernel of the fused elementwise op: interprets the group's register program over chunks of
// elements (one pass over memory for the whole group; every instruction a tight loop over the chunk
// with the same scalar functor the unfused kernel uses, so results are identical).
#pragma once
#include <cstdint>

#include "kernels/scalar/fused.h"

namespace orbit::cpu {

// in: p.n_inputs data inputs; index: p.n_index index arrays (int32 / int64, p.index_is32) of the
// gathered inputs (an index outside its axis reads 0: the op checks them before, as the gather does).
template <class T>
void fused_elementwise(const scalar::FusedProgram& p, const T* const* in, const void* const* index, T* out, int64_t n);

// A group closed by a sum (mean when `mean`) over R = n_red elements per output: p is the program over
// the permuted space (engine/fused.h, fused_reduce_program), so output o sums elements [o R, (o + 1) R)
// in order, in double, exactly as the unfused reduction does (the same bits).
template <class T>
void fused_reduce(const scalar::FusedProgram& p, const T* const* in, const void* const* index, T* out, int64_t n_out,
                  int64_t n_red, bool mean);

// The same reduction when the reduced dims lead the space and the kept ones trail it ([R, n_out]: a bias
// gradient's sum over rows): p is the program over the natural space, walked row by row with one
// double accumulator per output. Each output still adds its values in order (the bits of
// fused_reduce), but the reads are contiguous: the permuted walk strides over the whole input once
// per output, which leaves the cache as soon as the input does (10x slower at [79872, 128]).
template <class T>
void fused_reduce_rows(const scalar::FusedProgram& p, const T* const* in, const void* const* index, T* out,
                       int64_t n_out, int64_t n_red, bool mean);

// A group closed by a segment sum (mean) by sorted ids (p.seg_index): the space is [outer, nids, inner]
// around the segment dim, out [outer, p.n_segments, inner]; each output row adds its segment's rows in
// increasing order in T, as the unfused sorted segment reduction does (the same bits). The ids must
// have been checked (in range, sorted).
template <class T>
void fused_segment(const scalar::FusedProgram& p, const T* const* in, const void* const* index, T* out, int64_t outer,
                   int64_t nids, int64_t inner, bool mean);

}  // namespace orbit::cpu
