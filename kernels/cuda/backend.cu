// The CUDA backend's entry points into the engine: device discovery, memory and copies.
// Every runtime call is checked; with no driver or no GPU, cudaGetDeviceCount fails and the
// backend reports zero devices instead of aborting.
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "engine/backend_hooks.h"

namespace orbit::cuda {

namespace {
void check(cudaError_t e, const char* call) {
  if (e != cudaSuccess)
    throw std::runtime_error(std::string("CUDA call ") + call + " failed: " + cudaGetErrorString(e));
}

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error
    return 0;
  }
  return n;
}

void* device_malloc(size_t bytes) {
  void* p = nullptr;
  check(cudaMalloc(&p, bytes == 0 ? 1 : bytes), "cudaMalloc");
  return p;
}

void device_free(void* p) { check(cudaFree(p), "cudaFree"); }

void device_memcpy(void* dst, const void* src, size_t bytes, int kind) {
  cudaMemcpyKind k = kind == 0 ? cudaMemcpyHostToDevice : (kind == 1 ? cudaMemcpyDeviceToHost : cudaMemcpyDeviceToDevice);
  check(cudaMemcpy(dst, src, bytes, k), "cudaMemcpy");
}
}  // namespace

}  // namespace orbit::cuda

namespace orbit {
void install_cuda_hooks(BackendHooks& h) {
  h.cuda_device_count = &cuda::device_count;
  h.cuda_malloc = &cuda::device_malloc;
  h.cuda_free = &cuda::device_free;
  h.cuda_memcpy = &cuda::device_memcpy;
}
}  // namespace orbit
