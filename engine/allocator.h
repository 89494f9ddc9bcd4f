// Allocators hand out raw device memory. The CPU allocator is 64-byte aligned; the CUDA backend
// installs a caching arena through backend_hooks().
#pragma once
#include <cstddef>

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

}  // namespace orbit
