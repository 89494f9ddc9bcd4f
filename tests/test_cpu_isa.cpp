// The instruction-set variants of the CPU matrix products (kernels/cpu/isa.h): every variant this
// CPU runs gives the baseline's products to rounding, for every transpose combination and for the
// shapes at the edges of Eigen's blocking; bad selections are errors naming the problem.
#include <doctest/doctest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <random>
#include <vector>
#if defined(_OPENMP)
#include <omp.h>
#endif

#include "engine/error.h"
#include "kernels/cpu/dem_target.h"
#include "kernels/cpu/isa.h"
#include "kernels/cpu/isa/pair_energy_lanes.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/random.h"
#include "kernels/scalar/random.h"
#include "tests/cpu_test_util.h"

using namespace orbit;
using namespace orbit::testing;

namespace {

template <class T>
std::vector<T> product(cpu::Isa isa, const std::vector<T>& a, const std::vector<T>& b, int64_t m, int64_t n,
                       int64_t k, bool ta, bool tb) {
  cpu::set_active_isa(isa);
  std::vector<T> c(static_cast<size_t>(m * n), T(-7));
  const int64_t zero = 0;
  cpu::matmul(a.data(), b.data(), c.data(), 1, &zero, &zero, m, n, k, ta, tb);
  return c;
}

template <class T>
void check_variants(double tol) {
  std::mt19937_64 rng(7);
  std::normal_distribution<double> nd;
  const int64_t shapes[][3] = {{1, 1, 1}, {3, 5, 2}, {17, 33, 9}, {64, 128, 128}, {129, 70, 257}, {300, 1, 40},
                               {1, 300, 40}, {5, 7, 0}};
  for (auto& s : shapes)
    for (int t = 0; t < 4; ++t) {
      const int64_t m = s[0], n = s[1], k = s[2];
      const bool ta = t & 1, tb = t & 2;
      std::vector<T> a(static_cast<size_t>(m * k)), b(static_cast<size_t>(k * n));
      for (auto& v : a) v = static_cast<T>(nd(rng));
      for (auto& v : b) v = static_cast<T>(nd(rng));
      const auto ref = product(cpu::Isa::baseline, a, b, m, n, k, ta, tb);
      // The exact product, for a scale: |a| |b| summed over k bounds the rounding of any order.
      for (cpu::Isa isa : cpu::isa_available()) {
        CAPTURE(cpu::isa_name(isa));
        CAPTURE(m);
        CAPTURE(n);
        CAPTURE(k);
        CAPTURE(t);
        const auto got = product(isa, a, b, m, n, k, ta, tb);
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = 0; j < n; ++j) {
            double scale = 0, exact = 0;
            for (int64_t l = 0; l < k; ++l) {
              const double x = a[static_cast<size_t>(ta ? l * m + i : i * k + l)];
              const double y = b[static_cast<size_t>(tb ? j * k + l : l * n + j)];
              scale += std::abs(x * y);
              exact += x * y;
            }
            const size_t at = static_cast<size_t>(i * n + j);
            REQUIRE(std::abs(got[at] - exact) <= tol * (scale + 1e-30) * std::max<int64_t>(1, k));
            REQUIRE(std::abs(got[at] - ref[at]) <= 2 * tol * (scale + 1e-30) * std::max<int64_t>(1, k));
          }
      }
    }
}

// The DEM score target of a Gaussian mixture with the ISA's kernel (kernels/cpu/isa/gmm_energy_body.inc).
std::vector<double> gmm_target(cpu::Isa isa, const scalar::DemParams& p, const std::vector<double>& x,
                               const std::vector<double>& sigma, const std::vector<double>& means) {
  cpu::set_active_isa(isa);
  std::vector<double> out(x.size());
  cpu::dem_target<double>(p, x.data(), sigma.data(), means.data(), static_cast<int64_t>(sigma.size()), out.data());
  return out;
}

// The same from the shared scalar energy (kernels/scalar/pair_potential.h) and plain softmax weights.
std::vector<double> gmm_target_reference(const scalar::DemParams& p, const std::vector<double>& x,
                                         const std::vector<double>& sigma, const std::vector<double>& means) {
  const int D = p.D;
  std::vector<double> out(x.size());
  for (size_t b = 0; b < sigma.size(); ++b) {
    std::vector<double> e(p.K), g(static_cast<size_t>(p.K) * D), y(D);
    for (int k = 0; k < p.K; ++k) {
      for (int j = 0; j < D; ++j)
        y[j] = x[b * D + j] + sigma[b] * scalar::random_normal<double>(p.seed, p.stream, p.run,
                                                                       scalar::dem_noise_index(p, b, k, j));
      e[k] = scalar::gmm_energy_grad<double>(p.mixture, y.data(), means.data(), &g[static_cast<size_t>(k) * D]);
    }
    const double emin = *std::min_element(e.begin(), e.end());
    double z = 0;
    for (int k = 0; k < p.K; ++k) z += std::exp(emin - e[k]);
    for (int j = 0; j < D; ++j) {
      double v = 0;
      for (int k = 0; k < p.K; ++k) v -= std::exp(emin - e[k]) / z * g[static_cast<size_t>(k) * D + j];
      out[b * D + j] = v;
    }
    scalar::dem_clip<double>(p, &out[b * D]);
  }
  return out;
}

}  // namespace

TEST_SUITE("cpu") {
  TEST_CASE("cpu isa: the GMM score-target kernel gives the same bits on every variant, and the reference's values") {
    IsaGuard guard;
    std::mt19937_64 rng(11);
    std::normal_distribution<double> nd;
    // Component counts around the kernel's 8 partial sums, dimensions 1..8, far points (weights that
    // underflow), clipping on and off.
    const int shapes[][2] = {{40, 2}, {3, 2}, {8, 1}, {17, 3}, {1, 8}};
    for (auto& s : shapes) {
      const int C = s[0], D = s[1];
      scalar::DemParams p;
      p.gmm = true;
      p.D = D;
      p.K = 37;
      p.seed = 5;
      p.stream = 2;
      p.run = 3;
      p.mixture.dim = D;
      p.mixture.components = C;
      p.mixture.std = 0.7;
      p.mixture.scale = 1.9;
      p.max_norm = C == 17 ? 4.0 : 0.0;
      p.clip_group = D;
      std::vector<double> means(static_cast<size_t>(C) * D), x(static_cast<size_t>(6) * D), sigma(6);
      for (auto& v : means) v = 8 * nd(rng);
      for (auto& v : x) v = 3 * nd(rng);
      for (size_t b = 0; b < sigma.size(); ++b) sigma[b] = b == 5 ? 40.0 : 0.05 + 0.5 * b;
      const auto base = gmm_target(cpu::Isa::baseline, p, x, sigma, means);
      const auto ref = gmm_target_reference(p, x, sigma, means);
      for (size_t i = 0; i < x.size(); ++i) {
        CAPTURE(C);
        CAPTURE(D);
        CAPTURE(i);
        REQUIRE(std::isfinite(base[i]));
        CHECK(std::abs(base[i] - ref[i]) <= 1e-12 * (1 + std::abs(ref[i])));
      }
      for (cpu::Isa isa : cpu::isa_available()) {
        CAPTURE(cpu::isa_name(isa));
        CHECK(gmm_target(isa, p, x, sigma, means) == base);
      }
    }
  }

  TEST_CASE("cpu isa: the lane-parallel pair energies give scalar::pair_energy_grad's bits on every variant") {
    IsaGuard guard;
    std::mt19937_64 rng(3);
    std::normal_distribution<double> nd;
    constexpr int L = cpu::kPairLanes;
    // DW4 (2-D double well), LJ13 with iDEM's scale 2 and an oscillator, a softened 4-D LJ; one lane
    // with two coincident particles (DW's de/dr2 = 0 branch, LJ's infinities).
    std::vector<scalar::PairParams> systems(3);
    systems[0].kind = scalar::PairKind::double_well, systems[0].n = 4, systems[0].dim = 2;
    systems[0].a = 0.9, systems[0].b = -4, systems[0].d0 = 4;
    systems[1].kind = scalar::PairKind::lennard_jones, systems[1].n = 13, systems[1].dim = 3;
    systems[1].scale = 2, systems[1].oscillator = 1;
    systems[2].kind = scalar::PairKind::lennard_jones, systems[2].n = 5, systems[2].dim = 4;
    systems[2].eps = 0.7, systems[2].rm = 1.3, systems[2].softening = 0.01;
    for (const auto& p : systems) {
      const int D = p.n * p.dim;
      std::vector<double> y(static_cast<size_t>(D) * L), conf(static_cast<size_t>(D));
      for (auto& v : y) v = 1.5 * nd(rng);
      for (int k = 0; k < p.dim; ++k) y[static_cast<size_t>(p.dim + k) * L + 3] = y[static_cast<size_t>(k) * L + 3];
      std::vector<double> want_e(L), want_g(static_cast<size_t>(D) * L), g1(static_cast<size_t>(D));
      for (int l = 0; l < L; ++l) {
        for (int c = 0; c < D; ++c) conf[c] = y[static_cast<size_t>(c) * L + l];
        want_e[l] = scalar::pair_energy_grad<double>(p, conf.data(), g1.data());
        for (int c = 0; c < D; ++c) want_g[static_cast<size_t>(c) * L + l] = g1[c];
      }
      for (cpu::Isa isa : cpu::isa_available()) {
        CAPTURE(cpu::isa_name(isa));
        CAPTURE(p.n);
        cpu::set_active_isa(isa);
        std::vector<double> e(L), g(static_cast<size_t>(D) * L);
        cpu::pair_energy_grad_lanes(p, y.data(), e.data(), g.data());
        auto same = [](double a, double b) { return std::bit_cast<uint64_t>(a) == std::bit_cast<uint64_t>(b); };
        for (int l = 0; l < L; ++l) CHECK(same(e[l], want_e[l]));
        int differ = 0;
        for (size_t c = 0; c < g.size(); ++c) differ += !same(g[c], want_g[c]);
        CHECK(differ == 0);
      }
    }
  }

  TEST_CASE("cpu isa: the Philox normals give scalar::random_normal's bits on every variant") {
    IsaGuard guard;
    // Counters past 2^32 and seeds, streams and runs with high halves (they enter the key); 600,000
    // draws meet fdlibm's uncommon paths (log of u near a power of two, cos near a multiple of
    // pi / 2), which the lanes hand to the scalar function; counted below so the test shows they ran.
    struct Case {
      uint64_t seed, stream, run, first;
      int64_t count;
    };
    const Case cases[] = {{1, 0, 0, 0, 600000},
                          {0x9e3779b97f4a7c15ull, (3ull << 32) | 5, (7ull << 40) | 11, (1ull << 32) - 37, 4099},
                          {5, 2, 3, 17, 7},
                          {5, 2, 3, 17, 71},
                          {5, 2, 3, 0, 0}};
    int64_t log_slow = 0, cos_slow = 0;
    for (const Case& c : cases) {
      std::vector<double> want(static_cast<size_t>(c.count));
      for (int64_t i = 0; i < c.count; ++i) {
        want[i] = scalar::random_normal<double>(c.seed, c.stream, c.run, c.first + static_cast<uint64_t>(i));
        scalar::Philox4 w = scalar::philox_draw(c.seed, c.stream, c.run, c.first + static_cast<uint64_t>(i));
        const double u1 = scalar::philox_unit_f64(w.v[0], w.v[1]), u2 = scalar::philox_unit_f64(w.v[2], w.v[3]);
        const uint32_t hx = static_cast<uint32_t>(std::bit_cast<uint64_t>(u1) >> 32) & 0xfffffu;
        log_slow += ((2 + hx) & 0xfffffu) < 3;
        const double a = 6.283185307179586476925 * u2, near = std::remainder(a, 1.5707963267948966);
        cos_slow += a > 0.7853981633974483 && std::abs(near) < a * 0x1p-16;
      }
      for (cpu::Isa isa : cpu::isa_available()) {
        CAPTURE(cpu::isa_name(isa));
        CAPTURE(c.count);
        cpu::set_active_isa(isa);
        std::vector<double> got(static_cast<size_t>(c.count) + 1, 42.0);
        cpu::random_normals_f64(c.seed, c.stream, c.run, c.first, c.count, got.data());
        CHECK(got.back() == 42.0);  // nothing written past the end
        got.pop_back();
        int64_t differ = 0;
        for (int64_t i = 0; i < c.count; ++i) differ += std::bit_cast<uint64_t>(got[i]) != std::bit_cast<uint64_t>(want[i]);
        CHECK(differ == 0);
      }
    }
    MESSAGE("uncommon fdlibm paths met: log ", log_slow, ", cos ", cos_slow);
    CHECK(log_slow > 0);
    CHECK(cos_slow > 0);
  }

  TEST_CASE("cpu isa: every available variant computes the baseline's products (f32, f64)") {
    IsaGuard guard;
    const auto avail = cpu::isa_available();
    REQUIRE(!avail.empty());
    CHECK(avail.front() == cpu::Isa::baseline);
    MESSAGE("CPU variants available here: ", avail.size(), ", in use: ", std::string(cpu::isa_name(cpu::active_isa())));
    check_variants<float>(1.2e-7);
    check_variants<double>(2.3e-16);
#if defined(_OPENMP)
    // One thread: the products run on the per-thread packing buffers (kernels/cpu/isa/gemm_body.inc),
    // twice over so that the second pass reuses buffers the first grew.
    const int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    check_variants<float>(1.2e-7);
    check_variants<double>(2.3e-16);
    check_variants<float>(1.2e-7);
    omp_set_num_threads(threads);
#endif
  }

  TEST_CASE("cpu isa: names, availability and bad selections") {
    IsaGuard guard;
    for (cpu::Isa isa : {cpu::Isa::baseline, cpu::Isa::x86_64_v3, cpu::Isa::x86_64_v4})
      CHECK(cpu::isa_from_name(cpu::isa_name(isa)) == isa);
    CHECK_THROWS_WITH_AS(cpu::isa_from_name("avx9"), doctest::Contains("unknown CPU instruction-set variant 'avx9'"),
                         Error);
    // The default is the best available variant; v4 implies v3 on every CPU.
    if (cpu::isa_supported(cpu::Isa::x86_64_v4)) CHECK(cpu::isa_supported(cpu::Isa::x86_64_v3));
    for (cpu::Isa isa : {cpu::Isa::x86_64_v3, cpu::Isa::x86_64_v4})
      if (!(cpu::isa_compiled(isa) && cpu::isa_supported(isa)))
        CHECK_THROWS_WITH_AS(cpu::set_active_isa(isa), doctest::Contains(cpu::isa_name(isa)), Error);
    cpu::set_active_isa(cpu::Isa::baseline);
    CHECK(cpu::active_isa() == cpu::Isa::baseline);
  }
}
