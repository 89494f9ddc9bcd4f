#include "engine/allocator.h"

#include <atomic>
#include <cstdlib>
#include <new>

#include "engine/backend_hooks.h"
#include "engine/error.h"

namespace orbit {

#if defined(ORBIT_WITH_CUDA)
void install_cuda_hooks(BackendHooks& h);        // kernels/cuda/backend.cu
void install_cuda_optim_hooks(BackendHooks& h);  // kernels/cuda/optim.cu
#endif

BackendHooks& backend_hooks() {
  static BackendHooks hooks = [] {
    BackendHooks h;
#if defined(ORBIT_WITH_CUDA)
    install_cuda_hooks(h);
    install_cuda_optim_hooks(h);
#endif
    return h;
  }();
  return hooks;
}

namespace {
std::atomic<size_t> g_cpu_bytes{0};

class CpuAllocator final : public Allocator {
 public:
  void* allocate(size_t bytes) override {
    size_t rounded = (bytes + 63) / 64 * 64;
    if (rounded == 0) rounded = 64;
    void* p = std::aligned_alloc(64, rounded);
    ORBIT_CHECK(p != nullptr, "out of host memory allocating ", bytes, " bytes");
    g_cpu_bytes += rounded;
    return p;
  }
  void deallocate(void* p, size_t bytes) override {
    size_t rounded = (bytes + 63) / 64 * 64;
    if (rounded == 0) rounded = 64;
    g_cpu_bytes -= rounded;
    std::free(p);
  }
  Device device() const override { return Device::cpu(); }
};

class CudaHookAllocator final : public Allocator {
 public:
  explicit CudaHookAllocator(int index) : index_(index) {}
  void* allocate(size_t bytes) override { return backend_hooks().cuda_malloc(bytes); }
  void deallocate(void* p, size_t) override { backend_hooks().cuda_free(p); }
  Device device() const override { return Device::cuda(index_); }

 private:
  int index_;
};
}  // namespace

size_t cpu_bytes_in_use() { return g_cpu_bytes.load(); }

CudaMemoryStats cuda_memory_stats() {
  CudaMemoryStats s;
  if (backend_hooks().cuda_memory_stats) backend_hooks().cuda_memory_stats(&s);
  return s;
}

void cuda_empty_cache() {
  if (backend_hooks().cuda_empty_cache) backend_hooks().cuda_empty_cache();
}

Allocator& allocator_for(Device d) {
  static CpuAllocator cpu;
  if (d.is_cpu()) return cpu;
  ORBIT_CHECK(backend_hooks().cuda_malloc != nullptr,
              "allocation on ", d.str(), " but this orbit build has no CUDA backend");
  static CudaHookAllocator cuda0(0);
  ORBIT_CHECK(d.index == 0, "only cuda:0 is supported for now, got ", d.str());
  return cuda0;
}

}  // namespace orbit
