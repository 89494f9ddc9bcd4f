// The Boltzmann energies (models/systems): values and gradients against an independent NumPy
// evaluation, finite differences, symmetry (translation, rotation/reflection, permutation), the fused
// ops against their primitive-op form to second order, and bad input.
#include <doctest/doctest.h>

#include <cmath>
#include <random>

#include "engine/io/npy.h"
#include "engine/io/npz.h"
#include "engine/orbit.h"
#include "models/systems/system.h"

using namespace orbit;
using namespace orbit::systems;

namespace {

std::string fixture(const std::string& name) { return std::string(ORBIT_SOURCE_DIR) + "/tests/fixtures/systems/" + name; }

double max_abs(const std::vector<double>& v) {
  double m = 0;
  for (double x : v) m = std::max(m, std::abs(x));
  return m;
}

// Random configurations with every pair distance above `min_dist` (rejection sampling in a box).
Tensor spread_configs(const System& s, int batch, double box, double min_dist, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(-box, box);
  Tensor x = Tensor::empty(Shape({batch, s.flat_dim()}), DType::f64);
  double* p = x.data<double>();
  for (int b = 0; b < batch; ++b) {
    double* xb = p + static_cast<int64_t>(b) * s.flat_dim();
    for (int i = 0; i < s.n_particles; ++i) {
      for (int tries = 0;; ++tries) {
        REQUIRE(tries < 100000);
        for (int k = 0; k < s.dim; ++k) xb[i * s.dim + k] = u(rng);
        bool ok = true;
        for (int j = 0; j < i && ok; ++j) {
          double r2 = 0;
          for (int k = 0; k < s.dim; ++k) r2 += std::pow(xb[i * s.dim + k] - xb[j * s.dim + k], 2);
          ok = r2 > min_dist * min_dist;
        }
        if (ok) break;
      }
    }
  }
  return x;
}

Tensor spread_for(const System& s, int batch, uint64_t seed) {
  if (s.kind == Kind::gmm) return spread_configs(s, batch, 40, 0, seed);
  if (s.kind == Kind::double_well) return spread_configs(s, batch, 3.5, 0.5, seed);
  return spread_configs(s, batch, s.n_particles == 13 ? 1.6 : 2.6, 0.85, seed);
}

// A random orthogonal matrix (Gram-Schmidt of a Gaussian matrix), a reflection when `reflect`.
std::vector<double> random_orthogonal(int d, bool reflect, std::mt19937_64& rng) {
  std::normal_distribution<double> n01;
  std::vector<double> q(d * d);
  for (auto& v : q) v = n01(rng);
  for (int i = 0; i < d; ++i) {
    for (int j = 0; j < i; ++j) {
      double dot = 0;
      for (int k = 0; k < d; ++k) dot += q[i * d + k] * q[j * d + k];
      for (int k = 0; k < d; ++k) q[i * d + k] -= dot * q[j * d + k];
    }
    double nrm = 0;
    for (int k = 0; k < d; ++k) nrm += q[i * d + k] * q[i * d + k];
    for (int k = 0; k < d; ++k) q[i * d + k] /= std::sqrt(nrm);
  }
  double det_sign = 1;  // make det(q) = -1 exactly when reflecting: flip a row if needed
  if (d == 2) det_sign = q[0] * q[3] - q[1] * q[2] > 0 ? 1 : -1;
  if (d == 3) {
    double det = q[0] * (q[4] * q[8] - q[5] * q[7]) - q[1] * (q[3] * q[8] - q[5] * q[6]) + q[2] * (q[3] * q[7] - q[4] * q[6]);
    det_sign = det > 0 ? 1 : -1;
  }
  if ((det_sign < 0) != reflect)
    for (int k = 0; k < d; ++k) q[k] = -q[k];
  return q;
}

// Applies x_i -> Q x_i + t to every particle, then a permutation of the particles.
Tensor transform(const System& s, const Tensor& x, const std::vector<double>& q, const std::vector<double>& t,
                 const std::vector<int>& perm) {
  Tensor y = Tensor::empty(x.shape(), DType::f64);
  const int n = s.n_particles, d = s.dim;
  for (int64_t b = 0; b < x.shape()[0]; ++b)
    for (int i = 0; i < n; ++i)
      for (int r = 0; r < d; ++r) {
        double v = t[r];
        for (int c = 0; c < d; ++c) v += q[r * d + c] * x.data<double>()[b * n * d + perm[i] * d + c];
        y.data<double>()[b * n * d + i * d + r] = v;
      }
  return y;
}

}  // namespace

TEST_SUITE("cpu") {
  TEST_CASE("systems: GMM-40 means are torch.manual_seed(0) (torch.rand(40, 2) - 0.5) * 80") {
    Tensor ref = read_npy(fixture("gmm40_means.npy"));
    std::vector<double> got = gmm40_means(), want = ref.to_vector();
    REQUIRE(got.size() == want.size());
    for (size_t i = 0; i < got.size(); ++i) CHECK(got[i] == want[i]);
  }

  TEST_CASE("systems: the shipped LJ55 reference rows are Boltzmann samples of orbit's LJ55 energy") {
    // tests/fixtures/systems/lj55_mcmc1000.npy: 1000 rows of an orbit MCMC run whose 20,000 samples had
    // E = -325.34 +- 13.79. The rows' mean energy must agree within 4 standard errors; a file of other
    // configurations (another system, unrelaxed or unscaled ones) would not.
    Tensor x = read_npy(fixture("lj55_mcmc1000.npy")).cast(DType::f64);
    REQUIRE(x.shape() == Shape({1000, 165}));
    const std::vector<double> e = energies(system_by_name("lj55"), x, Device::cpu()).to_vector();
    double mean = 0, sq = 0;
    for (double v : e) {
      REQUIRE(std::isfinite(v));
      mean += v / 1000;
    }
    for (double v : e) sq += (v - mean) * (v - mean) / 999;
    INFO("mean energy " << mean << ", std " << std::sqrt(sq));
    CHECK(std::abs(mean + 325.34) < 4 * 13.79 / std::sqrt(1000.0));
    CHECK(std::abs(std::sqrt(sq) - 13.79) < 2.0);
  }

  TEST_CASE("systems: energies and gradients match an independent NumPy evaluation (f64, 1e-10 relative)") {
    auto ref = read_npz(fixture("energies_numpy.npz"));
    struct Item {
      std::string key, system;
      SystemOptions opts;
    };
    std::vector<Item> items = {{"gmm40", "gmm40", {}},      {"gmm40n", "gmm40", {false, true}},
                               {"dw4", "dw4", {}},          {"lj13", "lj13", {}},
                               {"lj13u", "lj13", {true, false}}, {"lj55", "lj55", {}}};
    for (auto& it : items) {
      INFO("system " << it.key);
      System s = system_by_name(it.system, it.opts);
      Tensor x = ref.at(it.key + "_x");
      Tensor g;
      Tensor e = energies(s, x, Device::cpu(), &g);
      std::vector<double> ew = ref.at(it.key + "_e").to_vector(), gw = ref.at(it.key + "_g").to_vector();
      std::vector<double> eg = e.to_vector(), gg = g.to_vector();
      REQUIRE(eg.size() == ew.size());
      REQUIRE(gg.size() == gw.size());
      const int64_t D = s.flat_dim();
      for (size_t b = 0; b < ew.size(); ++b) {
        CHECK(std::abs(eg[b] - ew[b]) <= 1e-10 * std::max(1.0, std::abs(ew[b])));
        std::vector<double> row(gw.begin() + b * D, gw.begin() + (b + 1) * D);
        const double scale = std::max(1.0, max_abs(row));
        for (int64_t k = 0; k < D; ++k) CHECK(std::abs(gg[b * D + k] - gw[b * D + k]) <= 1e-10 * scale);
      }
    }
  }

  TEST_CASE("systems: forces are central differences of the energy (f64)") {
    for (const auto& name : system_names()) {
      INFO("system " << name);
      System s = system_by_name(name);
      Tensor x = spread_for(s, 3, 7);
      Tensor g;
      energies(s, x, Device::cpu(), &g);
      const int64_t D = s.flat_dim();
      const double h = 1e-6;
      for (int64_t b = 0; b < 3; ++b)
        for (int64_t k = 0; k < D; k += std::max<int64_t>(1, D / 12)) {
          Tensor xp = x.clone(), xm = x.clone();
          xp.data<double>()[b * D + k] += h;
          xm.data<double>()[b * D + k] -= h;
          double fd = (energies(s, xp).to_vector()[b] - energies(s, xm).to_vector()[b]) / (2 * h);
          double an = g.data<double>()[b * D + k];
          CHECK(std::abs(fd - an) <= 1e-5 * std::max(1.0, std::abs(an)));
        }
    }
  }

  TEST_CASE("systems: molecule energies are invariant under E(n) and permutations, gradients equivariant") {
    std::mt19937_64 rng(11);
    for (const std::string name : {"dw4", "lj13", "lj55"}) {
      for (bool unique : {false, true}) {
        INFO("system " << name << (unique ? " unique pairs" : ""));
        System s = system_by_name(name, {unique, false});
        Tensor x = spread_for(s, 4, 3);
        Tensor g;
        std::vector<double> e = energies(s, x, Device::cpu(), &g).to_vector();
        for (bool reflect : {false, true}) {
          std::vector<double> q = random_orthogonal(s.dim, reflect, rng), t(s.dim);
          std::normal_distribution<double> n01;
          for (auto& v : t) v = 3 * n01(rng);
          std::vector<int> perm(s.n_particles);
          for (int i = 0; i < s.n_particles; ++i) perm[i] = i;
          std::shuffle(perm.begin(), perm.end(), rng);
          Tensor y = transform(s, x, q, t, perm);
          Tensor gy;
          std::vector<double> ey = energies(s, y, Device::cpu(), &gy).to_vector();
          // The gradient transforms like the positions, without the translation.
          Tensor g_expected = transform(s, g, q, std::vector<double>(s.dim, 0.0), perm);
          for (size_t b = 0; b < e.size(); ++b) CHECK(ey[b] == doctest::Approx(e[b]).epsilon(1e-11));
          const double scale = std::max(1.0, max_abs(g.to_vector()));
          auto a = gy.to_vector(), w = g_expected.to_vector();
          for (size_t i = 0; i < a.size(); ++i) CHECK(std::abs(a[i] - w[i]) <= 1e-10 * scale);
        }
      }
    }
  }

  TEST_CASE("systems: fused energy ops agree with their primitive-op form, to second order") {
    for (const auto& name : system_names()) {
      INFO("system " << name);
      System s = system_by_name(name);
      Tensor x = spread_for(s, 5, 21);
      for (DType dt : {DType::f64, DType::f32}) {
        Graph g;
        Var xin = g.input("x", x.shape(), dt);
        Var v = g.input("v", x.shape(), dt);
        Var ef = energy_op(s, xin), ep = energy_primitive(s, xin);
        Var gf = grad(sum(ef), {xin})[0], gp = grad(sum(ep), {xin})[0];
        // Hessian-vector products: through the fused gradient op's VJP and through primitive ops only.
        Var hf = grad(sum(gf * v), {xin})[0], hp = grad(sum(gp * v), {xin})[0];
        Program p = compile(g, {ef, ep, gf, gp, hf, hp});
        Tensor vt = spread_for(s, 5, 99);
        auto out = p.run({{"x", x.cast(dt)}, {"v", vt.cast(dt)}});
        const double tol = dt == DType::f64 ? 1e-10 : 2e-4;
        for (int pair = 0; pair < 3; ++pair) {
          auto a = out[2 * pair].to_vector(), b = out[2 * pair + 1].to_vector();
          const double scale = std::max(1.0, max_abs(b));
          for (size_t i = 0; i < a.size(); ++i) CHECK(std::abs(a[i] - b[i]) <= tol * scale);
        }
      }
    }
  }

  TEST_CASE("systems: bad input is named") {
    CHECK_THROWS_WITH_AS(system_by_name("lj14"), doctest::Contains("unknown system 'lj14'"), Error);
    System s = system_by_name("dw4");
    CHECK_THROWS_WITH_AS(energies(s, Tensor::zeros(Shape({3, 9}), DType::f32)), doctest::Contains("[batch, 8]"), Error);
    CHECK_THROWS_WITH_AS(energies(s, Tensor::zeros(Shape({3, 8}), DType::i32)), doctest::Contains("f32 or f64"), Error);
    Tensor x = spread_for(s, 2, 1);
    x.data<double>()[11] = NAN;
    CHECK_THROWS_WITH_AS(energies(s, x), doctest::Contains("configuration 1, coordinate 3"), Error);
    Graph g;
    Var xin = g.input("x", Shape({2, 7}));
    CHECK_THROWS_WITH_AS(energy_op(s, xin), doctest::Contains("[batch, 8]"), Error);
    // One configuration as a vector works and equals the batched value.
    Tensor one = spread_for(s, 1, 5);
    CHECK(energies(s, one.reshaped(Shape({8}))).item() == energies(s, one).item());
  }
}
