// Function pointers a backend fills in when it is linked (the CUDA backend registers itself),
// so that the always-built core never depends on a backend at compile time.
#pragma once
#include <cstddef>
#include <cstdint>

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
  // Fused optimizer kernels on device memory (kernels/cuda/optim.cu), queued on the legacy default
  // stream (ordered with copies and programs); dtype: DType's code (0 f32, 1 f64). The math is
  // kernels/cpu/optim.h's. sum_squares writes the f64 sum of squares of each of `count` arrays to the
  // host array `out` (it waits for them); the others return without waiting.
  void (*cuda_sgd_update)(int dtype, void* p, const void* g, void* buf, int64_t n, double lr, double mu, double wd,
                          bool nesterov, bool first) = nullptr;
  void (*cuda_adam_update)(int dtype, void* p, const void* g, void* m, void* v, int64_t n, double lr, double b1,
                           double b2, double eps, double wd, bool decoupled, int64_t step) = nullptr;
  void (*cuda_ema_update)(int dtype, void* avg, const void* p, int64_t n, double decay) = nullptr;
  void (*cuda_scale)(int dtype, void* x, int64_t n, double c) = nullptr;
  void (*cuda_sum_squares)(size_t count, const int* dtypes, const void* const* x, const int64_t* n,
                           double* out) = nullptr;
};

BackendHooks& backend_hooks();

}  // namespace orbit
