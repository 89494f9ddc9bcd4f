// Parallel scans for the prox kernels: compensated prefix sums of a double array and stable stream
// compaction of an index array by flags (chunked two-pass scans over OpenMP threads).
#pragma once
#include <cstdint>

#include "kernels/cpu/parallel.h"  // max_threads()

namespace orbit::cpu::prox {

// How many chunks to split n items into: one per thread, at least `grain` items each.
int64_t num_chunks(int64_t n, int64_t grain);

// hi/lo: n + 1 entries each; hi[k] + lo[k] = z[0] + ... + z[k-1] with compensated rounding.
void compensated_prefix(const double* z, int64_t n, double* hi, double* lo);

// out = the in[k] with keep[k] != 0, in order; returns how many. out must not alias in.
int64_t compact(const uint8_t* keep, const int64_t* in, int64_t n, int64_t* out);

// out = the k with flag[k] != 0, in increasing order; returns how many.
int64_t flagged_indices(const uint8_t* flag, int64_t n, int64_t* out);

}  // namespace orbit::cpu::prox
