// Function pointers a backend fills in when it is linked (the CUDA backend registers itself),
// so that the always-built core never depends on a backend at compile time.
#pragma once
#include <cstddef>

namespace orbit {

struct BackendHooks {
  int (*cuda_device_count)() = nullptr;
  void* (*cuda_malloc)(size_t bytes) = nullptr;
  void (*cuda_free)(void* p) = nullptr;
  // Copies between host and device (kind: 0 h2d, 1 d2h, 2 d2d).
  void (*cuda_memcpy)(void* dst, const void* src, size_t bytes, int kind) = nullptr;
};

BackendHooks& backend_hooks();

}  // namespace orbit
