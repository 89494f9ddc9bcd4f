// iDEM: the noise schedule, the DEM Monte-Carlo score target against the exact smoothed score of a
// Gaussian, the sinusoidal embedding, the reverse SDE with the Monte-Carlo score on GMM-40, training
// (loss falls, checkpoints resume bit for bit) and the `orbit idem` commands.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <map>

#include "engine/io/npy.h"
#include "engine/io/safetensors.h"
#include "engine/orbit.h"
#include "models/diffusion/dem_target.h"
#include "models/diffusion/idem.h"
#include "models/diffusion/mlp_score.h"
#include "models/diffusion/schedule.h"
#include "models/systems/metrics.h"
#include "tests/cli_runner.h"
#include "tests/test_temp.h"

using namespace orbit;
using namespace orbit::diffusion;

namespace {

systems::System gaussian(double std, std::vector<double> mean) {
  systems::System s;
  s.name = "gauss";
  s.kind = systems::Kind::gmm;
  s.n_particles = 1;
  s.dim = static_cast<int>(mean.size());
  s.gmm_means = std::move(mean);
  s.gmm_std = std;
  return s;
}

IdemConfig tiny(const std::string& system) {
  IdemConfig c = IdemConfig::preset(system, "quick");
  c.hidden = 8;
  c.layers = 2;
  c.K = 8;
  c.batch = 16;
  c.steps_per_epoch = 3;
  c.epochs = 4;
  c.val_every = 2;
  c.init_samples = 32;
  c.new_samples = 16;
  c.integration_steps = 6;
  c.unroll = 3;
  c.eval_n = 20;
  return c;
}

}  // namespace

TEST_SUITE("cpu") {
  TEST_CASE("idem: geometric schedule, h(t) is the integral of g(t)^2") {
    GeometricSchedule s(0.01, 2.0);
    CHECK(s.h(1.0) == doctest::Approx(4.0 - 1e-4).epsilon(1e-12));
    CHECK(s.h(0.0) == 0.0);
    for (double t : {0.1, 0.5, 0.9}) {
      const int n = 20000;
      double integral = 0;
      for (int i = 0; i < n; ++i) {
        double u = (i + 0.5) * t / n;
        integral += s.g(u) * s.g(u) * t / n;
      }
      CHECK(integral == doctest::Approx(s.h(t)).epsilon(1e-6));
    }
    CHECK_THROWS_AS(GeometricSchedule(1.0, 0.5), Error);
  }

  TEST_CASE("idem: the DEM target converges to the exact smoothed score of a Gaussian") {
    // For E = |x - mu|^2 / (2 s^2) + const, grad log (p * N(0, sigma^2)) (x) = -(x - mu) / (s^2 + sigma^2).
    const double sd = 0.7;
    systems::System s = gaussian(sd, {0.5, -1.0});
    Graph g;
    const int64_t B = 6;
    Var x = g.input("x", Shape({B, 2}), DType::f64);
    Var sigma = g.input("sigma", Shape({B, 1}), DType::f64);
    Var target = dem_score_target(s, x, sigma, 20000, 3, 0.0);
    Program p = compile(g, {target});
    std::vector<double> xv = {0.5, -1.0, 1.5, 0.0, -0.5, -2.0, 2.0, 1.0, 0.2, -1.3, 0.9, -0.4};
    std::vector<double> sv = {0.1, 0.3, 0.5, 0.8, 1.2, 0.05};
    auto out = p.run({{"x", Tensor::from(Shape({B, 2}), xv)}, {"sigma", Tensor::from(Shape({B, 1}), sv)}})[0].to_vector();
    for (int64_t b = 0; b < B; ++b)
      for (int k = 0; k < 2; ++k) {
        const double mu = k == 0 ? 0.5 : -1.0, exact = -(xv[b * 2 + k] - mu) / (sd * sd + sv[b] * sv[b]);
        // Self-normalised importance sampling with K = 20000: a few percent of the score's scale.
        CHECK(std::abs(out[b * 2 + k] - exact) < 0.03 * (1 + std::abs(exact)));
      }
    // Fresh noise on every run; the same program restarted from run 0 repeats itself.
    auto again = p.run({{"x", Tensor::from(Shape({B, 2}), xv)}, {"sigma", Tensor::from(Shape({B, 1}), sv)}})[0].to_vector();
    CHECK(again != out);
    Program fresh = compile(g, {target});
    auto first = fresh.run({{"x", Tensor::from(Shape({B, 2}), xv)}, {"sigma", Tensor::from(Shape({B, 1}), sv)}})[0].to_vector();
    CHECK(first == out);
  }

  TEST_CASE("idem: the DEM target is clipped per particle for molecules") {
    systems::System s = systems::system_by_name("lj13");
    Graph g;
    Var x = g.input("x", Shape({4, 39}), DType::f64);
    Var sigma = g.input("sigma", Shape({4}), DType::f64);
    Var target = dem_score_target(s, x, sigma, 16, 1, 2.5);
    Program p = compile(g, {target});
    Tensor xs = Tensor::empty(Shape({4, 39}), DType::f64);
    for (int64_t i = 0; i < xs.numel(); ++i) xs.data<double>()[i] = 0.6 * std::sin(1.7 * i);  // crowded: big forces
    auto out = p.run({{"x", xs}, {"sigma", Tensor::full(Shape({4}), 0.05, DType::f64)}})[0].to_vector();
    double biggest = 0;
    for (int64_t b = 0; b < 4; ++b)
      for (int i = 0; i < 13; ++i) {
        double n2 = 0;
        for (int k = 0; k < 3; ++k) n2 += out[b * 39 + i * 3 + k] * out[b * 39 + i * 3 + k];
        CHECK(std::sqrt(n2) <= 2.5 + 1e-9);
        biggest = std::max(biggest, std::sqrt(n2));
      }
    CHECK(biggest > 2.4);  // the clip is active on these configurations
    CHECK_THROWS_WITH_AS(dem_score_target(s, g.input("bad", Shape({4, 38}), DType::f64), sigma, 16, 1, 2.5),
                         doctest::Contains("[batch, 39]"), Error);
  }

  TEST_CASE("idem: sinusoidal embedding matches its formula") {
    Graph g;
    Var z = g.input("z", Shape({2, 2}), DType::f64);
    Var e = sinusoidal_embedding(z, 8, 25.0);
    Program p = compile(g, {e});
    std::vector<double> zv = {0.1, -0.3, 0.02, 0.7};
    auto out = p.run({{"z", Tensor::from(Shape({2, 2}), zv)}})[0].to_vector();
    REQUIRE(out.size() == 2u * 2 * 8);
    for (int b = 0; b < 2; ++b)
      for (int c = 0; c < 2; ++c)
        for (int k = 0; k < 4; ++k) {
          const double f = std::exp(-k * std::log(10000.0) / 3.0), a = 25.0 * zv[b * 2 + c] * f;
          CHECK(out[b * 16 + c * 8 + k] == doctest::Approx(std::sin(a)).epsilon(1e-12));
          CHECK(out[b * 16 + c * 8 + 4 + k] == doctest::Approx(std::cos(a)).epsilon(1e-12));
        }
  }

  TEST_CASE("idem: training lowers the loss, and a resumed run equals an uninterrupted one") {
    namespace fs = std::filesystem;
    IdemConfig c = tiny("dw4");
    std::vector<double> a_loss, b_loss;
    Idem a(c);
    a.train([&](const IdemEpoch& e) {
      a_loss.push_back(e.loss);
      return true;
    });
    REQUIRE(a_loss.size() == 4);
    CHECK(a_loss.back() < 0.9 * a_loss.front());
    CHECK(a.buffer().shape()[0] == 32 + 4 * 16);
    // Two epochs, save, reload into a fresh run, two more: the same losses, weights and buffer.
    const std::string path = orbit::testing::test_temp("orbit_idem_resume.safetensors");
    {
      IdemConfig half = c;
      half.epochs = 2;
      Idem b(half);
      b.train([&](const IdemEpoch& e) {
        b_loss.push_back(e.loss);
        return true;
      });
      b.save(path);
    }
    Idem r(c);
    r.load(path);
    CHECK(r.epoch() == 2);
    r.train([&](const IdemEpoch& e) {
      b_loss.push_back(e.loss);
      return true;
    });
    REQUIRE(b_loss.size() == 4);
    for (size_t i = 0; i < 4; ++i) CHECK(b_loss[i] == a_loss[i]);
    CHECK(r.buffer().to_vector() == a.buffer().to_vector());
    for (auto& name : a.params()->names()) CHECK(r.params()->get(name).to_vector() == a.params()->get(name).to_vector());
    // Checkpoints written before the buffer moved into the file kept it beside it (path.buffer.npy):
    // they still load, to the same state. Damaged loop state is named.
    {
      r.save(path);
      std::map<std::string, Tensor> tensors;
      std::map<std::string, std::string> meta;
      read_safetensors(path, tensors, meta);
      REQUIRE(tensors.count("extra/buffer") == 1);
      write_npy(path + ".buffer.npy", tensors.at("extra/buffer"));
      tensors.erase("extra/buffer");
      const std::string legacy = path + ".legacy.safetensors";
      write_safetensors(legacy, tensors, meta);
      fs::rename(path + ".buffer.npy", legacy + ".buffer.npy");
      Idem old(c);
      old.load(legacy);
      CHECK(old.epoch() == 4);
      CHECK(old.buffer().to_vector() == r.buffer().to_vector());
      fs::remove(legacy + ".buffer.npy");
      CHECK_THROWS_WITH_AS(old.load(legacy), doctest::Contains("buffer.npy"), Error);
      fs::remove(legacy);
      for (auto [key, value] : std::vector<std::pair<std::string, std::string>>{
               {"buffer_next", "-3"}, {"buffer_next", "99999999"}, {"epoch", "x"}, {"plateau_loss_sum", "?"}}) {
        std::map<std::string, std::string> bad = meta;
        bad[key] = value;
        tensors["extra/buffer"] = r.buffer();
        write_safetensors(legacy, tensors, bad);
        Idem victim(c);
        CHECK_THROWS_WITH_AS(victim.load(legacy), doctest::Contains(key.c_str()), Error);
      }
      fs::remove(legacy);
    }
    fs::remove(path);
    // A checkpoint saved from the epoch callback (as `orbit idem train` does every val_every epochs)
    // resumes after that epoch: the same losses as the uninterrupted run, no epoch repeated.
    {
      std::vector<double> c_loss;
      Idem b(c);
      b.train([&](const IdemEpoch& e) {
        c_loss.push_back(e.loss);
        if (e.epoch == 2) b.save(path);
        return e.epoch < 3;  // stopped after the third epoch, as an interrupted run
      });
      REQUIRE(c_loss.size() == 3);
      Idem resumed(c);
      resumed.load(path);
      CHECK(resumed.epoch() == 2);
      c_loss.resize(2);
      std::vector<int64_t> epochs;
      resumed.train([&](const IdemEpoch& e) {
        c_loss.push_back(e.loss);
        epochs.push_back(e.epoch);
        return true;
      });
      CHECK(epochs == std::vector<int64_t>{3, 4});
      REQUIRE(c_loss.size() == 4);
      for (size_t i = 0; i < 4; ++i) CHECK(c_loss[i] == a_loss[i]);
    }
    fs::remove(path);
  }

  TEST_CASE("idem: reverse SDE with the Monte-Carlo score lands on the GMM-40 modes") {
    IdemConfig c = IdemConfig::preset("gmm40", "quick");
    c.K = 200;
    c.integration_steps = 60;
    Idem run(c);
    Tensor x = run.sample(300, 4, /*mc_score=*/true);
    REQUIRE(x.shape() == Shape({300, 2}));
    systems::System s = systems::system_by_name("gmm40");
    int near = 0;
    std::vector<int> hit(40, 0);
    for (int64_t i = 0; i < 300; ++i) {
      double best = INFINITY;
      int arg = 0;
      for (int k = 0; k < 40; ++k) {
        double d = std::hypot(x.data<double>()[i * 2] - s.gmm_means[k * 2], x.data<double>()[i * 2 + 1] - s.gmm_means[k * 2 + 1]);
        if (d < best) best = d, arg = k;
      }
      near += best < 4 * s.gmm_std;
      hit[arg] = 1;
    }
    CHECK(near >= 285);  // >= 95% within 4 std of a mode
    int modes = 0;
    for (int h : hit) modes += h;
    CHECK(modes >= 30);
  }

  TEST_CASE("idem: configuration round trip and bad settings") {
    IdemConfig c = IdemConfig::preset("lj55", "paper");
    CHECK(c.K == 100);
    CHECK(c.negative_time_steps == 10);
    IdemConfig r = IdemConfig::from_json(c.json(), "test");
    CHECK(r.json() == c.json());
    CHECK_THROWS_WITH_AS(IdemConfig::preset("dw5", "quick"), doctest::Contains("unknown system 'dw5'"), Error);
    CHECK_THROWS_WITH_AS(IdemConfig::preset("dw4", "fast"), doctest::Contains("paper or quick"), Error);
    CHECK_THROWS_WITH_AS(IdemConfig::from_json("{\"system\": \"dw4\", \"speed\": 3}", "test"),
                         doctest::Contains("unknown iDEM setting 'speed'"), Error);
    // A checkpoint's configuration is outside input: numbers that do not fit their setting are errors,
    // never truncated, wrapped or an exception from the standard library.
    auto bad = [](const std::string& setting, const char* says) {
      INFO(setting);
      CHECK_THROWS_WITH_AS(IdemConfig::from_json("{\"system\": \"dw4\", " + setting + "}", "ck"),
                           doctest::Contains(says), Error);
    };
    bad("\"K\": 1e999", "ck: 'K' must be an integer, got 1e999");
    bad("\"K\": 2.5", "'K' must be an integer, got 2.5");
    bad("\"batch\": 1e300", "'batch' must be an integer");
    bad("\"epochs\": 9223372036854775807", "'epochs' must be in [0, 1099511627776]");
    bad("\"seed\": -1", "'seed' must be a non-negative integer, got -1");
    bad("\"lr\": 1e999", "'lr' must be a finite number, got 1e999");
    bad("\"hidden\": \"64\"", "'hidden' must be a number");
  }
}

#if defined(ORBIT_CLI_PATH)
TEST_SUITE("cpu") {
  TEST_CASE("cli idem: LJ55 is evaluated against the shipped MCMC rows by default") {
    using orbit::testing::run_orbit;
    namespace fs = std::filesystem;
    const std::string dir = orbit::testing::temp_path("orbit_cli_idem_lj55");
    fs::remove_all(dir);
    auto r = run_orbit("idem train --system lj55 --epochs 1 --hidden 8 --layers 1 --K 4 --batch 8 --steps-per-epoch 1 "
                       "--integration-steps 2 --eval-n 20 --quiet --out " + dir);
    INFO(r.out);
    REQUIRE(r.code == 0);
    CHECK(r.out.find("lj55_mcmc1000.npy (20 vs 20)") != std::string::npos);
    CHECK(r.out.find("x-W2") != std::string::npos);
    fs::remove_all(dir);
  }

  TEST_CASE("cli idem: train, resume, sample and eval") {
    using orbit::testing::run_orbit;
    using orbit::testing::json_number;
    namespace fs = std::filesystem;
    const std::string dir = orbit::testing::temp_path("orbit_cli_idem");
    fs::remove_all(dir);
    const std::string small = " --hidden 8 --layers 2 --K 8 --batch 16 --steps-per-epoch 2 --integration-steps 4 --eval-n 30 --quiet";
    auto r = run_orbit("idem train --system dw4 --epochs 2 --json --out " + dir + small);
    INFO(r.out);
    REQUIRE(r.code == 0);
    CHECK(r.out.find("\"x_w2\"") != std::string::npos);
    CHECK_FALSE(fs::exists(dir + "/checkpoint.safetensors.buffer.npy"));  // the buffer is inside the checkpoint
    for (auto f : {"checkpoint.safetensors", "metrics.jsonl", "samples.npy",
                   "results.json", "loss.png", "idem_energy.png", "idem_distances.svg"})
      CHECK_MESSAGE(fs::exists(dir + "/" + f), f);
    r = run_orbit("idem train --system dw4 --epochs 3 --resume --json --quiet --out " + dir);
    REQUIRE(r.code == 0);
    CHECK(r.out.find("\"epochs_done\": 3") != std::string::npos);
    r = run_orbit("idem train --system dw4 --epochs 4 --resume --refine-steps 20 --quiet --out " + dir);
    REQUIRE(r.code == 0);
    CHECK(r.out.find("x-W2") != std::string::npos);
    CHECK(r.out.find("MALA refinement") != std::string::npos);
    CHECK(read_npy(dir + "/samples_refined.npy").shape() == Shape({30, 8}));
    auto clash = run_orbit("idem train --system dw4 --epochs 5 --resume --K 50 --out " + dir + " --quiet");
    CHECK(clash.code != 0);
    CHECK(clash.out.find("--K cannot change when resuming") != std::string::npos);
    r = run_orbit("idem sample --checkpoint " + dir + "/checkpoint.safetensors --n 7 --out " + dir + "/s.npy --quiet");
    REQUIRE(r.code == 0);
    CHECK(read_npy(dir + "/s.npy").shape() == Shape({7, 8}));
    // The likelihood model on the run's samples, and the second draw weighted by it (beyond the paper).
    const std::string nll_any = "idem nll --system dw4 --samples " + dir + "/samples.npy --steps 20 --hidden 8 "
                                "--n 10 --importance-n 10 --quiet";
    const std::string nll = nll_any + " --ode-steps 4";
    r = run_orbit(nll + " --weigh " + dir + "/s.npy --weigh-n 5 --weighed-out " + dir + "/w.npy --plots " + dir + "/nll");
    INFO(r.out);
    REQUIRE(r.code == 0);
    CHECK(r.out.find("\"nll\": ") != std::string::npos);
    CHECK(r.out.find("\"sampler_weights\": {\"samples\": ") != std::string::npos);
    CHECK(r.out.find("\"n\": 5, \"ess\": ") != std::string::npos);
    CHECK(read_npy(dir + "/w.npy").shape() == Shape({5, 8}));
    for (auto f : {"nll_model_energy.png", "nll_model_resampled_energy.png", "nll_weigh_energy.png",
                   "nll_weigh_resampled_energy.png"})
      CHECK_MESSAGE(fs::exists(dir + "/" + f), f);
    // --flow keeps the trained flow: a second run loads it instead of training and gives the same NLL.
    const std::string flow = " --flow " + dir + "/flow.safetensors";
    r = run_orbit(nll + flow + " --flow-every 7");
    REQUIRE(r.code == 0);
    CHECK(fs::exists(dir + "/flow.safetensors"));
    const double first_nll = json_number(r.out, "nll");
    r = run_orbit(nll + flow);
    INFO(r.out);
    REQUIRE(r.code == 0);
    CHECK(r.out.find("20 of 20 training steps done, no training needed") != std::string::npos);
    CHECK(json_number(r.out, "cfm_steps_loaded") == 20);
    CHECK(json_number(r.out, "nll") == first_nll);
    // ... and, since the first run kept its finished ODE batches beside the flow, integrates nothing
    // (one batch of test rows, one of model samples); --eval-cache none integrates again.
    CHECK(fs::is_directory(dir + "/flow.safetensors.eval"));
    CHECK(r.out.find("\"eval_cache\": \"" + dir + "/flow.safetensors.eval\"") != std::string::npos);
    CHECK(r.out.find("\"rk4_fallbacks\": 0, \"cached_batches\": 1}") != std::string::npos);
    CHECK(r.out.find("\"cached_batches\": 0") == std::string::npos);
    r = run_orbit(nll + flow + " --eval-cache none");
    REQUIRE(r.code == 0);
    CHECK(r.out.find("\"cached_batches\": 1") == std::string::npos);
    CHECK(json_number(r.out, "nll") == first_nll);
    auto badcache = run_orbit(nll + flow + " --eval-cache " + dir + "/flow.safetensors");
    CHECK(badcache.code != 0);
    CHECK(badcache.out.find("as the evaluation cache folder") != std::string::npos);
    // The same flow under iDEM's adaptive integrator and under many RK4 steps: the same likelihood,
    // the work done in the JSON.
    r = run_orbit(nll_any + flow + " --ode-solver dopri5 --ode-tol 1e-7");
    INFO(r.out);
    REQUIRE(r.code == 0);
    CHECK(r.out.find("\"ode_solver\": \"dopri5\"") != std::string::npos);
    CHECK(r.out.find("\"ode_tol\": 9.9999999999999995e-08") != std::string::npos);
    const double dopri_nll = json_number(r.out, "nll");
    r = run_orbit(nll_any + flow + " --ode-steps 400");
    REQUIRE(r.code == 0);
    CHECK(r.out.find("\"ode_solver\": \"rk4\", \"ode_steps\": 400, \"ode_tol\": null, \"nll_ode\": {\"nfe\": 1600, "
                     "\"steps\": 400, \"rejected\": 0, \"rk4_fallbacks\": 0, \"cached_batches\": 0}") != std::string::npos);
    CHECK(json_number(r.out, "nll") == doctest::Approx(dopri_nll).epsilon(1e-6));
    for (const auto& [opts, says] : std::vector<std::pair<std::string, std::string>>{
             {" --ode-solver euler", "must be rk4 or dopri5"},
             {" --ode-solver dopri5 --ode-steps 9", "--ode-steps sets the fixed-step solver"},
             {" --ode-solver rk4 --ode-tol 1e-4", "set the adaptive solver"},
             {" --ode-tol 0", "--ode-tol"},
             {" --ode-batch 0", "--ode-batch"}}) {
      auto bad = run_orbit(nll_any + flow + opts);
      INFO(opts << ": " << bad.out);
      CHECK(bad.code != 0);
      CHECK(bad.out.find(says) != std::string::npos);
    }
    // A batch dopri5 cannot finish within --ode-max-nfe is integrated again with RK4 (iDEM's fallback),
    // with a warning and the count in the JSON; smaller batches give the same likelihood.
    r = run_orbit(nll_any + flow + " --ode-max-nfe 8 --ode-batch 4");
    INFO(r.out);
    REQUIRE(r.code == 0);
    CHECK(r.out.find("more than 8 field evaluations") != std::string::npos);
    CHECK(r.out.find("integrating these 4 rows again with 40 RK4 steps") != std::string::npos);
    CHECK(r.out.find("\"rk4_fallbacks\": 3, \"cached_batches\": 0}") != std::string::npos);  // 10 rows in batches of 4, 4, 2
    r = run_orbit(nll_any + flow + " --ode-steps 400 --ode-batch 3");
    REQUIRE(r.code == 0);
    CHECK(json_number(r.out, "nll") == doctest::Approx(dopri_nll).epsilon(1e-6));
    // --eval-only evaluates a part-trained flow as it is (here stopped by --time-limit after one step)
    // and leaves the file alone.
    const std::string part = " --flow " + dir + "/part.safetensors";
    r = run_orbit(nll + part + " --time-limit 0.001");
    CHECK(r.code == 75);
    const auto before = fs::last_write_time(dir + "/part.safetensors");
    r = run_orbit(nll + part + " --eval-only");
    INFO(r.out);
    REQUIRE(r.code == 0);
    CHECK(r.out.find("1 of 20 training steps done, evaluated as it is (--eval-only)") != std::string::npos);
    CHECK(json_number(r.out, "cfm_steps_loaded") == 1);
    CHECK(fs::last_write_time(dir + "/part.safetensors") == before);
    auto lone = run_orbit(nll + " --eval-only");
    CHECK(lone.code != 0);
    CHECK(lone.out.find("--eval-only evaluates a kept flow") != std::string::npos);
    auto limited = run_orbit(nll + part + " --eval-only --time-limit 5 --eval-cache none");
    CHECK(limited.code != 0);
    CHECK(limited.out.find("nothing to limit") != std::string::npos);
    auto reseeded = run_orbit(nll + flow + " --seed 3");
    INFO(reseeded.out);
    CHECK(reseeded.code != 0);
    CHECK(reseeded.out.find("was trained with seed 1, this run asks for 3") != std::string::npos);
    auto other = run_orbit("idem nll --system dw4 --samples " + dir + "/s.npy --steps 20 --ode-steps 4 --hidden 8 --n 10 "
                           "--importance-n 10 --quiet" + flow);
    CHECK(other.code != 0);
    CHECK(other.out.find("trained on other samples") != std::string::npos);
    auto folder = run_orbit(nll + " --flow " + dir);
    CHECK(folder.code != 0);
    CHECK(folder.out.find("is a folder") != std::string::npos);
    auto nowhere = run_orbit(nll + " --flow " + dir + "/new/folder/flow.safetensors");  // made on the way
    CHECK(nowhere.code == 0);
    CHECK(fs::is_regular_file(dir + "/new/folder/flow.safetensors"));
    auto every = run_orbit(nll + " --flow-every 5");
    CHECK(every.code != 0);
    CHECK(every.out.find("--flow-every needs --flow") != std::string::npos);
    r = run_orbit(nll + " --weigh " + dir + "/samples.npy --weigh-n 5");
    CHECK(r.code == 0);
    CHECK(r.out.find("--weigh is the flow's own training set") != std::string::npos);
    auto orphan = run_orbit(nll + " --weigh-n 5");
    CHECK(orphan.code != 0);
    CHECK(orphan.out.find("need --weigh") != std::string::npos);
    auto zero = run_orbit(nll + " --weigh " + dir + "/s.npy --weigh-n 0");
    CHECK(zero.code != 0);
    CHECK(zero.out.find("--weigh-n") != std::string::npos);
    // One configuration saved as a 1-D array is one row, not D rows: too few to weigh, said before training.
    std::vector<double> first = read_npy(dir + "/s.npy").cast(DType::f64).to_vector();
    first.resize(8);
    write_npy(dir + "/one.npy", Tensor::from(Shape({8}), first));
    auto one = run_orbit(nll + " --weigh " + dir + "/one.npy");
    CHECK(one.code != 0);
    CHECK(one.out.find("needs at least 2 configurations") != std::string::npos);
    CHECK(one.out.find("holds 1") != std::string::npos);
    auto missing = run_orbit(nll + " --weigh " + dir + "/none.npy");
    CHECK(missing.code != 0);
    CHECK(missing.out.find("no such file") != std::string::npos);
    CHECK(missing.out.find("(--weigh)") != std::string::npos);
    r = run_orbit("idem eval --checkpoint " + dir + "/checkpoint.safetensors --samples " + dir + "/samples.npy --n 20");
    REQUIRE(r.code == 0);
    CHECK(r.out.find("\"dist_tv\"") != std::string::npos);
    // Outputs land in folders created on the way; one that cannot exist (a file in the way) is refused
    // before any work, naming the option.
    r = run_orbit("idem eval --checkpoint " + dir + "/checkpoint.safetensors --samples " + dir + "/samples.npy --n 20"
                  " --out " + dir + "/new/eval.json --plots " + dir + "/pics/eval");
    REQUIRE(r.code == 0);
    CHECK(fs::is_regular_file(dir + "/new/eval.json"));
    CHECK(fs::is_regular_file(dir + "/pics/eval_energy.svg"));
    auto blocked = run_orbit(nll + " --flow " + dir + "/blocked_flow.safetensors --out " + dir + "/samples.npy/nll.json");
    CHECK(blocked.code != 0);
    CHECK(blocked.out.find("--out: cannot create the folder") != std::string::npos);
    CHECK(!fs::exists(dir + "/blocked_flow.safetensors"));  // refused before training
    auto bad = run_orbit("idem sample --checkpoint " + dir + "/metrics.jsonl --n 3 --out " + dir + "/x.npy");
    CHECK(bad.code != 0);
    bad = run_orbit("idem train --system dw4 --preset huge --out " + dir);
    CHECK(bad.out.find("paper or quick") != std::string::npos);
    fs::remove_all(dir);
  }
}
#endif

TEST_SUITE("slow") {
  TEST_CASE("idem: the DW4 quick preset, shortened to 12 epochs, reaches x-W2 below 2.5") {
    // The target is x-W2 <= 2.3 for the full quick preset (40 epochs: 2.17 measured); this shorter
    // run measured 2.14 but is noisier, hence 2.5. Untrained (prior) samples score about 7.
    IdemConfig c = IdemConfig::preset("dw4", "quick");
    c.epochs = 12;
    c.seed = 1;
    Idem run(c);
    run.train();
    Tensor x = run.sample(1000, 100);
    Tensor ref = read_npy(std::string(ORBIT_SOURCE_DIR) + "/tests/fixtures/systems/dw4_test_first1000.npy");
    systems::ConfigSet a, b;
    a.x = x.to_vector();
    a.n = 1000;
    a.flat_dim = 8;
    b.x = ref.cast(DType::f64).to_vector();
    b.n = 1000;
    b.flat_dim = 8;
    systems::remove_mean(a, 4, 2);
    systems::remove_mean(b, 4, 2);
    const double w2 = systems::w2_exact(a, b).w2;
    MESSAGE("DW4 quick, 12 epochs: x-W2 " << w2);
    CHECK(w2 < 2.5);
  }
}
