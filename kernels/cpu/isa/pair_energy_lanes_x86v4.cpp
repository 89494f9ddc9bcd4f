// The lane-parallel pair energies compiled with -march=x86-64-v4 (cmake/OrbitCpuIsa.cmake).
#define ORBIT_ISA_NS isa_x86v4
#include "kernels/cpu/isa/pair_energy_lanes_body.inc"
