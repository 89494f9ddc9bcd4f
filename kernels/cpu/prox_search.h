// "Search collisions": bottom-up divide and conquer over the sorted array. At level l every aligned
// row of 2^l slots is merged from its two solved halves; the merge creates at most one new block,
// straddling the middle, whose left end is found by a binary search over the left half (does the
// block starting there pool into the right half?) and whose right end by a binary search over the
// right half. The paper evaluates a probe as a segmented prefix-average scan and arg-min over the
// row (O(s) work, O(log s) depth); here the halves being solved (non-decreasing fitted values)
// turn each probe into binary searches on those values plus prefix-sum differences, O(log s)
// work. A merge is O(log^2 s) sequential steps, the solve O(log^3 d) depth in ceil(log2 d) levels
// on every input, and at most O(d log d) work (pooled ranges are rewritten).
#pragma once
#include <cstdint>

#include "kernels/cpu/prox_types.h"

namespace orbit::cpu::prox {

// start[k] = 1 where a block of the solution begins (maximal runs of equal fitted value).
// rounds = levels = ceil(log2 n); depth = sum over levels of the most probes any row needed.
IsoCounters isotonic_search(const Prefix& z, int64_t n, uint8_t* start);

}  // namespace orbit::cpu::prox
