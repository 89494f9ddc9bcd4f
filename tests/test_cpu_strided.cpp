// The CPU's strided iteration (kernels/cpu/parallel.h: cpu::coalesced, cpu::for_rows,
// cpu::parallel_rows) behind the broadcasting elementwise kernels and the strided copies: on random
// iteration spaces (ranks 1-6, size-1 dims, broadcast operands, permuted and padded strides, rows long
// enough to be cut in pieces) the kernels write exactly what a plain walk of every element writes, on
// 1 and 3 threads.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/layout.h"

using namespace orbit;

namespace {

// A random iteration space of `operands` operands: each operand reads a buffer laid out in its own
// dim order, possibly with gaps, and broadcasts (stride 0) along random dims.
struct Space {
  cpu::Strided it;
  std::vector<int64_t> extent;  // per operand: elements its buffer needs

  Space(std::mt19937_64& rng, int operands, bool allow_broadcast) : extent(static_cast<size_t>(operands), 1) {
    it.rank = 1 + static_cast<int>(rng() % cpu::Strided::kMax);
    for (int d = 0; d < it.rank; ++d) {
      const int64_t pick = static_cast<int64_t>(rng() % 6);
      it.shape[d] = pick == 0 ? 1 : pick == 1 ? 1 + static_cast<int64_t>(rng() % 3) : 1 + static_cast<int64_t>(rng() % 9);
    }
    if (rng() % 4 == 0) it.shape[it.rank - 1] = 4000 + static_cast<int64_t>(rng() % 9000);  // pieces of a row
    for (int d = 0; it.numel() > 60000; d = (d + 1) % it.rank) it.shape[d] = (it.shape[d] + 1) / 2;  // small enough
    for (int k = 0; k < operands; ++k) {
      std::vector<int> order(static_cast<size_t>(it.rank));
      std::iota(order.begin(), order.end(), 0);
      if (rng() % 2) std::shuffle(order.begin(), order.end(), rng);
      int64_t step = 1;
      for (int j = it.rank - 1; j >= 0; --j) {
        const int d = order[static_cast<size_t>(j)];
        const bool broadcast = allow_broadcast && k > 0 && rng() % 3 == 0;
        it.stride[k][d] = broadcast ? 0 : step;
        if (!broadcast) step *= it.shape[d] + static_cast<int64_t>(rng() % 2);  // sometimes a gap
      }
      extent[static_cast<size_t>(k)] = step;
    }
  }
};

template <class F>
void on_1_and_3_threads(F&& f) {
#if defined(_OPENMP)
  const int saved = omp_get_max_threads();
  for (int t : {1, 3}) {
    omp_set_num_threads(t);
    f();
  }
  omp_set_num_threads(saved);
#else
  f();
#endif
}

}  // namespace

TEST_SUITE("cpu") {
  TEST_CASE("cpu strided: coalesced rows give every element the plain walk's offsets (binary, ternary, copy)") {
    std::mt19937_64 rng(11);
    std::normal_distribution<double> nd;
    int checked = 0;
    for (int trial = 0; trial < 300; ++trial) {
      CAPTURE(trial);
      // Binary and ternary maps: operand 0 is the output's own layout or any other, 1 and 2 broadcast.
      Space sp(rng, 3, true);
      const int64_t n = sp.it.numel();
      std::vector<double> a(static_cast<size_t>(sp.extent[0])), b(static_cast<size_t>(sp.extent[1])),
          c(static_cast<size_t>(sp.extent[2]));
      for (auto* v : {&a, &b, &c})
        for (auto& e : *v) e = nd(rng);
      std::vector<double> want2(static_cast<size_t>(n)), want3(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) {
        const double x = a[sp.it.offset(0, i)], y = b[sp.it.offset(1, i)], z = c[sp.it.offset(2, i)];
        want2[i] = x * 3 - y;
        want3[i] = x + y * z;
      }
      on_1_and_3_threads([&] {
        std::vector<double> got2(static_cast<size_t>(n), -1.0), got3(static_cast<size_t>(n), -1.0);
        cpu::map_binary(a.data(), b.data(), got2.data(), sp.it, [](double x, double y) { return x * 3 - y; });
        cpu::map_ternary(a.data(), b.data(), c.data(), got3.data(), sp.it,
                         [](double x, double y, double z) { return x + y * z; });
        CHECK(got2 == want2);
        CHECK(got3 == want3);
      });
      // Copies: operand 0 the destination (no broadcast: every element written once), 1 the source.
      Space cp(rng, 2, false);
      for (int d = 0; d < cp.it.rank; ++d)
        if (rng() % 4 == 0) cp.it.stride[1][d] = 0;  // a broadcast source (broadcast_to)
      std::vector<double> src(static_cast<size_t>(cp.extent[1]));
      for (auto& e : src) e = nd(rng);
      std::vector<double> want(static_cast<size_t>(cp.extent[0]), -2.0);
      for (int64_t i = 0; i < cp.it.numel(); ++i) want[cp.it.offset(0, i)] = src[cp.it.offset(1, i)];
      on_1_and_3_threads([&] {
        std::vector<double> got(static_cast<size_t>(cp.extent[0]), -2.0);
        cpu::copy_strided(got.data(), src.data(), cp.it);
        CHECK(got == want);
      });
      ++checked;
    }
    CHECK(checked == 300);
  }

  TEST_CASE("cpu strided: coalescing drops size-1 dims and merges dims that step as one") {
    cpu::Strided it;
    it.rank = 4;
    const int64_t shape[] = {5, 3, 1, 4};
    const int64_t a[] = {12, 4, 4, 1}, b[] = {1, 0, 0, 0};  // a contiguous, b broadcast over the last dims
    for (int d = 0; d < 4; ++d) it.shape[d] = shape[d], it.stride[0][d] = a[d], it.stride[1][d] = b[d];
    const cpu::Strided c = cpu::coalesced(it, 2);
    REQUIRE(c.rank == 2);  // [5, 3 x 4]: b's 0 strides merge, its stride-1 dim does not
    CHECK(c.shape[0] == 5);
    CHECK(c.shape[1] == 12);
    CHECK(c.stride[0][0] == 12);
    CHECK(c.stride[0][1] == 1);
    CHECK(c.stride[1][0] == 1);
    CHECK(c.stride[1][1] == 0);
    const cpu::Strided one = cpu::coalesced(it, 1);  // operand a alone is contiguous: one row
    CHECK(one.rank == 1);
    CHECK(one.shape[0] == 60);
    cpu::Strided ones;
    ones.rank = 3;
    ones.shape[0] = ones.shape[1] = ones.shape[2] = 1;
    const cpu::Strided single = cpu::coalesced(ones, 2);
    CHECK(single.rank == 1);
    CHECK(single.numel() == 1);
  }
}
