// Philox4x32-10 counter-based RNG (Salmon et al., SC'11). Identical on CPU and GPU: element i of a
// random tensor depends only on (seed, stream, run, i), so any device and any launch order give
// bit-identical streams.
#pragma once
#include <stdint.h>

#include "kernels/scalar/hd.h"

namespace orbit::scalar {

struct Philox4 {
  uint32_t v[4];
};

ORBIT_HD void philox_mulhilo(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
  uint64_t p = static_cast<uint64_t>(a) * b;
  hi = static_cast<uint32_t>(p >> 32);
  lo = static_cast<uint32_t>(p);
}

ORBIT_HD Philox4 philox4x32_10(Philox4 ctr, uint32_t k0, uint32_t k1) {
  for (int r = 0; r < 10; ++r) {
    uint32_t hi0, lo0, hi1, lo1;
    philox_mulhilo(0xD2511F53u, ctr.v[0], hi0, lo0);
    philox_mulhilo(0xCD9E8D57u, ctr.v[2], hi1, lo1);
    Philox4 n;
    n.v[0] = hi1 ^ ctr.v[1] ^ k0;
    n.v[1] = lo1;
    n.v[2] = hi0 ^ ctr.v[3] ^ k1;
    n.v[3] = lo0;
    ctr = n;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return ctr;
}

// The four words drawn for element `index` of a tensor.
ORBIT_HD Philox4 philox_draw(uint64_t seed, uint64_t stream, uint64_t run, uint64_t index) {
  Philox4 c;
  c.v[0] = static_cast<uint32_t>(index);
  c.v[1] = static_cast<uint32_t>(index >> 32);
  c.v[2] = static_cast<uint32_t>(run);
  c.v[3] = static_cast<uint32_t>(stream);
  // The high halves of run and stream perturb the key so that no two (stream, run) pairs collide.
  uint32_t k0 = static_cast<uint32_t>(seed) ^ static_cast<uint32_t>(stream >> 32);
  uint32_t k1 = static_cast<uint32_t>(seed >> 32) ^ static_cast<uint32_t>(run >> 32);
  return philox4x32_10(c, k0, k1);
}

// Uniform in (0, 1] from 53 random bits (never 0, so log() is safe).
ORBIT_HD double philox_unit_f64(uint32_t a, uint32_t b) {
  uint64_t bits = (static_cast<uint64_t>(a) << 21) ^ (b >> 11);
  bits &= (1ull << 53) - 1;
  return (static_cast<double>(bits) + 1.0) * (1.0 / 9007199254740992.0);
}

// Uniform in (0, 1] for f32, from 24 random bits.
ORBIT_HD float philox_unit_f32(uint32_t a) {
  return (static_cast<float>(a >> 8) + 1.0f) * (1.0f / 16777216.0f);
}

}  // namespace orbit::scalar
