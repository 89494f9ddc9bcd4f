// ORBIT_HD marks functions usable from host code, CUDA kernels and NVRTC-generated code alike.
#pragma once
#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
#define ORBIT_HD __host__ __device__ __forceinline__
#else
#define ORBIT_HD inline
#endif
