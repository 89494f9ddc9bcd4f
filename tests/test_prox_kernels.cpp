// The plain-array pieces of the weight-sharing prox at sizes where they run in parallel: radix
// argsort, compensated prefix sums, compaction, and the three isotonic solvers on a large input.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "kernels/cpu/prox_imminent.h"
#include "kernels/cpu/prox_pava.h"
#include "kernels/cpu/prox_scan.h"
#include "kernels/cpu/prox_search.h"
#include "kernels/cpu/prox_sort.h"
#include "kernels/cpu/prox_ws.h"

using namespace orbit::cpu::prox;

namespace {

template <class T>
void check_argsort(int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> nd(0, 1);
  std::vector<T> w(n);
  for (auto& x : w) x = static_cast<T>(std::round(nd(rng) * 64) / 64 * std::pow(10.0, int(rng() % 7) - 3));
  w[0] = T(-0.0);
  w[1] = T(0.0);
  w[2] = T(1e-30);
  w[3] = -std::numeric_limits<T>::max();
  std::vector<T> sorted(n);
  std::vector<int64_t> perm(n), ref(n);
  radix_argsort(w.data(), n, sorted.data(), perm.data());
  std::iota(ref.begin(), ref.end(), 0);
  std::stable_sort(ref.begin(), ref.end(), [&](int64_t a, int64_t b) {
    if (w[a] == w[b]) return std::signbit(w[a]) && !std::signbit(w[b]);  // -0 before +0
    return w[a] < w[b];
  });
  CHECK(perm == ref);
  bool gathered = true;
  for (int64_t k = 0; k < n; ++k) gathered = gathered && sorted[k] == w[perm[k]];
  CHECK(gathered);
}

}  // namespace

TEST_SUITE("cpu") {
  TEST_CASE("prox kernels: radix argsort is a stable sort of f32 and f64 keys") {
    for (int64_t n : {4, 5, 1000, 140001}) {
      INFO("n = " << n);
      check_argsort<float>(n, 1);
      check_argsort<double>(n, 2);
    }
    float one = 3.f;
    int64_t p = -1;
    radix_argsort(&one, 1, &one, &p);
    CHECK(p == 0);
  }

  TEST_CASE("prox kernels: compensated prefix sums and compaction agree with sequential references") {
    const int64_t n = 200003;
    std::mt19937_64 rng(4);
    std::normal_distribution<double> nd(0, 1);
    std::vector<double> z(n);
    for (int64_t k = 0; k < n; ++k) z[k] = nd(rng) * (k % 3 == 0 ? 1e6 : 1e-3);  // wide dynamic range
    std::vector<double> hi(n + 1), lo(n + 1);
    compensated_prefix(z.data(), n, hi.data(), lo.data());
    Prefix p{z.data(), hi.data(), lo.data()};
    long double run = 0;
    std::vector<long double> exact(n + 1, 0);
    for (int64_t k = 0; k < n; ++k) exact[k + 1] = run += z[k];
    double worst = 0;
    for (int64_t k = 0; k < 2000; ++k) {
      int64_t a = int64_t(rng() % n), b = a + 1 + int64_t(rng() % std::min<int64_t>(n - a, 50));
      long double s = 0;
      for (int64_t i = a; i < b; ++i) s += z[i];
      worst = std::max(worst, double(std::fabs((long double)p.sum(a, b) - s) / (std::fabs(s) + 1e-300L)));
    }
    CHECK(worst <= 1e-12);  // a short range stays accurate next to a prefix of size ~1e8
    long double total_abs = 0;
    for (double x : z) total_abs += std::fabs(x);
    CHECK(double(std::fabs((long double)hi[n] + lo[n] - exact[n]) / total_abs) <= 1e-15);

    std::vector<uint8_t> keep(n);
    std::vector<int64_t> in(n), out(n), idx(n);
    for (int64_t k = 0; k < n; ++k) {
      keep[k] = rng() % 3 == 0;
      in[k] = 7 * k;
    }
    int64_t m = compact(keep.data(), in.data(), n, out.data());
    int64_t f = flagged_indices(keep.data(), n, idx.data());
    std::vector<int64_t> ref;
    for (int64_t k = 0; k < n; ++k)
      if (keep[k]) ref.push_back(k);
    REQUIRE(m == int64_t(ref.size()));
    REQUIRE(f == m);
    bool same = true;
    for (int64_t k = 0; k < m; ++k) same = same && out[k] == 7 * ref[k] && idx[k] == ref[k];
    CHECK(same);
  }

  TEST_CASE("prox kernels: the isotonic solvers give one partition on a large input") {
    const int64_t n = (1 << 17) + 3;
    std::mt19937_64 rng(6);
    std::normal_distribution<double> nd(0, 1);
    std::vector<double> z(n);
    for (int64_t k = 0; k < n; ++k) z[k] = nd(rng) + 3.0 * double(k) / double(n);  // noisy trend
    std::vector<double> hi(n + 1), lo(n + 1);
    compensated_prefix(z.data(), n, hi.data(), lo.data());
    Prefix p{z.data(), hi.data(), lo.data()};
    std::vector<uint8_t> sp(n), si(n), ss(n);
    IsoCounters cp = isotonic_pava(p, n, sp.data());
    IsoCounters ci = isotonic_imminent(p, n, si.data());
    IsoCounters cs = isotonic_search(p, n, ss.data());
    CHECK(sp == si);
    CHECK(sp == ss);  // no exact ties between block means here, so the partitions are equal
    CHECK(cp.blocks == ci.blocks);
    CHECK(cp.blocks == cs.blocks);
    CHECK(cs.rounds == 18);
    CHECK(ci.rounds < 40);
    // The blocks are increasing and each is a pooled run of violators: no suffix of a block has a
    // mean above the block's (else it would split off); checked on the first blocks.
    std::vector<int64_t> first;
    for (int64_t k = 0; k < n; ++k)
      if (sp[k]) first.push_back(k);
    first.push_back(n);
    bool increasing = true;
    for (size_t b = 1; b + 1 < first.size(); ++b)
      increasing = increasing && p.mean(first[b - 1], first[b]) < p.mean(first[b], first[b + 1]);
    CHECK(increasing);
    bool pooled = true;
    for (size_t b = 0; b + 1 < first.size() && b < 300; ++b) {
      const double m = p.mean(first[b], first[b + 1]);
      for (int64_t s = first[b]; s < first[b + 1]; ++s) pooled = pooled && p.mean(s, first[b + 1]) <= m + 1e-12;
    }
    CHECK(pooled);
  }

  TEST_CASE("prox kernels: the full prox at d = 2^17 + 5 agrees across algorithms, f32 and f64") {
    const int64_t n = (1 << 17) + 5;
    std::mt19937_64 rng(8);
    std::normal_distribution<double> nd(0, 0.01);
    std::vector<double> w(n);
    for (auto& x : w) x = nd(rng);
    std::vector<float> wf(w.begin(), w.end());
    for (double t : {1e-2}) {
      std::vector<double> ref(n), u(n);
      std::vector<float> ref32(n), u32(n);
      Counters c = prox_weight_sharing(w.data(), n, Params{t, 0, 0, Algorithm::pava}, ref.data());
      prox_weight_sharing(wf.data(), n, Params{t, 0, 0, Algorithm::pava}, ref32.data());
      double mw = 0, mu = 0;
      for (int64_t k = 0; k < n; ++k) {
        mw += w[k];
        mu += ref[k];
      }
      CHECK(std::fabs(mw - mu) / n <= 1e-15);
      for (Algorithm a : {Algorithm::imminent, Algorithm::search}) {
        Counters ca = prox_weight_sharing(w.data(), n, Params{t, 0, 0, a}, u.data());
        prox_weight_sharing(wf.data(), n, Params{t, 0, 0, a}, u32.data());
        double d64 = 0, d32 = 0;
        for (int64_t k = 0; k < n; ++k) {
          d64 = std::max(d64, std::fabs(u[k] - ref[k]));
          d32 = std::max(d32, double(std::fabs(u32[k] - ref32[k])));
        }
        CHECK(d64 <= 1e-12 * 0.05);
        CHECK(d32 <= 1e-5 * 0.05);
        CHECK(ca.distinct == c.distinct);
      }
    }
  }
}
