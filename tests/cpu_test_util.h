// Helpers shared by the CPU kernel tests (test_cpu_isa, test_cpu_threads, test_cpu_narrow_gemm,
// test_egnn_message): seeded normal inputs, bitwise comparison, and scoped settings of the CPU's
// instruction-set variant and OpenMP thread count.
#pragma once
#include <cstdint>
#include <cstring>
#include <random>
#include <utility>
#include <vector>
#if defined(_OPENMP)
#include <omp.h>
#endif

#include "kernels/cpu/isa.h"

namespace orbit::testing {

// n standard normals (drawn in double, rounded to T) from a fixed seed.
template <class T>
std::vector<T> normals(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> nd;
  std::vector<T> v(n);
  for (auto& e : v) e = static_cast<T>(nd(rng));
  return v;
}

template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

// Restores the instruction-set variant in use when the scope ends (a failing check included).
struct IsaGuard {
  cpu::Isa saved = cpu::active_isa();
  ~IsaGuard() { cpu::set_active_isa(saved); }
};

// Runs f on 1 thread, then on 3, restoring the count; returns both results.
template <class F>
auto on_1_and_3_threads(F&& f) {
#if defined(_OPENMP)
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  auto one = f();
  omp_set_num_threads(3);
  auto three = f();
  omp_set_num_threads(saved);
  return std::make_pair(one, three);
#else
  auto one = f();
  return std::make_pair(one, f());
#endif
}

}  // namespace orbit::testing
