// CPU kernels that split a long dimension across OpenMP threads (kernels/cpu/matmul.cpp's weight-gradient
// products, kernels/cpu/layout.h's unsorted segment sums): the same bits on 1 and 3 threads (the split
// follows the shape, never the thread count), and the right values against f64 references. (The row
// sums of kernels/cpu/reduce.h and fused.cpp: test_fusion.cpp's "closed groups on many threads".) This file sets the thread counts itself, so a one-core
// runner still exercises the workers' paths.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include "kernels/cpu/layout.h"
#include "kernels/cpu/matmul.h"
#include "tests/cpu_test_util.h"

using namespace orbit;
using namespace orbit::testing;

namespace {

// c = a^T b for row-major a [k, m], b [k, n] (the weight gradient X^T dY), in T.
template <class T>
std::vector<T> weight_gradient(const std::vector<T>& a, const std::vector<T>& b, int64_t m, int64_t n, int64_t k) {
  std::vector<T> c(static_cast<size_t>(m * n), T(-7));
  const int64_t zero = 0;
  cpu::matmul(a.data(), b.data(), c.data(), 1, &zero, &zero, m, n, k, true, false);
  return c;
}

// The largest |c - exact| / (|a|^T |b|): rounding relative to the sum of the magnitudes it adds.
template <class T>
double worst_relative(const std::vector<T>& c, const std::vector<T>& a, const std::vector<T>& b, int64_t m, int64_t n,
                      int64_t k) {
  double worst = 0;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double exact = 0, scale = 0;
      for (int64_t r = 0; r < k; ++r) {
        exact += double(a[r * m + i]) * double(b[r * n + j]);
        scale += std::abs(double(a[r * m + i]) * double(b[r * n + j]));
      }
      worst = std::max(worst, std::abs(double(c[i * n + j]) - exact) / scale);
    }
  return worst;
}

}  // namespace

TEST_SUITE("cpu") {
  TEST_CASE("cpu threads: long weight-gradient products split along k, the same bits on 1 and 3 threads") {
    // k 20001 (not a multiple of the ranges: a short last range), 40 x 24 outputs; f32 and f64. The
    // split keeps the error of a long dot product within k * eps of the magnitudes (far within, in fact).
    const int64_t m = 40, n = 24, k = 20001;
    {
      const auto a = normals<float>(static_cast<size_t>(k * m), 1), b = normals<float>(static_cast<size_t>(k * n), 2);
      auto [one, three] = on_1_and_3_threads([&] { return weight_gradient(a, b, m, n, k); });
      CHECK(same_bits(one, three));
      CHECK(worst_relative(one, a, b, m, n, k) < 1e-5);
    }
    {
      const auto a = normals<double>(static_cast<size_t>(k * m), 3), b = normals<double>(static_cast<size_t>(k * n), 4);
      auto [one, three] = on_1_and_3_threads([&] { return weight_gradient(a, b, m, n, k); });
      CHECK(same_bits(one, three));
      CHECK(worst_relative(one, a, b, m, n, k) < 1e-13);
    }
    // A second, smaller product after the long one reuses the partial buffers at a smaller size.
    const int64_t k2 = 9000;
    const auto a = normals<double>(static_cast<size_t>(k2 * 3), 5), b = normals<double>(static_cast<size_t>(k2 * 5), 6);
    const auto c = weight_gradient(a, b, 3, 5, k2);
    CHECK(worst_relative(c, a, b, 3, 5, k2) < 1e-13);
  }

  TEST_CASE("cpu threads: unsorted segment sums over one outer row, the same bits on 1 and 3 threads") {
    // 5000 ids in random order over 700 segments (some empty), inner 3: each output row adds its rows
    // in increasing position, so the sum equals a serial walk bit for bit.
    const int64_t nids = 5000, nseg = 700, inner = 3;
    std::mt19937_64 rng(9);
    std::vector<int64_t> ids(nids);
    for (auto& v : ids) v = static_cast<int64_t>(rng() % (nseg - 20));
    const auto x = normals<double>(static_cast<size_t>(nids * inner), 10);
    std::vector<double> serial(static_cast<size_t>(nseg * inner), 0.0);
    for (int64_t e = 0; e < nids; ++e)
      for (int64_t i = 0; i < inner; ++i) serial[ids[e] * inner + i] += x[e * inner + i];
    for (bool mean : {false, true}) {
      CAPTURE(mean);
      auto [one, three] = on_1_and_3_threads([&] {
        std::vector<double> out(static_cast<size_t>(nseg * inner), -1.0);
        CHECK(cpu::segment_reduce(x.data(), ids.data(), out.data(), 1, nids, nseg, inner, false, mean) == -1);
        return out;
      });
      CHECK(same_bits(one, three));
      if (!mean) CHECK(same_bits(one, serial));
    }
    // A bad id is still found and named by position.
    ids[1234] = nseg;
    std::vector<double> out(static_cast<size_t>(nseg * inner));
    CHECK(cpu::segment_reduce(x.data(), ids.data(), out.data(), 1, nids, nseg, inner, false, false) == 1234);
  }
}
