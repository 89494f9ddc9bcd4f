// Elementwise binary and ternary math shared by every backend. Comparisons return 1 or 0 in the
// operands' dtype, so masks multiply straight into gradients.
#pragma once
#ifndef __CUDACC_RTC__
#include <cmath>
#endif
#include "kernels/scalar/hd.h"

namespace orbit::scalar {

struct Add { template <class T> ORBIT_HD T operator()(T a, T b) const { return a + b; } };
struct Sub { template <class T> ORBIT_HD T operator()(T a, T b) const { return a - b; } };
struct Mul { template <class T> ORBIT_HD T operator()(T a, T b) const { return a * b; } };
struct Div { template <class T> ORBIT_HD T operator()(T a, T b) const { return a / b; } };
struct Pow {
  template <class T> ORBIT_HD T operator()(T a, T b) const {
#ifndef __CUDACC_RTC__
    using std::pow;
#endif
    return pow(a, b);
  }
};
struct Maximum { template <class T> ORBIT_HD T operator()(T a, T b) const { return a >= b ? a : b; } };
struct Minimum { template <class T> ORBIT_HD T operator()(T a, T b) const { return a <= b ? a : b; } };
struct Lt { template <class T> ORBIT_HD T operator()(T a, T b) const { return T(a < b); } };
struct Le { template <class T> ORBIT_HD T operator()(T a, T b) const { return T(a <= b); } };
struct Gt { template <class T> ORBIT_HD T operator()(T a, T b) const { return T(a > b); } };
struct Ge { template <class T> ORBIT_HD T operator()(T a, T b) const { return T(a >= b); } };
struct Eq { template <class T> ORBIT_HD T operator()(T a, T b) const { return T(a == b); } };
struct Ne { template <class T> ORBIT_HD T operator()(T a, T b) const { return T(a != b); } };
// where(c, a, b): a where c is non-zero.
struct Where { template <class T> ORBIT_HD T operator()(T c, T a, T b) const { return c != T(0) ? a : b; } };

}  // namespace orbit::scalar
