// The weight-sharing prox on CUDA tensors (kernels/cuda/prox.cu through models/sharing/prox.h): all
// three isotonic algorithms on the GPU against the CPU's sequential PAVA (f64 to 1e-12 and f32 to
// 1e-5 of the input's scale) on random inputs from d = 1 to 2^20 (partial tiles and rows included),
// inputs with many exact ties, all-equal inputs, the l1 and rho options; the counters against the
// CPU's (imminent rounds on the cascade input = d, search levels = ceil(log2 d) with the same probe
// depth); refusal of non-finite weights; the optimizer hook on CUDA parameters. Every case skips
// itself without a GPU (ORBIT_TEST_GPU_ON_CPU=1 runs them with the CPU standing in for it).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "engine/optim/optimizer.h"
#include "engine/optim/schedule.h"
#include "engine/orbit.h"
#include "models/sharing/prox.h"
#include "tests/prox_test_util.h"
#include "tests/harness/op_harness.h"

using namespace orbit;
using namespace orbit::sharing;
using namespace orbit::prox_test;

namespace {

Device gpu() { return testing::device_under_test(); }

constexpr ProxAlgorithm kAll[] = {ProxAlgorithm::pava, ProxAlgorithm::imminent, ProxAlgorithm::search};

Tensor as_tensor(const std::vector<double>& w, DType dt) {
  Tensor t = Tensor::from<double>({int64_t(w.size())}, w);
  return dt == DType::f64 ? t : t.cast(dt);
}

// The prox of w (in dtype dt) on device d; the result as doubles on the host.
std::vector<double> prox_on(Device d, const std::vector<double>& w, DType dt, double t, ProxOptions o,
                            ProxStats* st = nullptr) {
  Tensor in = as_tensor(w, dt).to(d);
  Tensor u = prox_weight_sharing(in, t, o, st);
  REQUIRE(u.device() == d);
  REQUIRE(u.dtype() == dt);
  REQUIRE(u.numel() == int64_t(w.size()));
  return u.to(Device::cpu()).to_vector();
}

// Every algorithm on the GPU against the CPU's PAVA, f64 and f32. `exact_counts`: the inputs have no
// exact ties between block means, so the partitions (blocks, distinct values, zeros) must match too;
// with ties, rounding of the two devices' prefix sums may pool equal-mean neighbours differently
// (the values then agree to rounding all the same).
void check_against_cpu(const std::vector<double>& w, double t, double l1, double rho, bool exact_counts) {
  const double scale = max_abs(w) + t + 1e-300;
  for (DType dt : {DType::f64, DType::f32}) {
    ProxStats ref_st;
    auto ref = prox_on(Device::cpu(), w, dt, t, with(ProxAlgorithm::pava, l1, rho), &ref_st);
    for (auto a : kAll) {
      INFO("d = " << w.size() << ", t = " << t << ", l1 = " << l1 << ", rho = " << rho << ", " << algorithm_name(a)
                  << ", " << dtype_name(dt));
      ProxStats st, cpu_st;
      auto u = prox_on(gpu(), w, dt, t, with(a, l1, rho), &st);
      CHECK(max_diff(u, ref) <= (dt == DType::f64 ? 1e-12 : 1e-5) * scale);
      CHECK(st.d == int64_t(w.size()));
      prox_on(Device::cpu(), w, dt, t, with(a, l1, rho), &cpu_st);
      CHECK(st.rounds == cpu_st.rounds);  // pava: d; imminent: the same rounds; search: ceil(log2 d)
      if (exact_counts) {
        CHECK(st.blocks == ref_st.blocks);
        CHECK(st.distinct == ref_st.distinct);
        CHECK(st.zeros == ref_st.zeros);
        CHECK(st.depth == cpu_st.depth);  // search: the same binary searches, probe for probe
      }
    }
  }
}

int ceil_log2(int64_t d) {
  int l = 0;
  while ((int64_t(1) << l) < d) ++l;
  return l;
}

}  // namespace

TEST_SUITE("gpu") {
  TEST_CASE("gpu prox: pava, imminent and search on CUDA agree with the CPU's PAVA on random inputs, d = 1 .. 2^20") {
    GPU_OR_SKIP();
    std::mt19937_64 rng(21);
    for (int64_t d : {int64_t(1), int64_t(2), int64_t(3), int64_t(17), int64_t(1000), int64_t(2047), int64_t(2049),
                      int64_t(4099), int64_t(65536), int64_t(100003), int64_t(1) << 20}) {
      const bool big = d > 5000;
      for (double sigma : {1.0, 0.01}) {
        for (double t : {1e-4, 1e-2, 1.0, 30.0}) {
          if (big && (t == 1e-4 || t == 30.0)) continue;
          check_against_cpu(normal(rng, d, sigma), t * sigma, 0, 0, true);
        }
        if (big) break;
      }
    }
    // t = 0 is the identity, exactly.
    auto w = normal(rng, 3001, 1.0);
    for (auto a : kAll)
      for (DType dt : {DType::f64, DType::f32}) {
        Tensor in = as_tensor(w, dt);
        CHECK(prox_on(gpu(), w, dt, 0.0, with(a)) == in.to_vector());
      }
  }

  TEST_CASE("gpu prox: many exact ties and all-equal inputs") {
    GPU_OR_SKIP();
    std::mt19937_64 rng(23);
    for (int64_t d : {2, 3, 10, 100, 1000, 5000, 65536}) {
      auto w = normal(rng, d, 1.0);
      for (auto& x : w) x = std::round(x * 4) / 4;  // few distinct values, many ties
      for (double t : {0.0, 1e-3, 0.1, 1.0, 10.0}) {
        if (d == 65536 && t != 0.1) continue;
        check_against_cpu(w, t, 0, 0, false);
        check_against_cpu(w, t, 0.1, 0.5, false);
        // Equal inputs stay exactly equal on the GPU.
        for (auto a : kAll) {
          INFO(algorithm_name(a) << " d = " << d << " t = " << t);
          auto u = prox_on(gpu(), w, DType::f64, t, with(a));
          std::vector<int64_t> idx(d);
          std::iota(idx.begin(), idx.end(), 0);
          std::stable_sort(idx.begin(), idx.end(), [&](int64_t i, int64_t j) { return w[i] < w[j]; });
          bool tied = true, ordered = true;
          for (int64_t k = 1; k < d; ++k) {
            if (w[idx[k]] == w[idx[k - 1]] && u[idx[k]] != u[idx[k - 1]]) tied = false;
            if (u[idx[k]] < u[idx[k - 1]]) ordered = false;
          }
          CHECK(tied);
          CHECK(ordered);
        }
      }
      for (auto a : kAll) {
        INFO(algorithm_name(a) << " d = " << d);
        ProxStats st;
        auto u = prox_on(gpu(), std::vector<double>(d, 0.375), DType::f64, 0.25, with(a), &st);
        for (double x : u) CHECK(x == u[0]);
        CHECK(std::fabs(u[0] - 0.375) <= 1e-15);
        CHECK(st.distinct == 1);
        CHECK(st.blocks == 1);
        auto u32 = prox_on(gpu(), std::vector<double>(d, -1.5), DType::f32, 3.0, with(a));
        for (double x : u32) CHECK(x == -1.5);
        auto same = prox_on(gpu(), std::vector<double>(d, 2.0), DType::f64, 0.0, with(a), &st);
        for (double x : same) CHECK(x == 2.0);
        CHECK(st.distinct == 1);
      }
    }
  }

  TEST_CASE("gpu prox: l1 soft threshold and rho damping on CUDA follow the CPU") {
    GPU_OR_SKIP();
    std::mt19937_64 rng(25);
    for (int64_t d : {2, 1000, 65537}) {
      auto w = normal(rng, d, 1.0);
      for (auto [l1, rho] : {std::pair{0.05, 0.0}, {0.0, 0.98}, {0.2, 0.5}, {0.0, 1.0}, {0.3, 1.0}})
        for (double t : {0.01, 0.3}) check_against_cpu(w, t, l1, rho, true);
    }
    for (auto a : kAll) {
      INFO(algorithm_name(a));
      ProxStats st;
      auto l = prox_on(gpu(), {0, 1}, DType::f64, 0.1, with(a, 0.2), &st);
      CHECK(l[0] == 0.0);
      CHECK(l[1] == doctest::Approx(0.7).epsilon(1e-15));
      CHECK(st.zeros == 1);
      CHECK(st.distinct == 2);
      auto touch = prox_on(gpu(), {0, 1}, DType::f64, 0.5, with(a, 0, 0.5));
      CHECK(touch[0] == 0.5);
      CHECK(touch[1] == 0.5);
    }
  }

  TEST_CASE("gpu prox: on the cascade input imminent takes d rounds on CUDA, search ceil(log2 d) levels") {
    GPU_OR_SKIP();
    std::mt19937_64 rng(27);
    for (int64_t d : {16, 256, 1000, 1024, 4096, 5000}) {
      const double t = double(d) * double(d) * double(d);
      auto w = cascade(d, t, rng);
      ProxStats pava, imm, srch, cpu_imm, cpu_srch;
      auto ref = prox_on(Device::cpu(), w, DType::f64, t, with(ProxAlgorithm::pava));
      auto up = prox_on(gpu(), w, DType::f64, t, with(ProxAlgorithm::pava), &pava);
      auto ui = prox_on(gpu(), w, DType::f64, t, with(ProxAlgorithm::imminent), &imm);
      auto us = prox_on(gpu(), w, DType::f64, t, with(ProxAlgorithm::search), &srch);
      prox_on(Device::cpu(), w, DType::f64, t, with(ProxAlgorithm::imminent), &cpu_imm);
      prox_on(Device::cpu(), w, DType::f64, t, with(ProxAlgorithm::search), &cpu_srch);
      INFO("d = " << d << ": search depth " << srch.depth << " (CPU " << cpu_srch.depth << ")");
      CHECK(imm.rounds == d);
      CHECK(imm.rounds == cpu_imm.rounds);
      CHECK(srch.rounds == ceil_log2(d));
      CHECK(srch.rounds == cpu_srch.rounds);
      CHECK(srch.depth == cpu_srch.depth);
      CHECK(srch.depth <= 4 * srch.rounds * srch.rounds);  // O(log^2 d) probes, far below d
      CHECK(pava.rounds == d);
      CHECK(max_diff(up, ref) <= 1e-12 * t);
      CHECK(max_diff(ui, ref) <= 1e-12 * t);
      CHECK(max_diff(us, ref) <= 1e-12 * t);
      CHECK(pava.blocks == 1);
      CHECK(imm.distinct == 1);
      CHECK(srch.distinct == 1);
    }
    // Typical inputs: few rounds, and search's levels do not depend on the input.
    ProxStats st;
    prox_on(gpu(), normal(rng, 1024, 1.0), DType::f64, 1.0, with(ProxAlgorithm::imminent), &st);
    CHECK(st.rounds <= 12);
    prox_on(gpu(), normal(rng, 1000, 1.0), DType::f64, 1.0, with(ProxAlgorithm::search), &st);
    CHECK(st.rounds == 10);
  }

  TEST_CASE("gpu prox: d = 0, 1, 2 (closed form), 3 and 4099, shapes, the input untouched, bad weights refused") {
    GPU_OR_SKIP();
    for (auto a : kAll) {
      INFO(algorithm_name(a));
      ProxStats st;
      Tensor empty = prox_weight_sharing(Tensor::zeros({0}, DType::f64).to(gpu()), 1.0, with(a), &st);
      CHECK(empty.numel() == 0);
      CHECK(st.d == 0);
      CHECK(prox_on(gpu(), {2.5}, DType::f64, 10.0, with(a), &st) == std::vector<double>{2.5});
      CHECK(st.blocks == 1);
      CHECK(prox_on(gpu(), {-7.25}, DType::f32, 1.0, with(a, 8.0)) == std::vector<double>{0.0});
      struct Case {
        double a, b, t;
      } cases[] = {{0, 1, 0.1}, {1, 0, 0.1}, {0, 1, 0.5}, {0, 1, 0.7}, {-3, 5, 1.0}, {2, 2, 1.0}, {0, 1, 0}};
      for (auto c : cases) {
        auto u = prox_on(gpu(), {c.a, c.b}, DType::f64, c.t, with(a));
        double lo = std::min(c.a, c.b), hi = std::max(c.a, c.b);
        double ulo = hi - lo <= 2 * c.t ? (lo + hi) / 2 : lo + c.t, uhi = hi - lo <= 2 * c.t ? (lo + hi) / 2 : hi - c.t;
        CHECK(u[c.a <= c.b ? 0 : 1] == doctest::Approx(ulo).epsilon(1e-15));
        CHECK(u[c.a <= c.b ? 1 : 0] == doctest::Approx(uhi).epsilon(1e-15));
      }
      auto u = prox_on(gpu(), {5, 0, 1}, DType::f64, 1.0, with(a));
      CHECK(u[0] == doctest::Approx(4.0));
      CHECK(u[1] == doctest::Approx(1.0));
      CHECK(u[2] == doctest::Approx(1.0));
      auto all = prox_on(gpu(), {5, 0, 1}, DType::f64, 10.0, with(a));
      for (double x : all) CHECK(x == doctest::Approx(2.0));
      // -0 sorts before +0 on both devices, so the two zeros get the same velocities.
      auto z = prox_on(gpu(), {0.0, -0.0, 1.0}, DType::f64, 0.1, with(a));
      CHECK(max_diff(z, prox_on(Device::cpu(), {0.0, -0.0, 1.0}, DType::f64, 0.1, with(a))) <= 1e-15);
    }
    // One input past a tile (2048 slots) with a partial last row, small enough for the sanitizers.
    std::mt19937_64 rng(31);
    check_against_cpu(normal(rng, 4099, 1.0), 0.05, 0, 0, true);
    check_against_cpu(normal(rng, 4099, 1.0), 0.05, 0.1, 0.5, true);
    Tensor w = Tensor::from<float>({2, 3}, {3.f, 1.f, 2.f, 6.f, 5.f, 4.f}).to(gpu());
    ProxStats st;
    Tensor u = prox_weight_sharing(w, 100.0, {}, &st);
    CHECK(u.shape() == w.shape());
    CHECK(u.device() == w.device());
    for (double x : u.to(Device::cpu()).to_vector()) CHECK(x == doctest::Approx(3.5));
    CHECK(st.distinct == 1);
    CHECK(st.rounds == 3);
    CHECK(w.to(Device::cpu()).at(0) == 3.f);  // the input is untouched
    CHECK(R(w) == doctest::Approx(R(w.to(Device::cpu()))));

    auto says = [](auto&& f, const char* what) {
      try {
        f();
        FAIL("no error; expected one saying '" << what << "'");
      } catch (const Error& e) {
        INFO(e.what());
        CHECK(std::string(e.what()).find(what) != std::string::npos);
      }
    };
    says([&] { prox_weight_sharing(Tensor::from<double>({3}, {1, NAN, 2}).to(gpu()), 0.1); }, "weight 1 of 3 is nan");
    says([&] { prox_weight_sharing(Tensor::from<float>({2}, {1, INFINITY}).to(gpu()), 0.1); }, "finite weights");
    Tensor bad = Tensor::from<double>({4}, {1, 2, -INFINITY, NAN}).to(gpu());
    says([&] { prox_weight_sharing_inplace(bad, 0.1); }, "weight 2 of 4 is -inf");
    CHECK(bad.to(Device::cpu()).at(0) == 1.0);  // refused before anything was written
  }

  TEST_CASE("gpu prox: the optimizer hook on CUDA parameters follows the CPU") {
    GPU_OR_SKIP();
    std::mt19937_64 rng(29);
    for (DType dt : {DType::f64, DType::f32}) {
      for (auto a : kAll) {
        INFO(std::string(dtype_name(dt)) << " " << algorithm_name(a));
        auto w0 = normal(rng, 64 * 33, 0.1), g0 = normal(rng, 64 * 33, 1.0), b0 = normal(rng, 33, 0.1),
             gb = normal(rng, 33, 1.0);
        ParamStore sc, sg;
        Tensor w = as_tensor(w0, dt).reshaped({64, 33}), b = as_tensor(b0, dt);
        sc.set("fc/w", w.clone());
        sc.set("fc/b", b.clone());
        sg.set("fc/w", w.to(gpu()));
        sg.set("fc/b", b.to(gpu()));
        const double ws_lr = 0.3;
        ProxOptions opts{0.001, 0, a};
        optim::SGD cpu_sgd(std::make_shared<optim::CosineLr>(0.1, 10)), gpu_sgd(std::make_shared<optim::CosineLr>(0.1, 10));
        for (auto* o : {&cpu_sgd, &gpu_sgd}) {
          o->add_prox("fc/w", weight_sharing_hook(ws_lr, opts));
          o->add_prox("fc/b", weight_sharing_hook(ws_lr, opts));
        }
        Tensor gw = as_tensor(g0, dt).reshaped({64, 33}), gbt = as_tensor(gb, dt);
        for (int step = 0; step < 3; ++step) {
          cpu_sgd.step(sc, {"fc/w", "fc/b"}, {gw, gbt});
          gpu_sgd.step(sg, {"fc/w", "fc/b"}, {gw.to(gpu()), gbt.to(gpu())});
        }
        for (const char* name : {"fc/w", "fc/b"}) {
          INFO(name);
          Tensor pg = sg.get(name);
          CHECK(pg.device() == gpu());
          auto want = sc.get(name).to_vector(), got = pg.to(Device::cpu()).to_vector();
          CHECK(max_diff(got, want) <= (dt == DType::f64 ? 1e-12 : 1e-5) * (max_abs(want) + 1));
        }
        CHECK(sg.get("fc/w").shape() == Shape({64, 33}));
      }
    }
  }
}
