// A host model of mma.sync.m16n8k8 TF32 for the replays of the tensor-core kernels' data movement
// (tests/test_mlp_tc.cpp, tests/test_egnn_message_tc.cpp).
#pragma once
#include <cstddef>
#include <vector>

#include "kernels/scalar/mma_tf32.h"

namespace orbit::testing {

// cudaDevAttrMaxSharedMemoryPerBlockOptin on an H100: the shared memory the tensor-core plans may use.
inline constexpr size_t kH100Smem = 232448;

// The model of one mma.sync.m16n8k8 TF32: per-lane fragments in, D += A B (products exact, sums in
// f64 then rounded to f32 per instruction).
inline void mma_model(float (&d)[32][4], const float (&a)[32][4], const float (&b)[32][2]) {
  float A[16][8], B[8][8];
  for (int lane = 0; lane < 32; ++lane) {
    for (int r = 0; r < 4; ++r) A[scalar::mma::a_frag(lane, r).row][scalar::mma::a_frag(lane, r).col] = a[lane][r];
    for (int r = 0; r < 2; ++r) B[scalar::mma::b_frag(lane, r).row][scalar::mma::b_frag(lane, r).col] = b[lane][r];
  }
  for (int lane = 0; lane < 32; ++lane)
    for (int r = 0; r < 4; ++r) {
      const auto c = scalar::mma::c_frag(lane, r);
      double s = d[lane][r];
      for (int k = 0; k < 8; ++k) s += static_cast<double>(A[c.row][k]) * B[k][c.col];
      d[lane][r] = static_cast<float>(s);
    }
}

// One warp's 16-row tile product as the kernels do it: acc[nt][lane][r] (the c-fragments of 8-column
// tile nt) += A x W with A [16][K] at row stride sa and W [K][8 nt_count] at row stride sw, every
// operand split into TF32 high and low parts (3xTF32: lo*hi, hi*lo, hi*hi in that order).
inline void replay_tile_gemm(const float* A, int sa, const float* W, int sw, int K, int nt_count,
                             std::vector<float>& acc) {
  auto split = [](float v, float& hi, float& lo) {
    hi = scalar::mma::tf32_round_host(v);
    lo = scalar::mma::tf32_round_host(v - hi);
  };
  for (int k0 = 0; k0 < K; k0 += 8) {
    float ah[32][4], al[32][4];
    for (int lane = 0; lane < 32; ++lane)
      for (int r = 0; r < 4; ++r) {
        const auto c = scalar::mma::a_frag(lane, r);
        split(A[c.row * sa + k0 + c.col], ah[lane][r], al[lane][r]);
      }
    for (int nt = 0; nt < nt_count; ++nt) {
      float bh[32][2], bl[32][2], d[32][4];
      for (int lane = 0; lane < 32; ++lane)
        for (int r = 0; r < 2; ++r) {
          const auto c = scalar::mma::b_frag(lane, r);
          split(W[(k0 + c.row) * sw + nt * 8 + c.col], bh[lane][r], bl[lane][r]);
        }
      for (int lane = 0; lane < 32; ++lane)
        for (int r = 0; r < 4; ++r) d[lane][r] = acc[(static_cast<size_t>(nt) * 32 + lane) * 4 + r];
      mma_model(d, al, bh);
      mma_model(d, ah, bl);
      mma_model(d, ah, bh);
      for (int lane = 0; lane < 32; ++lane)
        for (int r = 0; r < 4; ++r) acc[(static_cast<size_t>(nt) * 32 + lane) * 4 + r] = d[lane][r];
    }
  }
}

}  // namespace orbit::testing
