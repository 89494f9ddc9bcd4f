#include "engine/compile/memory_plan.h"

#include <algorithm>
#include <numeric>

namespace orbit {

MemoryPlan plan_memory(const std::vector<BufferLife>& bufs, int64_t align) {
  const size_t n = bufs.size();
  MemoryPlan plan;
  plan.offsets.assign(n, 0);
  auto size_of = [&](size_t i) { return (std::max<int64_t>(bufs[i].bytes, 1) + align - 1) / align * align; };
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return size_of(a) > size_of(b); });

  std::vector<size_t> placed;
  std::vector<std::pair<int64_t, int64_t>> busy;  // [begin, end) of time-overlapping placed buffers
  for (size_t i : order) {
    plan.naive += size_of(i);
    busy.clear();
    for (size_t j : placed)
      if (bufs[j].first <= bufs[i].last && bufs[i].first <= bufs[j].last)
        busy.push_back({plan.offsets[j], plan.offsets[j] + size_of(j)});
    std::sort(busy.begin(), busy.end());
    int64_t off = 0;
    for (auto& [b, e] : busy) {
      if (off + size_of(i) <= b) break;
      off = std::max(off, e);
    }
    plan.offsets[i] = off;
    plan.peak = std::max(plan.peak, off + size_of(i));
    placed.push_back(i);
  }
  return plan;
}

}  // namespace orbit
