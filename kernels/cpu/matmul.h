// CPU (batched) matrix products through Eigen, in the instruction-set variant the CPU runs best. c[b] = op(a[b]) * op(b[b]), row-major, where the
// per-batch element offsets of a and b allow broadcast batch dims.
#pragma once
#include <cstddef>
#include <cstdint>

namespace orbit::cpu {

template <class T>
void matmul(const T* a, const T* b, T* c, int64_t batch, const int64_t* a_off, const int64_t* b_off,
            int64_t m, int64_t n, int64_t k, bool trans_a, bool trans_b);

// One row-major product c [m, n] = op(a) * op(b) on the calling thread (Eigen may add threads outside a
// parallel region), by the instruction-set variant in use (kernels/cpu/isa.h).
template <class T>
void gemm(const T* a, const T* b, T* c, int64_t m, int64_t n, int64_t k, bool trans_a, bool trans_b);

// c [m, n] = a [m, k] b (+ bias [n], then relu when `relu`) through the narrow-product kernel of the
// variant in use (kernels/cpu/isa/gemm_narrow.inc), with the bits gemm() then a broadcast add then
// relu would give; false (nothing written) where that kernel does not apply: the caller falls back.
template <class T>
bool gemm_bias_relu(const T* a, const T* b, const T* bias, T* c, int64_t m, int64_t n, int64_t k, bool relu);

// c [m, n] += op(a) op(b) with every output's FMA chain continuing from c (the next rows of a longer
// contraction: after c = +0 and calls over consecutive row ranges, the bits of matmul() over all of
// them when matmul_chain_ranges says 1); false (nothing written) where the narrow kernel does not apply.
template <class T>
bool gemm_continue(const T* a, const T* b, T* c, int64_t m, int64_t n, int64_t k, bool trans_a, bool trans_b);

// How matmul() computes one [m, n] product (batch 1) over k: as `ranges` consecutive ranges of
// ceil(k / ranges) rows of k, each output one FMA chain over each range in order (the narrow kernel of
// the variant in use), the ranges' partial products then added in order by sum_range_partials; 0 when
// its outputs are not such chains (Eigen's kernel). Then gemm_continue over consecutive pieces of each
// range, and sum_range_partials, give matmul's bits. The shape and the variant in use decide.
int64_t matmul_chain_ranges(int64_t m, int64_t n, int64_t k, bool trans_a, bool trans_b, size_t elem_bytes);

// c[i] = part[i] + part[mn + i] + ... over `ranges` partials of mn values, added in order (as matmul
// adds its ranges' partial products).
template <class T>
void sum_range_partials(const T* part, T* c, int64_t ranges, int64_t mn);
extern template void sum_range_partials<float>(const float*, float*, int64_t, int64_t);
extern template void sum_range_partials<double>(const double*, double*, int64_t, int64_t);

extern template bool gemm_continue<float>(const float*, const float*, float*, int64_t, int64_t, int64_t, bool, bool);
extern template bool gemm_continue<double>(const double*, const double*, double*, int64_t, int64_t, int64_t, bool,
                                           bool);
extern template void gemm<float>(const float*, const float*, float*, int64_t, int64_t, int64_t, bool, bool);
extern template void gemm<double>(const double*, const double*, double*, int64_t, int64_t, int64_t, bool, bool);
extern template bool gemm_bias_relu<float>(const float*, const float*, const float*, float*, int64_t, int64_t,
                                           int64_t, bool);
extern template bool gemm_bias_relu<double>(const double*, const double*, const double*, double*, int64_t,
                                            int64_t, int64_t, bool);
extern template void matmul<float>(const float*, const float*, float*, int64_t, const int64_t*,
                                   const int64_t*, int64_t, int64_t, int64_t, bool, bool);
extern template void matmul<double>(const double*, const double*, double*, int64_t, const int64_t*,
                                    const int64_t*, int64_t, int64_t, int64_t, bool, bool);

}  // namespace orbit::cpu
