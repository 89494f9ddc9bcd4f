// Pool-adjacent-violators over a stack of blocks (start, mean); means come from the prefix sums.
#include "kernels/cpu/prox_pava.h"

#include <algorithm>

#include "kernels/cpu/prox_scratch.h"

namespace orbit::cpu::prox {

IsoCounters isotonic_pava(const Prefix& z, int64_t n, uint8_t* start) {
  IsoCounters c;
  if (n <= 0) return c;
  auto first = scratch<int64_t>(n);  // block starts (a stack)
  auto mean = scratch<double>(n);    // block means
  int64_t top = 0;                   // blocks on the stack
  for (int64_t k = 0; k < n; ++k) {
    first[top] = k;
    mean[top++] = z.mean(k, k + 1);
    while (top > 1 && mean[top - 2] >= mean[top - 1]) {
      --top;
      mean[top - 1] = z.mean(first[top - 1], k + 1);
    }
  }
  std::fill(start, start + n, uint8_t(0));
  for (int64_t b = 0; b < top; ++b) start[first[b]] = 1;
  c.blocks = top;
  c.rounds = c.depth = n;
  return c;
}

}  // namespace orbit::cpu::prox
