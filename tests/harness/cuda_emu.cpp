// The CUDA emulator's scheduler (tests/harness/cuda_emu.h): every thread of a block is a ucontext
// fiber on the calling OS thread; a thread runs until it reaches a collective that not every
// participant has reached, then yields. Collectives are generation-counted barriers; the values a
// warp collective exchanges sit in one of two slot sets by generation parity (a lane cannot get two
// collectives ahead of another, so the set it writes is never being read).
#define ORBIT_CUDA_EMU 1
#include "tests/harness/cuda_emu.h"

#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <cstring>
#include <exception>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "kernels/scalar/mma_tf32.h"

namespace orbit::emu {
namespace {

constexpr size_t kStackBytes = 256 * 1024;

struct Fiber {
  ucontext_t ctx{};
  char* stack = nullptr;
  Dim3 tid;
  bool done = false;
  const char* waiting = nullptr;  // the collective it is blocked at
};

struct WarpSync {
  uint64_t gen = 0;
  int arrived = 0;
  const char* what[2] = {nullptr, nullptr};
  size_t bytes[2] = {0, 0};
  unsigned char slots[2][32][64] = {};
};

struct Block {
  std::vector<Fiber> fibers;
  ucontext_t scheduler{};
  Dim3 bidx, bdim, gdim;
  void* smem = nullptr;
  uint64_t bar_gen = 0;
  int bar_arrived = 0;
  std::vector<WarpSync> warps;
  Fiber* current = nullptr;
  uint64_t progress = 0;
  std::exception_ptr error;
  const std::function<void()>* kernel = nullptr;
};

thread_local Block* g_block = nullptr;

Block& block() {
  if (!g_block) throw std::runtime_error("cuda emulator: a CUDA built-in was called outside emu::launch");
  return *g_block;
}

std::string where(const Block& b, const Fiber& f) {
  std::ostringstream o;
  o << "block " << b.bidx.x << ", thread " << f.tid.x << " (warp " << f.tid.x / 32 << ", lane " << f.tid.x % 32 << ")";
  return o.str();
}

void yield() {
  Block& b = block();
  Fiber* f = b.current;
  swapcontext(&f->ctx, &b.scheduler);
}

void fiber_entry() {
  Block& b = *g_block;
  try {
    (*b.kernel)();
  } catch (...) {
    if (!b.error) b.error = std::current_exception();
  }
  b.current->done = true;
  b.current->waiting = nullptr;
  ++b.progress;
  // returning resumes uc_link: the scheduler
}

}  // namespace

const Dim3& thread_index() { return block().current->tid; }
const Dim3& block_index() { return block().bidx; }
const Dim3& block_dim() { return block().bdim; }
const Dim3& grid_dim() { return block().gdim; }
void* dynamic_smem() { return block().smem; }

void syncthreads() {
  Block& b = block();
  const uint64_t gen = b.bar_gen;
  ++b.progress;
  if (++b.bar_arrived == static_cast<int>(b.fibers.size())) {
    b.bar_arrived = 0;
    ++b.bar_gen;
    return;
  }
  while (b.bar_gen == gen) {
    b.current->waiting = "__syncthreads";
    yield();
  }
  b.current->waiting = nullptr;
}

void warp_exchange(const void* mine, void* all, size_t bytes, const char* what, unsigned mask) {
  Block& b = block();
  Fiber& f = *b.current;
  if (mask != 0xffffffffu) throw std::runtime_error("cuda emulator: " + std::string(what) + " with a partial mask at " + where(b, f));
  if (bytes > 64) throw std::runtime_error("cuda emulator: more than 64 bytes exchanged by " + std::string(what));
  WarpSync& w = b.warps[f.tid.x / 32];
  const uint64_t gen = w.gen;
  const int par = static_cast<int>(gen & 1);
  if (w.arrived == 0) {
    w.what[par] = what;
    w.bytes[par] = bytes;
  } else if (std::strcmp(w.what[par], what) != 0 || w.bytes[par] != bytes) {
    throw std::runtime_error("cuda emulator: divergent warp collectives: " + where(b, f) + " reached " + what +
                             " while other lanes of its warp are at " + w.what[par]);
  }
  if (bytes) std::memcpy(w.slots[par][f.tid.x % 32], mine, bytes);
  ++b.progress;
  if (++w.arrived == 32) {
    w.arrived = 0;
    ++w.gen;
  } else {
    while (w.gen == gen) {
      f.waiting = what;
      yield();
    }
    f.waiting = nullptr;
  }
  if (bytes)
    for (int lane = 0; lane < 32; ++lane) std::memcpy(static_cast<unsigned char*>(all) + lane * bytes, w.slots[par][lane], bytes);
}

void syncwarp(unsigned mask) { warp_exchange(nullptr, nullptr, 0, "__syncwarp", mask); }

float tf32_round(float v) { return scalar::mma::tf32_round_host(v); }

void mma_m16n8k8_tf32(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
  struct Frag {
    uint32_t a[4], b[2];
  };
  Frag mine{{a[0], a[1], a[2], a[3]}, {b[0], b[1]}}, all[32];
  warp_exchange(&mine, all, sizeof(Frag), "mma.sync.m16n8k8.tf32", 0xffffffffu);
  float A[16][8], Bm[8][8];
  for (int lane = 0; lane < 32; ++lane) {
    for (int r = 0; r < 6; ++r) {
      const uint32_t bits = r < 4 ? all[lane].a[r] : all[lane].b[r - 4];
      if ((bits & 0x7f800000u) == 0x7f800000u && (bits & 0x007fffffu)) {
        std::ostringstream o;
        o << "cuda emulator: mma operand " << (r < 4 ? "a[" : "b[") << (r < 4 ? r : r - 4) << "] of lane " << lane
          << " is NaN in block " << block().bidx.x << ", warp " << block().current->tid.x / 32
          << " (shared memory starts as NaN: read before it was written?)";
        throw std::runtime_error(o.str());
      }
      if (bits & 0x1fffu) {
        std::ostringstream o;
        o << "cuda emulator: mma operand " << (r < 4 ? "a[" : "b[") << (r < 4 ? r : r - 4) << "] of lane " << lane
          << " is not a TF32 value (low 13 bits 0x" << std::hex << (bits & 0x1fffu) << ") in block " << std::dec
          << block().bidx.x << ", warp " << block().current->tid.x / 32;
        throw std::runtime_error(o.str());
      }
    }
    for (int r = 0; r < 4; ++r) {
      const auto c = scalar::mma::a_frag(lane, r);
      A[c.row][c.col] = std::bit_cast<float>(all[lane].a[r]);
    }
    for (int r = 0; r < 2; ++r) {
      const auto c = scalar::mma::b_frag(lane, r);
      Bm[c.row][c.col] = std::bit_cast<float>(all[lane].b[r]);
    }
  }
  const int lane = static_cast<int>(block().current->tid.x % 32);
  for (int r = 0; r < 4; ++r) {
    const auto c = scalar::mma::c_frag(lane, r);
    double s = d[r];
    for (int k = 0; k < 8; ++k) s += static_cast<double>(A[c.row][k]) * Bm[k][c.col];
    d[r] = static_cast<float>(s);
  }
}

void* map_guarded(size_t bytes, size_t align, void*& base, size_t& mapped) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const size_t data_pages = (bytes + page - 1) / page + (bytes == 0 ? 1 : 0);
  mapped = (data_pages + 1) * page;
  base = mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (base == MAP_FAILED) throw std::runtime_error("cuda emulator: mmap of a guarded buffer failed");
  char* guard = static_cast<char*>(base) + data_pages * page;
  if (mprotect(guard, page, PROT_NONE) != 0) throw std::runtime_error("cuda emulator: mprotect of a guard page failed");
  const size_t rounded = (bytes + align - 1) / align * align;
  return guard - rounded;
}

void unmap_guarded(void* base, size_t mapped) {
  if (base) munmap(base, mapped);
}

void launch(unsigned grid, unsigned threads, size_t smem_bytes, const std::function<void()>& kernel, Order order) {
  if (g_block) throw std::runtime_error("cuda emulator: emu::launch inside a running kernel");
  if (grid == 0 || threads == 0 || threads % 32 != 0 || threads > 1024)
    throw std::runtime_error("cuda emulator: launch of " + std::to_string(grid) + " x " + std::to_string(threads) +
                             " threads (the emulator needs whole warps, at most 1024 threads)");
  // One mapping for every fiber's stack, each with an inaccessible page below it (stacks grow down).
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const size_t slot = kStackBytes + page;
  void* stacks = mmap(nullptr, slot * threads, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (stacks == MAP_FAILED) throw std::runtime_error("cuda emulator: mmap of the thread stacks failed");
  struct Unmap {
    void* p;
    size_t n;
    ~Unmap() { munmap(p, n); }
  } unmap_stacks{stacks, slot * threads};
  for (unsigned t = 0; t < threads; ++t)
    if (mprotect(static_cast<char*>(stacks) + t * slot, page, PROT_NONE) != 0)
      throw std::runtime_error("cuda emulator: mprotect of a stack guard page failed");
  void* smem_base = nullptr;
  size_t smem_mapped = 0;
  void* smem = map_guarded(smem_bytes, 16, smem_base, smem_mapped);
  struct UnmapSmem {
    void* p;
    size_t n;
    ~UnmapSmem() { unmap_guarded(p, n); }
  } unmap_smem{smem_base, smem_mapped};

  for (unsigned step = 0; step < grid; ++step) {
    const unsigned bx = order == Order::forward ? step : grid - 1 - step;
    Block b;
    b.bidx.x = bx;
    b.bdim.x = threads;
    b.gdim.x = grid;
    b.smem = smem;
    std::memset(smem, 0xff, smem_bytes);  // NaN: what a kernel reads before writing shows up
    b.warps.resize(threads / 32);
    b.kernel = &kernel;
    b.fibers.resize(threads);
    for (unsigned t = 0; t < threads; ++t) {
      Fiber& f = b.fibers[t];
      f.tid.x = t;
      f.stack = static_cast<char*>(stacks) + t * slot + page;
      getcontext(&f.ctx);
      f.ctx.uc_stack.ss_sp = f.stack;
      f.ctx.uc_stack.ss_size = kStackBytes;
      f.ctx.uc_link = &b.scheduler;
      makecontext(&f.ctx, fiber_entry, 0);
    }
    g_block = &b;
    struct Reset {
      ~Reset() { g_block = nullptr; }
    } reset;
    for (;;) {
      const uint64_t before = b.progress;
      bool live = false;
      for (unsigned k = 0; k < threads; ++k) {
        Fiber& f = b.fibers[order == Order::forward ? k : threads - 1 - k];
        if (f.done) continue;
        live = true;
        b.current = &f;
        swapcontext(&b.scheduler, &f.ctx);
        if (b.error) std::rethrow_exception(b.error);
      }
      if (!live) break;
      if (b.progress == before) {
        std::ostringstream o;
        o << "cuda emulator: deadlock in block " << bx << ":";
        int shown = 0, finished = 0;
        for (const Fiber& f : b.fibers) {
          if (f.done) {
            ++finished;
          } else if (shown++ < 8) {
            o << " thread " << f.tid.x << " waits at " << (f.waiting ? f.waiting : "?") << ";";
          }
        }
        o << " " << finished << " of " << threads << " threads have returned";
        throw std::runtime_error(o.str());
      }
    }
  }
}

}  // namespace orbit::emu
