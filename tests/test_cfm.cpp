// The flow-matching likelihood model of the iDEM evaluation: log q of model samples (ODE forwards)
// equals -NLL of the same points (ODE backwards) - which checks the integrator, the divergence's sign
// and the prior and unit terms together; training on exact GMM-40 samples lowers their NLL towards
// the mixture's entropy.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <random>

#include "engine/io/safetensors.h"
#include "engine/orbit.h"
#include "models/diffusion/cfm.h"
#include "models/systems/mcmc.h"
#include "tests/test_temp.h"

using namespace orbit;
using namespace orbit::diffusion;

namespace {
Tensor exact_gmm40(int64_t n, uint64_t seed) {
  systems::System s = systems::system_by_name("gmm40");
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> comp(0, 39);
  std::normal_distribution<double> n01;
  Tensor x = Tensor::empty(Shape({n, 2}), DType::f64);
  for (int64_t i = 0; i < n; ++i) {
    int k = comp(rng);
    for (int d = 0; d < 2; ++d) x.data<double>()[i * 2 + d] = s.gmm_means[k * 2 + d] + s.gmm_std * n01(rng);
  }
  return x;
}
// A small quick-preset flow (width 16, two layers, 30 steps of batch 32): seconds to train.
CfmConfig tiny(const std::string& system) {
  CfmConfig c = CfmConfig::preset(system, "quick");
  c.hidden = 16;
  c.layers = 2;
  c.steps = 30;
  c.batch = 32;
  return c;
}
}  // namespace

TEST_SUITE("cpu") {
  TEST_CASE("cfm: log q forwards equals -NLL backwards (DW4, exact divergence, and GMM in original units)") {
    for (const std::string name : {"dw4", "gmm40"}) {
      INFO(name);
      CfmConfig c = tiny(name);
      c.ode_steps = 30;
      Cfm cfm(c);
      cfm.train(name == "dw4" ? systems::initial_configurations(systems::system_by_name("dw4"), 200, 3) : exact_gmm40(200, 1));
      Tensor x;
      std::vector<double> log_q;
      cfm.sample(24, 5, x, log_q);
      CfmLikelihood l = cfm.nll(x, 24);
      for (int i = 0; i < 24; ++i) CHECK(l.nll.data<double>()[i] == doctest::Approx(-log_q[i]).epsilon(1e-3));
      CfmImportance w = cfm.importance(24, 6);
      CHECK(w.ess > 0);
      CHECK(w.ess <= 1);
      CHECK(std::isfinite(w.log_z));
      // Weighing given configurations (log q through the ODE backwards) gives the model samples the
      // weights they got with log q from the ODE forwards.
      CfmImportance v = cfm.weigh(w.x, 10);
      REQUIRE(v.n == 24);
      for (int i = 0; i < 24; ++i) CHECK(v.log_w[i] == doctest::Approx(w.log_w[i]).epsilon(1e-3));
      CHECK(v.log_z == doctest::Approx(w.log_z).epsilon(1e-3));
      CHECK(v.ess == doctest::Approx(w.ess).epsilon(1e-2));
    }
  }

  TEST_CASE("cfm: dopri5 (iDEM's integrator) gives RK4's converged likelihood with fewer evaluations") {
    CfmConfig c = tiny("dw4");
    c.ode_steps = 200;
    Cfm rk(c);
    const Tensor train = systems::initial_configurations(systems::system_by_name("dw4"), 200, 3);
    rk.train(train);
    const std::string path = orbit::testing::test_temp("orbit_cfm_dopri5.safetensors");
    rk.save(path);
    Tensor x;
    std::vector<double> log_q;
    rk.sample(16, 5, x, log_q);
    CfmLikelihood ref = rk.nll(x, 16);
    CHECK(ref.ode.nfe == 4 * 200);
    c.ode_solver = "dopri5";
    c.ode_tol = 1e-6;
    Cfm dp(c);
    dp.load(path);  // the ODE settings are not part of the training configuration
    std::filesystem::remove(path);
    int64_t last = -1, total = 0;
    CfmLikelihood l = dp.nll(x, 8, [&](int64_t done, int64_t of) {
      CHECK(done >= last);
      last = done;
      total = of;
    });
    CHECK(total == 2000);  // two batches of 1000 thousandths of [0, 1]
    CHECK(last == 2000);
    CHECK(l.ode.nfe < ref.ode.nfe / 2);
    CHECK(l.ode.accepted > 0);
    for (int i = 0; i < 16; ++i) CHECK(l.nll.data<double>()[i] == doctest::Approx(ref.nll.data<double>()[i]).epsilon(1e-5));
    // Forwards (sampling) and backwards (likelihood) agree under the adaptive solver too.
    Tensor y;
    std::vector<double> log_q2;
    OdeStats st;
    dp.sample(8, 7, y, log_q2, {}, &st);
    CHECK(st.nfe > 0);
    CfmLikelihood back = dp.nll(y, 8);
    for (int i = 0; i < 8; ++i) CHECK(back.nll.data<double>()[i] == doctest::Approx(-log_q2[i]).epsilon(1e-4));
  }

  TEST_CASE("cfm: the presets integrate as iDEM does (paper: dopri5 at 1e-5, LJ55 1e-3 with Hutchinson, quick: RK4)") {
    for (const char* sys : {"gmm40", "dw4", "lj13"}) {
      const CfmConfig p = CfmConfig::preset(sys, "paper");
      CHECK(p.ode_solver == "dopri5");
      CHECK(p.ode_tol == 1e-5);
      CHECK(!p.hutchinson);
      CHECK(p.ode_max_nfe == 3000);
      CHECK(CfmConfig::preset(sys, "quick").ode_solver == "rk4");
    }
    const CfmConfig l = CfmConfig::preset("lj55", "paper");
    CHECK(l.ode_solver == "dopri5");
    CHECK(l.ode_tol == 1e-3);
    CHECK(l.hutchinson);
    CfmConfig bad = CfmConfig::preset("dw4", "quick");
    bad.ode_solver = "euler";
    CHECK_THROWS_WITH_AS(Cfm{bad}, doctest::Contains("rk4 or dopri5"), Error);
  }

  TEST_CASE("cfm: the Hutchinson likelihood is unbiased, repeatable, and smooth enough for dopri5") {
    CfmConfig c = tiny("dw4");
    c.ode_solver = "dopri5";
    c.ode_tol = 1e-5;
    Cfm exact(c);
    exact.train(systems::initial_configurations(systems::system_by_name("dw4"), 200, 3));
    const std::string path = orbit::testing::test_temp("orbit_cfm_hutch.safetensors");
    exact.save(path);
    const Tensor x = systems::initial_configurations(systems::system_by_name("dw4"), 96, 11);
    const CfmLikelihood le = exact.nll(x, 32);
    c.hutchinson = true;
    Cfm hutch(c);
    hutch.load(path);
    std::filesystem::remove(path);
    const CfmLikelihood lh = hutch.nll(x, 32);
    // One probe per integration: the field is smooth, so the adaptive solver works as hard as with the
    // exact trace (a probe redrawn at every evaluation multiplies its steps).
    CHECK(lh.ode.nfe <= 2 * le.ode.nfe);
    CHECK(hutch.nll(x, 32).nll.to_vector() == lh.nll.to_vector());
    // Unbiased: the mean difference from the exact NLL is within 4 standard errors of 0, and the
    // estimate is not the exact value (it has a variance).
    double m = 0, q = 0;
    const int64_t n = 96;
    for (int64_t i = 0; i < n; ++i) m += (lh.nll.data<double>()[i] - le.nll.data<double>()[i]) / n;
    for (int64_t i = 0; i < n; ++i) {
      const double d = lh.nll.data<double>()[i] - le.nll.data<double>()[i] - m;
      q += d * d / (n - 1);
    }
    const double se = std::sqrt(q / n);
    MESSAGE("hutchinson - exact: mean " << m << ", standard error " << se << "; nfe " << lh.ode.nfe << " vs " << le.ode.nfe);
    CHECK(se > 1e-4);
    CHECK(std::abs(m) < 4 * se);
  }

  TEST_CASE("cfm: training on exact GMM-40 samples lowers their NLL towards the entropy") {
    CfmConfig c = CfmConfig::preset("gmm40", "quick");
    c.steps = 600;
    Tensor train = exact_gmm40(4000, 11), test = exact_gmm40(300, 12);
    Cfm untrained(c);
    const double before = untrained.nll(test).mean;
    Cfm cfm(c);
    cfm.train(train);
    CfmLikelihood l = cfm.nll(test);
    // The mixture's entropy (the NLL of a perfect model) is the mean energy of exact samples, about 6.8.
    MESSAGE("GMM-40 CFM NLL: untrained " << before << ", trained " << l.mean << " +- " << l.stderr_);
    CHECK(l.mean < before - 1.0);
    CHECK(l.mean > 6.0);
  }
}

TEST_SUITE("cpu") {
  TEST_CASE("cfm: a flow checkpoint resumes training bit for bit and refuses other configurations or samples") {
    namespace fs = std::filesystem;
    const std::string dir = orbit::testing::test_temp("orbit_cfm_checkpoint");
    fs::remove_all(dir);
    fs::create_directories(dir);
    CfmConfig c = CfmConfig::preset("dw4", "quick");
    c.hidden = 8;
    c.layers = 2;
    c.steps = 12;
    c.batch = 16;
    c.ode_steps = 6;
    c.seed = 4;
    const Tensor train = systems::initial_configurations(systems::system_by_name("dw4"), 100, 3);
    const Tensor probe = systems::initial_configurations(systems::system_by_name("dw4"), 5, 9);
    // The uninterrupted run, which also writes its state after step 5 (and after the last step).
    Cfm whole(c);
    std::vector<int64_t> saved;
    Cfm::TrainHooks hooks;
    hooks.on_checkpoint = [&](int64_t k) {
      saved.push_back(k);
      if (k == 5) whole.save(dir + "/at5.safetensors");
    };
    hooks.checkpoint_every = 5;
    whole.train(train, hooks);
    CHECK(saved == std::vector<int64_t>{5, 10, 12});
    CHECK(whole.steps_done() == 12);
    const std::vector<double> want = whole.nll(probe, 5).nll.to_vector();
    // Progress: (0, total) before the first RK4 step, then one report per step of every batch.
    std::vector<std::pair<int64_t, int64_t>> calls;
    whole.nll(probe, 2, [&](int64_t d, int64_t t) { calls.emplace_back(d, t); });
    REQUIRE(calls.size() == 19);  // 3 batches x 6 steps, and the opening report
    CHECK(calls.front() == std::pair<int64_t, int64_t>(0, 18));
    CHECK(calls.back() == std::pair<int64_t, int64_t>(18, 18));
    // A fresh model loads step 5 and trains the remaining 7 steps: the same weights, bit for bit.
    Cfm resumed(c);
    resumed.load(dir + "/at5.safetensors");
    CHECK(resumed.steps_done() == 5);
    resumed.train(train);
    CHECK(resumed.steps_done() == 12);
    CHECK(resumed.nll(probe, 5).nll.to_vector() == want);
    // A run told to stop after step 7 writes its checkpoint there; resumed, it ends with the same weights.
    Cfm stopped(c);
    std::vector<int64_t> stop_saves;
    Cfm::TrainHooks halt;
    halt.on_checkpoint = [&](int64_t k) {
      stop_saves.push_back(k);
      stopped.save(dir + "/stopped.safetensors");
    };
    halt.checkpoint_every = 5;
    halt.stop = [&] { return stopped.steps_done() == 7; };
    stopped.train(train, halt);
    CHECK(stopped.steps_done() == 7);
    CHECK(stop_saves == std::vector<int64_t>{5, 7});
    Cfm restarted(c);
    restarted.load(dir + "/stopped.safetensors");
    restarted.train(train);
    CHECK(restarted.nll(probe, 5).nll.to_vector() == want);
    // A finished flow saved and loaded trains no further and evaluates the same.
    whole.save(dir + "/done.safetensors");
    Cfm done(c);
    done.load(dir + "/done.safetensors");
    done.train(train);
    CHECK(done.nll(probe, 5).nll.to_vector() == want);
    // The ODE settings may differ from the checkpoint's; training fields may not.
    CfmConfig ode = c;
    ode.ode_steps = 3;
    ode.hutchinson = true;
    Cfm other_ode(ode);
    CHECK_NOTHROW(other_ode.load(dir + "/done.safetensors"));
    CfmConfig wide = c;
    wide.hidden = 9;
    Cfm w(wide);
    CHECK_THROWS_WITH_AS(w.load(dir + "/done.safetensors"), doctest::Contains("trained with hidden 8, this run asks for 9"),
                         Error);
    CfmConfig longer = c;
    longer.steps = 20;
    Cfm l(longer);
    CHECK_THROWS_WITH_AS(l.load(dir + "/done.safetensors"), doctest::Contains("trained with steps 12, this run asks for 20"),
                         Error);
    // Other training samples than the checkpoint's are refused, finished or not.
    Cfm again(c);
    again.load(dir + "/at5.safetensors");
    const Tensor other = systems::initial_configurations(systems::system_by_name("dw4"), 100, 4);
    CHECK_THROWS_WITH_AS(again.train(other), doctest::Contains("trained on other samples (100 rows, crc32"), Error);
    CHECK_THROWS_WITH_AS(done.train(other), doctest::Contains("trained on other samples"), Error);
    // A safetensors file that is not a flow checkpoint, and a truncated one, are named.
    write_safetensors(dir + "/plain.safetensors", {{"a", Tensor::from<double>({2}, {1, 2})}});
    Cfm plain(c);
    CHECK_THROWS_WITH_AS(plain.load(dir + "/plain.safetensors"), doctest::Contains("is not an orbit flow (CFM) checkpoint"), Error);
    const std::string bytes = [&] {
      std::ifstream f(dir + "/done.safetensors", std::ios::binary);
      return std::string(std::istreambuf_iterator<char>(f), {});
    }();
    {
      std::ofstream f(dir + "/cut.safetensors", std::ios::binary);
      f.write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 2));
    }
    Cfm cut(c);
    CHECK_THROWS_WITH_AS(cut.load(dir + "/cut.safetensors"), doctest::Contains("cut.safetensors"), Error);
    fs::remove_all(dir);
  }

  TEST_CASE("cfm: an evaluation cache resumes nll, sampling and weighing bit for bit and trusts no file") {
    namespace fs = std::filesystem;
    const std::string dir = orbit::testing::test_temp("orbit_cfm_eval_cache");
    fs::remove_all(dir);
    CfmConfig c = tiny("dw4");
    c.steps = 8;
    c.ode_steps = 5;
    const Tensor train = systems::initial_configurations(systems::system_by_name("dw4"), 100, 3);
    const Tensor probe = systems::initial_configurations(systems::system_by_name("dw4"), 7, 9);
    auto files = [&] {
      int64_t k = 0;
      for (auto& e : fs::directory_iterator(dir)) k += e.path().extension() == ".safetensors";
      return k;
    };
    // A model of config k trained on `train`, keeping its evaluation in `dir`.
    auto cached_model = [&](const CfmConfig& k) {
      auto m = std::make_unique<Cfm>(k);
      m->train(train);
      m->set_eval_cache(dir);
      return m;
    };
    Cfm plain(c);
    plain.train(train);
    const CfmLikelihood want = plain.nll(probe, 3);
    Tensor want_x;
    std::vector<double> want_q;
    plain.sample(5, 11, want_x, want_q, {}, nullptr, 2);
    // The first evaluation with a cache: the same bits as without, one file per batch.
    auto first_model = cached_model(c);
    Cfm& first = *first_model;
    const CfmLikelihood l1 = first.nll(probe, 3);
    CHECK(l1.nll.to_vector() == want.nll.to_vector());
    CHECK(l1.ode.cached == 0);
    CHECK(files() == 3);
    // Another model with the same weights takes every batch from the cache: the same values and work
    // counts, without integrating (its progress jumps a batch at a time).
    auto second_model = cached_model(c);
    Cfm& second = *second_model;
    std::vector<int64_t> reports;
    const CfmLikelihood l2 = second.nll(probe, 3, [&](int64_t d, int64_t) { reports.push_back(d); });
    CHECK(l2.nll.to_vector() == want.nll.to_vector());
    CHECK(l2.ode.cached == 3);
    CHECK(l2.ode.nfe == l1.ode.nfe);
    CHECK(reports == std::vector<int64_t>{0, 5, 10, 15});
    // Model samples and weighing are kept the same way (sample() draws its prior rows from the seed).
    Tensor x1, x2;
    std::vector<double> q1, q2;
    first.sample(5, 11, x1, q1, {}, nullptr, 2);
    OdeStats st;
    second.sample(5, 11, x2, q2, {}, &st, 2);
    CHECK(x1.to_vector() == want_x.to_vector());
    CHECK(q1 == want_q);
    CHECK(x2.to_vector() == want_x.to_vector());
    CHECK(q2 == want_q);
    CHECK(st.cached == 3);
    // Other rows, other settings or other weights are not served from the cache.
    const Tensor other = systems::initial_configurations(systems::system_by_name("dw4"), 7, 10);
    CHECK(second.nll(other, 3).ode.cached == 0);
    CfmConfig c6 = c;
    c6.ode_steps = 6;
    CHECK(cached_model(c6)->nll(probe, 3).ode.cached == 0);
    CfmConfig c9 = c;
    c9.steps = 9;
    CHECK(cached_model(c9)->nll(probe, 3).ode.cached == 0);
    // A damaged file is reported and integrated again; a file holding another batch is not trusted.
    for (auto& e : fs::directory_iterator(dir)) fs::resize_file(e.path(), fs::file_size(e.path()) / 2);
    auto third_model = cached_model(c);
    Cfm& third = *third_model;
    const CfmLikelihood l3 = third.nll(probe, 3);
    CHECK(l3.ode.cached == 0);
    CHECK(l3.nll.to_vector() == want.nll.to_vector());
    const CfmLikelihood l4 = third.nll(probe, 3);  // rewritten by the run above
    CHECK(l4.ode.cached == 3);
    // Swap two batch files: names and contents disagree, both batches are integrated again.
    fs::remove_all(dir);
    third.set_eval_cache(dir);
    (void)third.nll(probe, 3);
    std::vector<std::string> names;
    for (auto& e : fs::directory_iterator(dir)) names.push_back(e.path().string());
    REQUIRE(names.size() == 3);
    fs::rename(names[0], dir + "/swap.tmp");
    fs::rename(names[1], names[0]);
    fs::rename(dir + "/swap.tmp", names[1]);
    const CfmLikelihood l5 = third.nll(probe, 3);
    CHECK(l5.ode.cached == 1);
    CHECK(l5.nll.to_vector() == want.nll.to_vector());
    // An unusable folder fails at once, naming it.
    std::ofstream(dir + "/a_file") << "x";
    CHECK_THROWS_WITH_AS(third.set_eval_cache(dir + "/a_file"), doctest::Contains("a_file"), Error);
    fs::remove_all(dir);
  }

  TEST_CASE("cfm: importance weights from given log densities (exact values, bad input named)") {
    const systems::System s = systems::system_by_name("dw4");
    Tensor x = systems::initial_configurations(s, 3, 7).cast(DType::f64);
    std::vector<double> e = systems::energies(s, x).to_vector();
    std::vector<double> log_q = {-1.0, 0.5, 2.0};
    CfmImportance w = importance_weights(s, x, log_q);
    REQUIRE(w.log_w.size() == 3);
    double mean = 0, z1 = 0, z2 = 0;
    for (int i = 0; i < 3; ++i) {
      CHECK(w.log_w[i] == doctest::Approx(-e[i] - log_q[i]).epsilon(1e-14));
      mean += w.log_w[i] / 3;
      z1 += std::exp(w.log_w[i]);
      z2 += std::exp(2 * w.log_w[i]);
    }
    CHECK(w.log_z == doctest::Approx(mean).epsilon(1e-12));
    CHECK(w.ess == doctest::Approx(z1 * z1 / z2 / 3).epsilon(1e-12));
    CHECK_THROWS_WITH_AS(importance_weights(s, x, {0.0, 1.0}), doctest::Contains("2 log densities"), Error);
    const double inf = INFINITY;
    CHECK_THROWS_WITH_AS(importance_weights(s, x, {inf, inf, inf}), doctest::Contains("no finite importance weight"), Error);
  }

  TEST_CASE("cfm: importance resampling follows the weights (systematic, deterministic, bad input named)") {
    // Four 1-D "configurations" with weights 0.1, 0.2, 0.3, 0.4 (and one with weight 0).
    Tensor x = Tensor::from<double>({5, 1}, {10, 20, 30, 40, 50});
    std::vector<double> lw = {std::log(0.1), std::log(0.2), std::log(0.3), std::log(0.4), -INFINITY};
    const int64_t n = 10000;
    Tensor r = importance_resample(x, lw, n, 3);
    REQUIRE(r.shape() == Shape({n, 1}));
    std::vector<int64_t> count(6, 0);
    for (double v : r.to_vector()) ++count[static_cast<size_t>(v / 10)];
    // Systematic resampling: each count is within one of n * p.
    CHECK(std::abs(count[1] - 1000) <= 1);
    CHECK(std::abs(count[2] - 2000) <= 1);
    CHECK(std::abs(count[3] - 3000) <= 1);
    CHECK(std::abs(count[4] - 4000) <= 1);
    CHECK(count[5] == 0);
    CHECK(r.to_vector() == importance_resample(x, lw, n, 3).to_vector());
    // Shifting every log weight by a constant changes nothing (self-normalised).
    std::vector<double> shifted = lw;
    for (auto& v : shifted) v += 700;
    CHECK(r.to_vector() == importance_resample(x, shifted, n, 3).to_vector());
    std::vector<double> none(5, -INFINITY);
    CHECK_THROWS_WITH_AS(importance_resample(x, none, 4, 1), doctest::Contains("no finite importance weight"), Error);
    CHECK_THROWS_WITH_AS(importance_resample(x, {0.0, 0.0}, 4, 1), doctest::Contains("2 weights"), Error);
  }
}
