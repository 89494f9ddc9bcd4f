// The CUDA backend's per-stream scratch pool (kernels/cuda/scratch_pool.h): plain C++, so it is checked
// here with a counting fake allocator; the GPU suite runs it under every CUDA program.
#include <doctest/doctest.h>

#include <cstdint>
#include <set>
#include <vector>

#include "kernels/cuda/scratch_pool.h"

namespace {

struct FakeAllocator {
  std::vector<std::vector<char>*> live;
  size_t allocated = 0, released = 0;
  void* allocate(size_t bytes) {
    auto* b = new std::vector<char>(bytes);
    live.push_back(b);
    ++allocated;
    return b->data();
  }
  void release(void* p) {
    for (auto it = live.begin(); it != live.end(); ++it)
      if ((*it)->data() == p) {
        delete *it;
        live.erase(it);
        ++released;
        return;
      }
    FAIL("released a pointer the allocator never handed out");
  }
  ~FakeAllocator() {
    for (auto* b : live) delete b;
  }
};

}  // namespace

TEST_CASE("scratch pool: blocks of one op are distinct, later ops reuse them, sync returns all") {
  FakeAllocator a;
  orbit::cuda::ScratchPool pool;
  auto alloc = [&](size_t b) { return a.allocate(b); };
  // Op 1 takes two blocks at once (mlp_fused's two ping-pong buffers): they must differ.
  void* p1 = pool.take(1000, alloc);
  void* p2 = pool.take(1000, alloc);
  CHECK(p1 != p2);
  CHECK(a.allocated == 2);
  pool.op_done();
  // Op 2 asks for the same sizes: it gets op 1's blocks, nothing new is allocated.
  void* q1 = pool.take(900, alloc);
  void* q2 = pool.take(1000, alloc);
  CHECK(std::set<void*>{q1, q2} == std::set<void*>{p1, p2});
  CHECK(a.allocated == 2);
  // A third block in the same op needs new memory: the idle list is empty.
  void* q3 = pool.take(10, alloc);
  CHECK(a.allocated == 3);
  CHECK(q3 != q1);
  CHECK(q3 != q2);
  CHECK(pool.held_bytes() == 2010);
  CHECK(pool.peak_bytes() == 2010);
  pool.drain([&](void* p) { a.release(p); });
  CHECK(a.released == 3);
  CHECK(a.live.empty());
  CHECK(pool.held_bytes() == 0);
  CHECK(pool.blocks() == 0);
}

TEST_CASE("scratch pool: the smallest fitting idle block is chosen, and a small request does not take a huge block") {
  FakeAllocator a;
  orbit::cuda::ScratchPool pool;
  auto alloc = [&](size_t b) { return a.allocate(b); };
  void* big = pool.take(size_t{64} << 20, alloc);
  void* mid = pool.take(size_t{8} << 20, alloc);
  void* small = pool.take(4096, alloc);
  pool.op_done();
  CHECK(pool.take(size_t{6} << 20, alloc) == mid);    // 8 MiB serves 6 MiB (within 2x)
  CHECK(pool.take(3000, alloc) == small);              // 4 KiB serves 3000 bytes (within 1 MiB)
  void* fresh = pool.take(size_t{2} << 20, alloc);     // only 64 MiB is idle: too wasteful for 2 MiB
  CHECK(fresh != big);
  CHECK(a.allocated == 4);
  CHECK(pool.take(size_t{40} << 20, alloc) == big);   // 64 MiB serves 40 MiB
  CHECK(a.allocated == 4);
  pool.drain([&](void* p) { a.release(p); });
  CHECK(a.live.empty());
}

TEST_CASE("scratch pool: a training step's layers hold one layer's scratch, not the sum") {
  // Five backward ops of the same size in sequence, as the five EGNN layers of an LJ55 step.
  FakeAllocator a;
  orbit::cuda::ScratchPool pool;
  auto alloc = [&](size_t b) { return a.allocate(b); };
  const size_t layer = size_t{3} << 20;
  for (int op = 0; op < 5; ++op) {
    pool.take(layer, alloc);
    pool.take(512, alloc);
    pool.op_done();
  }
  CHECK(a.allocated == 2);
  CHECK(pool.peak_bytes() == layer + 512);
  // Without op_done between the ops (the old behaviour: everything held until the sync) it is the sum.
  orbit::cuda::ScratchPool held;
  for (int op = 0; op < 5; ++op) held.take(layer, alloc);
  CHECK(held.peak_bytes() == 5 * layer);
  pool.drain([&](void* p) { a.release(p); });
  held.drain([&](void* p) { a.release(p); });
  CHECK(a.live.empty());
}
