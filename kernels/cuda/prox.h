// The weight-sharing prox on the GPU (kernels/cuda/prox.cu): the CPU pipeline of kernels/cpu/prox_ws.h
// on device arrays, with the same three isotonic algorithms, the same parameters and counters. Host-
// callable without CUDA headers (the stream is a cudaStream_t passed as void*; CUB stays in the .cu).
#pragma once
#include <cstdint>

#include "kernels/cpu/prox_ws.h"

namespace orbit::cuda::prox {

// out[i] for the device array w[0..n), out may alias w; n < 2^31. Every step (sort, velocities,
// prefix sums, isotonic regression, threshold / damping, unsort) runs on the device, enqueued on
// `stream`; the call then synchronises the stream (it reads back the counters and returns its
// scratch memory to the CUDA backend's cache). solve_seconds is the device time of the isotonic
// regression alone (CUDA events). w must be finite (see first_nonfinite).
template <class T>
cpu::prox::Counters prox_weight_sharing(const T* w, int64_t n, const cpu::prox::Params& p, T* out, void* stream);

// The smallest i with w[i] not finite, or -1; *value receives w[i] as a double when not null.
// Synchronises the stream.
template <class T>
int64_t first_nonfinite(const T* w, int64_t n, double* value, void* stream);

// The sort floor of the prox: a stable argsort of n keys (orbit's order: -0 before +0), keys and
// int32 permutation into device arrays, as the prox's own first step, on `stream`; synchronises it
// (returning the scratch memory).
template <class T>
void radix_argsort(const T* w, int64_t n, T* sorted, int32_t* perm, void* stream);

}  // namespace orbit::cuda::prox
