// The per-variant instruction loops of the CPU fused kernel (kernels/cpu/fused.cpp; kernels/cpu/isa.h).
#pragma once
#include <cstdint>

#include "kernels/scalar/fused.h"

#define ORBIT_DECLARE_ISA_FUSED_APPLY(ns)                                                                   \
  namespace orbit::cpu::ns {                                                                                \
  template <class T>                                                                                        \
  void fused_apply_chunk(const scalar::FusedInstr& in, T* d, const T* a, const T* b, const T* c, int64_t m); \
  extern template void fused_apply_chunk<float>(const scalar::FusedInstr&, float*, const float*, const float*, \
                                                const float*, int64_t);                                     \
  extern template void fused_apply_chunk<double>(const scalar::FusedInstr&, double*, const double*,          \
                                                 const double*, const double*, int64_t);                    \
  }

ORBIT_DECLARE_ISA_FUSED_APPLY(isa_baseline)
ORBIT_DECLARE_ISA_FUSED_APPLY(isa_x86v3)
ORBIT_DECLARE_ISA_FUSED_APPLY(isa_x86v4)
#undef ORBIT_DECLARE_ISA_FUSED_APPLY
