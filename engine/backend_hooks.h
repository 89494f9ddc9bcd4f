// Function pointers a backend fills in when it is linked (the CUDA backend registers itself),
// so that the always-built core never depends on a backend at compile time.
#pragma once
#include <cstddef>

namespace orbit {

struct CudaMemoryStats;  // engine/allocator.h

struct BackendHooks {
  int (*cuda_device_count)() = nullptr;
  void* (*cuda_malloc)(size_t bytes) = nullptr;
  void (*cuda_free)(void* p) = nullptr;
  // Copies between host and device (kind: 0 h2d, 1 d2h, 2 d2d).
  void (*cuda_memcpy)(void* dst, const void* src, size_t bytes, int kind) = nullptr;
  // The stream a Program runs on. Kernels launch on it; sync waits for it, returns its scratch memory
  // and throws the orbit::Error of a failed device-side check (bad gather index, ...); destroy syncs first.
  void* (*cuda_stream_create)() = nullptr;
  void (*cuda_stream_destroy)(void* stream) = nullptr;
  void (*cuda_stream_sync)(void* stream) = nullptr;
  // The caching allocator: give cached blocks back to the driver; read its counters.
  void (*cuda_empty_cache)() = nullptr;
  void (*cuda_memory_stats)(CudaMemoryStats* out) = nullptr;
};

BackendHooks& backend_hooks();

}  // namespace orbit
