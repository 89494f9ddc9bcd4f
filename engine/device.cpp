#include "engine/device.h"

#include "engine/backend_hooks.h"
#include "engine/error.h"

namespace orbit {

std::string Device::str() const {
  return is_cpu() ? "cpu" : "cuda:" + std::to_string(index);
}

bool cuda_built() { return backend_hooks().cuda_device_count != nullptr; }

int cuda_device_count() {
  auto f = backend_hooks().cuda_device_count;
  return f ? f() : 0;
}

}  // namespace orbit
