// Optimizers, schedules, clipping, EMA and initialisers against hand-computed values.
#include <doctest/doctest.h>

#include <cmath>

#include "engine/optim/init.h"
#include "engine/optim/optimizer.h"
#include "engine/orbit.h"

using namespace orbit;
using namespace orbit::optim;

namespace {
ParamStore store_with(const std::vector<double>& p) {
  ParamStore s;
  s.set("p", Tensor::from<double>({static_cast<int64_t>(p.size())}, p));
  return s;
}
Tensor grad_of(const std::vector<double>& g) { return Tensor::from<double>({static_cast<int64_t>(g.size())}, g); }
}  // namespace

TEST_SUITE("cpu") {
  TEST_CASE("SGD with momentum, Nesterov and weight decay matches hand-computed steps") {
    ParamStore s = store_with({1.0, -2.0});
    SGD sgd(std::make_shared<ConstantLr>(0.1), 0.9, 0.01);
    sgd.step(s, {"p"}, {grad_of({0.5, 1.0})});
    // g' = g + 0.01 p = (0.51, 0.98); buf = g'; p -= 0.1 buf
    CHECK(s.get("p").at(0) == doctest::Approx(1.0 - 0.051).epsilon(1e-15));
    CHECK(s.get("p").at(1) == doctest::Approx(-2.0 - 0.098).epsilon(1e-15));
    double p0 = 0.949, b0 = 0.51;
    sgd.step(s, {"p"}, {grad_of({0.5, 1.0})});
    double g1 = 0.5 + 0.01 * p0, b1 = 0.9 * b0 + g1;
    CHECK(s.get("p").at(0) == doctest::Approx(p0 - 0.1 * b1).epsilon(1e-14));

    ParamStore n = store_with({1.0});
    SGD nes(std::make_shared<ConstantLr>(0.1), 0.5, 0, true);
    nes.step(n, {"p"}, {grad_of({2.0})});  // buf = 2, d = 2 + 0.5 * 2 = 3
    CHECK(n.get("p").at(0) == doctest::Approx(0.7).epsilon(1e-15));
  }

  TEST_CASE("Adam and AdamW match hand-computed steps") {
    ParamStore s = store_with({1.0});
    Adam adam(std::make_shared<ConstantLr>(0.01));
    double p = 1.0, m = 0, v = 0;
    const double gs[3] = {0.3, -0.1, 0.2};
    for (int t = 1; t <= 3; ++t) {
      adam.step(s, {"p"}, {grad_of({gs[t - 1]})});
      m = 0.9 * m + 0.1 * gs[t - 1];
      v = 0.999 * v + 0.001 * gs[t - 1] * gs[t - 1];
      p -= 0.01 * (m / (1 - std::pow(0.9, t))) / (std::sqrt(v / (1 - std::pow(0.999, t))) + 1e-8);
      CHECK(s.get("p").at(0) == doctest::Approx(p).epsilon(1e-14));
    }
    CHECK(adam.steps() == 3);

    ParamStore w = store_with({2.0});
    auto aw = adamw(std::make_shared<ConstantLr>(0.1), 0.5);
    aw->step(w, {"p"}, {grad_of({1.0})});
    // decay first: 2 - 0.1 * 0.5 * 2 = 1.9; first Adam step moves by lr * sign(g) (1 / (1 + eps))
    CHECK(w.get("p").at(0) == doctest::Approx(1.9 - 0.1 / (1 + 1e-8)).epsilon(1e-14));
  }

  TEST_CASE("gradient clipping scales the global norm and leaves small gradients alone") {
    std::vector<Tensor> g{grad_of({3.0}), grad_of({4.0, 0.0})};
    double n = clip_grad_norm(g, 1.0);
    CHECK(n == doctest::Approx(5.0));
    CHECK(g[0].at(0) == doctest::Approx(0.6).epsilon(1e-6));
    CHECK(g[1].at(0) == doctest::Approx(0.8).epsilon(1e-6));
    std::vector<Tensor> small{grad_of({0.3})};
    clip_grad_norm(small, 1.0);
    CHECK(small[0].at(0) == 0.3);

    ParamStore s = store_with({0.0, 0.0});
    SGD sgd(std::make_shared<ConstantLr>(1.0));
    sgd.set_clip_norm(1.0);
    Tensor caller = grad_of({6.0, 8.0});
    double norm = sgd.step(s, {"p"}, {caller});
    CHECK(norm == doctest::Approx(10.0));
    CHECK(s.get("p").at(0) == doctest::Approx(-0.6).epsilon(1e-6));
    CHECK(caller.at(0) == 6.0);  // the caller's gradient is untouched
  }

  TEST_CASE("a NaN gradient stops the step with a clear error and updates nothing") {
    ParamStore s = store_with({1.0});
    SGD sgd(std::make_shared<ConstantLr>(0.1));
    CHECK_THROWS_WITH_AS(sgd.step(s, {"p"}, {grad_of({NAN})}), doctest::Contains("gradient norm"), Error);
    CHECK(s.get("p").at(0) == 1.0);
    CHECK_THROWS_AS(sgd.step(s, {"p"}, {grad_of({1.0, 2.0})}), Error);  // wrong shape
    CHECK_THROWS_AS(sgd.step(s, {"q"}, {grad_of({1.0})}), Error);       // unknown parameter
  }

  TEST_CASE("learning-rate schedules") {
    CosineLr cos(1.0, 110, 0.1, 10);
    CHECK(cos.lr(0) == doctest::Approx(0.1));
    CHECK(cos.lr(9) == doctest::Approx(1.0));
    CHECK(cos.lr(10) == doctest::Approx(1.0));
    CHECK(cos.lr(60) == doctest::Approx(0.55));
    CHECK(cos.lr(110) == doctest::Approx(0.1));
    CHECK(cos.lr(500) == doctest::Approx(0.1));

    ReduceOnPlateau r(1.0, 0.5, 2, 0.0, 0.2);
    r.observe(1.0);
    r.observe(1.0);
    r.observe(1.0);
    CHECK(r.lr(0) == 1.0);  // two bad observations: still patient
    r.observe(1.0);         // third: reduce
    CHECK(r.lr(0) == 0.5);
    r.observe(0.5);  // improvement resets
    for (int i = 0; i < 9; ++i) r.observe(0.6);
    CHECK(r.lr(0) == 0.2);  // floors at min_lr
    ReduceOnPlateau copy(1.0, 0.5, 2, 0.0, 0.2);
    copy.restore(r.state());
    CHECK(copy.lr(0) == r.lr(0));
    CHECK(copy.state() == r.state());
    CHECK_THROWS_AS(copy.restore("garbage"), Error);
    CHECK_THROWS_AS(CosineLr(1.0, 10, 0.0, 10), Error);
    CHECK_THROWS_AS(ReduceOnPlateau(1.0, 1.5), Error);
  }

  TEST_CASE("prox hooks run after the update with the current learning rate") {
    ParamStore s = store_with({1.0, -0.05});
    SGD sgd(std::make_shared<ConstantLr>(0.5));
    double seen = 0;
    sgd.add_prox("p", [&](Tensor& p, double step) {
      seen = step;
      for (int64_t i = 0; i < p.numel(); ++i) {  // soft threshold at 0.1 * step
        double& v = p.data<double>()[i];
        double t = 0.1 * step;
        v = v > t ? v - t : (v < -t ? v + t : 0.0);
      }
    });
    sgd.step(s, {"p"}, {grad_of({0.0, 0.0})});
    CHECK(seen == 0.5);
    CHECK(s.get("p").at(0) == doctest::Approx(0.95));
    CHECK(s.get("p").at(1) == 0.0);
  }

  TEST_CASE("optimizer state round-trips through save and load") {
    ParamStore a = store_with({1.0, 2.0}), b;
    Adam x(std::make_shared<ConstantLr>(0.01));
    x.step(a, {"p"}, {grad_of({0.1, 0.2})});
    std::map<std::string, Tensor> tensors;
    std::map<std::string, std::string> meta;
    x.save(tensors, meta);
    CHECK(tensors.count("optim/adam/m/p") == 1);
    b.set("p", a.get("p").clone());
    Adam y(std::make_shared<ConstantLr>(0.01));
    y.load(tensors, meta);
    x.step(a, {"p"}, {grad_of({0.3, -0.2})});
    y.step(b, {"p"}, {grad_of({0.3, -0.2})});
    CHECK(a.get("p").to_vector() == b.get("p").to_vector());
    SGD z(std::make_shared<ConstantLr>(0.01));
    CHECK_THROWS_WITH_AS(z.load(tensors, meta), doctest::Contains("optimizer 'adam'"), Error);
  }

  TEST_CASE("EMA of weights") {
    ParamStore s = store_with({1.0});
    EMA ema(0.9);
    ema.update(s);
    CHECK(ema.averaged().get("p").at(0) == 1.0);
    s.get_mut("p").data<double>()[0] = 2.0;
    ema.update(s);
    CHECK(ema.averaged().get("p").at(0) == doctest::Approx(1.1));
  }

  TEST_CASE("initialisers: statistics, determinism and name keying") {
    using init::Initializer;
    Tensor w = init::make("layer/w", {400, 300}, DType::f64, Initializer::xavier_uniform(), 5);
    double bound = std::sqrt(6.0 / 700), mx = 0, m2 = 0;
    for (int64_t i = 0; i < w.numel(); ++i) {
      mx = std::max(mx, std::abs(w.at(i)));
      m2 += w.at(i) * w.at(i);
    }
    CHECK(mx <= bound);
    CHECK(mx > 0.99 * bound);
    CHECK(m2 / w.numel() == doctest::Approx(bound * bound / 3).epsilon(0.02));
    Tensor k = init::make("layer/w", {400, 300}, DType::f32, Initializer::kaiming_normal(), 5);
    double v = 0;
    for (int64_t i = 0; i < k.numel(); ++i) v += k.at(i) * k.at(i);
    CHECK(v / k.numel() == doctest::Approx(2.0 / 400).epsilon(0.02));
    CHECK(init::make("a", {8}, DType::f64, Initializer::normal(0, 1), 1).to_vector() ==
          init::make("a", {8}, DType::f64, Initializer::normal(0, 1), 1).to_vector());
    CHECK(init::make("a", {8}, DType::f64, Initializer::normal(0, 1), 1).to_vector() !=
          init::make("b", {8}, DType::f64, Initializer::normal(0, 1), 1).to_vector());
    CHECK(init::make("z", {3}, DType::f32, Initializer::zeros(), 1).to_vector() == std::vector<double>{0, 0, 0});
    auto custom = Initializer::custom([](Tensor& t, uint64_t) {
      for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = static_cast<float>(i);
    });
    CHECK(init::make("c", {3}, DType::f32, custom, 1).to_vector() == std::vector<double>{0, 1, 2});
    CHECK_THROWS_AS(init::make("i", {3}, DType::i32, Initializer::zeros(), 1), Error);
    CHECK_THROWS_AS(init::make("u", {3}, DType::f32, Initializer::uniform(1, 0), 1), Error);
  }
}
