// A host model of the fused EGNN message op's tensor-core forward (kernels/cuda/egnn_message_tc_kernel.cuh)
// for the tests: one layer's inputs, a replay of the kernel's work warp by warp (the MMA modelled from
// the PTX layouts, tests/mma_model.h) and the op's definition in f64.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

#include "engine/egnn_message.h"
#include "kernels/scalar/egnn_tc_plan.h"
#include "kernels/scalar/fast_sigmoid.h"
#include "kernels/scalar/mma_tf32.h"
#include "kernels/scalar/unary.h"
#include "mma_model.h"

namespace orbit::testing::egnn_tc {

// One message layer's inputs in f32 (the op's layout, engine/egnn_message.h).
struct Layer {
  int B = 0, n = 0, d = 0, H = 0, E = 0;
  EgnnMessageAttr attr;
  std::vector<float> P, Q, x, w_r, W2, b2, W3, b3, w4, a, W_a, w_att, b_att;
};

inline Layer make_layer(int B, int n, int d, int H, int E, bool idem_options, uint64_t seed) {
  Layer L;
  L.B = B, L.n = n, L.d = d, L.H = H, L.E = E;
  L.attr.edge_attr = E;
  L.attr.attention = L.attr.norm_diff = L.attr.tanh = idem_options;
  L.attr.coords_range = 2.5;
  if (!idem_options) {
    L.attr.self_loops = true;
    L.attr.coord_clamp = 0.3;
  }
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> nd(0.f, 1.f);
  auto fill = [&](std::vector<float>& v, size_t count, float s) {
    v.resize(count);
    for (auto& e : v) e = s * nd(rng);
  };
  const float ws = 1.f / std::sqrt(static_cast<float>(H));
  fill(L.P, size_t(B) * n * H, 1.f);
  fill(L.Q, size_t(B) * n * H, 1.f);
  fill(L.x, size_t(B) * n * d, 1.2f);
  fill(L.w_r, H, 0.3f);
  fill(L.W2, size_t(H) * H, ws);
  fill(L.b2, H, 0.1f);
  fill(L.W3, size_t(H) * H, ws);
  fill(L.b3, H, 0.1f);
  fill(L.w4, H, ws);
  fill(L.a, size_t(B) * n * n * E, 1.f);
  fill(L.W_a, size_t(E) * H, 0.5f);
  fill(L.w_att, H, ws);
  fill(L.b_att, 1, 0.1f);
  return L;
}

inline float silu(float z) { return scalar::silu_fast(z); }  // as the kernel

// The kernel's work, warp by warp, on the host. Returns out [B, n, H + d].
inline std::vector<float> replay(const Layer& L, const scalar::EgnnTcPlan& plan) {
  const int H = L.H, d = L.d, n = L.n, SA = plan.act_stride, SW = plan.wstride, NT = H / 8;
  std::vector<float> smem(plan.weight_floats + plan.warp_floats, NAN);
  for (int k = 0; k < H; ++k)
    for (int c = 0; c < SW; ++c) {
      smem[plan.w2 + k * SW + c] = c < H ? L.W2[k * H + c] : 0.f;
      smem[plan.w3 + k * SW + c] = c < H ? L.W3[k * H + c] : 0.f;
    }
  float* b2s = smem.data() + plan.vec;
  float *b3s = b2s + H, *w4s = b2s + 2 * H, *wrs = b2s + 3 * H, *watts = b2s + 4 * H, *Was = b2s + 5 * H;
  for (int h = 0; h < H; ++h) {
    b2s[h] = L.b2[h], b3s[h] = L.b3[h], w4s[h] = L.w4[h], wrs[h] = L.w_r[h];
    watts[h] = L.attr.attention ? L.w_att[h] : 0.f;
  }
  for (int i = 0; i < L.E * H; ++i) Was[i] = L.W_a[i];
  float* T = smem.data() + plan.weight_floats;
  float* geo = T + 16 * SA;
  const int deg = L.attr.self_loops ? n : n - 1;
  const float batt = L.attr.attention ? L.b_att[0] : 0.f;
  std::vector<float> out(size_t(L.B) * n * (H + d), NAN);
  std::vector<float> acc(size_t(NT) * 32 * 4);
  auto quad_sum = [](const float (&v)[32], int lane) {  // __shfl_xor 1 then 2
    const int q0 = lane & ~3;
    return (v[q0] + v[q0 + 1]) + (v[q0 + 2] + v[q0 + 3]);
  };
  for (int64_t q = 0; q < int64_t(L.B) * n; ++q) {
    const int64_t b = q / n;
    const int i = static_cast<int>(q - b * n);
    std::vector<float> magg(H, 0.f);
    std::vector<float> xacc(d, 0.f);
    for (int m0 = 0; m0 < deg; m0 += 16) {
      const int rows = std::min(16, deg - m0);
      std::vector<int> sender(16, 0);
      for (int row = 0; row < 16; ++row) {
        float* gr = geo + row * scalar::kEgnnTcGeo;
        if (row >= rows) {
          gr[4] = 0.f;
          continue;
        }
        int j = m0 + row;
        if (!L.attr.self_loops && j >= i) ++j;
        sender[row] = j;
        float D[4], r = 0.f;
        for (int k = 0; k < d; ++k) {
          D[k] = L.x[q * d + k] - L.x[(b * n + j) * d + k];
          r += D[k] * D[k];
        }
        const float sc = L.attr.norm_diff ? std::sqrt(r + 1e-8f) + 1.f : 1.f;
        for (int k = 0; k < d; ++k) gr[k] = L.attr.norm_diff ? D[k] / sc : D[k];
        gr[4] = r;
      }
      for (int row = 0; row < 16; ++row)
        for (int h = 0; h < H; ++h) {
          float v = 0.f;
          if (row < rows) {
            const int j = sender[row];
            float pre = L.P[q * H + h] + L.Q[(b * n + j) * H + h] + geo[row * scalar::kEgnnTcGeo + 4] * wrs[h];
            for (int e = 0; e < L.E; ++e) pre += L.a[((b * n + i) * n + j) * L.E + e] * Was[e * H + h];
            v = silu(pre);
          }
          T[row * SA + h] = v;
        }
      std::fill(acc.begin(), acc.end(), 0.f);
      testing::replay_tile_gemm(T, SA, smem.data() + plan.w2, SW, H, NT, acc);
      float s0[32] = {}, s1[32] = {};
      for (int lane = 0; lane < 32; ++lane)
        for (int nt = 0; nt < NT; ++nt)
          for (int c = 0; c < 2; ++c) {
            const int col = nt * 8 + 2 * (lane & 3) + c;
            float* a4 = &acc[(size_t(nt) * 32 + lane) * 4];
            a4[c] = silu(a4[c] + b2s[col]);
            a4[2 + c] = silu(a4[2 + c] + b2s[col]);
            s0[lane] += a4[c] * watts[col];
            s1[lane] += a4[2 + c] * watts[col];
          }
      for (int lane = 0; lane < 32; ++lane) {
        const int g = lane >> 2;
        float gate0 = g < rows ? 1.f : 0.f, gate1 = g + 8 < rows ? 1.f : 0.f;
        if (L.attr.attention) {
          gate0 *= scalar::sigmoid_fast(quad_sum(s0, lane) + batt);
          gate1 *= scalar::sigmoid_fast(quad_sum(s1, lane) + batt);
        }
        for (int nt = 0; nt < NT; ++nt) {
          const float* a4 = &acc[(size_t(nt) * 32 + lane) * 4];
          const int col = nt * 8 + 2 * (lane & 3);
          T[g * SA + col] = a4[0] * gate0, T[g * SA + col + 1] = a4[1] * gate0;
          T[(g + 8) * SA + col] = a4[2] * gate1, T[(g + 8) * SA + col + 1] = a4[3] * gate1;
        }
      }
      for (int col = 0; col < H; ++col) {
        float s = 0.f;
        for (int row = 0; row < rows; ++row) s += T[row * SA + col];
        magg[col] += s;
      }
      std::fill(acc.begin(), acc.end(), 0.f);
      testing::replay_tile_gemm(T, SA, smem.data() + plan.w3, SW, H, NT, acc);
      float w0[32] = {}, w1[32] = {};
      for (int lane = 0; lane < 32; ++lane)
        for (int nt = 0; nt < NT; ++nt)
          for (int c = 0; c < 2; ++c) {
            const int col = nt * 8 + 2 * (lane & 3) + c;
            const float* a4 = &acc[(size_t(nt) * 32 + lane) * 4];
            w0[lane] += silu(a4[c] + b3s[col]) * w4s[col];
            w1[lane] += silu(a4[2 + c] + b3s[col]) * w4s[col];
          }
      for (int lane = 0; lane < 32; lane += 4) {
        float v0 = quad_sum(w0, lane), v1 = quad_sum(w1, lane);
        if (L.attr.tanh) {
          v0 = std::tanh(v0) * static_cast<float>(L.attr.coords_range);
          v1 = std::tanh(v1) * static_cast<float>(L.attr.coords_range);
        }
        geo[(lane >> 2) * scalar::kEgnnTcGeo + 6] = v0;
        geo[((lane >> 2) + 8) * scalar::kEgnnTcGeo + 6] = v1;
      }
      const float cl = static_cast<float>(L.attr.coord_clamp);
      for (int k = 0; k < d; ++k)
        for (int row = 0; row < rows; ++row) {
          float tk = geo[row * scalar::kEgnnTcGeo + k] * geo[row * scalar::kEgnnTcGeo + 6];
          if (cl > 0.f) tk = std::min(std::max(tk, -cl), cl);
          xacc[k] += tk;
        }
    }
    for (int h = 0; h < H; ++h) out[q * (H + d) + h] = magg[h];
    for (int k = 0; k < d; ++k) out[q * (H + d) + H + k] = xacc[k];
  }
  return out;
}

// The op's definition in f64 (as the op harness's reference).
inline std::vector<double> reference(const Layer& L) {
  const int H = L.H, d = L.d, n = L.n, E = L.E;
  const auto& A = L.attr;
  std::vector<double> out(size_t(L.B) * n * (H + d), 0.0);
  auto sg = [](double z) { return 1 / (1 + std::exp(-z)); };
  for (int b = 0; b < L.B; ++b)
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j) {
        if (i == j && !A.self_loops) continue;
        std::vector<double> D(d), u1(H), mm(H);
        double r = 0;
        for (int k = 0; k < d; ++k) {
          D[k] = double(L.x[(b * n + i) * d + k]) - L.x[(b * n + j) * d + k];
          r += D[k] * D[k];
        }
        if (A.norm_diff)
          for (auto& v : D) v /= std::sqrt(r + 1e-8) + 1;
        for (int h = 0; h < H; ++h) {
          double pre = double(L.P[(b * n + i) * H + h]) + L.Q[(b * n + j) * H + h] + r * L.w_r[h];
          for (int e = 0; e < E; ++e) pre += double(L.a[((b * n + i) * n + j) * E + e]) * L.W_a[e * H + h];
          u1[h] = pre * sg(pre);
        }
        for (int h = 0; h < H; ++h) {
          double z = L.b2[h];
          for (int k = 0; k < H; ++k) z += u1[k] * L.W2[k * H + h];
          mm[h] = z * sg(z);
        }
        if (A.attention) {
          double g = L.b_att[0];
          for (int h = 0; h < H; ++h) g += mm[h] * L.w_att[h];
          for (auto& v : mm) v *= sg(g);
        }
        double w = 0;
        for (int h = 0; h < H; ++h) {
          double z = L.b3[h];
          for (int k = 0; k < H; ++k) z += mm[k] * L.W3[k * H + h];
          w += z * sg(z) * L.w4[h];
        }
        if (A.tanh) w = A.coords_range * std::tanh(w);
        for (int h = 0; h < H; ++h) out[(size_t(b) * n + i) * (H + d) + h] += mm[h];
        for (int k = 0; k < d; ++k) {
          double t = D[k] * w;
          if (A.coord_clamp > 0) t = std::min(std::max(t, -A.coord_clamp), A.coord_clamp);
          out[(size_t(b) * n + i) * (H + d) + H + k] += t;
        }
      }
  return out;
}

// max |got - want| over the message part and over the coordinate part, each relative to its own scale.
inline std::pair<double, double> rel_errors(const std::vector<float>& got, const std::vector<double>& want, int H, int d) {
  double sm = 0, sx = 0, em = 0, ex = 0;
  for (size_t k = 0; k < want.size(); ++k) {
    const bool coord = static_cast<int>(k % (H + d)) >= H;
    (coord ? sx : sm) = std::max(coord ? sx : sm, std::abs(want[k]));
  }
  for (size_t k = 0; k < want.size(); ++k) {
    const bool coord = static_cast<int>(k % (H + d)) >= H;
    const double e = std::abs(double(got[k]) - want[k]);
    (coord ? ex : em) = std::max(coord ? ex : em, e);
  }
  return {em / std::max(sm, 1e-30), ex / std::max(sx, 1e-30)};
}

}  // namespace orbit::testing::egnn_tc
