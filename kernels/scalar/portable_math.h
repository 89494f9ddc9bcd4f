// log and cos in f64 that give the same bits on the CPU, in CUDA kernels and in NVRTC code.
//
// Library math is not bit-reproducible across devices: glibc's log/cos and CUDA's differ in the
// last bit for a fraction of arguments. The random normals (Box-Muller) must be bit-identical on
// every device, so they use these instead. Only IEEE-754 operations that every target rounds the
// same way are used (+, -, *, / and sqrt, round-to-nearest), each through a helper that forbids
// fused multiply-add contraction (nvcc contracts a*b+c by default; host builds in ISO C++ mode do
// not, and clang is told so below). The algorithms and coefficients are fdlibm's (e_log.c,
// k_cos.c, k_sin.c, e_rem_pio2.c: "Copyright (C) 1993 by Sun Microsystems, Inc. Developed at
// SunSoft, a Sun Microsystems, Inc. business. Permission to use, copy, modify, and distribute this
// software is freely granted, provided that this notice is preserved."), accurate to about 1 ulp.
#pragma once
#include <stdint.h>
#if !defined(__CUDACC_RTC__)
#include <cmath>
#include <cstring>
#endif
#include "kernels/scalar/hd.h"

#if defined(__clang__) && !defined(__CUDA_ARCH__)
#pragma STDC FP_CONTRACT OFF
#endif

namespace orbit::scalar::pm {

ORBIT_HD double add(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dadd_rn(a, b);
#else
  return a + b;
#endif
}
ORBIT_HD double sub(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dsub_rn(a, b);
#else
  return a - b;
#endif
}
ORBIT_HD double mul(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dmul_rn(a, b);
#else
  return a * b;
#endif
}
ORBIT_HD double div(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __ddiv_rn(a, b);
#else
  return a / b;
#endif
}
ORBIT_HD double sqrt_rn(double a) {
#if defined(__CUDA_ARCH__)
  return __dsqrt_rn(a);
#else
  return std::sqrt(a);
#endif
}
ORBIT_HD uint64_t bits(double x) {
#if defined(__CUDA_ARCH__)
  return static_cast<uint64_t>(__double_as_longlong(x));
#else
  uint64_t u;
  std::memcpy(&u, &x, sizeof u);
  return u;
#endif
}
ORBIT_HD double from_bits(uint64_t u) {
#if defined(__CUDA_ARCH__)
  return __longlong_as_double(static_cast<long long>(u));
#else
  double x;
  std::memcpy(&x, &u, sizeof x);
  return x;
#endif
}
ORBIT_HD int32_t high_word(double x) { return static_cast<int32_t>(bits(x) >> 32); }
ORBIT_HD double with_high_word(double x, uint32_t hi) {
  return from_bits((bits(x) & 0xffffffffull) | (static_cast<uint64_t>(hi) << 32));
}

// Natural logarithm of a positive finite double (fdlibm __ieee754_log); NaN or -inf otherwise.
ORBIT_HD double log(double x) {
  const double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10,
               two54 = 1.80143985094819840000e+16, Lg1 = 6.666666666666735130e-01,
               Lg2 = 3.999999999940941908e-01, Lg3 = 2.857142874366239149e-01, Lg4 = 2.222219843214978396e-01,
               Lg5 = 1.818357216161805012e-01, Lg6 = 1.531383769920937332e-01, Lg7 = 1.479819860511658591e-01;
  if (!(x > 0)) return x == 0 ? -from_bits(0x7ff0000000000000ull) : from_bits(0x7ff8000000000000ull);
  int32_t hx = high_word(x);
  int k = 0;
  if (hx < 0x00100000) {  // subnormal: scale up
    k -= 54;
    x = mul(x, two54);
    hx = high_word(x);
  }
  if (hx >= 0x7ff00000) return x;  // +inf
  k += (hx >> 20) - 1023;
  hx &= 0x000fffff;
  int32_t i = (hx + 0x95f64) & 0x100000;
  x = with_high_word(x, static_cast<uint32_t>(hx | (i ^ 0x3ff00000)));  // normalise x or x/2
  k += (i >> 20);
  double f = sub(x, 1.0);
  double dk = static_cast<double>(k);
  if ((0x000fffff & (2 + hx)) < 3) {  // -2^-20 <= f < 2^-20
    if (f == 0.0) return k == 0 ? 0.0 : add(mul(dk, ln2_hi), mul(dk, ln2_lo));
    double R = mul(mul(f, f), sub(0.5, mul(0.33333333333333333, f)));
    if (k == 0) return sub(f, R);
    return sub(mul(dk, ln2_hi), sub(sub(R, mul(dk, ln2_lo)), f));
  }
  double s = div(f, add(2.0, f));
  double z = mul(s, s);
  i = hx - 0x6147a;
  double w = mul(z, z);
  int32_t j = 0x6b851 - hx;
  double t1 = mul(w, add(Lg2, mul(w, add(Lg4, mul(w, Lg6)))));
  double t2 = mul(z, add(Lg1, mul(w, add(Lg3, mul(w, add(Lg5, mul(w, Lg7)))))));
  i |= j;
  double R = add(t2, t1);
  if (i > 0) {
    double hfsq = mul(mul(0.5, f), f);
    if (k == 0) return sub(f, sub(hfsq, mul(s, add(hfsq, R))));
    return sub(mul(dk, ln2_hi), sub(sub(hfsq, add(mul(s, add(hfsq, R)), mul(dk, ln2_lo))), f));
  }
  if (k == 0) return sub(f, mul(s, sub(f, R)));
  return sub(mul(dk, ln2_hi), sub(sub(mul(s, sub(f, R)), mul(dk, ln2_lo)), f));
}

// cos(x + y) and sin(x + y) for |x| <= pi/4, y the tail of x (fdlibm __kernel_cos, __kernel_sin).
ORBIT_HD double kernel_cos(double x, double y) {
  const double C1 = 4.16666666666666019037e-02, C2 = -1.38888888888741095749e-03, C3 = 2.48015872894767294178e-05,
               C4 = -2.75573143513906633035e-07, C5 = 2.08757232129817482790e-09, C6 = -1.13596475577881948265e-11;
  int32_t ix = high_word(x) & 0x7fffffff;
  if (ix < 0x3e400000 && static_cast<int>(x) == 0) return 1.0;  // |x| < 2^-27
  double z = mul(x, x);
  double r = mul(z, add(C1, mul(z, add(C2, mul(z, add(C3, mul(z, add(C4, mul(z, add(C5, mul(z, C6)))))))))));
  if (ix < 0x3fd33333) return sub(1.0, sub(mul(0.5, z), sub(mul(z, r), mul(x, y))));  // |x| < 0.3
  double qx = ix > 0x3fe90000 ? 0.28125 : from_bits(static_cast<uint64_t>(ix - 0x00200000) << 32);  // x/4
  double hz = sub(mul(0.5, z), qx);
  double a = sub(1.0, qx);
  return sub(a, sub(hz, sub(mul(z, r), mul(x, y))));
}

ORBIT_HD double kernel_sin(double x, double y) {
  const double S1 = -1.66666666666666324348e-01, S2 = 8.33333333332248946124e-03, S3 = -1.98412698298579493134e-04,
               S4 = 2.75573137070700676789e-06, S5 = -2.50507602534068634195e-08, S6 = 1.58969099521155010221e-10;
  int32_t ix = high_word(x) & 0x7fffffff;
  if (ix < 0x3e400000 && static_cast<int>(x) == 0) return x;
  double z = mul(x, x);
  double v = mul(z, x);
  double r = add(S2, mul(z, add(S3, mul(z, add(S4, mul(z, add(S5, mul(z, S6))))))));
  return sub(x, sub(sub(mul(z, sub(mul(0.5, y), mul(v, r))), y), mul(v, S1)));
}

// cos(x) for 0 <= x <= 2^19 pi/2 (Cody-Waite reduction by pi/2 in three parts, fdlibm's medium case).
// Box-Muller only needs (0, 2 pi]; larger or negative arguments return NaN.
ORBIT_HD double cos(double x) {
  const double invpio2 = 6.36619772367581382433e-01, pio2_1 = 1.57079632673412561417e+00,
               pio2_1t = 6.07710050650619224932e-11, pio2_2 = 6.07710050630396597660e-11,
               pio2_2t = 2.02226624879595063154e-21, pio2_3 = 2.02226624871116645580e-21,
               pio2_3t = 8.47842766036889956997e-32;
  if (!(x >= 0 && x <= 823549.6)) return from_bits(0x7ff8000000000000ull);
  int32_t ix = high_word(x) & 0x7fffffff;
  if (ix <= 0x3fe921fb) return kernel_cos(x, 0.0);  // |x| <= pi/4
  int n = static_cast<int>(add(mul(x, invpio2), 0.5));
  double fn = static_cast<double>(n);
  double r = sub(x, mul(fn, pio2_1));
  double w = mul(fn, pio2_1t);  // first round, good to 85 bits
  int32_t j = ix >> 20;
  double y0 = sub(r, w);
  int32_t i = j - ((high_word(y0) >> 20) & 0x7ff);
  if (i > 16) {  // second iteration, good to 118 bits
    double t = r;
    w = mul(fn, pio2_2);
    r = sub(t, w);
    w = sub(mul(fn, pio2_2t), sub(sub(t, r), w));
    y0 = sub(r, w);
    i = j - ((high_word(y0) >> 20) & 0x7ff);
    if (i > 49) {  // third iteration, 151 bits
      t = r;
      w = mul(fn, pio2_3);
      r = sub(t, w);
      w = sub(mul(fn, pio2_3t), sub(sub(t, r), w));
      y0 = sub(r, w);
    }
  }
  double y1 = sub(sub(r, y0), w);
  switch (n & 3) {
    case 0: return kernel_cos(y0, y1);
    case 1: return -kernel_sin(y0, y1);
    case 2: return -kernel_cos(y0, y1);
    default: return kernel_sin(y0, y1);
  }
}

}  // namespace orbit::scalar::pm
