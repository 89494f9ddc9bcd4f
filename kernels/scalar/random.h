// Element i of a uniform [0, 1) or standard normal random tensor, shared by every backend.
// Values are computed in f64 with the portable log and cos of portable_math.h (library log/cos differ
// in the last bit between glibc and CUDA), then rounded, so f32 and f64 streams agree bit for bit
// across devices.
#pragma once
#include "kernels/scalar/philox.h"
#include "kernels/scalar/portable_math.h"

namespace orbit::scalar {

template <class T>
ORBIT_HD T random_uniform(uint64_t seed, uint64_t stream, uint64_t run, uint64_t i) {
  Philox4 w = philox_draw(seed, stream, run, i);
  return static_cast<T>(1.0 - philox_unit_f64(w.v[0], w.v[1]));
}

// Box-Muller on two (0, 1] uniforms.
template <class T>
ORBIT_HD T random_normal(uint64_t seed, uint64_t stream, uint64_t run, uint64_t i) {
  Philox4 w = philox_draw(seed, stream, run, i);
  double u1 = philox_unit_f64(w.v[0], w.v[1]);
  double u2 = philox_unit_f64(w.v[2], w.v[3]);
  double r = pm::sqrt_rn(pm::mul(-2.0, pm::log(u1)));
  return static_cast<T>(pm::mul(r, pm::cos(pm::mul(6.283185307179586476925, u2))));
}

}  // namespace orbit::scalar
