// A host model of the fused MLP's tensor-core kernel (kernels/cuda/mlp_fused_tc_kernel.cuh) for the
// tests: a replay of one warp's data movement with the MMA modelled from the PTX layouts
// (tests/mma_model.h), the same network in f64, and in f32 as an FP32 GEMM sums.
#pragma once
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/scalar/mlp_act.h"
#include "kernels/scalar/mlp_tc_plan.h"
#include "kernels/scalar/mma_tf32.h"
#include "mma_model.h"

namespace orbit::testing {

using scalar::MlpAct;
using scalar::MlpTcPlan;
namespace mma = scalar::mma;

enum class Split { three_tf32, one_tf32 };

// One warp's tile (rows <= plan.rows_per_warp) through every layer, as mlp_tc_kernel does it: the same shared-memory image, the
// same addresses, the same fragment gathers. Returns y [rows, widths.back()].
inline std::vector<float> replay_warp(const MlpTcPlan& plan, const std::vector<int>& widths,
                               const std::vector<std::vector<float>>& W, const std::vector<std::vector<float>>& b,
                               const std::vector<float>& x, int rows, Split split,
                               const std::vector<MlpAct>& acts) {
  std::vector<float> smem(plan.weight_floats + plan.rows_per_warp * plan.act_stride, NAN);
  for (int l = 0; l < plan.layers; ++l) {
    const int K = widths[l], N = widths[l + 1], SW = plan.wstride[l];
    for (int idx = 0; idx < plan.kpad[l] * SW; ++idx) {
      const int k = idx / SW, c = idx - k * SW;
      smem[plan.woff[l] + idx] = (k < K && c < N) ? W[l][k * N + c] : 0.f;
    }
    for (int c = 0; c < plan.npad[l]; ++c) smem[plan.boff[l] + c] = c < N ? b[l][c] : 0.f;
  }
  const int RW = plan.rows_per_warp, SA = plan.act_stride, K0 = widths[0];
  float* H = smem.data() + plan.weight_floats;
  for (int r = 0; r < RW; ++r)
    for (int c = 0; c < plan.kpad[0]; ++c) H[r * SA + c] = (r < rows && c < K0) ? x[r * K0 + c] : 0.f;
  const int NL = widths.back();
  std::vector<float> y(static_cast<size_t>(rows) * NL, NAN);
  auto parts = [&](float v, float& hi, float& lo) {
    hi = mma::tf32_round_host(v);
    lo = split == Split::three_tf32 ? mma::tf32_round_host(v - hi) : 0.f;
  };
  for (int l = 0; l < plan.layers; ++l) {
    const int NT = plan.npad[l] / 8, SW = plan.wstride[l];
    const float* Ws = smem.data() + plan.woff[l];
    const float* bs = smem.data() + plan.boff[l];
    std::vector<float> acc(static_cast<size_t>(plan.m_tiles) * NT * 32 * 4, 0.f);
    for (int k0 = 0; k0 < plan.kpad[l]; k0 += 8)
      for (int mt = 0; mt < plan.m_tiles; ++mt) {
        float ah[32][4], al[32][4];
        for (int lane = 0; lane < 32; ++lane)
          for (int r = 0; r < 4; ++r) {
            const auto c = mma::a_frag(lane, r);
            parts(H[(mt * 16 + c.row) * SA + k0 + c.col], ah[lane][r], al[lane][r]);
          }
        for (int nt = 0; nt < NT; ++nt) {
          float bh[32][2], bl[32][2], d[32][4];
          for (int lane = 0; lane < 32; ++lane)
            for (int r = 0; r < 2; ++r) {
              const auto c = mma::b_frag(lane, r);
              parts(Ws[(k0 + c.row) * SW + nt * 8 + c.col], bh[lane][r], bl[lane][r]);
            }
          float* a4 = &acc[((static_cast<size_t>(mt) * NT + nt) * 32) * 4];
          for (int lane = 0; lane < 32; ++lane)
            for (int r = 0; r < 4; ++r) d[lane][r] = a4[lane * 4 + r];
          if (split == Split::three_tf32) {
            orbit::testing::mma_model(d, al, bh);
            orbit::testing::mma_model(d, ah, bl);
          }
          orbit::testing::mma_model(d, ah, bh);
          for (int lane = 0; lane < 32; ++lane)
            for (int r = 0; r < 4; ++r) a4[lane * 4 + r] = d[lane][r];
        }
      }
    const bool last = l + 1 == plan.layers;
    for (int mt = 0; mt < plan.m_tiles; ++mt)
      for (int nt = 0; nt < NT; ++nt)
        for (int lane = 0; lane < 32; ++lane)
          for (int r = 0; r < 4; ++r) {
            const auto c = mma::c_frag(lane, r);
            const int row = mt * 16 + c.row, col = nt * 8 + c.col;
            const float v = mlp_act(acts[l], acc[((static_cast<size_t>(mt) * NT + nt) * 32 + lane) * 4 + r] + bs[col]);
            if (!last) H[row * SA + col] = v;
            else if (row < rows && col < NL) y[static_cast<size_t>(row) * NL + col] = v;
          }
  }
  return y;
}

// The same network in f64.
inline std::vector<double> reference(const std::vector<int>& widths, const std::vector<std::vector<float>>& W,
                              const std::vector<std::vector<float>>& b, const std::vector<float>& x, int rows,
                              const std::vector<MlpAct>& acts) {
  std::vector<double> h(x.begin(), x.begin() + static_cast<long>(rows) * widths[0]);
  for (size_t l = 0; l + 1 < widths.size(); ++l) {
    const int K = widths[l], N = widths[l + 1];
    std::vector<double> o(static_cast<size_t>(rows) * N);
    for (int r = 0; r < rows; ++r)
      for (int n = 0; n < N; ++n) {
        double s = b[l][n];
        for (int k = 0; k < K; ++k) s += h[static_cast<size_t>(r) * K + k] * W[l][k * N + n];
        o[static_cast<size_t>(r) * N + n] = scalar::mlp_act<double>(acts[l], s);
      }
    h = std::move(o);
  }
  return h;
}

// The same network in f32 with f32 sums in k order (what an FP32 GEMM does).
inline std::vector<float> fp32_gemm(const std::vector<int>& widths, const std::vector<std::vector<float>>& W,
                             const std::vector<std::vector<float>>& b, const std::vector<float>& x, int rows,
                             const std::vector<MlpAct>& acts) {
  std::vector<float> h(x.begin(), x.begin() + static_cast<long>(rows) * widths[0]);
  for (size_t l = 0; l + 1 < widths.size(); ++l) {
    const int K = widths[l], N = widths[l + 1];
    std::vector<float> o(static_cast<size_t>(rows) * N);
    for (int r = 0; r < rows; ++r)
      for (int n = 0; n < N; ++n) {
        float s = 0.f;
        for (int k = 0; k < K; ++k) s = std::fma(h[static_cast<size_t>(r) * K + k], W[l][k * N + n], s);
        o[static_cast<size_t>(r) * N + n] = mlp_act(acts[l], s + b[l][n]);
      }
    h = std::move(o);
  }
  return h;
}

template <class V>
double max_err(const V& got, const std::vector<double>& want) {
  double e = 0;
  for (size_t i = 0; i < want.size(); ++i) e = std::max(e, std::abs(static_cast<double>(got[i]) - want[i]));
  return e;
}

}  // namespace orbit::testing
