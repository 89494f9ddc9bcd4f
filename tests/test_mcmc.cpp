// The MCMC reference samplers: exactness on a target with known moments (a 2-D Gaussian, by MALA,
// HMC and random-walk Metropolis), R-hat, symmetry randomisation, determinism, the DW4 energy of the
// shipped reference set (slow), and the `orbit mcmc` / `orbit energy` commands.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "engine/io/npy.h"
#include "engine/orbit.h"
#include "models/systems/mcmc.h"
#include "tests/cli_runner.h"

using namespace orbit;
using namespace orbit::systems;

namespace {

// A single isotropic Gaussian N(mu, std^2 I) in 2-D, as a one-component GMM.
System gaussian(double std) {
  System s;
  s.name = "gauss2";
  s.kind = Kind::gmm;
  s.n_particles = 1;
  s.dim = 2;
  s.gmm_means = {1.5, -0.5};
  s.gmm_std = std;
  return s;
}

struct Moments {
  double mean[2] = {0, 0}, var[2] = {0, 0};
};
Moments moments(const Tensor& x) {
  Moments m;
  const int64_t n = x.shape()[0];
  for (int64_t i = 0; i < n; ++i)
    for (int k = 0; k < 2; ++k) m.mean[k] += x.data<double>()[i * 2 + k] / n;
  for (int64_t i = 0; i < n; ++i)
    for (int k = 0; k < 2; ++k) m.var[k] += std::pow(x.data<double>()[i * 2 + k] - m.mean[k], 2) / (n - 1);
  return m;
}

}  // namespace

TEST_SUITE("cpu") {
  TEST_CASE("mcmc: MALA, HMC and random-walk Metropolis sample a Gaussian with the right moments") {
    const double sd = 1.3;
    System s = gaussian(sd);
    for (auto method : {McmcMethod::mala, McmcMethod::hmc, McmcMethod::rwm}) {
      INFO("method " << std::string(mcmc_method_name(method)));
      McmcConfig c;
      c.method = method;
      c.chains = 512;
      c.groups = 4;
      c.burn_in = 200;
      c.steps = 1000;
      c.thin = 50;
      c.seed = 3;
      McmcResult r = run_mcmc(s, c);
      REQUIRE(r.samples.shape() == Shape({512 * 20, 2}));
      Moments m = moments(r.samples);
      // 10240 draws, nearly independent after 50 steps: the mean's standard error is ~0.013.
      CHECK(std::abs(m.mean[0] - 1.5) < 0.06);
      CHECK(std::abs(m.mean[1] + 0.5) < 0.06);
      for (int k = 0; k < 2; ++k) CHECK(m.var[k] == doctest::Approx(sd * sd).epsilon(0.06));
      const double target = method == McmcMethod::mala ? 0.574 : method == McmcMethod::hmc ? 0.65 : 0.3;
      for (double a : r.acceptance) CHECK(std::abs(a - target) < 0.1);
      CHECK(r.rhat_groups < 1.1);
      CHECK(r.mean_energy == doctest::Approx(1.0 + std::log(2 * M_PI * sd * sd)).epsilon(0.05));  // E|x|^2/2s^2 = 1
    }
  }

  TEST_CASE("mcmc: MALA stays exact at a step where unadjusted Langevin would be biased") {
    // At h = 0.8 an unadjusted Langevin chain has stationary variance 1 / (1 - h/2) = 1.67; MALA's
    // Metropolis correction must bring it back to the target's 1 (no adaptation, no burn-in).
    const double sd = 1.0;
    System s = gaussian(sd);
    McmcConfig c;
    c.chains = 512;
    c.burn_in = 0;
    c.steps = 400;
    c.thin = 20;
    c.adapt = false;
    c.step = 0.8;
    c.seed = 5;
    McmcResult r = run_mcmc(s, c);
    Moments m = moments(r.samples);
    CHECK(m.var[0] == doctest::Approx(1.0).epsilon(0.08));
    CHECK(m.var[0] < 1.3);
  }

  TEST_CASE("mcmc: R-hat is 1 for exchangeable sequences and large for shifted ones") {
    std::vector<std::vector<double>> same(4), shifted(4);
    uint64_t state = 1;
    auto u = [&] {
      state = state * 6364136223846793005ull + 1442695040888963407ull;
      return static_cast<double>(state >> 11) / 9007199254740992.0;
    };
    for (int j = 0; j < 4; ++j)
      for (int t = 0; t < 500; ++t) {
        double v = u();
        same[j].push_back(v);
        shifted[j].push_back(v + j);
      }
    CHECK(gelman_rubin(same) < 1.02);
    CHECK(gelman_rubin(shifted) > 2);
    CHECK_THROWS_AS(gelman_rubin({{1, 2}}), Error);
  }

  TEST_CASE("mcmc: random symmetries keep energies, runs are deterministic per seed") {
    System s = system_by_name("lj13");
    Tensor x = initial_configurations(s, 6, 4);
    Tensor y = x.clone();
    apply_random_symmetry(s, y, 9);
    auto e0 = energies(s, x).to_vector(), e1 = energies(s, y).to_vector();
    for (size_t i = 0; i < e0.size(); ++i) CHECK(e1[i] == doctest::Approx(e0[i]).epsilon(1e-12));
    CHECK(x.to_vector() != y.to_vector());
    System dw = system_by_name("dw4");
    McmcConfig c;
    c.chains = 8;
    c.groups = 2;
    c.burn_in = 20;
    c.steps = 40;
    c.thin = 20;
    McmcResult a = run_mcmc(dw, c), b = run_mcmc(dw, c);
    CHECK(a.samples.to_vector() == b.samples.to_vector());
    c.seed = 1;
    McmcResult d = run_mcmc(dw, c);
    CHECK(a.samples.to_vector() != d.samples.to_vector());
    c.groups = 3;
    CHECK_THROWS_WITH_AS(run_mcmc(dw, c), doctest::Contains("divide --chains"), Error);
  }
}

TEST_SUITE("slow") {
  TEST_CASE("mcmc: MALA on DW4 reproduces the energy of the shipped reference samples") {
    System s = system_by_name("dw4");
    McmcConfig c;
    c.chains = 256;
    c.burn_in = 1000;
    c.steps = 4000;
    c.thin = 100;
    McmcResult r = run_mcmc(s, c);
    // Reference: test_split_DW4 has mean energy -22.45 (sd 1.90); long MCMC runs give -22.5 to -22.56.
    CHECK(r.mean_energy == doctest::Approx(-22.5).epsilon(0.01));
    CHECK(r.std_energy == doctest::Approx(1.90).epsilon(0.08));
    CHECK(r.rhat_groups < 1.05);
  }
}

#if defined(ORBIT_CLI_PATH)
TEST_SUITE("cpu") {
  TEST_CASE("cli energy and mcmc: outputs, diagnostics and errors") {
    using orbit::testing::run_orbit;
    namespace fs = std::filesystem;
    const std::string dir = orbit::testing::temp_path("orbit_cli_mcmc");
    fs::remove_all(dir);
    auto r = run_orbit("mcmc --system dw4 --chains 16 --groups 4 --burn-in 50 --steps 100 --thin 10 --block 10 --quiet --out " + dir);
    INFO(r.out);
    REQUIRE(r.code == 0);
    CHECK(r.out.find("R-hat") != std::string::npos);
    Tensor smp = read_npy(dir + "/samples.npy");
    CHECK(smp.shape() == Shape({160, 8}));
    CHECK(read_npy(dir + "/energy_trace.npy").shape() == Shape({15, 16}));
    for (auto f : {"diagnostics.json", "energy_trace.png", "energy_trace.svg"}) CHECK(fs::exists(dir + "/" + f));
    // orbit energy on those samples agrees with the library.
    auto e = run_orbit("energy --system dw4 --in " + dir + "/samples.npy --out " + dir + "/e.npy --forces " + dir + "/f.npy --quiet");
    REQUIRE(e.code == 0);
    Tensor ev = read_npy(dir + "/e.npy"), fv = read_npy(dir + "/f.npy");
    CHECK(ev.shape() == Shape({160}));
    CHECK(fv.shape() == Shape({160, 8}));
    Tensor g;
    auto want = energies(system_by_name("dw4"), smp, Device::cpu(), &g).to_vector();
    for (int i = 0; i < 160; ++i) CHECK(ev.to_vector()[i] == doctest::Approx(want[i]).epsilon(1e-5));
    CHECK(fv.to_vector()[3] == doctest::Approx(-g.to_vector()[3]).epsilon(1e-4));
    // An empty [0, 8] file gives an empty energy file and says so (no inf / -inf summary).
    write_npy(dir + "/none.npy", Tensor::zeros({0, 8}, DType::f32));
    auto none = run_orbit("energy --system dw4 --in " + dir + "/none.npy --out " + dir + "/none_e.npy");
    INFO(none.out);
    CHECK(none.code == 0);
    CHECK(none.out.find("0 configurations") != std::string::npos);
    CHECK(none.out.find("inf") == std::string::npos);
    CHECK(read_npy(dir + "/none_e.npy").shape() == Shape({0}));
    // Errors name the problem.
    auto bad = run_orbit("energy --system lj13 --in " + dir + "/samples.npy --out " + dir + "/x.npy");
    CHECK(bad.code != 0);
    CHECK(bad.out.find("[batch, 39]") != std::string::npos);
    bad = run_orbit("energy --system lj99 --in " + dir + "/samples.npy --out " + dir + "/x.npy");
    CHECK(bad.out.find("unknown system 'lj99'") != std::string::npos);
    bad = run_orbit("mcmc --system dw4 --method gibbs --out " + dir);
    CHECK(bad.out.find("unknown MCMC method 'gibbs'") != std::string::npos);
    bad = run_orbit("mcmc --system dw4 --chains 16 --steps 10 --thin 10 --burn-in 0 --n 1000 --quiet --out " + dir);
    CHECK(bad.out.find("more than the 16 samples") != std::string::npos);
    fs::remove_all(dir);
  }
}
#endif
