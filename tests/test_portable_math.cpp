// The portable log and cos behind the random normals (kernels/scalar/portable_math.h): the same
// bits on every device by construction, and within an ulp of the C library here.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>

#include "kernels/scalar/portable_math.h"
#include "kernels/scalar/random.h"

using namespace orbit::scalar;

namespace {
int64_t ulps(double a, double b) {
  int64_t x, y;
  std::memcpy(&x, &a, 8);
  std::memcpy(&y, &b, 8);
  return x > y ? x - y : y - x;
}
}  // namespace

TEST_SUITE("cpu") {
  TEST_CASE("portable log and cos are within one ulp of the C library") {
    std::mt19937_64 rng(11);
    std::uniform_real_distribution<double> u(0, 1);
    int64_t worst_log = 0, worst_cos = 0;
    for (int i = 0; i < 200000; ++i) {
      // Philox units: k / 2^53 for k in [1, 2^53], and a few tiny and subnormal arguments.
      double x = std::ldexp(static_cast<double>((rng() >> 11) + 1), -53);
      if (i % 7 == 0) x = u(rng) * 1e-300 + 4.9e-324;
      worst_log = std::max(worst_log, ulps(pm::log(x), std::log(x)));
      double y = u(rng) * 6.283185307179586;
      if (i % 5 == 0) y = (1 + i % 4) * 1.5707963267948966 + (u(rng) - 0.5) * 1e-9;  // near the zeros
      worst_cos = std::max(worst_cos, ulps(pm::cos(y), std::cos(y)));
    }
    CHECK(worst_log <= 1);
    CHECK(worst_cos <= 1);
    CHECK(pm::log(1.0) == 0.0);
    CHECK(pm::cos(0.0) == 1.0);
    CHECK(std::isinf(pm::log(0.0)));
    CHECK(std::isnan(pm::log(-1.0)));
    CHECK(std::isnan(pm::cos(-1.0)));
  }

  TEST_CASE("random normals follow Box-Muller with the library's log and cos to within a few ulps") {
    int64_t worst = 0;
    for (uint64_t i = 0; i < 100000; ++i) {
      Philox4 w = philox_draw(5, 3, 1, i);
      double u1 = philox_unit_f64(w.v[0], w.v[1]), u2 = philox_unit_f64(w.v[2], w.v[3]);
      double lib = std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586476925 * u2);
      double got = random_normal<double>(5, 3, 1, i);
      if (std::abs(lib) > 1e-6) worst = std::max(worst, ulps(got, lib));
    }
    CHECK(worst <= 4);  // log and cos within an ulp each, sqrt halves the first
  }
}
