// The ring schedule of the CUDA pair-potential kernel (kernels/scalar/pair_ring.h): every unordered pair
// exactly once, no two pairs of one step sharing a partner (the kernel's reaction writes need that), and
// a host replay of the kernel's per-lane loops (slots, steps, own forces plus reactions) equal to the
// scalar energy and gradient. The kernel itself runs in the GPU suite (systems: CUDA = CPU).
#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <set>
#include <vector>

#include "kernels/scalar/pair_potential.h"
#include "kernels/scalar/pair_ring.h"

using namespace orbit::scalar;

TEST_CASE("pair ring schedule: every pair once, distinct partners within a step, n = 1..130") {
  for (int n = 1; n <= 130; ++n) {
    std::set<std::pair<int, int>> pairs;
    size_t visits = 0, bad = 0, shared_partner = 0;
    for (int s = 1; s <= ring_steps(n); ++s) {
      std::set<int> partners;
      for (int p = 0; p < n; ++p) {
        if (!ring_active(n, s, p)) continue;
        const int j = ring_partner(n, s, p);
        if (j == p || j < 0 || j >= n) ++bad;
        if (!partners.insert(j).second) ++shared_partner;  // a reaction slot written twice in one step would race
        pairs.insert({std::min(p, j), std::max(p, j)});
        ++visits;
      }
    }
    INFO("n " << n);
    CHECK(bad == 0);
    CHECK(shared_partner == 0);
    CHECK(visits == static_cast<size_t>(n) * (n - 1) / 2);
    CHECK(pairs.size() == visits);
  }
}

namespace {

// The kernel's loops for one configuration on a group of G lanes (lane gl owning slots gl + k G).
double replay(const PairParams& p, const std::vector<double>& x, int G, std::vector<double>& grad) {
  const int n = p.n, d = p.dim, slots = (n + G - 1) / G;
  std::vector<double> F(static_cast<size_t>(n) * d, 0.0), own(static_cast<size_t>(n) * d, 0.0);
  std::vector<double> e_lane(G, 0.0);
  for (int s = 1; s <= ring_steps(n); ++s)
    for (int gl = 0; gl < G; ++gl)
      for (int k = 0; k < slots; ++k) {
        const int q = gl + k * G;
        if (q >= n || !ring_active(n, s, q)) continue;
        const int j = ring_partner(n, s, q);
        double diff[4], r2 = 0;
        for (int dd = 0; dd < d; ++dd) {
          diff[dd] = x[q * d + dd] - x[j * d + dd];
          r2 += diff[dd] * diff[dd];
        }
        const auto t = pair_term<double>(p, r2);
        e_lane[gl] += t.e;
        for (int dd = 0; dd < d; ++dd) {
          const double f = 2 * t.de_dr2 * diff[dd];
          own[q * d + dd] += f;
          F[j * d + dd] -= f;
        }
      }
  double e = 0;
  for (double v : e_lane) e += v;
  e *= p.scale;
  std::vector<double> mean(d, 0.0);
  for (int j = 0; j < n; ++j)
    for (int dd = 0; dd < d; ++dd) mean[dd] += x[j * d + dd] / n;
  grad.assign(static_cast<size_t>(n) * d, 0.0);
  for (int q = 0; q < n; ++q)
    for (int dd = 0; dd < d; ++dd) {
      grad[q * d + dd] = (own[q * d + dd] + F[q * d + dd]) * p.scale;
      if (p.oscillator != 0) {
        const double c = x[q * d + dd] - mean[dd];
        grad[q * d + dd] += p.oscillator * c;
        e += 0.5 * p.oscillator * c * c;
      }
    }
  return e;
}

}  // namespace

TEST_CASE("pair ring schedule: the kernel's loops give the scalar energy and gradient (DW4, LJ13, LJ55)") {
  std::mt19937_64 rng(3);
  std::normal_distribution<double> nd(0.0, 1.5);
  PairParams dw;
  dw.kind = PairKind::double_well, dw.n = 4, dw.dim = 2, dw.a = 0.9, dw.b = -4, dw.d0 = 4;
  PairParams lj13;
  lj13.n = 13, lj13.dim = 3, lj13.scale = 2, lj13.oscillator = 1, lj13.softening = 1e-6;
  PairParams lj55 = lj13;
  lj55.n = 55;
  for (const PairParams& p : {dw, lj13, lj55}) {
    int G = 1;
    while (G < p.n && G < 32) G *= 2;  // as the launcher
    for (int trial = 0; trial < 5; ++trial) {
      std::vector<double> x(static_cast<size_t>(p.n) * p.dim), want(x.size()), got;
      for (auto& v : x) v = nd(rng);
      const double e_want = pair_energy_grad<double>(p, x.data(), want.data());
      const double e_got = replay(p, x, G, got);
      double gmax = 0, gerr = 0;
      for (size_t k = 0; k < x.size(); ++k) {
        gmax = std::max(gmax, std::abs(want[k]));
        gerr = std::max(gerr, std::abs(got[k] - want[k]));
      }
      INFO("n " << p.n << " G " << G << ": energy " << e_got << " vs " << e_want);
      CHECK(std::abs(e_got - e_want) <= 1e-12 * (1 + std::abs(e_want)));
      CHECK(gerr <= 1e-12 * (1 + gmax));
    }
  }
}
