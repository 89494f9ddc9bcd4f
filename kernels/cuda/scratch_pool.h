// The scratch memory of one CUDA stream, or of one CUDA graph captured from it (kernels/cuda/backend.cu).
// Plain C++ (no CUDA), so the host tests check it (tests/test_scratch_pool.cpp).
//
// Why a pool: an op's temporaries (the tensor-core EGNN backward keeps five [edges, H] tensors, ~4.7 GB
// per layer for LJ55 at batch 512) used to stay reserved until the stream's next sync, so a training
// step held the sum over all its ops (~23 GB). Kernels on one stream run in the order they were queued,
// so once an op's launches are queued, a later op on the same stream may reuse its blocks: the later
// kernels cannot start before the earlier ones finish. The pool hands such blocks out again and keeps
// them from the caching allocator (which other streams share) until the stream is synced, or, for a
// captured graph, for as long as the graph lives (its kernels' addresses are baked into it).
#pragma once
#include <cstddef>
#include <vector>

namespace orbit::cuda {

class ScratchPool {
 public:
  struct Block {
    void* p = nullptr;
    size_t bytes = 0;
  };

  // A block of at least `bytes` for the op being queued: the smallest idle block (released by an
  // earlier op) that fits without wasting much (at most twice the request, or 1 MiB more), otherwise
  // a new one from allocate(bytes).
  template <class Allocate>
  void* take(size_t bytes, Allocate&& allocate) {
    size_t best = idle_.size();
    for (size_t i = 0; i < idle_.size(); ++i) {
      const size_t have = idle_[i].bytes;
      if (have < bytes || (have / 2 > bytes && have - bytes > kSlack)) continue;
      if (best == idle_.size() || have < idle_[best].bytes) best = i;
    }
    Block b;
    if (best < idle_.size()) {
      b = idle_[best];
      idle_.erase(idle_.begin() + static_cast<std::ptrdiff_t>(best));
    } else {
      b.p = allocate(bytes);
      b.bytes = bytes;
      held_ += bytes;
      if (held_ > peak_) peak_ = held_;
    }
    in_use_.push_back(b);
    return b.p;
  }

  // The op's launches are queued: its blocks may serve the ops queued after it.
  void op_done() {
    idle_.insert(idle_.end(), in_use_.begin(), in_use_.end());
    in_use_.clear();
  }

  // Every block back through release(p): the stream is idle (synced) or the graph is destroyed.
  template <class Release>
  void drain(Release&& release) {
    for (const Block& b : in_use_) release(b.p);
    for (const Block& b : idle_) release(b.p);
    in_use_.clear();
    idle_.clear();
    held_ = 0;
  }

  size_t held_bytes() const { return held_; }   // taken from the allocator, not yet drained
  size_t peak_bytes() const { return peak_; }    // the most ever held at once
  size_t blocks() const { return in_use_.size() + idle_.size(); }

 private:
  static constexpr size_t kSlack = size_t{1} << 20;
  std::vector<Block> in_use_;  // taken by the op being queued
  std::vector<Block> idle_;    // taken by earlier ops, reusable
  size_t held_ = 0, peak_ = 0;
};

}  // namespace orbit::cuda
