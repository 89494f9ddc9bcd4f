// Static memory planning: every intermediate gets an offset in one arena such that no two buffers
// that are alive at the same step overlap. Greedy by size (largest first, lowest fitting offset).
#pragma once
#include <cstdint>
#include <vector>

namespace orbit {

struct BufferLife {
  int64_t bytes = 0;
  int first = 0;  // step that writes it
  int last = 0;   // last step that reads it (>= first)
};

struct MemoryPlan {
  std::vector<int64_t> offsets;  // one per buffer, multiples of `align`
  int64_t peak = 0;              // arena size
  int64_t naive = 0;             // sum of all (aligned) buffer sizes: the no-reuse baseline
};

MemoryPlan plan_memory(const std::vector<BufferLife>& buffers, int64_t align = 64);

}  // namespace orbit
