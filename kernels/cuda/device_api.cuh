// What the kernel headers (kernels/cuda/*_kernel.cuh) take from CUDA: the real toolkit under nvcc, or
// the host tests' emulator (tests/harness/cuda_emu.h) when a test defines ORBIT_CUDA_EMU, so that the
// same kernel source also runs on a machine without a GPU.
#pragma once
#if defined(ORBIT_CUDA_EMU)
#ifndef ORBIT_CUDA_EMU_BUILTINS
#error "include tests/harness/cuda_emu.h before a kernel header when ORBIT_CUDA_EMU is defined"
#endif
#else
#include <cuda_runtime.h>
// The kernel's dynamic shared memory as an array of T.
#define ORBIT_DYNAMIC_SMEM(T, name) extern __shared__ __align__(16) T name[]
#endif
