// A pair potential's energy and gradient at kPairLanes configurations at once, per instruction-set
// variant (kernels/cpu/isa.h): the inner loop of the DEM score target for DW4 / LJ13 / LJ55
// (kernels/cpu/dem_target.cpp), where K noisy copies of each point are evaluated. A lane is one
// configuration and does scalar::pair_energy_grad's operations in its order, so every lane's values are
// the scalar function's bit for bit on every variant.
//
// Layout, lane-minor: y[c * kPairLanes + l] is coordinate c of configuration l (c < n * dim), and the
// gradient g the same; e[l] the energies.
#pragma once
#include "kernels/scalar/pair_potential.h"

namespace orbit::cpu {
inline constexpr int kPairLanes = 16;

// The variant of the active instruction set (kernels/cpu/isa.h).
void pair_energy_grad_lanes(const scalar::PairParams& p, const double* y, double* e, double* g);
}  // namespace orbit::cpu

#define ORBIT_DECLARE_ISA_PAIR_ENERGY(ns)                                                                    \
  namespace orbit::cpu::ns {                                                                                 \
  void pair_energy_grad_lanes(const scalar::PairParams& p, const double* y, double* e, double* g);          \
  }

ORBIT_DECLARE_ISA_PAIR_ENERGY(isa_baseline)
ORBIT_DECLARE_ISA_PAIR_ENERGY(isa_x86v3)
ORBIT_DECLARE_ISA_PAIR_ENERGY(isa_x86v4)
#undef ORBIT_DECLARE_ISA_PAIR_ENERGY
