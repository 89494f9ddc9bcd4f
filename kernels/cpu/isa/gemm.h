// The per-variant matrix products behind cpu::matmul (kernels/cpu/isa.h says why there are several).
#pragma once
#include <cstddef>
#include <cstdint>

namespace orbit::cpu {
// Whether products of this shape take the narrow kernel (kernels/cpu/isa/gemm_narrow.inc) in the
// variants that have one: the shape alone decides (and ORBIT_CPU_NARROW_GEMM=0, read once, turns the
// kernel off for comparisons). Defined in kernels/cpu/matmul.cpp.
bool narrow_gemm_applies(int64_t m, int64_t n, int64_t k, bool trans_a, bool trans_b, size_t elem_bytes);
}  // namespace orbit::cpu

// gemm: c = op(a) op(b), row-major. gemm_narrow: c = op(a) op(b) (+ bias[n]) (then relu) through the narrow
// kernel, or false (nothing written) where this variant has none or narrow_gemm_applies says no.
// gemm_narrow_continue: c += op(a) op(b) with every chain continuing from c's value (the next rows of a
// longer contraction: the bits of one product over all of them), or false as gemm_narrow.
#define ORBIT_DECLARE_ISA_GEMM(ns)                                                                    \
  namespace orbit::cpu::ns {                                                                          \
  template <class T>                                                                                  \
  void gemm(const T* a, const T* b, T* c, int64_t m, int64_t n, int64_t k, bool trans_a, bool trans_b); \
  extern template void gemm<float>(const float*, const float*, float*, int64_t, int64_t, int64_t, bool, bool); \
  extern template void gemm<double>(const double*, const double*, double*, int64_t, int64_t, int64_t, bool, \
                                    bool);                                                            \
  template <class T>                                                                                  \
  bool gemm_narrow(const T* a, const T* b, T* c, int64_t m, int64_t n, int64_t k, bool trans_a, bool trans_b, \
                   const T* bias, bool relu);                                                         \
  extern template bool gemm_narrow<float>(const float*, const float*, float*, int64_t, int64_t, int64_t, bool, \
                                          bool, const float*, bool);                                  \
  extern template bool gemm_narrow<double>(const double*, const double*, double*, int64_t, int64_t, int64_t, \
                                           bool, bool, const double*, bool);                          \
  template <class T>                                                                                  \
  bool gemm_narrow_continue(const T* a, const T* b, T* c, int64_t m, int64_t n, int64_t k, bool trans_a,   \
                            bool trans_b);                                                            \
  extern template bool gemm_narrow_continue<float>(const float*, const float*, float*, int64_t, int64_t,   \
                                                   int64_t, bool, bool);                              \
  extern template bool gemm_narrow_continue<double>(const double*, const double*, double*, int64_t, int64_t, \
                                                    int64_t, bool, bool);                             \
  }

ORBIT_DECLARE_ISA_GEMM(isa_baseline)
ORBIT_DECLARE_ISA_GEMM(isa_x86v3)
ORBIT_DECLARE_ISA_GEMM(isa_x86v4)
#undef ORBIT_DECLARE_ISA_GEMM
