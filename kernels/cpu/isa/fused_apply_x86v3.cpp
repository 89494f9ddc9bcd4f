// The CPU fused kernel's instruction loops compiled with -march=x86-64-v3 (CMakeLists.txt): exp / tanh /
// sigmoid (kernels/scalar/host_math.h) and the arithmetic vectorise at the full vector width.
#include "kernels/cpu/isa/fused_apply.h"

#define ORBIT_ISA_NS isa_x86v3
#include "kernels/cpu/isa/fused_apply_body.inc"
