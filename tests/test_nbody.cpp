// The charged N-body simulator and data files, and the synthetic solar system: forces are the
// negative gradient of the Coulomb potential and sum to zero, the frame convention, determinism and
// prefixes, clipping, the linear baseline, file round trips and hostile files; the solar system
// conserves energy and momentum and the Earth's year is a year.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "engine/io/npz.h"
#include "engine/orbit.h"
#include "models/egnn/nbody.h"
#include "models/egnn/solar.h"
#include "models/egnn/trainer.h"
#include "tests/test_temp.h"

using namespace orbit;
using namespace orbit::egnn;

namespace {
std::string tmp(const std::string& name) { return orbit::testing::test_temp(name); }

double coulomb(const NBodyConfig& c, const std::vector<double>& x, const std::vector<double>& q) {
  double u = 0;
  for (int i = 0; i < c.n_particles; ++i)
    for (int j = i + 1; j < c.n_particles; ++j) {
      double r2 = 0;
      for (int k = 0; k < c.dim; ++k) r2 += (x[i * c.dim + k] - x[j * c.dim + k]) * (x[i * c.dim + k] - x[j * c.dim + k]);
      u += q[i] * q[j] / std::sqrt(r2);
    }
  return u;
}
}  // namespace

TEST_SUITE("cpu") {
  TEST_CASE("nbody: forces are -grad of the Coulomb potential, sum to zero, and are clipped at 0.1/dt") {
    NBodyConfig c;
    std::vector<double> x{0.3, -0.2, 0.5, 1.1, 0.4, -0.7, -0.9, 0.8, 0.1, 0.2, 1.3, 1.0, -0.5, -1.2, 0.6};
    std::vector<double> q{1, -1, 1, 1, -1}, f(15);
    charged_forces(c, x.data(), q.data(), f.data());
    for (int k = 0; k < 3; ++k) {
      double s = 0;
      for (int i = 0; i < 5; ++i) s += f[i * 3 + k];
      CHECK(std::abs(s) < 1e-12);
    }
    for (int e = 0; e < 15; ++e) {
      auto xp = x, xm = x;
      xp[e] += 1e-6;
      xm[e] -= 1e-6;
      CHECK(f[e] == doctest::Approx(-(coulomb(c, xp, q) - coulomb(c, xm, q)) / 2e-6).epsilon(1e-6));
    }
    // Two like charges 1e-3 apart: |F| = 1e6 unclipped, clipped to 100 per component.
    NBodyConfig two = c;
    two.n_particles = 2;
    std::vector<double> x2{0, 0, 0, 1e-3, 0, 0}, q2{1, 1}, f2(6);
    charged_forces(two, x2.data(), q2.data(), f2.data());
    CHECK(f2[0] == doctest::Approx(-100.0));
    CHECK(f2[3] == doctest::Approx(100.0));
    CHECK(f2[1] == 0.0);
  }

  TEST_CASE("nbody: frame k is the state after sample_every*(k+1) steps, seeds, splits and prefixes") {
    NBodyConfig a;
    a.steps = 1000;
    a.sample_every = 100;
    NBodyConfig b = a;
    b.sample_every = 50;
    auto ta = simulate_charged(a, 4, 43, 0), tb = simulate_charged(b, 4, 43, 0);
    REQUIRE(ta.frames == 9);
    REQUIRE(tb.frames == 19);
    for (int64_t s = 0; s < 4; ++s)
      for (int64_t k = 0; k < ta.frames; ++k)
        for (int64_t i = 0; i < 5; ++i)
          for (int64_t d = 0; d < 3; ++d) {
            CHECK(ta.loc_at(s, k, i, d) == tb.loc_at(s, 2 * k + 1, i, d));
            CHECK(ta.vel_at(s, k, i, d) == tb.vel_at(s, 2 * k + 1, i, d));
          }
    auto prefix = simulate_charged(a, 2, 43, 0);
    for (size_t e = 0; e < prefix.loc.size(); ++e) CHECK(prefix.loc[e] == ta.loc[e]);
    auto other = simulate_charged(a, 2, 43, 1);
    CHECK(other.loc[0] != ta.loc[0]);
    auto big = simulate_charged(NBodyConfig{}, 200, 43, 0);
    REQUIRE(big.frames == 49);
    int plus = 0;
    for (double q : big.charges) {
      CHECK((q == 1.0 || q == -1.0));
      plus += q > 0;
    }
    CHECK(plus > 400);  // p = 1/2 of 1000 charges
    CHECK(plus < 600);
    // The speed scale: |v| is 0.5 at the start and O(1) later, positions O(1).
    double vmean = 0;
    for (int64_t s = 0; s < 200; ++s)
      for (int i = 0; i < 5; ++i) {
        double v2 = 0;
        for (int d = 0; d < 3; ++d) v2 += big.vel_at(s, 0, i, d) * big.vel_at(s, 0, i, d);
        vmean += std::sqrt(v2) / 1000;
      }
    CHECK(vmean > 0.3);
    CHECK(vmean < 1.5);
  }

  TEST_CASE("nbody: the linear baseline's tau minimises the training MSE and beats standing still") {
    auto tr = simulate_charged(NBodyConfig{}, 100, 43, 0);
    auto s = make_task(tr, 30, 40);
    const double tau = fit_linear_tau(s), m = linear_mse(s, tau);
    CHECK(m < linear_mse(s, tau + 0.01));
    CHECK(m < linear_mse(s, tau - 0.01));
    CHECK(m < linear_mse(s, 0.0));
    CHECK(tau > 0.3);  // one time unit ahead: x + ~v
    CHECK(tau < 1.2);
    CHECK_THROWS_WITH_AS(make_task(tr, 30, 49), doctest::Contains("outside the 49 saved frames"), Error);
  }

  TEST_CASE("nbody: files round-trip and hostile files give errors naming the problem") {
    NBodyConfig c;
    c.steps = 400;
    auto t = simulate_charged(c, 3, 7, 0);
    const std::string p = tmp("orbit_nbody_rt.npz");
    save_trajectories(p, c, t);
    NBodyConfig c2;
    auto u = load_trajectories(p, &c2);
    CHECK(u.loc == t.loc);
    CHECK(u.vel == t.vel);
    CHECK(u.charges == t.charges);
    CHECK(c2.steps == 400);
    auto arrays = read_npz(p);
    auto bad = arrays;
    bad["charges"] = Tensor::from<double>({3, 4}, std::vector<double>(12, 1.0));
    write_npz(p, bad);
    CHECK_THROWS_WITH_AS(load_trajectories(p), doctest::Contains("'charges' must be [3, 5]"), Error);
    bad = arrays;  // tensors share storage: clone before editing
    bad["charges"] = arrays["charges"].clone();
    bad["charges"].data<double>()[4] = 0.5;
    write_npz(p, bad);
    CHECK_THROWS_WITH_AS(load_trajectories(p), doctest::Contains("charge 4 is 0.5"), Error);
    bad = arrays;
    bad.erase("vel");
    write_npz(p, bad);
    CHECK_THROWS_WITH_AS(load_trajectories(p), doctest::Contains("lacks the array 'vel'"), Error);
    bad = arrays;
    bad["loc"] = arrays["loc"].clone();
    bad["loc"].data<double>()[10] = std::nan("");
    write_npz(p, bad);
    CHECK_THROWS_WITH_AS(load_trajectories(p), doctest::Contains("non-finite position"), Error);
    bad = arrays;
    bad["config"] = arrays["config"].clone();
    bad["config"].data<double>()[3] = 5000;  // says 49 frames, holds 3
    write_npz(p, bad);
    CHECK_THROWS_WITH_AS(load_trajectories(p), doctest::Contains("does not match the arrays"), Error);
    {
      std::ofstream f(p, std::ios::binary);
      f << "PK\x03\x04 not really a zip";
    }
    CHECK_THROWS_AS(load_trajectories(p), Error);
    std::filesystem::remove(p);
  }

  TEST_CASE("solar: energy and momentum are conserved, the Earth returns after a year, the splits are consecutive") {
    SolarConfig c;
    c.train = 17600;  // a year and a bit at 30 minutes
    c.val = c.test = 10;
    c.horizon = 10;
    auto s = simulate_solar(c);
    const double e0 = solar_energy(s, 0), e1 = solar_energy(s, s.frames - 1);
    CHECK(std::abs((e1 - e0) / e0) < 1e-8);
    for (int64_t f : {int64_t{0}, s.frames - 1})
      for (int k = 0; k < 3; ++k) {
        double p = 0;
        for (int b = 0; b < 9; ++b) p += s.mass[b] * s.vel[(f * 9 + b) * 3 + k];
        CHECK(std::abs(p) < 1e-15);
      }
    auto earth = [&](int64_t f, int k) { return s.loc[(f * 9 + 3) * 3 + k] - s.loc[(f * 9 + 0) * 3 + k]; };
    double r0 = 0, dy = 0;
    const int64_t year = static_cast<int64_t>(std::llround(365.256 * 48));
    for (int k = 0; k < 3; ++k) {
      r0 += earth(0, k) * earth(0, k);
      dy += (earth(year, k) - earth(0, k)) * (earth(year, k) - earth(0, k));
    }
    CHECK(std::sqrt(r0) > 0.98);
    CHECK(std::sqrt(r0) < 1.02);
    CHECK(std::sqrt(dy) < 0.01);  // back where it started after one sidereal year
    auto tr = solar_split(s, c, SolarSplit::train), te = solar_split(s, c, SolarSplit::test);
    CHECK(tr.y[0] == s.loc[10 * 27]);
    CHECK(te.x[0] == s.loc[(17600 + 10) * 27]);
    // The relative MSE of predicting "no motion" is exactly 1, of the truth 0.
    CHECK(relative_mse(te, te.x) == doctest::Approx(1.0));
    CHECK(relative_mse(te, te.y) == 0.0);
    const double tau = fit_solar_tau(tr);
    std::vector<double> lin(tr.x.size());
    for (size_t e = 0; e < lin.size(); ++e) lin[e] = tr.x[e] + tau * tr.v[e];
    CHECK(relative_mse(tr, lin) < 0.5);
  }

  TEST_CASE("egnn trainer: config JSON round-trips and bad configs are rejected by name") {
    TrainConfig c = TrainConfig::preset("quick", Task::nbody);
    c.channels = 3;
    c.sparse = true;
    c.data_dir = "some \"dir\"";
    TrainConfig d = TrainConfig::from_json(c.json());
    CHECK(d.json() == c.json());
    CHECK_THROWS_WITH_AS(TrainConfig::preset("fast", Task::nbody), doctest::Contains("unknown preset 'fast'"), Error);
    CHECK_THROWS_WITH_AS(task_from_name("qm9"), doctest::Contains("unknown task 'qm9'"), Error);
    c.channels = 0;
    CHECK_THROWS_WITH_AS(c.validate(), doctest::Contains("channels must be in [1, 64]"), Error);
    CHECK_THROWS_WITH_AS(TrainConfig::from_json("{\"task\": \"nbody\"}"), doctest::Contains("lacks the number 'channels'"),
                         Error);
    // Numbers that do not fit their setting (a damaged or hostile checkpoint) are errors, not casts.
    const std::string good = d.json();
    auto with = [&](const std::string& key, const std::string& value) {
      const std::string from = "\"" + key + "\": ";
      const size_t at = good.find(from) + from.size();
      return good.substr(0, at) + value + good.substr(good.find_first_of(",}", at));
    };
    CHECK(TrainConfig::from_json(with("epochs", "7")).epochs == 7);
    CHECK_THROWS_WITH_AS(TrainConfig::from_json(with("epochs", "1e10")), doctest::Contains("'epochs' must be an integer"),
                         Error);
    CHECK_THROWS_WITH_AS(TrainConfig::from_json(with("epochs", "4294967296")),
                         doctest::Contains("'epochs' must be in [0, 2147483647]"), Error);
    CHECK_THROWS_WITH_AS(TrainConfig::from_json(with("seed", "-3")), doctest::Contains("'seed' must be a non-negative"),
                         Error);
    CHECK_THROWS_WITH_AS(TrainConfig::from_json(with("lr", "1e999")), doctest::Contains("'lr' must be a finite number"),
                         Error);
  }
}
