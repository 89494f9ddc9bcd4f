// The EGNN message kernel's per-row loops compiled with -march=x86-64-v3 (cmake/OrbitCpuIsa.cmake).
#include "kernels/cpu/isa/egnn_rows.h"

#define ORBIT_ISA_NS isa_x86v3
#include "kernels/cpu/isa/egnn_rows_body.inc"
