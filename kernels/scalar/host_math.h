// exp, sigmoid and tanh in f32 (and exp in f64) for the CPU kernels, written so that compilers
// vectorise them.
//
// glibc's expf / tanhf are scalar calls: a loop over them runs one element at a time, and a CPU
// elementwise kernel spent ~20 ns per tanh (PINN step on one core, 2026-11-27). These are branch-free
// (selects only) arithmetic on floats and 32-bit integers, so loops that call them vectorise at the
// target's width (SSE2 in the baseline build, AVX2 / AVX-512 where the loop is compiled for it).
// They use only +, -, *, / without contraction (orbit compiles in ISO C++ mode: no implicit FMA), so
// every CPU kernel and every vector width gives the same bits. Accuracy (tests/test_host_math.cpp):
// exp within 1.2 ulp of the exact result over its whole range (subnormals, overflow, NaN and
// infinities included), tanh within 1.4 ulp, sigmoid within 2.5 ulp. The f64 exp (1 ulp) serves the
// kernels whose inner loops are exponentials (the GMM's logsumexp over its components); the f64
// elementwise functors stay on the C library.
#pragma once
#include <cstdint>
#include <cstring>

// Always inlined: an out-of-line copy would be one symbol shared by the baseline objects and the
// x86-64-v3 / v4 ones (kernels/cpu/isa.h), and the linker could hand either to both.
#if defined(__GNUC__) || defined(__clang__)
#define ORBIT_HM_INLINE inline __attribute__((always_inline))
#else
#define ORBIT_HM_INLINE inline
#endif

namespace orbit::scalar::hm {

ORBIT_HM_INLINE float from_bits(int32_t b) {
  float f;
  std::memcpy(&f, &b, sizeof f);
  return f;
}

ORBIT_HM_INLINE int32_t to_bits(float f) {
  int32_t b;
  std::memcpy(&b, &f, sizeof b);
  return b;
}

ORBIT_HM_INLINE double from_bits(int64_t b) {
  double f;
  std::memcpy(&f, &b, sizeof f);
  return f;
}

ORBIT_HM_INLINE int64_t to_bits(double f) {
  int64_t b;
  std::memcpy(&b, &f, sizeof b);
  return b;
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
  return x >= 0.0f ? 1.0f / d : e / d;  // NaN: e / d is NaN
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

}  // namespace orbit::scalar::hm
