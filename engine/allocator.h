// Allocators hand out raw device memory. The CPU allocator is 64-byte aligned; the CUDA backend
// installs a caching arena through backend_hooks().
#pragma once
#include <cstddef>
#include <cstdint>

#include "engine/device.h"

namespace orbit {

class Allocator {
 public:
  virtual ~Allocator() = default;
  virtual void* allocate(size_t bytes) = 0;
  virtual void deallocate(void* p, size_t bytes) = 0;
  virtual Device device() const = 0;
};

// The process-wide allocator of a device (lives for the whole program).
Allocator& allocator_for(Device d);

// Bytes currently held by the CPU allocator (for tests and `orbit info`).
size_t cpu_bytes_in_use();

// The CUDA caching allocator: size-class free lists over cudaMalloc. Freed blocks stay cached for
// reuse; cuda_empty_cache() returns them to the driver. Without the backend: zeros and a no-op.
struct CudaMemoryStats {
  size_t in_use_bytes = 0;       // handed out (rounded to size classes)
  size_t cached_bytes = 0;       // freed, kept for reuse
  size_t peak_in_use_bytes = 0;
  uint64_t allocations = 0;      // requests
  uint64_t cache_hits = 0;       // requests served from the cache
  uint64_t device_mallocs = 0;   // cudaMalloc calls
  uint64_t device_frees = 0;     // cudaFree calls
};
CudaMemoryStats cuda_memory_stats();
void cuda_empty_cache();

}  // namespace orbit
