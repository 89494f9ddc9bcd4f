// Elementwise unary math shared by the CPU kernels, the CUDA kernels and generated code.
// Each functor is the single definition of its op's forward value.
#pragma once
#ifndef __CUDACC_RTC__
#include <cmath>
#endif
#include "kernels/scalar/hd.h"
#if !defined(__CUDACC_RTC__)
#include <type_traits>

#include "kernels/scalar/host_math.h"
#endif
// On the host, f32 exp / tanh / sigmoid / erf / sin / cos (and so silu and gelu) use orbit's
// vectorisable versions (kernels/scalar/host_math.h); device code and f64 use the platform's library.
#if !defined(__CUDA_ARCH__) && !defined(__CUDACC_RTC__)
#define ORBIT_HOST_F32_MATH(T, fn, x) \
  if constexpr (std::is_same_v<T, float>) return hm::fn(x);
#else
#define ORBIT_HOST_F32_MATH(T, fn, x)
#endif
// A functor whose value is the library's fn, or hm::fn for f32 on the host.
#define ORBIT_HOST_MATH_FUNCTOR(Name, fn)        \
  struct Name {                                  \
    template <class T>                           \
    ORBIT_HD T operator()(T x) const {           \
      ORBIT_HOST_F32_MATH(T, fn, x)              \
      return fn(x);                              \
    }                                            \
  };

namespace orbit::scalar {

#ifndef __CUDACC_RTC__
using std::abs; using std::cos; using std::erf; using std::exp; using std::log; using std::log1p;
using std::pow; using std::sin; using std::sqrt; using std::tanh;
#endif

struct Neg { template <class T> ORBIT_HD T operator()(T x) const { return -x; } };
struct Abs { template <class T> ORBIT_HD T operator()(T x) const { return x < T(0) ? -x : x; } };
struct Sign {
  template <class T> ORBIT_HD T operator()(T x) const { return T((x > T(0)) - (x < T(0))); }
};
struct Square { template <class T> ORBIT_HD T operator()(T x) const { return x * x; } };
struct Relu { template <class T> ORBIT_HD T operator()(T x) const { return x > T(0) ? x : T(0); } };
ORBIT_HOST_MATH_FUNCTOR(Exp, exp)
struct Log { template <class T> ORBIT_HD T operator()(T x) const { return log(x); } };
struct Log1p { template <class T> ORBIT_HD T operator()(T x) const { return log1p(x); } };
struct Sqrt { template <class T> ORBIT_HD T operator()(T x) const { return sqrt(x); } };
struct Rsqrt { template <class T> ORBIT_HD T operator()(T x) const { return T(1) / sqrt(x); } };
ORBIT_HOST_MATH_FUNCTOR(Sin, sin)
ORBIT_HOST_MATH_FUNCTOR(Cos, cos)
ORBIT_HOST_MATH_FUNCTOR(Tanh, tanh)
ORBIT_HOST_MATH_FUNCTOR(Erf, erf)
#undef ORBIT_HOST_MATH_FUNCTOR
// Stable in both tails: never evaluates exp of a large positive number.
struct Sigmoid {
  template <class T> ORBIT_HD T operator()(T x) const {
    ORBIT_HOST_F32_MATH(T, sigmoid, x)
    if (x >= T(0)) return T(1) / (T(1) + exp(-x));
    T e = exp(x);
    return e / (T(1) + e);
  }
};
struct Silu { template <class T> ORBIT_HD T operator()(T x) const { return x * Sigmoid{}(x); } };
// Exact (erf) GELU, as PyTorch's default.
struct Gelu {
  template <class T> ORBIT_HD T operator()(T x) const {
    return T(0.5) * x * (T(1) + Erf{}(x * T(0.70710678118654752440)));
  }
};
// log(1 + e^x) = max(x, 0) + log1p(e^-|x|)
struct Softplus {
  template <class T> ORBIT_HD T operator()(T x) const {
    T ax = x < T(0) ? -x : x;
    return (x > T(0) ? x : T(0)) + log1p(exp(-ax));
  }
};
struct PowScalar {
  double p;
  template <class T> ORBIT_HD T operator()(T x) const {
    if (p == 2.0) return x * x;
    if (p == 1.0) return x;
    return pow(x, T(p));
  }
};
struct Clamp {
  double lo, hi;
  template <class T> ORBIT_HD T operator()(T x) const {
    return x < T(lo) ? T(lo) : (x > T(hi) ? T(hi) : x);
  }
};

}  // namespace orbit::scalar
