// The weight-sharing prox: the three isotonic algorithms agree, the adversarial input separates
// them, the solution satisfies the prox's invariants and optimality condition, a generic convex
// solver confirms the reference for tiny d, and the optimizer hook is forward-backward splitting.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "engine/optim/optimizer.h"
#include "engine/orbit.h"
#include "models/sharing/prox.h"
#include "tests/prox_test_util.h"

using namespace orbit;
using namespace orbit::sharing;
using namespace orbit::prox_test;

namespace {

constexpr ProxAlgorithm kAll[] = {ProxAlgorithm::pava, ProxAlgorithm::imminent, ProxAlgorithm::search};

std::vector<double> prox64(const std::vector<double>& w, double t, ProxOptions o = {}, ProxStats* st = nullptr) {
  Tensor u = prox_weight_sharing(Tensor::from<double>({int64_t(w.size())}, w), t, o, st);
  return u.to_vector();
}

std::vector<double> prox32(const std::vector<double>& w, double t, ProxOptions o = {}) {
  std::vector<float> f(w.begin(), w.end());
  return prox_weight_sharing(Tensor::from<float>({int64_t(f.size())}, f), t, o).to_vector();
}

double R_of(const std::vector<double>& w) { return R(Tensor::from<double>({int64_t(w.size())}, w)); }

// The three algorithms (f64 and f32) against the reference, relative to the input's scale.
void check_agree(const std::vector<double>& w, double t, double l1 = 0, double rho = 0) {
  const double scale = max_abs(w) + t + 1e-300;
  auto ref = prox64(w, t, with(ProxAlgorithm::pava, l1, rho));
  auto ref32 = prox32(w, t, with(ProxAlgorithm::pava, l1, rho));
  for (auto a : kAll) {
    INFO("d = " << w.size() << ", t = " << t << ", l1 = " << l1 << ", rho = " << rho << ", " << algorithm_name(a));
    CHECK(max_diff(prox64(w, t, with(a, l1, rho)), ref) <= 1e-12 * scale);
    CHECK(max_diff(prox32(w, t, with(a, l1, rho)), ref32) <= 1e-5 * scale);
  }
}

// 0 in u - w + t dR(u): inside each group of equal outputs (size m) the residuals
// r_i = (w_i - u_i)(d-1)/t - (#below - #above) must be the row sums of an antisymmetric matrix with
// entries in [-1, 1]: they sum to 0 and any k of them sum to at most k (m - k).
void check_optimal(const std::vector<double>& w, const std::vector<double>& u, double t) {
  const int64_t d = int64_t(w.size());
  const double scale = max_abs(w) + t;
  const double tol = 1e-10 * scale * double(d - 1) / t;
  std::vector<int64_t> idx(d);
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](int64_t a, int64_t b) { return u[a] < u[b]; });
  for (int64_t g = 0; g < d;) {
    int64_t e = g;
    while (e < d && u[idx[e]] == u[idx[g]]) ++e;
    const int64_t m = e - g;
    std::vector<double> r;
    for (int64_t k = g; k < e; ++k)
      r.push_back((w[idx[k]] - u[idx[k]]) * double(d - 1) / t - double(g - (d - e)));
    std::sort(r.rbegin(), r.rend());
    double run = 0;
    for (int64_t k = 1; k <= m; ++k) {
      run += r[k - 1];
      INFO("group of " << m << " at sorted position " << g << ", top " << k << " residuals sum " << run);
      CHECK(run <= double(k * (m - k)) + k * tol);
    }
    CHECK(std::fabs(run) <= m * tol);
    g = e;
  }
}

double objective(const std::vector<double>& w, const std::vector<double>& u, double t) {
  double f = 0;
  for (size_t i = 0; i < w.size(); ++i) f += 0.5 * (u[i] - w[i]) * (u[i] - w[i]);
  return f + t * R_of(u);
}

// A generic solver for tiny d: ADMM on 0.5 |u - w|^2 + t/(d-1) sum_{i<j} |u_i - u_j| with one split
// variable per pair; (I + D^T D) has the closed-form inverse on span(1) and its complement.
std::vector<double> admm(const std::vector<double>& w, double t, int iters) {
  const int d = int(w.size());
  const double lam = t / double(d - 1), rho = 1.0;
  std::vector<std::pair<int, int>> pairs;
  for (int i = 0; i < d; ++i)
    for (int j = i + 1; j < d; ++j) pairs.push_back({i, j});
  std::vector<double> z(pairs.size(), 0), y(pairs.size(), 0), u = w, b(d);
  for (int it = 0; it < iters; ++it) {
    b = w;
    for (size_t p = 0; p < pairs.size(); ++p) {
      b[pairs[p].first] += rho * (z[p] - y[p]);
      b[pairs[p].second] -= rho * (z[p] - y[p]);
    }
    double mean = std::accumulate(b.begin(), b.end(), 0.0) / d;
    for (int i = 0; i < d; ++i) u[i] = mean + (b[i] - mean) / (1 + rho * d);
    for (size_t p = 0; p < pairs.size(); ++p) {
      double du = u[pairs[p].first] - u[pairs[p].second];
      double q = du + y[p], k = lam / rho;
      z[p] = q > k ? q - k : (q < -k ? q + k : 0.0);
      y[p] += du - z[p];
    }
  }
  return u;
}

}  // namespace

TEST_SUITE("cpu") {
  TEST_CASE("prox: pava, imminent and search agree on random inputs of many sizes") {
    std::mt19937_64 rng(7);
    for (int64_t d : {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33, 64, 100, 127, 128, 129, 255, 1000, 1025, 4099}) {
      for (double sigma : {1.0, 0.01})
        for (double t : {1e-4, 1e-2, 1.0, 30.0}) check_agree(normal(rng, d, sigma), t * sigma);
    }
    auto w = normal(rng, 3000, 1.0);
    check_agree(w, 0.3, 0.05, 0.0);
    check_agree(w, 0.3, 0.0, 0.98);
    check_agree(w, 0.3, 0.2, 0.5);
    check_agree(w, 0.0);
    for (auto a : kAll) CHECK(prox64(w, 0.0, with(a)) == w);  // t = 0: the identity, exactly
    release_prox_workspace();
    CHECK(prox64({1.0, 2.0}, 0.25) == std::vector<double>{1.25, 1.75});
  }

  TEST_CASE("prox: many exact ties and equal weights") {
    std::mt19937_64 rng(11);
    for (int64_t d : {2, 3, 10, 100, 1000, 5000}) {
      auto w = normal(rng, d, 1.0);
      for (auto& x : w) x = std::round(x * 4) / 4;  // few distinct values, many ties
      for (double t : {1e-3, 0.1, 1.0, 10.0}) {
        check_agree(w, t);
        check_agree(w, t, 0.1, 0.5);
      }
      for (auto a : kAll) {
        INFO(algorithm_name(a) << " d = " << d);
        auto u = prox64(std::vector<double>(d, 0.375), 0.25, with(a));
        for (double x : u) CHECK(x == u[0]);
        CHECK(std::fabs(u[0] - 0.375) <= 1e-15);
        auto u32 = prox32(std::vector<double>(d, -1.5), 3.0, with(a));
        for (double x : u32) CHECK(x == -1.5);
      }
    }
  }

  TEST_CASE("prox: d = 0, 1, 2 (closed form) and 3") {
    for (auto a : kAll) {
      INFO(algorithm_name(a));
      ProxStats st;
      Tensor empty = prox_weight_sharing(Tensor::zeros({0}, DType::f64), 1.0, with(a), &st);
      CHECK(empty.numel() == 0);
      CHECK(st.d == 0);
      CHECK(prox64({2.5}, 10.0, with(a)) == std::vector<double>{2.5});
      CHECK(R_of({2.5}) == 0);
      struct Case {
        double a, b, t;
      } cases[] = {{0, 1, 0.1}, {1, 0, 0.1}, {0, 1, 0.5}, {0, 1, 0.7}, {-3, 5, 1.0}, {2, 2, 1.0}, {0, 1, 0}};
      for (auto c : cases) {
        auto u = prox64({c.a, c.b}, c.t, with(a));
        double lo = std::min(c.a, c.b), hi = std::max(c.a, c.b);
        double ulo = hi - lo <= 2 * c.t ? (lo + hi) / 2 : lo + c.t, uhi = hi - lo <= 2 * c.t ? (lo + hi) / 2 : hi - c.t;
        CHECK(u[c.a <= c.b ? 0 : 1] == doctest::Approx(ulo).epsilon(1e-15));
        CHECK(u[c.a <= c.b ? 1 : 0] == doctest::Approx(uhi).epsilon(1e-15));
      }
      // d = 3: v = (t, 0, -t); t = 1, w = (5, 0, 1) gives z = (1, 1, 4): a tie (pooled or not, the same
      // values); t = 10 pools all three at the mean.
      auto u = prox64({5, 0, 1}, 1.0, with(a));
      CHECK(u[0] == doctest::Approx(4.0));
      CHECK(u[1] == doctest::Approx(1.0));
      CHECK(u[2] == doctest::Approx(1.0));
      auto all = prox64({5, 0, 1}, 10.0, with(a));
      for (double x : all) CHECK(x == doctest::Approx(2.0));
    }
  }

  TEST_CASE("prox: on the cascade input imminent collisions takes d rounds, search log2 d levels") {
    std::mt19937_64 rng(3);
    for (int64_t d : {16, 64, 256, 1024, 4096}) {
      const double t = double(d) * double(d) * double(d);
      auto w = cascade(d, t, rng);
      ProxStats pava, imm, srch;
      auto up = prox64(w, t, with(ProxAlgorithm::pava), &pava);
      auto ui = prox64(w, t, with(ProxAlgorithm::imminent), &imm);
      auto us = prox64(w, t, with(ProxAlgorithm::search), &srch);
      INFO("d = " << d << ": search depth " << srch.depth);
      CHECK(imm.rounds == d);
      CHECK((int64_t(1) << srch.rounds) == d);
      CHECK(srch.depth <= 4 * srch.rounds * srch.rounds);  // O(log^2 d) probes, far below d
      CHECK(max_diff(ui, up) <= 1e-12 * t);
      CHECK(max_diff(us, up) <= 1e-12 * t);
      CHECK(pava.blocks == 1);
      CHECK(imm.distinct == 1);
    }
    // Typical inputs need few rounds.
    ProxStats st;
    prox64(normal(rng, 1024, 1.0), 1.0, with(ProxAlgorithm::imminent), &st);
    CHECK(st.rounds <= 12);
    prox64(normal(rng, 1000, 1.0), 1.0, with(ProxAlgorithm::search), &st);
    CHECK(st.rounds == 10);
  }

  TEST_CASE("prox: mean and order preserved, ties stay tied, R decreases, optimality condition holds") {
    std::mt19937_64 rng(5);
    for (int64_t d : {2, 3, 6, 20, 200, 2000}) {
      for (double t : {1e-3, 0.05, 1.0, 20.0}) {
        auto w = normal(rng, d, 1.0);
        for (int64_t k = 0; k < d / 4; ++k) w[rng() % d] = w[rng() % d];  // some exact duplicates
        const double scale = max_abs(w) + t;
        for (auto a : kAll) {
          INFO("d = " << d << ", t = " << t << ", " << algorithm_name(a));
          auto u = prox64(w, t, with(a));
          double mw = std::accumulate(w.begin(), w.end(), 0.0) / d, mu = std::accumulate(u.begin(), u.end(), 0.0) / d;
          CHECK(std::fabs(mw - mu) <= 1e-12 * scale);
          bool ordered = true, tied = true;
          for (int64_t i = 0; i < d; ++i)
            for (int64_t j = 0; j < d && d <= 200; ++j) {
              if (w[i] < w[j] && u[i] > u[j]) ordered = false;
              if (w[i] == w[j] && u[i] != u[j]) tied = false;
            }
          CHECK(ordered);
          CHECK(tied);
          CHECK(R_of(u) <= R_of(w) + 1e-12 * scale);
          check_optimal(w, u, t);
        }
      }
    }
  }

  TEST_CASE("prox: R matches the pairwise definition") {
    std::mt19937_64 rng(9);
    for (int64_t d : {2, 3, 17, 100}) {
      auto w = normal(rng, d, 1.0);
      double r = 0;
      for (int64_t i = 0; i < d; ++i)
        for (int64_t j = 0; j < i; ++j) r += std::fabs(w[i] - w[j]);
      CHECK(R_of(w) == doctest::Approx(r / double(d - 1)).epsilon(1e-13));
    }
  }

  TEST_CASE("prox: the reference matches a generic convex solver for tiny d") {
    std::mt19937_64 rng(13);
    for (int d = 2; d <= 6; ++d)
      for (int rep = 0; rep < 6; ++rep) {
        auto w = normal(rng, d, 1.0);
        if (rep == 0) w[1] = w[0];
        const double t = std::vector<double>{0.05, 0.3, 1.0, 3.0}[rep % 4];
        auto u = prox64(w, t, with(ProxAlgorithm::pava));
        auto ref = admm(w, t, 20000);
        INFO("d = " << d << ", t = " << t);
        CHECK(max_diff(u, ref) <= 1e-6);
        CHECK(objective(w, u, t) <= objective(w, ref, t) + 1e-12);
        // No random nearby point does better.
        std::normal_distribution<double> n(0, 1);
        for (int k = 0; k < 200; ++k) {
          std::vector<double> p = u;
          double h = std::pow(10.0, -1 - (k % 6));
          for (auto& x : p) x += h * n(rng);
          CHECK(objective(w, u, t) <= objective(w, p, t) + 1e-14);
        }
      }
  }

  TEST_CASE("prox: l1 soft threshold and rho damping follow the paper's formulas") {
    for (auto a : kAll) {
      INFO(algorithm_name(a));
      ProxStats st;
      // w = (0, 1), t = 0.1: blocks stay apart at z = (0.1, 0.9); l1 = 0.2 zeroes the first, moves the
      // second to 0.7; rho = 0.5 keeps half the drift: x + 0.5 (v - 0.2) = 1 + 0.5 (-0.3).
      auto l = prox64({0, 1}, 0.1, with(a, 0.2), &st);
      CHECK(l[0] == 0.0);
      CHECK(l[1] == doctest::Approx(0.7).epsilon(1e-15));
      CHECK(st.zeros == 1);
      CHECK(st.distinct == 2);
      auto u = prox64({1, 0}, 0.1, with(a, 0.2, 0.5));
      CHECK(u[0] == doctest::Approx(0.85).epsilon(1e-15));
      CHECK(u[1] == 0.0);
      // rho = 1: each block sits at the mean of its members' initial positions.
      // (z = (0.1, 0.043, 4.997, 4.92): two pairs pool.)
      auto s = prox64({0, 0.01, 5, 5.02}, 0.1, with(a, 0, 1.0));
      CHECK(s[0] == doctest::Approx(0.005).epsilon(1e-14));
      CHECK(s[1] == s[0]);
      CHECK(s[2] == doctest::Approx(5.01).epsilon(1e-14));
      CHECK(s[3] == s[2]);
      // Exactly touching blocks (|w1 - w2| = 2t) pool for every algorithm, also with rho.
      auto touch = prox64({0, 1}, 0.5, with(a, 0, 0.5));
      CHECK(touch[0] == 0.5);
      CHECK(touch[1] == 0.5);
    }
  }

  TEST_CASE("prox: any shape is flattened, f32 stays f32, bad input is refused") {
    Tensor w = Tensor::from<float>({2, 3}, {3.f, 1.f, 2.f, 6.f, 5.f, 4.f});
    ProxStats st;
    Tensor u = prox_weight_sharing(w, 100.0, {}, &st);
    CHECK(u.shape() == w.shape());
    CHECK(u.dtype() == DType::f32);
    for (int64_t i = 0; i < 6; ++i) CHECK(u.at(i) == doctest::Approx(3.5));
    CHECK(st.distinct == 1);
    CHECK(st.rounds == 3);
    CHECK(w.at(0) == 3.f);  // the input is untouched

    auto says = [](auto&& f, const char* what) {
      try {
        f();
        FAIL("no error; expected one saying '" << what << "'");
      } catch (const Error& e) {
        INFO(e.what());
        CHECK(std::string(e.what()).find(what) != std::string::npos);
      }
    };
    says([&] { prox_weight_sharing(Tensor::from<double>({3}, {1, NAN, 2}), 0.1); }, "weight 1 of 3 is nan");
    says([&] { prox_weight_sharing(Tensor::from<double>({2}, {1, INFINITY}), 0.1); }, "finite weights");
    says([&] { prox_weight_sharing(w, -0.1); }, "step must be finite and >= 0");
    says([&] { prox_weight_sharing(w, 0.1, {-1.0}); }, "l1 must be");
    says([&] { prox_weight_sharing(w, 0.1, {0, 1.5}); }, "rho must be in [0, 1]");
    says([&] { prox_weight_sharing(Tensor::from<int32_t>({2}, {1, 2}), 0.1); }, "expected f32 or f64");
    says([&] { parse_algorithm("fast"); }, "unknown prox algorithm 'fast'");
    says([&] { weight_sharing_hook(-1.0); }, "ws_lr must be");
  }

  TEST_CASE("prox: the optimizer hook is an SGD step followed by the prox with step ws_lr x lr") {
    std::mt19937_64 rng(17);
    auto w0 = normal(rng, 40, 1.0), g0 = normal(rng, 40, 1.0), b0 = normal(rng, 5, 1.0), gb = normal(rng, 5, 1.0);
    ParamStore s;
    s.set("fc/w", Tensor::from<double>({8, 5}, w0));
    s.set("fc/b", Tensor::from<double>({5}, b0));
    const double ws_lr = 0.3;
    ProxOptions opts{0.01, 0, ProxAlgorithm::search};
    optim::SGD sgd(std::make_shared<optim::CosineLr>(0.1, 10));
    sgd.add_prox("fc/w", weight_sharing_hook(ws_lr, opts));
    sgd.add_prox("fc/b", weight_sharing_hook(ws_lr, opts));
    std::vector<double> w = w0, b = b0;
    for (int step = 0; step < 3; ++step) {
      const double lr = sgd.lr();
      sgd.step(s, {"fc/w", "fc/b"}, {Tensor::from<double>({8, 5}, g0), Tensor::from<double>({5}, gb)});
      for (size_t i = 0; i < w.size(); ++i) w[i] -= lr * g0[i];
      for (size_t i = 0; i < b.size(); ++i) b[i] -= lr * gb[i];
      w = prox64(w, ws_lr * lr, opts);
      b = prox64(b, ws_lr * lr, opts);
      CHECK(s.get("fc/w").to_vector() == w);
      CHECK(s.get("fc/b").to_vector() == b);
    }
    CHECK(s.get("fc/w").shape() == Shape({8, 5}));
  }
}
