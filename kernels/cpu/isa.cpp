#include "kernels/cpu/isa.h"

#include <atomic>
#include <cstdlib>

#include "engine/error.h"

namespace orbit::cpu {

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::baseline: return "baseline";
    case Isa::x86_64_v3: return "x86-64-v3";
    case Isa::x86_64_v4: return "x86-64-v4";
  }
  return "?";
}

Isa isa_from_name(const std::string& name) {
  for (Isa isa : {Isa::baseline, Isa::x86_64_v3, Isa::x86_64_v4})
    if (name == isa_name(isa)) return isa;
  throw Error("unknown CPU instruction-set variant '" + name + "': expected baseline, x86-64-v3 or x86-64-v4");
}

bool isa_compiled(Isa isa) {
  switch (isa) {
    case Isa::baseline: return true;
#if defined(ORBIT_CPU_ISA_X86V3)
    case Isa::x86_64_v3: return true;
#endif
#if defined(ORBIT_CPU_ISA_X86V4)
    case Isa::x86_64_v4: return true;
#endif
    default: return false;
  }
}

bool isa_supported(Isa isa) {
  if (isa == Isa::baseline) return true;
#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__))
  // __builtin_cpu_supports checks the CPUID bits and, for AVX / AVX-512, that the OS saves the
  // wide registers (XGETBV), so a variant is never picked where its instructions would fault.
  __builtin_cpu_init();
  const bool v3 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                  __builtin_cpu_supports("bmi2") && __builtin_cpu_supports("f16c") &&
                  __builtin_cpu_supports("movbe") && __builtin_cpu_supports("popcnt");
  if (isa == Isa::x86_64_v3) return v3;
  if (isa == Isa::x86_64_v4)
    return v3 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512cd");
#endif
  return false;
}

std::vector<Isa> isa_available() {
  std::vector<Isa> out;
  for (Isa isa : {Isa::baseline, Isa::x86_64_v3, Isa::x86_64_v4})
    if (isa_compiled(isa) && isa_supported(isa)) out.push_back(isa);
  return out;
}

namespace {

void check_available(Isa isa, const char* source) {
  ORBIT_CHECK(isa_compiled(isa), source, ": the CPU variant '", isa_name(isa),
              "' is not in this build (the compiler lacked -march=", isa_name(isa), " or the target is not x86-64)");
  ORBIT_CHECK(isa_supported(isa), source, ": this CPU cannot run the '", isa_name(isa), "' variant");
}

Isa initial_isa() {
  if (const char* env = std::getenv("ORBIT_CPU_ISA"); env && *env) {
    Isa isa = isa_from_name(env);
    check_available(isa, "ORBIT_CPU_ISA");
    return isa;
  }
  return isa_available().back();
}

std::atomic<int>& active_slot() {
  static std::atomic<int> slot{static_cast<int>(initial_isa())};
  return slot;
}

}  // namespace

Isa active_isa() { return static_cast<Isa>(active_slot().load(std::memory_order_relaxed)); }

void set_active_isa(Isa isa) {
  check_available(isa, "set_active_isa");
  active_slot().store(static_cast<int>(isa), std::memory_order_relaxed);
}

}  // namespace orbit::cpu
