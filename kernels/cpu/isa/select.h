// Picking a kernel's instruction-set variant (kernels/cpu/isa.h) for the orbit library's own sources:
//
//   auto gemm = ORBIT_ISA_SELECT(active_isa(), gemm<float>);  // isa_baseline / isa_x86v3 / isa_x86v4::gemm<float>
//
// A variant this build does not contain (ORBIT_CPU_ISA_X86V3 / V4 unset: another target, or
// ORBIT_CPU_ISA_VARIANTS=OFF) falls back to the baseline. Internal: the macros depend on the library's
// private compile definitions.
#pragma once
#include "kernels/cpu/isa.h"

namespace orbit::cpu {

template <class F>
F isa_pick(Isa isa, F baseline, F x86v3, F x86v4) {
  if (isa == Isa::x86_64_v4 && x86v4) return x86v4;
  if (isa == Isa::x86_64_v3 && x86v3) return x86v3;
  return baseline;
}

}  // namespace orbit::cpu

#if defined(ORBIT_CPU_ISA_X86V3)
#define ORBIT_ISA_X86V3_FN(fn) (&::orbit::cpu::isa_x86v3::fn)
#else
#define ORBIT_ISA_X86V3_FN(fn) static_cast<decltype(&::orbit::cpu::isa_baseline::fn)>(nullptr)
#endif
#if defined(ORBIT_CPU_ISA_X86V4)
#define ORBIT_ISA_X86V4_FN(fn) (&::orbit::cpu::isa_x86v4::fn)
#else
#define ORBIT_ISA_X86V4_FN(fn) static_cast<decltype(&::orbit::cpu::isa_baseline::fn)>(nullptr)
#endif
#define ORBIT_ISA_SELECT(isa, fn) \
  ::orbit::cpu::isa_pick((isa), &::orbit::cpu::isa_baseline::fn, ORBIT_ISA_X86V3_FN(fn), ORBIT_ISA_X86V4_FN(fn))
