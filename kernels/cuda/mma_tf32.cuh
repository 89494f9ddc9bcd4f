// The 3xTF32 building blocks of the tensor-core kernels (kernels/cuda/mlp_fused_tc.cu,
// kernels/cuda/egnn_message_tc.cu); fragment layouts and the scheme: kernels/scalar/mma_tf32.h.
#pragma once
#include <cstdint>

#include "kernels/cuda/device_api.cuh"

namespace orbit::cuda {

// v = hi + lo, both TF32 (round to nearest, ties away from zero), in integer arithmetic: adding half of
// the 13 dropped bits and masking them is cvt.rna.tf32.f32 for every finite v, in 5 instructions where
// the two cvt's compile to 7 (each cvt also tests for infinity and NaN; SASS: tools/sass_report.py).
// Non-finite v: infinity stays infinity in hi and its lo is NaN; NaN gives NaN in lo (in rare payloads
// hi becomes infinity or 0): either way the products are NaN, as with cvt (docs/fusion.md).
__device__ __forceinline__ void split_tf32(float v, uint32_t& hi, uint32_t& lo) {
  hi = (__float_as_uint(v) + 0x1000u) & 0xffffe000u;
  lo = (__float_as_uint(v - __uint_as_float(hi)) + 0x1000u) & 0xffffe000u;
}

// d += a b for one m16n8k8 TF32 tile.
__device__ __forceinline__ void mma_tf32(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
#if defined(ORBIT_CUDA_EMU)
  ::orbit::emu::mma_m16n8k8_tf32(d, a, b);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#else
  __trap();
#endif
}

// The sum over the 4 lanes of a quad (lanes 4 g .. 4 g + 3 hold the c-fragments of rows g and g + 8).
__device__ __forceinline__ float quad_sum(float v) {
  v += __shfl_xor_sync(0xffffffffu, v, 1);
  return v + __shfl_xor_sync(0xffffffffu, v, 2);
}

}  // namespace orbit::cuda
