// "Imminent collisions": parallel pool-adjacent-violators rounds. Each round pools every maximal
// run of adjacent blocks whose means do not increase; it stops after a round that pooled nothing.
// Few rounds on typical inputs, d rounds on the cascade input z = [d^2, 1, 2, ..., d-1].
#pragma once
#include <cstdint>

#include "kernels/cpu/prox_types.h"

namespace orbit::cpu::prox {

// start[k] = 1 where a block of the solution begins; rounds counts the final round too.
IsoCounters isotonic_imminent(const Prefix& z, int64_t n, uint8_t* start);

}  // namespace orbit::cpu::prox
