// exp, sigmoid, tanh, erf, sin and cos in f32 (and exp in f64) for the CPU kernels, written so that
// compilers vectorise them.
//
// glibc's expf / tanhf / erff / sinf / cosf are scalar calls: a loop over them runs one element at a
// time, and a CPU elementwise kernel spent ~20 ns per tanh (PINN step on one core, 2026-11-27), ~14 ns
// per erf (the exact GELU). These are branch-free (selects only; sin / cos also read a small table)
// arithmetic on floats, doubles and integers, so loops that call them vectorise at the target's width
// (SSE2 in the baseline build, AVX2 / AVX-512 where the loop is compiled for it).
// They use only +, -, *, / without contraction (orbit compiles in ISO C++ mode: no implicit FMA), so
// every CPU kernel and every vector width gives the same bits. Accuracy (tests/test_host_math.cpp):
// exp within 1.2 ulp of the exact result over its whole range (subnormals, overflow, NaN and
// infinities included), tanh within 1.4 ulp, sigmoid within 2.5 ulp, erf within 1.33 ulp (every float
// tried), sin and cos within 0.501 ulp for every finite float (an exact argument reduction; sin / cos
// of inf or NaN is NaN). The f64 exp (1 ulp) serves the kernels whose inner loops are exponentials (the
// GMM's logsumexp over its components); the f64 elementwise functors stay on the C library.
#pragma once
#include <bit>
#include <cstdint>
#include <type_traits>

// Always inlined: an out-of-line copy would be one symbol shared by the baseline objects and the
// x86-64-v3 / v4 ones (kernels/cpu/isa.h), and the linker could hand either to both.
#if defined(__GNUC__) || defined(__clang__)
#define ORBIT_HM_INLINE inline __attribute__((always_inline))
#else
#define ORBIT_HM_INLINE inline
#endif

namespace orbit::scalar::hm {

// The float with the bits of an int32_t / the double with those of an int64_t, and back.
template <class I>
ORBIT_HM_INLINE auto from_bits(I b) {
  static_assert(std::is_same_v<I, int32_t> || std::is_same_v<I, int64_t>);
  return std::bit_cast<std::conditional_t<sizeof(I) == 4, float, double>>(b);
}
template <class F>
ORBIT_HM_INLINE auto to_bits(F f) {
  static_assert(std::is_same_v<F, float> || std::is_same_v<F, double>);
  return std::bit_cast<std::conditional_t<sizeof(F) == 4, int32_t, int64_t>>(f);
}

ORBIT_HM_INLINE float exp(float x) {
  // Clamp first (NaN becomes the lower bound; restored at the end) so the integer part is in range.
  float xc = x > -104.0f ? x : -104.0f;
  xc = xc < 89.0f ? xc : 89.0f;
  // x = n ln2 + r, |r| <= ln2 / 2: n by the round-to-nearest trick, r by Cody-Waite (ln2_hi has 9
  // significant bits, so n * ln2_hi is exact for |n| <= 150).
  const float shifter = 12582912.0f;  // 1.5 * 2^23
  const float n = (xc * 1.44269504088896341f + shifter) - shifter;
  const float r = (xc - n * 0.693359375f) - n * -2.12194440e-4f;
  // e^r by its Taylor polynomial to degree 7 (truncation < 6e-9 relative for |r| <= 0.347).
  float p = 1.98412698e-4f;
  p = p * r + 1.38888889e-3f;
  p = p * r + 8.33333333e-3f;
  p = p * r + 4.16666667e-2f;
  p = p * r + 1.66666667e-1f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  // 2^n as two normal powers of two (n in [-150, 128]): the result rounds once, also into the
  // subnormal range, and overflows to infinity above ~88.72.
  const int32_t ni = static_cast<int32_t>(n);
  const int32_t n1 = ni >> 1, n2 = ni - n1;
  const float y = (p * from_bits((n1 + 127) << 23)) * from_bits((n2 + 127) << 23);
  return x != x ? x : y;
}

// The same construction in f64. n is read from the shifted sum's bits instead of a float-to-integer
// conversion (SSE2 and AVX2 have none for 64-bit lanes), and halved with a logical shift of n + 2048
// (there is no 64-bit arithmetic shift below AVX-512).
ORBIT_HM_INLINE double exp(double x) {
  double xc = x > -746.0 ? x : -746.0;
  xc = xc < 710.0 ? xc : 710.0;
  const double shifter = 6755399441055744.0;  // 1.5 * 2^52
  const double t = xc * 1.4426950408889634074 + shifter;
  const double n = t - shifter;
  // ln2_hi has 32 significant bits, so n * ln2_hi is exact for |n| <= 2^21.
  const double r = (xc - n * 6.93147180369123816490e-01) - n * 1.90821492927058770002e-10;
  // e^r = 1 + (r + r^2 q(r)), q the Taylor series of (e^r - 1 - r) / r^2 to degree 11 (truncation
  // < 5e-18 relative for |r| <= 0.347); adding 1 last keeps the error near half an ulp.
  double q = 1.0 / 6227020800.0;
  q = q * r + 1.0 / 479001600.0;
  q = q * r + 1.0 / 39916800.0;
  q = q * r + 1.0 / 3628800.0;
  q = q * r + 1.0 / 362880.0;
  q = q * r + 1.0 / 40320.0;
  q = q * r + 1.0 / 5040.0;
  q = q * r + 1.0 / 720.0;
  q = q * r + 1.0 / 120.0;
  q = q * r + 1.0 / 24.0;
  q = q * r + 1.0 / 6.0;
  q = q * r + 0.5;
  const double p = 1.0 + (r + (r * r) * q);
  // n in [-1077, 1025]: 2^n as two normal powers of two, so the result rounds once.
  const int64_t ni = to_bits(t) - to_bits(shifter);
  const int64_t n1 = static_cast<int64_t>(static_cast<uint64_t>(ni + 2048) >> 1) - 1024, n2 = ni - n1;
  const double y = (p * from_bits((n1 + 1023) << 52)) * from_bits((n2 + 1023) << 52);
  return x != x ? x : y;
}

// 1 / (1 + e^-x), from e^-|x| so it never overflows; the same split as scalar::Sigmoid.
ORBIT_HM_INLINE float sigmoid(float x) {
  const float ax = x < 0.0f ? -x : x;
  const float e = exp(-ax);
  const float d = 1.0f + e;
  // One division for both sides (selecting between 1 / d and e / d made vectorised loops divide twice,
  // and a division was most of a sigmoid's cost): the same operands, so the same bits.
  const float num = x >= 0.0f ? 1.0f : e;  // NaN: e, and e / d is NaN
  return num / d;
}

ORBIT_HM_INLINE float tanh(float x) {
  const float ax = x < 0.0f ? -x : x;
  // |x| < 0.625: x + x^3 P(x^2), P fitted to tanh's relative error on [0, 0.625] (0.77 ulp in f32).
  const float x2 = ax * ax;
  float p = 2.14898400e-3f;
  p = p * x2 + -8.18466209e-3f;
  p = p * x2 + 2.17039995e-2f;
  p = p * x2 + -5.39474525e-2f;
  p = p * x2 + 1.33332118e-1f;
  p = p * x2 + -3.33333313e-1f;
  const float small = ax + ax * x2 * p;
  // Otherwise 1 - 2 / (e^{2|x|} + 1): no cancellation worse than 2x at |x| >= 0.625; e^{2|x|} = inf
  // gives exactly 1.
  const float large = 1.0f - 2.0f / (exp(2.0f * ax) + 1.0f);
  const float t = ax < 0.625f ? small : large;
  const float r = from_bits(to_bits(t) | (to_bits(x) & INT32_MIN));  // x's sign (-0 stays -0)
  return x != x ? x : r;
}

// erf: two pieces, both evaluated, one selected. |x| < 0.875: x + x P(x^2) (the leading 1 kept out of
// P, so the rounding of P hardly shows). 0.875 <= |x| < 3.92: 1 - e^{Q(|x|)}, Q a degree-6 fit of
// log(erfc); erf's ulp there is 2^-24 whatever erfc is, so Q is fitted to the absolute error of erfc
// = e^Q, which relaxes as erfc falls. |x| >= 3.92: erfc < 2^-25, erf rounds to 1. Coefficients: a
// weighted minimax fit (Lawson's iteratively reweighted least squares on 3000 Chebyshev points,
// reference values from mpmath), each coefficient rounded to float from the highest power down with
// the lower ones refitted after each rounding. 1.33 ulp, every float tried (worst at 1.0779).
ORBIT_HM_INLINE float erf(float x) {
  const float ax = x < 0.0f ? -x : x;
  const float x2 = ax * ax;
  float p = -6.20325503e-4f;
  p = p * x2 + 5.03218127e-3f;
  p = p * x2 + -2.67914627e-2f;
  p = p * x2 + 1.12824552e-1f;
  p = p * x2 + -3.76125515e-1f;
  p = p * x2 + 1.28379166e-1f;  // 2 / sqrt(pi) - 1
  const float small = ax + ax * p;
  float q = 1.99901391e-4f;
  q = q * ax + -3.08199623e-3f;
  q = q * ax + 2.23810319e-2f;
  q = q * ax + -1.04250208e-1f;
  q = q * ax + -6.36820614e-1f;
  q = q * ax + -1.12788951f;
  q = q * ax + -1.44116901e-4f;
  const float large = 1.0f - exp(q);  // inf: exp(-inf) = 0; replaced by 1 below anyway
  float r = ax < 0.875f ? small : large;
  r = ax < 3.92f ? r : 1.0f;
  r = from_bits(to_bits(r) | (to_bits(x) & INT32_MIN));  // x's sign (-0 stays -0)
  return x != x ? x : r;
}

// sin and cos: the reduction x = (n + g) pi/2, |g| <= 1/2, exact for every finite float, then
// polynomials for sin(g pi/2), cos(g pi/2) in f64 and one rounding to float at the end (0.501 ulp).
//
// A Cody-Waite reduction by a few parts of pi/2 is exact only up to some |x|, and a per-element call to
// the C library beyond that stops the loop from vectorising (GCC 12: "control flow in loop"), so the
// reduction uses the bits of 2/pi, as Payne and Hanek: with x = m 2^k (m an integer below 2^24),
// x 2/pi = m (2^k 2/pi), and of 2^k 2/pi only the bits of weight 2 and below matter, the quadrant
// being n mod 4. Per float exponent, a table holds those bits as c0 (weights 2^1..2^-24, 26 bits), c1
// (the next 26 bits) and c2 (the rest, rounded to f64). m c0 (50 bits) is exact; less its nearest
// integer n0, plus the exact m c1, it is exact again (51 bits, |s| < 1.5); s less its nearest integer
// n1, plus m c2, is g, with an absolute error below 2^-78, and n = n0 + n1. No float comes closer to a
// multiple of pi/2 than |g| = 2^-29.9 (x = 16367173 * 2^72, found by trying every float), so g keeps
// ~48 correct bits. The loads are gathers (AVX2 / AVX-512; GCC emulates them for SSE2), from a 6 KB
// table that stays in L1.
namespace detail {

// Bits 1..256 after the binary point of 2/pi (bit 1 has weight 1/2; computed with mpmath).
constexpr uint64_t kTwoOverPiBits[4] = {0xa2f9836e4e441529ull, 0xfc2757d1f534ddc0ull, 0xdb6295993c439041ull,
                                        0xfe5163abdebbc561ull};

// Bits first .. first + count - 1 (count <= 64) of 2/pi as an integer, zero outside 1..256.
constexpr uint64_t two_over_pi_bits(int first, int count) {
  uint64_t v = 0;
  for (int p = first; p < first + count; ++p) {
    const bool in = p >= 1 && p <= 256;
    const uint64_t bit = in ? (kTwoOverPiBits[(p - 1) / 64] >> (63 - (p - 1) % 64)) & 1u : 0u;
    v = (v << 1) | bit;
  }
  return v;
}

constexpr double pow2(int e) {
  double r = 1.0;
  for (; e > 0; --e) r *= 2.0;
  for (; e < 0; ++e) r *= 0.5;
  return r;
}

// Entry e, the biased exponent of |x|: x = m 2^k with k = max(e, 1) - 150 and m an integer below 2^24.
// (e = 255, inf and NaN, holds numbers like the others; the result is replaced by NaN.)
struct TrigReduction {
  double c0[256], c1[256], c2[256];
};

constexpr TrigReduction make_trig_reduction() {
  TrigReduction t{};
  for (int e = 0; e < 256; ++e) {
    const int k = (e < 1 ? 1 : e) - 150;
    // The bit at position p of 2/pi has weight 2^(k - p) in 2^k 2/pi.
    t.c0[e] = static_cast<double>(two_over_pi_bits(k - 1, 26)) * pow2(-24);
    t.c1[e] = static_cast<double>(two_over_pi_bits(k + 25, 26)) * pow2(-50);
    const int s = k + 51 > 1 ? k + 51 : 1;  // from the leading bit of 2/pi for small k: full precision
    t.c2[e] = static_cast<double>(two_over_pi_bits(s, 64)) * pow2(k - s - 63);
  }
  return t;
}

// Not `inline`: internal linkage, so every object file has its own copy (computed at compile time)
// and the instruction-set variant objects define no symbol shared with the baseline ones
// (cmake/check_isa_symbols.cmake). The contents are the same everywhere.
constexpr TrigReduction kTrigReduction = make_trig_reduction();

// sin(x) (Cos = 0) or cos(x) (Cos = 1).
template <int Cos>
ORBIT_HM_INLINE float sin_cos(float x) {
  const int32_t bx = to_bits(x) & INT32_MAX;
  const int32_t ef = bx >> 23;
  const int64_t e = ef;  // a 64-bit index: the gathers load f64
  // m without a select (one would let GCC specialise a path with a constant table index, and the
  // branch that leaves stops vectorisation): the implicit bit is (e + 255) >> 8, 0 for e = 0, 1 above.
  const double m = static_cast<double>((bx & 0x7fffff) | (((ef + 255) >> 8) << 23));
  const double shifter = 6755399441055744.0;  // 1.5 * 2^52: (v + shifter) - shifter rounds v to an integer
  const double s1 = m * kTrigReduction.c0[e];
  const double n0 = (s1 + shifter) - shifter;  // below 2^26
  const double s = (s1 - n0) + m * kTrigReduction.c1[e];
  const double n1 = (s + shifter) - shifter;
  const double g = (s - n1) + m * kTrigReduction.c2[e];
  // sin(g pi/2) = g S(g^2), cos(g pi/2) = C(g^2), |g| <= 1/2 (+ 2^-26): minimax fits in f64 (as erf's)
  // to the relative error, 2^-37.7 (sin) and 2^-34.1 (cos).
  const double u = g * g;
  double ps = 1.5819508760341657e-4;
  ps = ps * u + -4.681260636682533e-3;
  ps = ps * u + 7.969258184491118e-2;
  ps = ps * u + -6.459640961025797e-1;
  ps = ps * u + 1.5707963267877552;
  const float sv = static_cast<float>(g * ps);
  double pc = 9.033630516790923e-4;
  pc = pc * u + -2.0859936082131908e-2;
  pc = pc * u + 2.536691826085632e-1;
  pc = pc * u + -1.2337005395658125;
  pc = pc * u + 9.999999999439609e-1;
  const float cv = static_cast<float>(pc);
  // The quadrant (cos: one more) in 32-bit integers: 0 sin, 1 cos, 2 -sin, 3 -cos of g pi/2.
  const int32_t q = static_cast<int32_t>(n0 + n1) + Cos;
  int32_t sign = static_cast<int32_t>(static_cast<uint32_t>(q & 2) << 30);
  if (!Cos) sign ^= to_bits(x) & INT32_MIN;  // sin is odd (and sin(-0) = -0)
  const float r = from_bits(to_bits((q & 1) ? cv : sv) ^ sign);
  return x - x == 0.0f ? r : x - x;  // inf and NaN: NaN
}

}  // namespace detail

ORBIT_HM_INLINE float sin(float x) { return detail::sin_cos<0>(x); }
ORBIT_HM_INLINE float cos(float x) { return detail::sin_cos<1>(x); }

}  // namespace orbit::scalar::hm
