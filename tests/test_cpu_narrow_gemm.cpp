// The narrow-product kernel of the AVX2 / AVX-512 variants (kernels/cpu/isa/gemm_narrow.inc): every
// output is one FMA chain over k in order, then + bias, then relu. So its results are compared with
// std::fma chains bit for bit, on every variant this CPU runs, over shapes that exercise the row
// tiles' and the column vectors' tails, a transposed right-hand side, the fused bias and relu, the
// thread split (the same bits on 1 and 3 threads) and the fused MLP that uses it.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "kernels/cpu/isa.h"
#include "kernels/cpu/isa/gemm.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/mlp_fused.h"
#include "kernels/scalar/unary.h"
#include "tests/cpu_test_util.h"

using namespace orbit;
using namespace orbit::testing;

namespace {

// The variants with a narrow kernel that this build has and this CPU runs.
std::vector<cpu::Isa> narrow_variants() {
  std::vector<cpu::Isa> out;
  for (cpu::Isa isa : cpu::isa_available())
    if (isa != cpu::Isa::baseline) out.push_back(isa);
  return out;
}

// c = op(a) op(b) (+ bias, relu) as the kernel promises it: std::fma over k in order from +0.
template <class T>
std::vector<T> fma_chains(const std::vector<T>& a, const std::vector<T>& b, int64_t m, int64_t n, int64_t k, bool ta,
                          bool tb, const T* bias, bool relu) {
  std::vector<T> c(static_cast<size_t>(m * n));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      T acc = T(0);
      for (int64_t p = 0; p < k; ++p)
        acc = std::fma(ta ? a[p * m + i] : a[i * k + p], tb ? b[j * k + p] : b[p * n + j], acc);
      if (bias) acc = acc + bias[j];
      if (relu) acc = acc > T(0) ? acc : T(0);
      c[static_cast<size_t>(i * n + j)] = acc;
    }
  return c;
}

template <class T>
std::vector<T> product(const std::vector<T>& a, const std::vector<T>& b, int64_t m, int64_t n, int64_t k, bool ta,
                       bool tb) {
  std::vector<T> c(static_cast<size_t>(m * n), T(-7));
  const int64_t zero = 0;
  cpu::matmul(a.data(), b.data(), c.data(), 1, &zero, &zero, m, n, k, ta, tb);
  return c;
}

template <class T>
void check_shapes() {
  // Columns: below, at and across vector widths (4, 8, 16 lanes) and column blocks (3-4 vectors);
  // rows: tile tails and more than one 96-row chunk; k from 1 to past the L1 and over several 128-long
  // ranges (the chains stored and resumed).
  const int64_t shapes[][3] = {{1, 16, 1},   {5, 17, 3},   {13, 31, 7},   {7, 64, 64},  {97, 64, 64}, {200, 33, 17},
                               {96, 100, 70}, {50, 129, 9}, {40, 256, 40}, {31, 8, 300}, {12, 4, 5},   {193, 48, 1024},
                               {300, 70, 100}, {64, 64, 1000},  {3, 40, 2000}};
  uint64_t seed = 11;
  for (cpu::Isa isa : narrow_variants()) {
    cpu::set_active_isa(isa);
    CAPTURE(cpu::isa_name(isa));
    int narrow_by_layout[4] = {0, 0, 0, 0};
    for (auto& s : shapes)
      for (int t = 0; t < 4; ++t) {
        const int64_t m = s[0], n = s[1], k = s[2];
        const bool ta = t & 1, tb = t & 2;
        CAPTURE(m);
        CAPTURE(n);
        CAPTURE(k);
        CAPTURE(ta);
        CAPTURE(tb);
        if (!cpu::narrow_gemm_applies(m, n, k, ta, tb, sizeof(T))) continue;
        ++narrow_by_layout[t];
        const auto a = normals<T>(static_cast<size_t>(m * k), ++seed), b = normals<T>(static_cast<size_t>(k * n), ++seed);
        CHECK(same_bits(product(a, b, m, n, k, ta, tb),
                        fma_chains(a, b, m, n, k, ta, tb, static_cast<const T*>(nullptr), false)));
        if (!ta && !tb) {
          const auto bias = normals<T>(static_cast<size_t>(n), ++seed);
          for (bool relu : {false, true}) {
            std::vector<T> c(static_cast<size_t>(m * n), T(-7));
            REQUIRE(cpu::gemm_bias_relu(a.data(), b.data(), bias.data(), c.data(), m, n, k, relu));
            CHECK(same_bits(c, fma_chains(a, b, m, n, k, false, false, bias.data(), relu)));
          }
        }
      }
    // The shapes above are the kernel's, not Eigen's, in every layout.
    for (int t = 0; t < 4; ++t) CHECK(narrow_by_layout[t] >= 3);
  }
}

}  // namespace

TEST_SUITE("cpu") {
  TEST_CASE("cpu narrow gemm: every output is an FMA chain over k, bit for bit, on every variant (f32, f64)") {
    IsaGuard guard;
    if (narrow_variants().empty()) {
      MESSAGE("no AVX2 / AVX-512 variant on this CPU or in this build: the narrow kernel does not run here");
      return;
    }
    check_shapes<float>();
    check_shapes<double>();
  }

  TEST_CASE("cpu narrow gemm: which products take it, and the baseline never does") {
    IsaGuard guard;
    CHECK(cpu::narrow_gemm_applies(4096, 64, 64, false, false, 4));
    CHECK(cpu::narrow_gemm_applies(4096, 4, 64, false, false, 8));
    CHECK_FALSE(cpu::narrow_gemm_applies(4096, 2, 64, false, false, 4));     // too few columns for the vectors
    CHECK_FALSE(cpu::narrow_gemm_applies(4096, 512, 64, false, false, 4));   // too wide
    CHECK_FALSE(cpu::narrow_gemm_applies(64, 64, 4096, false, false, 4));    // too long a row of a
    CHECK(cpu::narrow_gemm_applies(64, 64, 65536, true, false, 4));           // a^T b: ranges of k
    CHECK_FALSE(cpu::narrow_gemm_applies(4096, 256, 1024, false, true, 4));  // a transposed b over 256 KiB
    CHECK_FALSE(cpu::narrow_gemm_applies(0, 64, 64, false, false, 4));
    CHECK(cpu::narrow_gemm_applies(128, 64, 64, false, true, 4));
    CHECK_FALSE(cpu::narrow_gemm_applies(127, 64, 64, false, true, 4));  // too few rows to pay for the transpose
    cpu::set_active_isa(cpu::Isa::baseline);
    std::vector<float> a(64 * 64, 1.f), b(64 * 64, 1.f), bias(64, 0.f), c(64 * 64, -7.f);
    CHECK_FALSE(cpu::gemm_bias_relu(a.data(), b.data(), bias.data(), c.data(), 64, 64, 64, true));
    CHECK(c[0] == -7.f);  // nothing written
  }

  TEST_CASE("cpu narrow gemm: NaN and infinities pass through, relu maps NaN and -0 as the scalar relu does") {
    IsaGuard guard;
    for (cpu::Isa isa : narrow_variants()) {
      cpu::set_active_isa(isa);
      CAPTURE(cpu::isa_name(isa));
      const int64_t m = 9, n = 20, k = 5;
      auto a = normals<float>(static_cast<size_t>(m * k), 3), b = normals<float>(static_cast<size_t>(k * n), 4);
      a[2 * k + 1] = std::numeric_limits<float>::quiet_NaN();  // row 2 all NaN
      a[4 * k + 0] = std::numeric_limits<float>::infinity();   // row 4: +-inf or NaN
      auto bias = normals<float>(static_cast<size_t>(n), 5);
      for (int64_t p = 0; p < k; ++p) b[static_cast<size_t>(p * n + 3)] = -0.f;  // column 3: sums of zeros
      bias[3] = -0.f;
      for (bool relu : {false, true}) {
        std::vector<float> c(static_cast<size_t>(m * n));
        REQUIRE(cpu::gemm_bias_relu(a.data(), b.data(), bias.data(), c.data(), m, n, k, relu));
        CHECK(same_bits(c, fma_chains(a, b, m, n, k, false, false, bias.data(), relu)));
        if (relu) CHECK(c[2 * n + 5] == 0.f);
        else CHECK(std::isnan(c[2 * n + 5]));
      }
    }
  }

  TEST_CASE("cpu narrow gemm: the same bits on 1 and 3 threads") {
    const int64_t m = 1001, n = 72, k = 48;  // 11 chunks of 96 rows, the last one short
    const auto a = normals<float>(static_cast<size_t>(m * k), 21), b = normals<float>(static_cast<size_t>(k * n), 22);
    const auto ad = normals<double>(static_cast<size_t>(m * k), 23), bd = normals<double>(static_cast<size_t>(k * n), 24);
    auto [one, three] = on_1_and_3_threads([&] { return product(a, b, m, n, k, false, true); });
    auto [one_d, three_d] = on_1_and_3_threads([&] { return product(ad, bd, m, n, k, false, false); });
    CHECK(same_bits(one, three));
    CHECK(same_bits(one_d, three_d));
  }

  TEST_CASE("cpu narrow gemm: the fused MLP's layers equal product, bias add and activation done apart") {
    // 300 rows x (32 -> 64 relu -> 24 tanh -> 16 identity): relu fused in registers, tanh in a
    // second pass; the unfused reference runs the same products through cpu::gemm.
    const int64_t n = 300;
    const int64_t widths[4] = {32, 64, 24, 16};
    const scalar::MlpAct acts[3] = {scalar::MlpAct::relu, scalar::MlpAct::tanh, scalar::MlpAct::identity};
    std::vector<std::vector<float>> w, b;
    for (int l = 0; l < 3; ++l) {
      w.push_back(normals<float>(static_cast<size_t>(widths[l] * widths[l + 1]), 40 + l));
      b.push_back(normals<float>(static_cast<size_t>(widths[l + 1]), 50 + l));
    }
    const auto x = normals<float>(static_cast<size_t>(n * widths[0]), 60);
    const float* wp[3] = {w[0].data(), w[1].data(), w[2].data()};
    const float* bp[3] = {b[0].data(), b[1].data(), b[2].data()};
    const cpu::MlpShape shape{3, widths, acts};
    std::vector<float> y(static_cast<size_t>(n * widths[3]));
    cpu::mlp_fused(x.data(), n, shape, wp, bp, y.data());
    std::vector<float> h = x;
    for (int l = 0; l < 3; ++l) {
      std::vector<float> out(static_cast<size_t>(n * widths[l + 1]));
      cpu::gemm(h.data(), wp[l], out.data(), n, widths[l + 1], widths[l], false, false);
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < widths[l + 1]; ++j) {
          float& v = out[static_cast<size_t>(i * widths[l + 1] + j)];
          v = v + bp[l][j];
          if (acts[l] == scalar::MlpAct::relu) v = v > 0.f ? v : 0.f;
          if (acts[l] == scalar::MlpAct::tanh) v = scalar::Tanh{}(v);
        }
      h = std::move(out);
    }
    CHECK(same_bits(y, h));
  }
}
