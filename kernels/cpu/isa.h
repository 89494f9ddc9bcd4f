// Instruction-set variants of the CPU's hot kernels, chosen when the program starts.
//
// orbit's default build targets baseline x86-64 (SSE2) so one binary runs on every x86-64 machine,
// but the matrix products are 2-3x faster with AVX2 + FMA or AVX-512. The files in kernels/cpu/isa/
// are compiled a second (and third) time with -march=x86-64-v3 / -march=x86-64-v4, each inside its
// own namespace (Eigen's included: `#define Eigen orbit_eigen_<isa>`, so no template instance is
// shared with the baseline code and the linker cannot swap one for the other; the test
// `cpu isa: variant objects share no symbols` checks the objects). The best variant the CPU and the
// operating system support is used; ORBIT_CPU_ISA=baseline|x86-64-v3|x86-64-v4 forces one (an
// unknown name, or a variant this CPU cannot run, is an error naming the problem).
#pragma once
#include <string>
#include <vector>

namespace orbit::cpu {

enum class Isa { baseline, x86_64_v3, x86_64_v4 };

const char* isa_name(Isa isa);
bool isa_compiled(Isa isa);   // this build contains the variant
bool isa_supported(Isa isa);  // this CPU (and OS) can run it
std::vector<Isa> isa_available();  // compiled and supported, baseline first

// The variant in use: ORBIT_CPU_ISA when set (checked), else the best available. Read once.
Isa active_isa();
// Forces a variant for the rest of the process (tests, benchmarks); throws when it is not available.
void set_active_isa(Isa isa);
Isa isa_from_name(const std::string& name);  // throws on an unknown name

}  // namespace orbit::cpu
