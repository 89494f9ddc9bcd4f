// Scratch memory for the prox kernels (see prox_scratch.h): page faults and page zeroing, not
// arithmetic, otherwise dominate a prox of a million weights.
#include "kernels/cpu/prox_scratch.h"

#include <cstdlib>
#include <new>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace orbit::cpu::prox {

namespace {

constexpr size_t kHuge = size_t(2) << 20;       // blocks this large get huge pages
// Blocks this large are cached too: glibc serves them with mmap and unmaps them on free, so without
// the cache every call would page-fault its scratch in again (80% of a d = 65536 prox, measured).
constexpr size_t kCached = size_t(64) << 10;
constexpr size_t kCacheLimit = size_t(1) << 30;  // per thread

size_t rounded(size_t bytes) { return bytes >= kHuge ? (bytes + kHuge - 1) / kHuge * kHuge : (bytes + 63) / 64 * 64; }

struct ScratchCache {
  struct Block {
    void* p;
    size_t bytes;
  };
  std::vector<Block> blocks;
  size_t total = 0;
  void clear() {
    for (auto& b : blocks) std::free(b.p);
    blocks.clear();
    total = 0;
  }
  ~ScratchCache() { clear(); }
};

ScratchCache& cache() {
  thread_local ScratchCache c;
  return c;
}

}  // namespace

void* scratch_acquire(size_t bytes) {
  const size_t size = rounded(bytes);
  if (size >= kCached) {
    // The smallest cached block that fits without wasting more than half of it.
    auto& c = cache();
    size_t best = c.blocks.size();
    for (size_t i = 0; i < c.blocks.size(); ++i)
      if (c.blocks[i].bytes >= size && c.blocks[i].bytes <= 2 * size &&
          (best == c.blocks.size() || c.blocks[i].bytes < c.blocks[best].bytes))
        best = i;
    if (best != c.blocks.size()) {
      void* p = c.blocks[best].p;
      c.total -= c.blocks[best].bytes;
      c.blocks.erase(c.blocks.begin() + static_cast<std::ptrdiff_t>(best));
      return p;
    }
  }
  void* p = std::aligned_alloc(size >= kHuge ? kHuge : 64, size);
  if (!p) throw std::bad_alloc();
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (size >= kHuge) madvise(p, size, MADV_HUGEPAGE);  // a hint; failure is harmless
#endif
  return p;
}

void scratch_return(void* p, size_t bytes) {
  if (!p) return;
  const size_t size = rounded(bytes);
  auto& c = cache();
  if (size >= kCached && c.total + size <= kCacheLimit) {
    c.blocks.push_back({p, size});
    c.total += size;
    return;
  }
  std::free(p);
}

void scratch_release_cache() { cache().clear(); }

}  // namespace orbit::cpu::prox
