// The CPU's floating-point sum along a reduced axis: eight interleaved double accumulators.
//
// One accumulator makes every addition wait for the previous one (a double add's latency is about
// four cycles), which left a row sum of 128 floats at a fraction of the memory rate: the LJ13
// likelihood's [9984, 128] -> [9984] dot products took a fifth of the program. The element at position
// p of the reduction goes to accumulator p % 8 and the eight are combined pairwise at the end, so the
// grouping depends on positions only, not on how the elements arrive (in one run or chunk by chunk).
// The unfused reduction (kernels/cpu/reduce.h) and the fused groups closed by a sum
// (kernels/cpu/fused.cpp) both add this way, so they agree bit for bit.
#pragma once
#include <cstdint>

namespace orbit::cpu {

struct Sum8 {
  double a[8] = {};
  int64_t pos = 0;  // elements added so far

  template <class T>
  void add(const T* v, int64_t n) {
    int64_t q = 0;
    for (; q < n && (pos & 7) != 0; ++q, ++pos) a[pos & 7] += static_cast<double>(v[q]);
    for (; q + 8 <= n; q += 8, pos += 8)
      for (int j = 0; j < 8; ++j) a[j] += static_cast<double>(v[q + j]);
    for (; q < n; ++q, ++pos) a[pos & 7] += static_cast<double>(v[q]);
  }
  void add_one(double x) {
    a[pos & 7] += x;
    ++pos;
  }
  double total() const { return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7])); }
};

}  // namespace orbit::cpu
