// Helpers of the tests that run CUDA kernels under the emulator (tests/harness/cuda_emu.h): inputs in
// guarded buffers, and each kernel run in both scheduling orders with its outputs compared bit for bit.
// Include after defining ORBIT_CUDA_EMU.
#pragma once
#include <doctest/doctest.h>

#include <cstring>
#include <functional>
#include <utility>
#include <vector>

#include "tests/harness/cuda_emu.h"

namespace orbit::testing {

template <class T, class V>
void copy_in(emu::GuardedArray<T>& dst, const V& src) {
  REQUIRE(dst.size() == src.size());
  if (!src.empty()) std::memcpy(dst.data(), src.data(), src.size() * sizeof(T));
}

// Output buffers a kernel writes, for running it in both scheduling orders.
struct Outputs {
  std::vector<std::pair<void*, size_t>> spans;  // pointer, bytes
  template <class T>
  Outputs& add(T* p, size_t count) {
    spans.push_back({static_cast<void*>(p), count * sizeof(T)});
    return *this;
  }
  std::vector<unsigned char> snapshot() const {
    std::vector<unsigned char> all;
    for (auto [p, n] : spans) all.insert(all.end(), static_cast<unsigned char*>(p), static_cast<unsigned char*>(p) + n);
    return all;
  }
  void poison() const {
    for (auto [p, n] : spans)
      if (n) std::memset(p, 0xff, n);  // NaN for floats (a span may be empty and null)
  }
};

// Runs the kernel with the threads (and blocks) scheduled in reverse, then in order, its outputs
// poisoned before each run: the two must agree bit for bit, or the kernel reads something another
// thread writes without a barrier in between (emu::Order).
inline void launch_both_orders(unsigned grid, unsigned threads, size_t smem, const std::function<void()>& k,
                               const Outputs& out) {
  out.poison();
  emu::launch(grid, threads, smem, k, emu::Order::reverse);
  const auto reversed = out.snapshot();
  out.poison();
  emu::launch(grid, threads, smem, k, emu::Order::forward);
  CHECK_MESSAGE(out.snapshot() == reversed, "the outputs depend on the order the threads run in: a race");
}

}  // namespace orbit::testing
