// Optimizers on parameters that live on the GPU: SGD, Adam, AdamW, EMA and gradient clipping on
// CUDA parameters follow the CPU path (the fused kernels of kernels/cuda/optim.cu compute every
// element in double with the CPU's rounding, so unclipped updates are bit-identical on x86-64 and
// clipped ones agree to rounding: the gradient norm sums in another order); a TrainStep whose
// ParamStore holds CUDA tensors trains without copying them to the host; optimizer state and EMA
// weights round-trip through save/load and checkpoints. Every "gpu" case skips itself, with a
// message, without a GPU.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "engine/backend_hooks.h"
#include "engine/optim/checkpoint.h"
#include "engine/optim/optimizer.h"
#include "engine/optim/schedule.h"
#include "engine/optim/train_step.h"
#include "engine/orbit.h"
#include "tests/test_temp.h"

using namespace orbit;
using namespace orbit::optim;

namespace {

bool no_gpu() {
  if (cuda_device_count() > 0) return false;
  const std::string why = cuda_built() ? "this CUDA build sees no GPU (no device or no driver)"
                                       : "this build has no CUDA backend";
  MESSAGE("skipped: " << why);
  return true;
}
#define GPU_OR_SKIP() \
  if (no_gpu()) return

// Unclipped updates are the same double arithmetic on both devices (no FMA contraction on either:
// the x86-64 baseline has none, the CUDA kernels use explicitly rounded operations).
#if defined(__x86_64__)
constexpr bool kBitwise = true;
#else
constexpr bool kBitwise = false;
#endif

Device gpu() { return Device::cuda(0); }

Tensor rnd(const Shape& s, DType dt, std::mt19937_64& rng, double lo = -1, double hi = 1) {
  Tensor t = Tensor::empty(s, dt);
  std::uniform_real_distribution<double> u(lo, hi);
  dispatch_float(dt, [&]<class T>() {
    T* p = t.data<T>();
    for (int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<T>(u(rng));
  });
  return t;
}

double eps_of(DType dt) {
  return dt == DType::f32 ? double(std::numeric_limits<float>::epsilon()) : std::numeric_limits<double>::epsilon();
}

// max |a - b| / max(1, |b|), in units of the dtype's epsilon (a and b on any devices).
double diff_eps(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  REQUIRE(a.dtype() == b.dtype());
  auto va = a.to_vector(), vb = b.to_vector();
  double worst = 0;
  for (size_t i = 0; i < va.size(); ++i) {
    if (std::isnan(va[i]) || std::isnan(vb[i])) return std::numeric_limits<double>::infinity();
    worst = std::max(worst, std::abs(va[i] - vb[i]) / std::max(1.0, std::abs(vb[i])));
  }
  return worst / eps_of(a.dtype());
}

// The GPU tensor stays on the GPU and agrees with the CPU one: bit for bit when `exact` (and the
// platform promises it), else within `tol_eps` epsilons.
void expect_agree(const std::string& what, const Tensor& on_gpu, const Tensor& on_cpu, bool exact, double tol_eps = 16) {
  INFO(what);
  CHECK(on_gpu.device() == gpu());
  CHECK(on_cpu.device().is_cpu());
  const double d = diff_eps(on_gpu, on_cpu);
  if (exact && kBitwise) CHECK(d == 0);
  else CHECK(d <= tol_eps);
}

const std::vector<std::string> kNames = {"a", "b", "c"};
// A single element, a non-multiple of the block, and enough elements for a many-block sum of squares.
const std::vector<Shape> kShapes = {Shape{1}, Shape{257}, Shape{3, 33335}};

struct Stores {
  ParamStore cpu, gpu;
  std::vector<double> norms[2];
};

// The same parameters and gradients through two optimizers made by `make`, one on a CPU store and
// one on a CUDA store. Odd steps hand the GPU optimizer host gradients (they move to the GPU);
// even steps hand it CUDA gradients, as a CUDA program does.
Stores run_both(const std::function<std::unique_ptr<Optimizer>()>& make, DType dt, int steps, double clip,
                uint64_t seed, double grad_scale = 1) {
  std::mt19937_64 rng(seed);
  Stores s;
  for (size_t i = 0; i < kNames.size(); ++i) {
    Tensor p = rnd(kShapes[i], dt, rng);
    s.cpu.set(kNames[i], p);
    s.gpu.set(kNames[i], p.to(gpu()));
  }
  auto oc = make(), og = make();
  if (clip > 0) {
    oc->set_clip_norm(clip);
    og->set_clip_norm(clip);
  }
  for (int k = 0; k < steps; ++k) {
    std::vector<Tensor> gc, gg;
    for (size_t i = 0; i < kNames.size(); ++i) {
      Tensor g = rnd(kShapes[i], dt, rng, -grad_scale, grad_scale);
      gc.push_back(g);
      gg.push_back(k % 2 == 1 ? g.clone() : g.to(gpu()));
    }
    s.norms[0].push_back(oc->step(s.cpu, kNames, gc));
    s.norms[1].push_back(og->step(s.gpu, kNames, gg));
  }
  CHECK(og->steps() == steps);
  return s;
}

void expect_stores_agree(const std::string& what, const Stores& s, bool exact, double tol_eps = 16) {
  for (auto& n : kNames) expect_agree(what + ", parameter " + n, s.gpu.get(n), s.cpu.get(n), exact, tol_eps);
  for (size_t k = 0; k < s.norms[0].size(); ++k)
    CHECK(s.norms[1][k] == doctest::Approx(s.norms[0][k]).epsilon(1e-12));
}

std::shared_ptr<LrSchedule> lr(double v) { return std::make_shared<ConstantLr>(v); }

ParamStore to_device(const ParamStore& src, Device d) {
  ParamStore out;
  for (auto& n : src.names()) out.set(n, src.get(n).to(d));
  return out;
}

}  // namespace

TEST_SUITE("cpu") {
  TEST_CASE("CUDA build: the optimizer kernels are installed with the backend") {
    if (!cuda_built()) {
      MESSAGE("skipped: this build has no CUDA backend");
      return;
    }
    const BackendHooks& h = backend_hooks();
    CHECK(bool(h.cuda_sgd_update));
    CHECK(bool(h.cuda_adam_update));
    CHECK(bool(h.cuda_ema_update));
    CHECK(bool(h.cuda_scale));
    CHECK(bool(h.cuda_sum_squares));
  }
}

TEST_SUITE("gpu") {
  TEST_CASE("gpu optim: SGD with momentum, Nesterov and weight decay on CUDA parameters follows the CPU") {
    GPU_OR_SKIP();
    struct Cfg {
      double mu, wd;
      bool nesterov;
    };
    for (DType dt : {DType::f32, DType::f64})
      for (Cfg c : {Cfg{0, 0, false}, Cfg{0, 0.01, false}, Cfg{0.9, 0.01, false}, Cfg{0.5, 0, true}, Cfg{0.9, 0.1, true}}) {
        INFO(std::string(dtype_name(dt)) << " momentum " << c.mu << " weight decay " << c.wd << " nesterov " << c.nesterov);
        auto s = run_both([&] { return std::make_unique<SGD>(lr(0.05), c.mu, c.wd, c.nesterov); }, dt, 5, 0, 11);
        expect_stores_agree("SGD", s, true);
      }
  }

  TEST_CASE("gpu optim: Adam and AdamW on CUDA parameters follow the CPU") {
    GPU_OR_SKIP();
    for (DType dt : {DType::f32, DType::f64}) {
      INFO(std::string(dtype_name(dt)));
      auto adam = run_both([] { return std::make_unique<Adam>(lr(0.01)); }, dt, 6, 0, 21);
      expect_stores_agree("Adam", adam, true);
      auto l2 = run_both([] { return std::make_unique<Adam>(lr(0.02), 0.8, 0.99, 1e-6, 0.05, false); }, dt, 6, 0, 22);
      expect_stores_agree("Adam with L2 weight decay", l2, true);
      auto w = run_both([] { return adamw(lr(0.02), 0.1); }, dt, 6, 0, 23);
      expect_stores_agree("AdamW", w, true);
      // A schedule changes the learning rate every step; bias corrections use the step count.
      auto cos = run_both([] { return std::make_unique<Adam>(std::make_shared<CosineLr>(0.05, 8, 0.001, 2)); }, dt, 6,
                          0, 24);
      expect_stores_agree("Adam with a cosine schedule", cos, true);
    }
  }

  TEST_CASE("gpu optim: EMA of CUDA parameters follows the CPU and stays on the GPU") {
    GPU_OR_SKIP();
    for (DType dt : {DType::f32, DType::f64}) {
      INFO(std::string(dtype_name(dt)));
      std::mt19937_64 rng(31);
      ParamStore sc, sg;
      EMA ec(0.9), eg(0.9);
      for (int k = 0; k < 5; ++k) {
        for (size_t i = 0; i < kNames.size(); ++i) {
          Tensor p = rnd(kShapes[i], dt, rng);
          sc.set(kNames[i], p);
          sg.set(kNames[i], p.to(gpu()));
        }
        ec.update(sc);
        eg.update(sg);
        if (k == 0) {  // the first update copies: the average is a tensor of its own, on the GPU
          CHECK(eg.averaged().get("b").raw() != sg.get("b").raw());
        }
      }
      for (auto& n : kNames) expect_agree("EMA " + n, eg.averaged().get(n), ec.averaged().get(n), true);
      // An average restored on the host (as a checkpoint restores it) follows its parameter to the GPU.
      EMA er(0.9);
      for (auto& n : kNames) er.mutable_averaged().set(n, ec.averaged().get(n).clone());
      er.update(sg);
      ec.update(sc);
      for (auto& n : kNames) expect_agree("restored EMA " + n, er.averaged().get(n), ec.averaged().get(n), true);
    }
  }

  TEST_CASE("gpu optim: clip_grad_norm on CUDA gradients follows the CPU") {
    GPU_OR_SKIP();
    for (DType dt : {DType::f32, DType::f64}) {
      INFO(std::string(dtype_name(dt)));
      std::mt19937_64 rng(41);
      std::vector<Tensor> hc, hg, mixed_c, mixed;
      for (size_t i = 0; i < kShapes.size(); ++i) {
        Tensor g = rnd(kShapes[i], dt, rng, -2, 2);
        hc.push_back(g.clone());
        hg.push_back(g.to(gpu()));
        mixed_c.push_back(g.clone());
        mixed.push_back(i == 1 ? g.clone() : g.to(gpu()));  // one gradient on the host, the others on the GPU
      }
      const double nc = clip_grad_norm(hc, 1.0);
      const double ng = clip_grad_norm(hg, 1.0);
      CHECK(ng == doctest::Approx(nc).epsilon(1e-12));
      CHECK(nc > 1.0);
      for (size_t i = 0; i < hc.size(); ++i) expect_agree("clipped gradient " + kNames[i], hg[i], hc[i], false, 4);
      const double nm = clip_grad_norm(mixed, 1.0);
      clip_grad_norm(mixed_c, 1.0);
      CHECK(nm == doctest::Approx(nc).epsilon(1e-12));
      CHECK(mixed[1].device().is_cpu());
      CHECK(mixed[0].device() == gpu());
      for (size_t i = 0; i < mixed.size(); ++i)
        CHECK(diff_eps(mixed[i], mixed_c[i]) <= 4);
      // Below the bound nothing is scaled.
      std::vector<Tensor> small{Tensor::from<double>({2}, {0.3, -0.4}).to(gpu())};
      CHECK(clip_grad_norm(small, 1.0) == doctest::Approx(0.5).epsilon(1e-15));
      CHECK(small[0].to_vector() == std::vector<double>{0.3, -0.4});
      // An empty gradient adds nothing.
      std::vector<Tensor> empty{Tensor::zeros({0}, dt, gpu()), Tensor::from<double>({1}, {2.0}).to(gpu())};
      if (dt == DType::f32) empty[1] = Tensor::from<float>({1}, {2.0f}).to(gpu());
      CHECK(clip_grad_norm(empty, 0) == doctest::Approx(2.0).epsilon(1e-15));
    }
  }

  TEST_CASE("gpu optim: clipped SGD and Adam steps on CUDA parameters agree with the CPU to rounding") {
    GPU_OR_SKIP();
    for (DType dt : {DType::f32, DType::f64}) {
      INFO(std::string(dtype_name(dt)));
      auto sgd = run_both([] { return std::make_unique<SGD>(lr(0.1), 0.9, 0.01, true); }, dt, 5, 0.5, 51, 3);
      for (size_t k = 0; k < sgd.norms[0].size(); ++k) CHECK(sgd.norms[0][k] > 0.5);  // every step clips
      expect_stores_agree("clipped SGD", sgd, false, 16);
      auto adam = run_both([] { return adamw(lr(0.01), 0.01); }, dt, 5, 0.5, 52, 3);
      expect_stores_agree("clipped AdamW", adam, false, 16);
      // The clip bound above every norm: nothing is scaled and the steps are bit-identical again.
      auto loose = run_both([] { return std::make_unique<Adam>(lr(0.01)); }, dt, 3, 1e9, 53);
      expect_stores_agree("Adam under a loose clip bound", loose, true);
    }
  }

  TEST_CASE("gpu optim: a clipped step leaves the caller's CUDA gradients untouched") {
    GPU_OR_SKIP();
    ParamStore s;
    s.set("p", Tensor::zeros({2}, DType::f64, gpu()));
    SGD sgd(lr(1.0));
    sgd.set_clip_norm(1.0);
    Tensor caller = Tensor::from<double>({2}, {6.0, 8.0}).to(gpu());
    CHECK(sgd.step(s, {"p"}, {caller}) == doctest::Approx(10.0));
    CHECK(caller.to_vector() == std::vector<double>{6.0, 8.0});
    CHECK(s.get("p").device() == gpu());
    CHECK(s.get("p").to_vector()[0] == doctest::Approx(-0.6).epsilon(1e-6));
    CHECK(s.get("p").to_vector()[1] == doctest::Approx(-0.8).epsilon(1e-6));
  }

  TEST_CASE("gpu optim: a NaN gradient on the GPU stops the step and updates nothing") {
    GPU_OR_SKIP();
    ParamStore s;
    s.set("p", Tensor::from<float>({3}, {1.0f, 2.0f, 3.0f}).to(gpu()));
    Adam adam(lr(0.1));
    Tensor bad = Tensor::from<float>({3}, {0.5f, std::nanf(""), 1.0f}).to(gpu());
    CHECK_THROWS_WITH_AS(adam.step(s, {"p"}, {bad}), doctest::Contains("gradient norm"), Error);
    CHECK(s.get("p").to_vector() == std::vector<double>{1.0, 2.0, 3.0});
    CHECK(adam.steps() == 0);
    CHECK_THROWS_AS(adam.step(s, {"p"}, {Tensor::zeros({2}, DType::f32, gpu())}), Error);   // wrong shape
    CHECK_THROWS_AS(adam.step(s, {"p"}, {Tensor::zeros({3}, DType::f64, gpu())}), Error);   // wrong dtype
  }

  TEST_CASE("gpu optim: a TrainStep with a CUDA ParamStore trains in place and follows the CPU") {
    GPU_OR_SKIP();
    std::mt19937_64 rng(61);
    Graph g;
    Var x = g.input("x", {64, 5}, DType::f64);
    Var t = g.input("t", {64, 1}, DType::f64);
    Var w1 = g.param("w1", {5, 16}, DType::f64);
    Var w2 = g.param("w2", {16, 1}, DType::f64);
    Var loss = mean(square(matmul(tanh(matmul(x, w1)), w2) - t));
    Feeds f = {{"x", rnd({64, 5}, DType::f64, rng, -2, 2)}, {"t", rnd({64, 1}, DType::f64, rng, -2, 2)}};
    Tensor w1v = rnd({5, 16}, DType::f64, rng, -0.5, 0.5), w2v = rnd({16, 1}, DType::f64, rng, -0.5, 0.5);
    // 0: CPU store, CPU program. 1: CUDA store, CUDA program. 2: CUDA store, CPU program (the
    // parameters are read to the host, the gradients go back to the GPU for the update).
    const int kRuns = 3, kSteps = 8;
    std::vector<double> losses[kRuns], norms[kRuns];
    std::shared_ptr<ParamStore> stores[kRuns];
    EMA emas[kRuns] = {EMA(0.8), EMA(0.8), EMA(0.8)};
    for (int r = 0; r < kRuns; ++r) {
      const Device where = r == 0 ? Device::cpu() : gpu();
      stores[r] = std::make_shared<ParamStore>();
      stores[r]->set("w1", w1v.to(where));
      stores[r]->set("w2", w2v.to(where));
      auto adam = std::make_shared<Adam>(lr(0.01));
      adam->set_clip_norm(0.5);
      TrainStep step(g, loss, {w1, w2}, stores[r], adam, r == 1 ? gpu() : Device::cpu());
      const void* w1_storage = stores[r]->get("w1").raw();
      for (int i = 0; i < kSteps; ++i) {
        auto res = step.run(f);
        losses[r].push_back(res.loss);
        norms[r].push_back(res.grad_norm);
        emas[r].update(*stores[r]);
      }
      // Updated in place, where they live: no copy to the host and back.
      CHECK(stores[r]->get("w1").device() == where);
      CHECK(stores[r]->get("w1").raw() == w1_storage);
    }
    for (int r = 1; r < kRuns; ++r) {
      INFO("run " << r);
      for (int i = 0; i < kSteps; ++i) {
        CHECK(losses[r][i] == doctest::Approx(losses[0][i]).epsilon(1e-12));
        CHECK(norms[r][i] == doctest::Approx(norms[0][i]).epsilon(1e-12));
      }
      for (const char* n : {"w1", "w2"}) {
        INFO(n);
        CHECK(diff_eps(stores[r]->get(n), stores[0]->get(n)) < 1e5);  // f64 to ~1e-11
        CHECK(diff_eps(emas[r].averaged().get(n), emas[0].averaged().get(n)) < 1e5);
        CHECK(emas[r].averaged().get(n).device() == gpu());
      }
    }
    CHECK(losses[1].back() < losses[1].front());
  }

  TEST_CASE("gpu optim: optimizer state round-trips through save and load on the GPU") {
    GPU_OR_SKIP();
    std::mt19937_64 rng(71);
    auto grads = [&](DType dt, Device d) {
      std::vector<Tensor> out;
      for (auto& s : kShapes) out.push_back(rnd(s, dt, rng).to(d));
      return out;
    };
    for (DType dt : {DType::f32, DType::f64}) {
      for (int kind = 0; kind < 2; ++kind) {
        INFO(std::string(dtype_name(dt)) << (kind == 0 ? " Adam" : " SGD with momentum"));
        auto make = [&]() -> std::unique_ptr<Optimizer> {
          if (kind == 0) return std::make_unique<Adam>(lr(0.01));
          return std::make_unique<SGD>(lr(0.05), 0.9, 0.01);
        };
        ParamStore a;
        for (size_t i = 0; i < kNames.size(); ++i) a.set(kNames[i], rnd(kShapes[i], dt, rng).to(gpu()));
        auto x = make();
        for (int k = 0; k < 2; ++k) x->step(a, kNames, grads(dt, gpu()));
        std::map<std::string, Tensor> tensors;
        std::map<std::string, std::string> meta;
        x->save(tensors, meta);
        size_t slots = 0;
        for (auto& [k, v] : tensors) {
          if (k.rfind("optim/", 0) != 0) continue;
          ++slots;
          INFO(k);
          CHECK(v.device().is_cpu());  // checkpoints hold host tensors
        }
        CHECK(slots == (kind == 0 ? 2 : 1) * kNames.size());
        CHECK(meta.at("optim.steps") == "2");
        // b resumes on the GPU in a fresh optimizer, c on the host, and x rewinds itself.
        ParamStore b = to_device(a, gpu()), c = to_device(a, Device::cpu()), saved = to_device(a, gpu());
        auto y = make(), z = make();
        y->load(tensors, meta);
        z->load(tensors, meta);
        x->step(a, kNames, grads(dt, gpu()));  // moves x on past the saved state ...
        x->load(tensors, meta);                // ... and back (its slots stay on the GPU)
        a = to_device(saved, gpu());
        for (int k = 0; k < 3; ++k) {
          auto gs = grads(dt, gpu());
          std::vector<Tensor> gh;
          for (auto& gg : gs) gh.push_back(gg.to(Device::cpu()));
          x->step(a, kNames, gs);
          y->step(b, kNames, gs);
          z->step(c, kNames, gh);
        }
        CHECK(x->steps() == 5);
        CHECK(y->steps() == 5);
        for (auto& n : kNames) {
          INFO(n);
          CHECK(b.get(n).device() == gpu());
          CHECK(b.get(n).to_vector() == a.get(n).to_vector());  // same device, same state: same bits
          expect_agree("resumed on the host", b.get(n), c.get(n), true);
        }
        // The state saved after the resumed steps matches between the devices too.
        std::map<std::string, Tensor> ty, tz;
        std::map<std::string, std::string> my, mz;
        y->save(ty, my);
        z->save(tz, mz);
        CHECK(ty.size() == tz.size());
        for (auto& [k, v] : ty) {
          INFO(k);
          REQUIRE(tz.count(k) == 1);
          CHECK(v.device().is_cpu());
          CHECK(diff_eps(v, tz.at(k)) <= (kBitwise ? 0 : 16));
        }
      }
    }
  }

  TEST_CASE("gpu optim: a checkpoint of a CUDA ParamStore with Adam and EMA resumes on the GPU") {
    GPU_OR_SKIP();
    std::mt19937_64 rng(81);
    const DType dt = DType::f32;
    auto make_store = [&] {
      ParamStore s;
      for (size_t i = 0; i < kNames.size(); ++i) s.set(kNames[i], rnd(kShapes[i], dt, rng).to(gpu()));
      return s;
    };
    std::vector<std::vector<Tensor>> gs;
    for (int k = 0; k < 6; ++k) {
      std::vector<Tensor> one;
      for (auto& s : kShapes) one.push_back(rnd(s, dt, rng).to(gpu()));
      gs.push_back(one);
    }
    ParamStore straight = make_store();
    Adam a1(lr(0.01));
    a1.set_clip_norm(5.0);
    EMA e1(0.9);
    const auto path = orbit::testing::test_temp("orbit_test_gpu_optim_checkpoint.safetensors");
    ParamStore init = to_device(straight, gpu());
    for (int k = 0; k < 3; ++k) {
      a1.step(straight, kNames, gs[k]);
      e1.update(straight);
    }
    save_checkpoint(path, {&straight, &a1, &e1, 0, {}});
    for (int k = 3; k < 6; ++k) {
      a1.step(straight, kNames, gs[k]);
      e1.update(straight);
    }
    // Resume into a store whose parameters live on the GPU: they are restored there.
    ParamStore resumed = init;
    Adam a2(lr(0.01));
    a2.set_clip_norm(5.0);
    EMA e2(0.9);
    CheckpointState st{&resumed, &a2, &e2, 0, {}};
    load_checkpoint(path, st);
    std::filesystem::remove(path);
    CHECK(a2.steps() == 3);
    for (int k = 3; k < 6; ++k) {
      a2.step(resumed, kNames, gs[k]);
      e2.update(resumed);
    }
    for (auto& n : kNames) {
      INFO(n);
      CHECK(resumed.get(n).device() == gpu());
      CHECK(e2.averaged().get(n).device() == gpu());
      CHECK(resumed.get(n).to_vector() == straight.get(n).to_vector());
      CHECK(e2.averaged().get(n).to_vector() == e1.averaged().get(n).to_vector());
    }
  }
}
