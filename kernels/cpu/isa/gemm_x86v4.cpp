// cpu::matmul's product compiled with -march=x86-64-v4 (CMakeLists.txt), Eigen renamed so that none
// of its template instances is shared with the baseline objects (kernels/cpu/isa.h).
#include "kernels/cpu/isa/gemm.h"

#define Eigen orbit_eigen_x86v4
#include <Eigen/Core>

#define ORBIT_ISA_NS isa_x86v4
#include "kernels/cpu/isa/gemm_body.inc"
