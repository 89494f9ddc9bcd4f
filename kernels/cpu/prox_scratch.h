// Scratch memory for the prox kernels: uninitialised arrays, with large blocks backed by
// transparent huge pages and kept in a per-thread cache for the next call.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <type_traits>

namespace orbit::cpu::prox {

// The kernels write scratch arrays before they read them. Blocks of 64 KiB and more are cached
// (at most 1 GiB per thread; 2 MiB and more get huge pages); scratch_release_cache() frees the
// calling thread's.
void* scratch_acquire(size_t bytes);
void scratch_return(void* p, size_t bytes);
void scratch_release_cache();  // frees the calling thread's cached blocks
struct ScratchFree {
  size_t bytes = 0;
  void operator()(void* p) const { scratch_return(p, bytes); }
};
template <class T>
using Scratch = std::unique_ptr<T[], ScratchFree>;
template <class T>
Scratch<T> scratch(int64_t n) {
  static_assert(std::is_trivial_v<T>, "scratch arrays hold trivial types");
  const size_t bytes = static_cast<size_t>(n > 0 ? n : 1) * sizeof(T);
  return Scratch<T>(static_cast<T*>(scratch_acquire(bytes)), ScratchFree{bytes});
}

}  // namespace orbit::cpu::prox
