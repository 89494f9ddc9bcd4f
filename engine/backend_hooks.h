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
  // One op's kernels are queued on the stream: later ops may reuse its scratch memory (stream order).
  void (*cuda_stream_op_done)(void* stream) = nullptr;
  // CUDA graphs (Program replay, engine/program.cpp). graph_begin starts capturing the stream: kernels
  // queued on it are recorded, not run, and the scratch memory and check flags they take belong to the
  // graph from then on. graph_end stops; it returns the instantiated graph, or null with the reason in
  // why[0..why_len) (the capture was invalidated: an op synchronised, say). graph_launch writes run_index
  // to the device word counter_dev (random ops read it when replayed), then replays the graph on the
  // stream; the next sync of the stream raises the graph's device-side checks. graph_destroy waits for
  // nothing: destroy the stream (or sync it) first.
  void (*cuda_graph_begin)(void* stream) = nullptr;
  void* (*cuda_graph_end)(void* stream, char* why, size_t why_len) = nullptr;
  void (*cuda_graph_launch)(void* graph, void* stream, uint64_t* counter_dev, uint64_t run_index) = nullptr;
  void (*cuda_graph_destroy)(void* graph) = nullptr;
  // Stream-ordered copy (kind as cuda_memcpy); host memory must stay valid until the stream is synced.
  void (*cuda_memcpy_async)(void* dst, const void* src, size_t bytes, int kind, void* stream) = nullptr;
  // Events for ORBIT_PROFILE: create, record on a stream, milliseconds between two recorded events
  // (after the stream is synced), destroy.
  void* (*cuda_event_create)() = nullptr;
  void (*cuda_event_record)(void* event, void* stream) = nullptr;
  float (*cuda_event_elapsed_ms)(void* start, void* end) = nullptr;
  void (*cuda_event_destroy)(void* event) = nullptr;
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
