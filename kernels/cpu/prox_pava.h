// Sequential pool-adjacent-violators: the reference isotonic (non-decreasing) regression of z,
// given by its compensated prefix sums. O(d) steps.
#pragma once
#include <cstdint>

#include "kernels/cpu/prox_types.h"

namespace orbit::cpu::prox {

// start[k] = 1 where a block of the solution begins (adjacent blocks with equal means are pooled).
IsoCounters isotonic_pava(const Prefix& z, int64_t n, uint8_t* start);

}  // namespace orbit::cpu::prox
