// The CUDA backend's runtime and its entry points into the engine: device discovery, the caching
// allocator, copies, the streams programs run on (with their scratch memory and device-side
// checks). Every runtime call is checked; with no driver or no GPU, cudaGetDeviceCount fails and
// the backend reports zero devices instead of aborting.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/allocator.h"
#include "engine/backend_hooks.h"
#include "engine/error.h"
#include "kernels/cuda/kernels.h"
#include "kernels/cuda/runtime.h"
#include "kernels/cuda/scratch_pool.h"

namespace orbit::cuda {

namespace {

int device_count() {
  static const int n = [] {
    int k = 0;
    if (cudaGetDeviceCount(&k) != cudaSuccess) {
      cudaGetLastError();  // clear the "no driver" error
      return 0;
    }
    return k;
  }();
  return n;
}

// ---- caching allocator ----
// Requests round up to a size class (powers of two from 512 bytes to 1 MiB, then multiples of
// 2 MiB); a freed block goes to its class's free list and serves the next request of that class.
// Programs synchronise their stream at the end of every run, so a block freed outside a run is idle.
class CachingAllocator {
 public:
  static size_t size_class(size_t bytes) {
    if (bytes <= 512) return 512;
    if (bytes <= (size_t(1) << 20)) {
      size_t c = 512;
      while (c < bytes) c <<= 1;
      return c;
    }
    const size_t big = size_t(2) << 20;
    return (bytes + big - 1) / big * big;
  }

  void* allocate(size_t bytes) {
    const size_t sz = size_class(bytes);
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.allocations;
    void* p = nullptr;
    auto it = free_.find(sz);
    if (it != free_.end() && !it->second.empty()) {
      p = it->second.back();
      it->second.pop_back();
      stats_.cached_bytes -= sz;
      ++stats_.cache_hits;
    } else {
      cudaError_t e = cudaMalloc(&p, sz);
      if (e == cudaErrorMemoryAllocation) {  // give the cache back and try once more
        cudaGetLastError();
        release_cached_locked();
        e = cudaMalloc(&p, sz);
      }
      if (e != cudaSuccess) {
        cudaGetLastError();
        throw CudaFailure("cudaMalloc(" + std::to_string(sz) + " bytes) failed: " + cudaGetErrorString(e) + " (" +
                          cudaGetErrorName(e) + "); " + std::to_string(stats_.in_use_bytes) + " bytes in use, " +
                          std::to_string(stats_.cached_bytes) + " cached");
      }
      ++stats_.device_mallocs;
    }
    live_[p] = sz;
    stats_.in_use_bytes += sz;
    stats_.peak_in_use_bytes = std::max(stats_.peak_in_use_bytes, stats_.in_use_bytes);
    return p;
  }

  // Never throws (called from destructors).
  void release(void* p) noexcept {
    if (!p) return;
    std::lock_guard<std::mutex> lock(mu_);
    auto it = live_.find(p);
    if (it == live_.end()) {
      std::fprintf(stderr, "orbit: CUDA allocator asked to free %p, which it did not allocate\n", p);
      return;
    }
    const size_t sz = it->second;
    live_.erase(it);
    stats_.in_use_bytes -= sz;
    try {
      free_[sz].push_back(p);
      stats_.cached_bytes += sz;
    } catch (...) {
      cudaFree(p);
    }
  }

  void empty_cache() {
    std::lock_guard<std::mutex> lock(mu_);
    release_cached_locked();
  }

  CudaMemoryStats stats() {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
  }

 private:
  void release_cached_locked() {
    for (auto& [sz, list] : free_) {
      for (void* p : list) {
        cudaFree(p);
        ++stats_.device_frees;
      }
      stats_.cached_bytes -= sz * list.size();
      list.clear();
    }
  }

  std::mutex mu_;
  std::unordered_map<size_t, std::vector<void*>> free_;
  std::unordered_map<void*, size_t> live_;
  CudaMemoryStats stats_;
};

// Never destroyed: tensors held by static objects may be freed during exit.
CachingAllocator& alloc() {
  static CachingAllocator* a = new CachingAllocator;
  return *a;
}

// ---- streams: scratch memory and device-side checks ----
constexpr int kFlagWords = 4;   // 3 used, padded to 32 bytes
constexpr int kSlabFlags = 256;

struct Slab {
  unsigned long long* dev = nullptr;
  int used = 0;
};

// A captured CUDA graph and what its kernels use: scratch memory and check flags taken while it was
// captured stay reserved for as long as the graph lives (their addresses are baked into it).
struct GraphState {
  cudaGraphExec_t exec = nullptr;
  ScratchPool scratch;
  std::vector<Slab> slabs;       // filled in order; the captured memsets reset the flags at every replay
  std::vector<Describe> checks;  // in the order the flags were handed out
};

struct StreamState {
  cudaStream_t stream = nullptr;
  ScratchPool scratch;
  std::vector<Slab> slabs;       // kept across syncs; filled in order from `cursor`
  size_t cursor = 0;
  std::vector<Describe> checks;  // in the order flags were handed out (slab by slab)
  GraphState* capturing = nullptr;       // between graph_begin and graph_end
  const GraphState* replayed = nullptr;  // launched since the last sync: its checks are read there
};

std::mutex g_streams_mu;
std::unordered_map<cudaStream_t, std::unique_ptr<StreamState>>& streams() {
  static auto* m = new std::unordered_map<cudaStream_t, std::unique_ptr<StreamState>>;
  return *m;
}

StreamState& state(cudaStream_t s) {
  std::lock_guard<std::mutex> lock(g_streams_mu);
  auto& m = streams();
  auto it = m.find(s);
  if (it == m.end()) {  // the legacy default stream, or a stream created outside the engine
    auto st = std::make_unique<StreamState>();
    st->stream = s;
    it = m.emplace(s, std::move(st)).first;
  }
  return *it->second;
}

bool env_flag(const char* name) {
  const char* v = std::getenv(name);
  return v && *v && std::strcmp(v, "0") != 0;
}

}  // namespace

int device_attribute(cudaDeviceAttr a, const char* what) {
  int dev = 0, v = 0;
  check(cudaGetDevice(&dev), "cudaGetDevice");
  check(cudaDeviceGetAttribute(&v, a, dev), what);
  return v;
}

bool env_off(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && std::strcmp(v, "0") == 0;
}

bool sync_every_op() {
  static const bool on = env_flag("ORBIT_CUDA_SYNC");
  return on;
}

void* scratch(cudaStream_t s, size_t bytes) {
  StreamState& st = state(s);
  ScratchPool& pool = st.capturing ? st.capturing->scratch : st.scratch;
  return pool.take(bytes, [](size_t b) { return alloc().allocate(b); });
}

void op_done(cudaStream_t s) {
  StreamState& st = state(s);
  (st.capturing ? st.capturing->scratch : st.scratch).op_done();
}

unsigned long long* check_flag(cudaStream_t s, Describe describe) {
  StreamState& st = state(s);
  if (GraphState* g = st.capturing) {
    if (g->slabs.empty() || g->slabs.back().used == kSlabFlags) {
      Slab slab;
      slab.dev =
          static_cast<unsigned long long*>(alloc().allocate(sizeof(unsigned long long) * kFlagWords * kSlabFlags));
      g->slabs.push_back(slab);
    }
    Slab& slab = g->slabs.back();
    unsigned long long* flag = slab.dev + kFlagWords * slab.used;
    check(cudaMemsetAsync(flag, 0xff, sizeof(unsigned long long) * kFlagWords, s), "cudaMemsetAsync (check flag)");
    ++slab.used;
    g->checks.push_back(std::move(describe));
    return flag;
  }
  while (st.cursor < st.slabs.size() && st.slabs[st.cursor].used == kSlabFlags) ++st.cursor;
  if (st.cursor == st.slabs.size()) {
    Slab slab;
    slab.dev = static_cast<unsigned long long*>(alloc().allocate(sizeof(unsigned long long) * kFlagWords * kSlabFlags));
    st.slabs.push_back(slab);
  }
  Slab& slab = st.slabs[st.cursor];
  unsigned long long* flag = slab.dev + kFlagWords * slab.used;
  check(cudaMemsetAsync(flag, 0xff, sizeof(unsigned long long) * kFlagWords, s), "cudaMemsetAsync (check flag)");
  ++slab.used;
  st.checks.push_back(std::move(describe));
  return flag;
}

void sync(cudaStream_t s) {
  StreamState& st = state(s);
  cudaError_t e = cudaStreamSynchronize(s);
  // Scratch is idle now (or the context is broken): back to the cache either way.
  st.scratch.drain([](void* p) { alloc().release(p); });
  std::vector<Describe> checks;
  checks.swap(st.checks);
  std::vector<int> used;
  for (auto& slab : st.slabs) {
    used.push_back(slab.used);
    slab.used = 0;
  }
  st.cursor = 0;
  if (e != cudaSuccess) {
    cudaGetLastError();
    throw CudaFailure(std::string("cudaStreamSynchronize failed: ") + cudaGetErrorString(e) + " (" +
                      cudaGetErrorName(e) + "): a kernel of this program failed; run with ORBIT_CUDA_SYNC=1 to "
                      "name the op, or under compute-sanitizer");
  }
  const GraphState* replayed = st.replayed;
  st.replayed = nullptr;
  size_t k = 0;
  std::vector<unsigned long long> words;
  for (size_t i = 0; i < st.slabs.size() && k < checks.size(); ++i) {
    if (used[i] == 0) continue;
    words.resize(static_cast<size_t>(kFlagWords) * used[i]);
    check(cudaMemcpy(words.data(), st.slabs[i].dev, sizeof(unsigned long long) * words.size(), cudaMemcpyDeviceToHost),
          "cudaMemcpy (check flags)");
    for (int f = 0; f < used[i] && k < checks.size(); ++f, ++k) {
      const unsigned long long* w = words.data() + kFlagWords * f;
      if (w[0] != ~0ull) throw Error(checks[k](w));
    }
  }
  if (!replayed) return;
  k = 0;
  for (const Slab& slab : replayed->slabs) {
    words.resize(static_cast<size_t>(kFlagWords) * slab.used);
    check(cudaMemcpy(words.data(), slab.dev, sizeof(unsigned long long) * words.size(), cudaMemcpyDeviceToHost),
          "cudaMemcpy (graph check flags)");
    for (int f = 0; f < slab.used && k < replayed->checks.size(); ++f, ++k) {
      const unsigned long long* w = words.data() + kFlagWords * f;
      if (w[0] != ~0ull) throw Error(replayed->checks[k](w));
    }
  }
}

namespace {

__global__ void set_counter_kernel(uint64_t* p, uint64_t v) { *p = v; }

void release_graph(GraphState* g) noexcept {
  if (!g) return;
  if (g->exec) cudaGraphExecDestroy(g->exec);
  g->scratch.drain([](void* p) { alloc().release(p); });
  for (auto& slab : g->slabs) alloc().release(slab.dev);
  delete g;
}

void graph_begin(cudaStream_t s) {
  StreamState& st = state(s);
  if (st.capturing) throw CudaFailure("graph_begin: the stream is already capturing");
  // Work queued before the capture must not be recorded into it.
  sync(s);
  st.capturing = new GraphState;
  // Relaxed: the caching allocator may call cudaMalloc while kernels are being recorded.
  cudaError_t e = cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed);
  if (e != cudaSuccess) {
    cudaGetLastError();
    release_graph(st.capturing);
    st.capturing = nullptr;
    throw CudaFailure(std::string("cudaStreamBeginCapture failed: ") + cudaGetErrorString(e));
  }
}

GraphState* graph_end(cudaStream_t s, std::string& why) {
  StreamState& st = state(s);
  GraphState* g = st.capturing;
  st.capturing = nullptr;
  if (!g) {
    why = "graph_end: the stream was not capturing";
    return nullptr;
  }
  cudaGraph_t graph = nullptr;
  cudaError_t e = cudaStreamEndCapture(s, &graph);
  if (e == cudaSuccess && graph) {
    e = cudaGraphInstantiate(&g->exec, graph, 0);
    cudaGraphDestroy(graph);
  } else if (graph) {
    cudaGraphDestroy(graph);
  }
  if (e != cudaSuccess || !g->exec) {
    cudaGetLastError();
    why = std::string(e != cudaSuccess ? cudaGetErrorString(e) : "no graph was captured") + " (" +
          (e != cudaSuccess ? cudaGetErrorName(e) : "empty") + ")";
    release_graph(g);
    return nullptr;
  }
  return g;
}

void graph_launch(GraphState* g, cudaStream_t s, uint64_t* counter_dev, uint64_t run_index) {
  StreamState& st = state(s);
  if (counter_dev) {
    set_counter_kernel<<<1, 1, 0, s>>>(counter_dev, run_index);
    check_launch("set_counter_kernel");
  }
  check(cudaGraphLaunch(g->exec, s), "cudaGraphLaunch");
  st.replayed = g;
}

void graph_destroy(GraphState* g) noexcept { release_graph(g); }

}  // namespace

}  // namespace orbit::cuda

namespace orbit {

namespace {

// Hooks are called by engine code that expects orbit::Error.
template <class F>
auto engine_call(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const cuda::CudaFailure& e) {
    throw Error(e.what());
  }
}

void* hook_malloc(size_t bytes) { return engine_call([&] { return cuda::alloc().allocate(bytes); }); }
void hook_free(void* p) { cuda::alloc().release(p); }

void hook_memcpy(void* dst, const void* src, size_t bytes, int kind) {
  engine_call([&] {
    cudaMemcpyKind k =
        kind == 0 ? cudaMemcpyHostToDevice : (kind == 1 ? cudaMemcpyDeviceToHost : cudaMemcpyDeviceToDevice);
    cuda::check(cudaMemcpy(dst, src, bytes, k), kind == 0 ? "cudaMemcpy (host to device)"
                                                          : (kind == 1 ? "cudaMemcpy (device to host)"
                                                                       : "cudaMemcpy (device to device)"));
  });
}

// A blocking stream (cudaStreamCreate): it orders itself with the legacy default stream, on which
// Tensor copies run, so a feed copied to the GPU is complete before a kernel reads it and a
// result is complete before it is copied back.
void* hook_stream_create() {
  return engine_call([] {
    cudaStream_t s = nullptr;
    cuda::check(cudaStreamCreate(&s), "cudaStreamCreate");
    std::lock_guard<std::mutex> lock(cuda::g_streams_mu);
    auto st = std::make_unique<cuda::StreamState>();
    st->stream = s;
    cuda::streams()[s] = std::move(st);
    return static_cast<void*>(s);
  });
}

void hook_stream_op_done(void* s) {
  engine_call([&] { cuda::op_done(static_cast<cudaStream_t>(s)); });
}

void hook_stream_sync(void* s) {
  engine_call([&] { cuda::sync(static_cast<cudaStream_t>(s)); });
}

// Never throws (called when a Program is destroyed).
void hook_stream_destroy(void* sp) {
  auto s = static_cast<cudaStream_t>(sp);
  try {
    cuda::sync(s);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "orbit: while releasing a CUDA stream: %s\n", e.what());
  }
  std::unique_ptr<cuda::StreamState> st;
  {
    std::lock_guard<std::mutex> lock(cuda::g_streams_mu);
    auto it = cuda::streams().find(s);
    if (it != cuda::streams().end()) {
      st = std::move(it->second);
      cuda::streams().erase(it);
    }
  }
  if (st)
    for (auto& slab : st->slabs) cuda::alloc().release(slab.dev);
  if (s) cudaStreamDestroy(s);
  cudaGetLastError();
}

void hook_graph_begin(void* s) {
  engine_call([&] { cuda::graph_begin(static_cast<cudaStream_t>(s)); });
}

void* hook_graph_end(void* s, char* why, size_t why_len) {
  std::string reason;
  cuda::GraphState* g = cuda::graph_end(static_cast<cudaStream_t>(s), reason);
  if (!g && why && why_len) {
    std::snprintf(why, why_len, "%s", reason.c_str());
  }
  return g;
}

void hook_graph_launch(void* g, void* s, uint64_t* counter_dev, uint64_t run_index) {
  engine_call([&] {
    cuda::graph_launch(static_cast<cuda::GraphState*>(g), static_cast<cudaStream_t>(s), counter_dev, run_index);
  });
}

void hook_graph_destroy(void* g) { cuda::graph_destroy(static_cast<cuda::GraphState*>(g)); }

void hook_memcpy_async(void* dst, const void* src, size_t bytes, int kind, void* s) {
  engine_call([&] {
    cudaMemcpyKind k =
        kind == 0 ? cudaMemcpyHostToDevice : (kind == 1 ? cudaMemcpyDeviceToHost : cudaMemcpyDeviceToDevice);
    cuda::check(cudaMemcpyAsync(dst, src, bytes, k, static_cast<cudaStream_t>(s)), "cudaMemcpyAsync");
  });
}

void* hook_event_create() {
  return engine_call([] {
    cudaEvent_t e = nullptr;
    cuda::check(cudaEventCreate(&e), "cudaEventCreate");
    return static_cast<void*>(e);
  });
}

void hook_event_record(void* e, void* s) {
  engine_call([&] {
    cuda::check(cudaEventRecord(static_cast<cudaEvent_t>(e), static_cast<cudaStream_t>(s)), "cudaEventRecord");
  });
}

float hook_event_elapsed_ms(void* a, void* b) {
  return engine_call([&] {
    float ms = 0;
    cuda::check(cudaEventElapsedTime(&ms, static_cast<cudaEvent_t>(a), static_cast<cudaEvent_t>(b)),
                "cudaEventElapsedTime");
    return ms;
  });
}

void hook_event_destroy(void* e) {
  if (e) cudaEventDestroy(static_cast<cudaEvent_t>(e));
}

void hook_empty_cache() { cuda::alloc().empty_cache(); }
void hook_memory_stats(CudaMemoryStats* out) { *out = cuda::alloc().stats(); }

}  // namespace

void install_cuda_hooks(BackendHooks& h) {
  h.cuda_device_count = &cuda::device_count;
  h.cuda_malloc = &hook_malloc;
  h.cuda_free = &hook_free;
  h.cuda_memcpy = &hook_memcpy;
  h.cuda_stream_create = &hook_stream_create;
  h.cuda_stream_destroy = &hook_stream_destroy;
  h.cuda_stream_sync = &hook_stream_sync;
  h.cuda_stream_op_done = &hook_stream_op_done;
  h.cuda_empty_cache = &hook_empty_cache;
  h.cuda_graph_begin = &hook_graph_begin;
  h.cuda_graph_end = &hook_graph_end;
  h.cuda_graph_launch = &hook_graph_launch;
  h.cuda_graph_destroy = &hook_graph_destroy;
  h.cuda_memcpy_async = &hook_memcpy_async;
  h.cuda_event_create = &hook_event_create;
  h.cuda_event_record = &hook_event_record;
  h.cuda_event_elapsed_ms = &hook_event_elapsed_ms;
  h.cuda_event_destroy = &hook_event_destroy;
  h.cuda_memory_stats = &hook_memory_stats;
}

}  // namespace orbit
