// What the CUDA op bindings need from the backend runtime (kernels/cuda/backend.cu) beyond the
// pure kernels: per-stream scratch memory and device-side checks that are read at the next sync.
#pragma once
#include <cuda_runtime_api.h>

#include <cstddef>
#include <functional>
#include <string>

namespace orbit::cuda {

// Device memory for the temporaries of one op's launches on stream s (kernels/cuda/scratch_pool.h).
// After op_done(s) (the op's kernels are queued), ops queued later on s may be handed the same memory:
// stream order keeps them from starting earlier. It returns to the caching allocator at the next sync
// of s; memory taken while s is capturing a CUDA graph stays with the graph until it is destroyed.
void* scratch(cudaStream_t s, size_t bytes);
void op_done(cudaStream_t s);

// A device flag of 3 words for a device-side check on stream s, set to all ones (enqueued on s).
// Kernels record a failure in word 0 (e.g. atomicMin of the first bad position) and details in
// words 1-2. The next sync of s reads every flag of the stream at once: for the first flag whose word
// 0 changed, in the order the flags were taken, describe(words) gives the message of the
// orbit::Error that the sync throws. No host synchronisation happens here.
using Describe = std::function<std::string(const unsigned long long* words)>;
unsigned long long* check_flag(cudaStream_t s, Describe describe);

// Waits for stream s, returns its scratch to the cache and raises its pending device-side checks.
void sync(cudaStream_t s);

// True when ORBIT_CUDA_SYNC=1: every op synchronises after its kernels, so an asynchronous fault
// (an illegal address, say) is reported with the op and node that caused it. For debugging only.
bool sync_every_op();

// An attribute of the current device (cudaDeviceGetAttribute; a failure throws, naming `what`).
int device_attribute(cudaDeviceAttr a, const char* what);

// True when the environment variable `name` is exactly "0": a kernel variant turned off
// (ORBIT_MLP_CUDA_TC, ORBIT_EGNN_CUDA_TC).
bool env_off(const char* name);

}  // namespace orbit::cuda
