// A ring schedule of a configuration's unordered pairs, for the CUDA pair-potential kernel
// (kernels/cuda/systems.cu): every pair {p, q} once, so each pair term is computed once and its force
// goes to both particles (Newton's third law), and within one step no two pairs share a partner, so the
// reactions are written to shared memory without atomics.
//
// Step s = 1 .. n / 2 pairs slot p with ring_partner(n, s, p) = (p + s) mod n. For s < n / 2 every slot
// takes part (p -> p + s is a permutation: all partners distinct); for even n the last step s = n / 2
// would meet every pair twice (p and p + n / 2), so only p < n / 2 take part. Pairs: n (n - 1) / 2.
#pragma once
#include "kernels/scalar/hd.h"

namespace orbit::scalar {

ORBIT_HD int ring_steps(int n) { return n / 2; }
ORBIT_HD bool ring_active(int n, int s, int p) { return 2 * s != n || p < s; }
ORBIT_HD int ring_partner(int n, int s, int p) {
  const int j = p + s;
  return j >= n ? j - n : j;
}

}  // namespace orbit::scalar
