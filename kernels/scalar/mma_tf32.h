// The TF32 tensor-core instruction mma.sync.m16n8k8.row.col.f32.tf32.tf32.f32 as the fused MLP's
// tensor-core kernel uses it (kernels/cuda/mlp_fused_tc.cu), written down once for the kernel and for
// the host tests that replay its data movement (tests/test_mlp_tc.cpp).
//
// Fragment layouts (PTX ISA, "Matrix fragments for mma.m16n8k8" with .tf32): lane = 4 g + t
// (g = lane / 4 in 0..7, t = lane % 4 in 0..3).
//   A (16 x 8, row-major): a[r] holds A(g + 8 (r & 1), t + 4 (r >> 1)), r = 0..3.
//   B (8 x 8, k x n):      b[r] holds B(t + 4 r, g), r = 0..1.
//   C, D (16 x 8):          c[r] holds C(g + 8 (r >> 1), 2 t + (r & 1)), r = 0..3.
// Cross-checked (2026-11-28) against CuTe's thread-value layouts for its SM80_16x8x8_F32TF32TF32F32_TN
// atom as a public write-up derives them (A: (M, K) = (g + 8 v0, t + 4 v1), v = v0 + 2 v1; B: K = t + 4 v,
// N = g): the same tables. The CUDA emulator (tests/harness/cuda_emu.cpp) uses these functions, so a
// GPU run is still the only check of the hardware itself.
//
// 3xTF32 ("FP32 emulation"): x = hi + lo with hi = tf32(x) and lo = tf32(x - hi), both rounded to
// nearest (ties away from zero, cvt.rna.tf32.f32); a b ~ a_lo b_hi + a_hi b_lo + a_hi b_hi (the
// a_lo b_lo term, ~2^-22 relative, dropped). Each operand keeps 22 of f32's 24 significand bits, so
// the products are accurate to about 2^-21 relative and the sums accumulate in f32: an FP32 GEMM's
// accuracy class at three tensor-core instructions per product.
#pragma once
#include <cstdint>
#include <cstring>

#include "kernels/scalar/hd.h"

namespace orbit::scalar::mma {

struct Coord {
  int row, col;
};

ORBIT_HD Coord a_frag(int lane, int r) { return {(lane >> 2) + 8 * (r & 1), (lane & 3) + 4 * (r >> 1)}; }
ORBIT_HD Coord b_frag(int lane, int r) { return {(lane & 3) + 4 * r, lane >> 2}; }  // {k, n}
ORBIT_HD Coord c_frag(int lane, int r) { return {(lane >> 2) + 8 * (r >> 1), 2 * (lane & 3) + (r & 1)}; }

// Host model of cvt.rna.tf32.f32: keep 10 explicit significand bits, round half away from zero
// (NaN and infinity pass through).
inline float tf32_round_host(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  if ((u & 0x7f800000u) != 0x7f800000u) {
    u += 0x1000u;  // half of the 13 dropped bits: ties round away from zero in magnitude
    u &= 0xffffe000u;
  }
  float y;
  std::memcpy(&y, &u, 4);
  return y;
}

}  // namespace orbit::scalar::mma
