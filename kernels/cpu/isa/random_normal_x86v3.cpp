// The Philox normals compiled with -march=x86-64-v3 (cmake/OrbitCpuIsa.cmake).
#include "kernels/cpu/isa/random_normal.h"

#define ORBIT_ISA_NS isa_x86v3
#include "kernels/cpu/isa/random_normal_body.inc"
