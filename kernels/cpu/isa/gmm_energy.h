// The Gaussian mixture's energy and gradient at one point, per instruction-set variant
// (kernels/cpu/isa.h): the inner loop of the DEM score target for the GMM (kernels/cpu/dem_target.cpp),
// where 40 exponentials per noisy copy are nearly all of a GMM-40 training step.
#pragma once

#define ORBIT_DECLARE_ISA_GMM_ENERGY(ns)                                                                  \
  namespace orbit::cpu::ns {                                                                              \
  double gmm_energy_grad(int dim, int components, double inv_var, double scale, const double* y,          \
                         const double* means_t, double* q, double* w, double* g);                         \
  }

ORBIT_DECLARE_ISA_GMM_ENERGY(isa_baseline)
ORBIT_DECLARE_ISA_GMM_ENERGY(isa_x86v3)
ORBIT_DECLARE_ISA_GMM_ENERGY(isa_x86v4)
#undef ORBIT_DECLARE_ISA_GMM_ENERGY
