// Standard normals of the shared Philox stream (kernels/scalar/random.h) for a run of consecutive
// element indices, per instruction-set variant (kernels/cpu/isa.h): the noise of the DEM score target
// (B x K x D draws per training step, most of a DW4 step when drawn one at a time) and of random
// tensors. Every variant returns scalar::random_normal<double>'s values bit for bit.
#pragma once
#include <cstdint>

#define ORBIT_DECLARE_ISA_RANDOM_NORMAL(ns)                                                               \
  namespace orbit::cpu::ns {                                                                              \
  void random_normals_f64(uint64_t seed, uint64_t stream, uint64_t run, uint64_t first, int64_t count,   \
                          double* out);                                                                   \
  }

ORBIT_DECLARE_ISA_RANDOM_NORMAL(isa_baseline)
ORBIT_DECLARE_ISA_RANDOM_NORMAL(isa_x86v3)
ORBIT_DECLARE_ISA_RANDOM_NORMAL(isa_x86v4)
#undef ORBIT_DECLARE_ISA_RANDOM_NORMAL
