// The per-variant matrix products behind cpu::matmul (kernels/cpu/isa.h says why there are several).
#pragma once
#include <cstdint>

#define ORBIT_DECLARE_ISA_GEMM(ns)                                                                    \
  namespace orbit::cpu::ns {                                                                          \
  template <class T>                                                                                  \
  void gemm(const T* a, const T* b, T* c, int64_t m, int64_t n, int64_t k, bool trans_a, bool trans_b); \
  extern template void gemm<float>(const float*, const float*, float*, int64_t, int64_t, int64_t, bool, bool); \
  extern template void gemm<double>(const double*, const double*, double*, int64_t, int64_t, int64_t, bool, \
                                    bool);                                                            \
  }

ORBIT_DECLARE_ISA_GEMM(isa_baseline)
ORBIT_DECLARE_ISA_GEMM(isa_x86v3)
ORBIT_DECLARE_ISA_GEMM(isa_x86v4)
#undef ORBIT_DECLARE_ISA_GEMM
