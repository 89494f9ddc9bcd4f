// orbit's vectorisable f32 exp / sigmoid / tanh / erf / sin / cos and f64 exp for the CPU
// (kernels/scalar/host_math.h):
// accuracy against the f64 C library (f32) or long double (f64) over sweeps of the whole range,
// special values, and the same bits from the scalar functor, a vectorised kernel loop and the fused interpreter.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "engine/orbit.h"
#include "kernels/scalar/host_math.h"
#include "kernels/scalar/unary.h"

using namespace orbit;

namespace {

// |got - exact| in units of the last place of the f32 nearest `exact` (subnormal spacing below).
double ulps(float got, double exact) {
  if (std::isnan(exact)) return std::isnan(got) ? 0 : 1e30;
  const float near = static_cast<float>(exact);  // may round to infinity
  if (std::isinf(near) || std::isinf(got)) {
    if (got == near) return 0;
    const float big = std::numeric_limits<float>::max();
    return (std::fabs(got) == big || std::fabs(near) == big) ? 1 : 1e30;  // one step from overflow
  }
  double spacing = std::ldexp(1.0, -149);
  if (std::fabs(near) >= std::numeric_limits<float>::min())
    spacing = std::nextafter(std::fabs(near), std::numeric_limits<float>::infinity()) - std::fabs(near);
  return std::fabs(static_cast<double>(got) - exact) / spacing;
}

float bits_to_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

}  // namespace

TEST_SUITE("cpu") {
  TEST_CASE("host math: f32 exp, sigmoid and tanh against the f64 library over the whole float range") {
    double worst_exp = 0, worst_sig = 0, worst_tanh = 0;
    for (uint64_t b = 0; b < (uint64_t{1} << 32); b += 101) {
      const float x = bits_to_float(static_cast<uint32_t>(b));
      if (std::isnan(x)) continue;
      const double xd = x;
      worst_exp = std::max(worst_exp, ulps(scalar::hm::exp(x), std::exp(xd)));
      worst_sig = std::max(worst_sig, ulps(scalar::hm::sigmoid(x), 1.0 / (1.0 + std::exp(-xd))));
      worst_tanh = std::max(worst_tanh, ulps(scalar::hm::tanh(x), std::tanh(xd)));
    }
    MESSAGE("worst errors (ulp): exp ", worst_exp, ", sigmoid ", worst_sig, ", tanh ", worst_tanh);
    CHECK(worst_exp <= 1.2);
    CHECK(worst_sig <= 2.5);
    CHECK(worst_tanh <= 1.4);
  }

  TEST_CASE("host math: special values") {
    const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
    CHECK(std::isnan(scalar::hm::exp(nan)));
    CHECK(std::isnan(scalar::hm::sigmoid(nan)));
    CHECK(std::isnan(scalar::hm::tanh(nan)));
    CHECK(scalar::hm::exp(inf) == inf);
    CHECK(scalar::hm::exp(-inf) == 0.0f);
    CHECK(scalar::hm::exp(0.0f) == 1.0f);
    CHECK(scalar::hm::exp(-0.0f) == 1.0f);
    CHECK(scalar::hm::exp(88.8f) == inf);  // e^88.8 > FLT_MAX
    CHECK(scalar::hm::exp(88.7f) < inf);
    CHECK(scalar::hm::exp(-103.0f) > 0.0f);  // subnormal, not flushed
    CHECK(scalar::hm::exp(-104.0f) == 0.0f);
    CHECK(scalar::hm::sigmoid(inf) == 1.0f);
    CHECK(scalar::hm::sigmoid(-inf) == 0.0f);
    CHECK(scalar::hm::sigmoid(0.0f) == 0.5f);
    CHECK(scalar::hm::sigmoid(-100.0f) > 0.0f);  // e^-100 / (1 + e^-100): subnormal-free, positive
    CHECK(scalar::hm::tanh(inf) == 1.0f);
    CHECK(scalar::hm::tanh(-inf) == -1.0f);
    CHECK(scalar::hm::tanh(0.0f) == 0.0f);
    CHECK(std::signbit(scalar::hm::tanh(-0.0f)));
    CHECK(scalar::hm::tanh(1e-30f) == 1e-30f);
    CHECK(scalar::hm::tanh(-20.0f) == -1.0f);
  }

  TEST_CASE("host math: f32 erf, sin and cos against the f64 library over the whole float range") {
    double worst_erf = 0, worst_sin = 0, worst_cos = 0;
    for (uint64_t b = 0; b < (uint64_t{1} << 32); b += 101) {
      const float x = bits_to_float(static_cast<uint32_t>(b));
      if (!std::isfinite(x)) continue;
      const double xd = x;
      worst_erf = std::max(worst_erf, ulps(scalar::hm::erf(x), std::erf(xd)));
      worst_sin = std::max(worst_sin, ulps(scalar::hm::sin(x), std::sin(xd)));
      worst_cos = std::max(worst_cos, ulps(scalar::hm::cos(x), std::cos(xd)));
    }
    MESSAGE("worst errors (ulp): erf ", worst_erf, ", sin ", worst_sin, ", cos ", worst_cos);
    CHECK(worst_erf <= 1.22);
    CHECK(worst_sin <= 0.501);
    CHECK(worst_cos <= 0.501);
    // Every float in the pieces' seams and where erf saturates, and the float nearest a multiple of
    // pi/2 (the hardest argument reduction of all floats).
    double worst_seams = 0;
    for (float x = 0.8f; x < 0.95f; x = std::nextafter(x, 1.0f))
      worst_seams = std::max(worst_seams, ulps(scalar::hm::erf(x), std::erf(static_cast<double>(x))));
    for (float x = 3.8f; x < 4.0f; x = std::nextafter(x, 4.0f))
      worst_seams = std::max(worst_seams, ulps(scalar::hm::erf(x), std::erf(static_cast<double>(x))));
    MESSAGE("erf near 0.875 and 3.92: ", worst_seams, " ulp");
    CHECK(worst_seams <= 1.24);
    const float hard = std::ldexp(16367173.0f, 72);
    CHECK(ulps(scalar::hm::sin(hard), std::sin(static_cast<double>(hard))) <= 0.5);
    CHECK(ulps(scalar::hm::cos(-hard), std::cos(static_cast<double>(hard))) <= 0.5);
  }

  TEST_CASE("host math: f32 erf, sin and cos special values") {
    const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
    const float big = std::numeric_limits<float>::max(), tiny = std::numeric_limits<float>::denorm_min();
    CHECK(std::isnan(scalar::hm::erf(nan)));
    CHECK(scalar::hm::erf(inf) == 1.0f);
    CHECK(scalar::hm::erf(-inf) == -1.0f);
    CHECK(scalar::hm::erf(0.0f) == 0.0f);
    CHECK(std::signbit(scalar::hm::erf(-0.0f)));
    CHECK(scalar::hm::erf(3.92f) == 1.0f);
    CHECK(scalar::hm::erf(-10.0f) == -1.0f);
    CHECK(scalar::hm::erf(3.9f) < 1.0f);  // erfc(3.9) = 3.5e-8: one step below 1
    CHECK(ulps(scalar::hm::erf(1e-30f), std::erf(static_cast<double>(1e-30f))) <= 0.54);  // 0.532
    CHECK(scalar::hm::erf(-tiny) == -tiny);  // 2^-149 * 1.128 rounds back to 2^-149
    for (float v : {nan, inf, -inf}) {
      CHECK(std::isnan(scalar::hm::sin(v)));
      CHECK(std::isnan(scalar::hm::cos(v)));
    }
    CHECK(scalar::hm::sin(0.0f) == 0.0f);
    CHECK(!std::signbit(scalar::hm::sin(0.0f)));
    CHECK(std::signbit(scalar::hm::sin(-0.0f)));
    CHECK(scalar::hm::cos(0.0f) == 1.0f);
    CHECK(scalar::hm::cos(-0.0f) == 1.0f);
    CHECK(scalar::hm::sin(tiny) == tiny);
    CHECK(scalar::hm::sin(-1e-20f) == -1e-20f);
    CHECK(scalar::hm::cos(1e-20f) == 1.0f);
    CHECK(scalar::hm::sin(big) == static_cast<float>(std::sin(static_cast<double>(big))));
    CHECK(scalar::hm::cos(-big) == static_cast<float>(std::cos(static_cast<double>(big))));
    CHECK(scalar::hm::sin(-big) == -scalar::hm::sin(big));
  }

  TEST_CASE("host math: f64 exp against long double over its whole range") {
    // Every 2^20-th double between the underflow and overflow limits, plus a dense sweep near 0.
    auto check_range = [](double lo, double hi, int steps, double& worst) {
      for (int i = 0; i <= steps; ++i) {
        const double x = lo + (hi - lo) * static_cast<double>(i) / steps;
        const long double exact = std::exp(static_cast<long double>(x));
        const double near = static_cast<double>(exact);
        const double got = scalar::hm::exp(x);
        if (near == 0 || std::isinf(near)) {
          // At the ends: 0 / the smallest subnormal, or infinity / DBL_MAX, one step apart at most.
          CHECK((got == near || std::fabs(got - near) <= std::ldexp(1.0, -1074) ||
                 (std::isinf(near) && got == std::numeric_limits<double>::max())));
          continue;
        }
        const double spacing = std::fabs(near) >= std::numeric_limits<double>::min()
                                   ? std::nextafter(near, INFINITY) - near
                                   : std::ldexp(1.0, -1074);
        worst = std::max(worst, static_cast<double>(std::fabs(static_cast<long double>(got) - exact) / spacing));
      }
    };
    double worst = 0;
    check_range(-745.5, 709.9, 1 << 21, worst);
    check_range(-1.0, 1.0, 1 << 18, worst);
    check_range(-745.13, -708.0, 1 << 16, worst);  // results in the subnormal range
    MESSAGE("worst f64 exp error: ", worst, " ulp");
    CHECK(worst <= 1.0);
    const double inf = std::numeric_limits<double>::infinity();
    CHECK(std::isnan(scalar::hm::exp(std::numeric_limits<double>::quiet_NaN())));
    CHECK(scalar::hm::exp(inf) == inf);
    CHECK(scalar::hm::exp(-inf) == 0.0);
    CHECK(scalar::hm::exp(0.0) == 1.0);
    CHECK(scalar::hm::exp(-0.0) == 1.0);
    CHECK(scalar::hm::exp(709.8) == inf);
    CHECK(scalar::hm::exp(709.7) < inf);
    CHECK(scalar::hm::exp(-745.0) > 0.0);
    CHECK(scalar::hm::exp(-746.0) == 0.0);
  }

  TEST_CASE("host math: the f32 functors, the unfused kernels and the fused interpreter give the same bits") {
    CHECK(scalar::Exp{}(0.37f) == scalar::hm::exp(0.37f));
    CHECK(scalar::Tanh{}(-0.7f) == scalar::hm::tanh(-0.7f));
    CHECK(scalar::Sigmoid{}(-2.5f) == scalar::hm::sigmoid(-2.5f));
    CHECK(scalar::Erf{}(0.61f) == scalar::hm::erf(0.61f));
    CHECK(scalar::Sin{}(2.3f) == scalar::hm::sin(2.3f));
    CHECK(scalar::Cos{}(-2.3f) == scalar::hm::cos(-2.3f));
    CHECK(scalar::Gelu{}(-0.8f) == 0.5f * -0.8f * (1.0f + scalar::hm::erf(-0.8f * 0.70710678f)));
    CHECK(scalar::Exp{}(0.37) == std::exp(0.37));  // f64 stays on the library
    CHECK(scalar::Erf{}(0.37) == std::erf(0.37));
    CHECK(scalar::Sin{}(0.37) == std::sin(0.37));
    CHECK(scalar::Cos{}(0.37) == std::cos(0.37));
    std::vector<float> xs(4099);
    for (size_t i = 0; i < xs.size(); ++i) xs[i] = -30.0f + 60.0f * static_cast<float>(i) / 4098.0f;
    const Tensor x = Tensor::from<float>({static_cast<int64_t>(xs.size())}, xs);
    for (int fusion = 0; fusion < 2; ++fusion) {
      Graph g;
      Var v = g.input("x", Shape({static_cast<int64_t>(xs.size())}), DType::f32);
      Var e = exp(v * 0.1), t = tanh(v), s = sigmoid(v), u = silu(v);
      Var f = erf(v * 0.5), sn = sin(v * 2.0), cs = cos(v * 2.0), ge = gelu(v);
      CompileOptions opt;
      opt.fusion = fusion ? CompileOptions::Fusion::on : CompileOptions::Fusion::off;
      Program p = compile(g, {e, t, s, u, f, sn, cs, ge}, Device::cpu(), opt);
      auto out = p.run({{"x", x}});
      for (size_t i = 0; i < xs.size(); ++i) {
        CAPTURE(xs[i]);
        CAPTURE(fusion);
        const float x01 = xs[i] * 0.1f;
        REQUIRE(out[0].data<float>()[i] == scalar::hm::exp(x01));
        REQUIRE(out[1].data<float>()[i] == scalar::hm::tanh(xs[i]));
        REQUIRE(out[2].data<float>()[i] == scalar::hm::sigmoid(xs[i]));
        REQUIRE(out[3].data<float>()[i] == xs[i] * scalar::hm::sigmoid(xs[i]));
        REQUIRE(out[4].data<float>()[i] == scalar::hm::erf(xs[i] * 0.5f));
        REQUIRE(out[5].data<float>()[i] == scalar::hm::sin(xs[i] * 2.0f));
        REQUIRE(out[6].data<float>()[i] == scalar::hm::cos(xs[i] * 2.0f));
        REQUIRE(out[7].data<float>()[i] == 0.5f * xs[i] * (1.0f + scalar::hm::erf(xs[i] * 0.70710678f)));
      }
    }
  }
}
