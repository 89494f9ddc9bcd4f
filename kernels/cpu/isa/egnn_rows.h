// The EGNN message kernel's per-row loops (kernels/cpu/egnn_message.cpp), compiled per instruction-set
// variant (kernels/cpu/isa.h): the baseline build runs them 4 floats at a time, AVX-512 16.
#pragma once
#include <cstdint>

namespace orbit::cpu {
// What egnn_dsilu_rows multiplies by silu'(z): a[e, h]; ra[e] v[h]; or a[e, h] ra[e] + rb[e] v[h].
enum class EgnnRowTerm { a, ra_v, a_ra_plus_rb_v };
}  // namespace orbit::cpu

#define ORBIT_DECLARE_ISA_EGNN_ROWS(ns)                                                                       \
  namespace orbit::cpu::ns {                                                                                  \
  template <class T>                                                                                          \
  void egnn_dsilu_rows(EgnnRowTerm term, const T* a, const T* ra, const T* rb, const T* v, const T* z,         \
                       const T* s, T* out, int64_t R, int64_t H);                                             \
  extern template void egnn_dsilu_rows<float>(EgnnRowTerm, const float*, const float*, const float*,          \
                                              const float*, const float*, const float*, float*, int64_t,       \
                                              int64_t);                                                       \
  extern template void egnn_dsilu_rows<double>(EgnnRowTerm, const double*, const double*, const double*,      \
                                               const double*, const double*, const double*, double*, int64_t,  \
                                               int64_t);                                                      \
  template <class T>                                                                                          \
  void egnn_edge_pre(const T* P, const T* Q, const int64_t* recv, const int64_t* send, const T* r, const T* w_r, \
                     T* pre, int64_t R, int64_t H);                                                           \
  template <class T>                                                                                          \
  void egnn_scale_rows(const T* in, const T* s, T* out, int64_t R, int64_t H);                                \
  extern template void egnn_edge_pre<float>(const float*, const float*, const int64_t*, const int64_t*,       \
                                            const float*, const float*, float*, int64_t, int64_t);            \
  extern template void egnn_edge_pre<double>(const double*, const double*, const int64_t*, const int64_t*,    \
                                             const double*, const double*, double*, int64_t, int64_t);        \
  extern template void egnn_scale_rows<float>(const float*, const float*, float*, int64_t, int64_t);          \
  extern template void egnn_scale_rows<double>(const double*, const double*, double*, int64_t, int64_t);      \
  }

ORBIT_DECLARE_ISA_EGNN_ROWS(isa_baseline)
ORBIT_DECLARE_ISA_EGNN_ROWS(isa_x86v3)
ORBIT_DECLARE_ISA_EGNN_ROWS(isa_x86v4)
#undef ORBIT_DECLARE_ISA_EGNN_ROWS
