// The instruction-set variants of the CPU matrix products (kernels/cpu/isa.h): every variant this
// CPU runs gives the baseline's products to rounding, for every transpose combination and for the
// shapes at the edges of Eigen's blocking; bad selections are errors naming the problem.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "engine/error.h"
#include "kernels/cpu/isa.h"
#include "kernels/cpu/matmul.h"

using namespace orbit;

namespace {

// Restores the variant in use when a test case ends.
struct IsaGuard {
  cpu::Isa saved = cpu::active_isa();
  ~IsaGuard() { cpu::set_active_isa(saved); }
};

template <class T>
std::vector<T> product(cpu::Isa isa, const std::vector<T>& a, const std::vector<T>& b, int64_t m, int64_t n,
                       int64_t k, bool ta, bool tb) {
  cpu::set_active_isa(isa);
  std::vector<T> c(static_cast<size_t>(m * n), T(-7));
  const int64_t zero = 0;
  cpu::matmul(a.data(), b.data(), c.data(), 1, &zero, &zero, m, n, k, ta, tb);
  return c;
}

template <class T>
void check_variants(double tol) {
  std::mt19937_64 rng(7);
  std::normal_distribution<double> nd;
  const int64_t shapes[][3] = {{1, 1, 1}, {3, 5, 2}, {17, 33, 9}, {64, 128, 128}, {129, 70, 257}, {300, 1, 40},
                               {1, 300, 40}, {5, 7, 0}};
  for (auto& s : shapes)
    for (int t = 0; t < 4; ++t) {
      const int64_t m = s[0], n = s[1], k = s[2];
      const bool ta = t & 1, tb = t & 2;
      std::vector<T> a(static_cast<size_t>(m * k)), b(static_cast<size_t>(k * n));
      for (auto& v : a) v = static_cast<T>(nd(rng));
      for (auto& v : b) v = static_cast<T>(nd(rng));
      const auto ref = product(cpu::Isa::baseline, a, b, m, n, k, ta, tb);
      // The exact product, for a scale: |a| |b| summed over k bounds the rounding of any order.
      for (cpu::Isa isa : cpu::isa_available()) {
        CAPTURE(cpu::isa_name(isa));
        CAPTURE(m);
        CAPTURE(n);
        CAPTURE(k);
        CAPTURE(t);
        const auto got = product(isa, a, b, m, n, k, ta, tb);
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = 0; j < n; ++j) {
            double scale = 0, exact = 0;
            for (int64_t l = 0; l < k; ++l) {
              const double x = a[static_cast<size_t>(ta ? l * m + i : i * k + l)];
              const double y = b[static_cast<size_t>(tb ? j * k + l : l * n + j)];
              scale += std::abs(x * y);
              exact += x * y;
            }
            const size_t at = static_cast<size_t>(i * n + j);
            REQUIRE(std::abs(got[at] - exact) <= tol * (scale + 1e-30) * std::max<int64_t>(1, k));
            REQUIRE(std::abs(got[at] - ref[at]) <= 2 * tol * (scale + 1e-30) * std::max<int64_t>(1, k));
          }
      }
    }
}

}  // namespace

TEST_SUITE("cpu") {
  TEST_CASE("cpu isa: every available variant computes the baseline's products (f32, f64)") {
    IsaGuard guard;
    const auto avail = cpu::isa_available();
    REQUIRE(!avail.empty());
    CHECK(avail.front() == cpu::Isa::baseline);
    MESSAGE("CPU variants available here: ", avail.size(), ", in use: ", cpu::isa_name(cpu::active_isa()));
    check_variants<float>(1.2e-7);
    check_variants<double>(2.3e-16);
  }

  TEST_CASE("cpu isa: names, availability and bad selections") {
    IsaGuard guard;
    for (cpu::Isa isa : {cpu::Isa::baseline, cpu::Isa::x86_64_v3, cpu::Isa::x86_64_v4})
      CHECK(cpu::isa_from_name(cpu::isa_name(isa)) == isa);
    CHECK_THROWS_WITH_AS(cpu::isa_from_name("avx9"), doctest::Contains("unknown CPU instruction-set variant 'avx9'"),
                         Error);
    // The default is the best available variant; v4 implies v3 on every CPU.
    if (cpu::isa_supported(cpu::Isa::x86_64_v4)) CHECK(cpu::isa_supported(cpu::Isa::x86_64_v3));
    for (cpu::Isa isa : {cpu::Isa::x86_64_v3, cpu::Isa::x86_64_v4})
      if (!(cpu::isa_compiled(isa) && cpu::isa_supported(isa)))
        CHECK_THROWS_WITH_AS(cpu::set_active_isa(isa), doctest::Contains(cpu::isa_name(isa)), Error);
    cpu::set_active_isa(cpu::Isa::baseline);
    CHECK(cpu::active_isa() == cpu::Isa::baseline);
  }
}
