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
// them when matmul_is_one_chain says so); false (nothing written) where the narrow kernel does not apply.
template <class T>
bool gemm_continue(const T* a, const T* b, T* c, int64_t m, int64_t n, int64_t k, bool trans_a, bool trans_b);

// Whether matmul() of one [m, n] product (batch 1) computes every output as one FMA chain over k in order
// (the narrow kernel of the variant in use, not split into ranges of k): then gemm_continue over
// consecutive ranges of k gives its bits. The shape alone decides, and the variant in use.
bool matmul_is_one_chain(int64_t m, int64_t n, int64_t k, bool trans_a, bool trans_b, size_t elem_bytes);

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
