// The GMM energy kernel of the DEM score target compiled with -march=x86-64-v4 (cmake/OrbitCpuIsa.cmake).
#include "kernels/cpu/isa/gmm_energy.h"

#define ORBIT_ISA_NS isa_x86v4
#include "kernels/cpu/isa/gmm_energy_body.inc"
