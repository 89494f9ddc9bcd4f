// The Philox normals compiled with -march=x86-64-v4 (cmake/OrbitCpuIsa.cmake).
#include "kernels/cpu/isa/random_normal.h"

#define ORBIT_ISA_NS isa_x86v4
#include "kernels/cpu/isa/random_normal_body.inc"
