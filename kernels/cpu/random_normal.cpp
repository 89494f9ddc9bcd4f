// The baseline variant of the Philox normals (kernels/cpu/isa/random_normal_body.inc) and the entry
// point that picks the CPU's variant.
#include "kernels/cpu/isa/random_normal.h"

#include "kernels/cpu/isa/select.h"
#include "kernels/cpu/random.h"

#define ORBIT_ISA_NS isa_baseline
#include "kernels/cpu/isa/random_normal_body.inc"
#undef ORBIT_ISA_NS

namespace orbit::cpu {

void random_normals_f64(uint64_t seed, uint64_t stream, uint64_t run, uint64_t first, int64_t count, double* out) {
  ORBIT_ISA_SELECT(active_isa(), random_normals_f64)(seed, stream, run, first, count, out);
}

}  // namespace orbit::cpu
