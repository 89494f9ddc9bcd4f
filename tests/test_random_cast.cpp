// Random ops (statistics, determinism, fresh draws per run) and cast (values and exact gradients),
// which a naive reference cannot describe in the op harness.
#include <doctest/doctest.h>

#include <cmath>

#include "engine/orbit.h"

using namespace orbit;

TEST_SUITE("cpu") {
  TEST_CASE("random_normal and random_uniform have the right moments") {
    const int64_t n = 200000;
    for (DType dt : {DType::f32, DType::f64}) {
      Graph g;
      Var z = random_normal(g, {n}, 42, dt);
      Var u = random_uniform(g, {n}, 42, dt);
      Program p = compile(g, {z, u});
      auto out = p.run();
      double m = 0, m2 = 0, m4 = 0, um = 0, umin = 1, umax = 0;
      for (int64_t i = 0; i < n; ++i) {
        double v = out[0].at(i), w = out[1].at(i);
        m += v;
        m2 += v * v;
        m4 += v * v * v * v;
        um += w;
        umin = std::min(umin, w);
        umax = std::max(umax, w);
      }
      m /= n;
      m2 /= n;
      m4 /= n;
      um /= n;
      CHECK(std::abs(m) < 0.01);           // sd of the mean: 0.0022
      CHECK(std::abs(m2 - 1) < 0.015);     // sd: 0.0032
      CHECK(std::abs(m4 - 3) < 0.1);       // Gaussian kurtosis
      CHECK(std::abs(um - 0.5) < 0.005);
      CHECK(umin >= 0.0);
      CHECK(umax < 1.0);
    }
  }

  TEST_CASE("random streams: same seed and run give the same numbers and each run and node draws fresh") {
    Graph g;
    Var a = random_normal(g, {64}, 7, DType::f64);
    Var b = random_normal(g, {64}, 7, DType::f64);  // same seed, its own stream
    Program p = compile(g, {a, b});
    Program q = compile(g, {a, b});
    auto r1 = p.run(), r2 = p.run(), s1 = q.run();
    CHECK(r1[0].to_vector() == s1[0].to_vector());  // same (seed, stream, run)
    CHECK(r1[0].to_vector() != r2[0].to_vector());  // next run draws fresh numbers
    CHECK(r1[0].to_vector() != r1[1].to_vector());  // two nodes are two streams
    q.set_run_index(1);
    CHECK(q.run()[0].to_vector() == r2[0].to_vector());  // resumable from the run counter
    Graph h;
    Var c = random_normal(h, {64}, 8, DType::f64);
    CHECK(compile(h, {c}).run()[0].to_vector() != r1[0].to_vector());  // another seed
  }

  TEST_CASE("cast converts values and its gradient is the cast cotangent, to any order") {
    Graph g;
    Var x = g.input("x", {4}, DType::f32);
    Var y = cast(x, DType::f64);
    Var i = cast(g.input("k", {4}, DType::f64), DType::i32);
    Var w = g.input("w", {4}, DType::f64);
    Var loss = sum(square(y) * w);              // d/dx = 2 x w (as f32), d2/dx dw = 2 x
    Var gx = grad(loss, {x})[0];
    CHECK(gx.dtype() == DType::f32);
    Var gxw = grad(sum(gx), {w})[0];
    Program p = compile(g, {y, i, gx, gxw});
    auto out = p.run({{"x", Tensor::from<float>({4}, {0.5f, -1.25f, 3.0f, 1e-3f})},
                      {"k", Tensor::from<double>({4}, {1.9, -2.7, 3.0, 0.0})},
                      {"w", Tensor::from<double>({4}, {1.0, 2.0, -1.0, 0.5})}});
    CHECK(out[0].to_vector() == std::vector<double>{0.5, -1.25, 3.0, static_cast<double>(1e-3f)});
    CHECK(out[1].to_vector() == std::vector<double>{1, -2, 3, 0});  // truncation toward zero
    std::vector<double> xs{0.5, -1.25, 3.0, static_cast<double>(1e-3f)}, ws{1.0, 2.0, -1.0, 0.5};
    for (int k = 0; k < 4; ++k) {
      CHECK(out[2].at(k) == static_cast<double>(static_cast<float>(2 * xs[k] * ws[k])));
      CHECK(out[3].at(k) == doctest::Approx(2 * xs[k]).epsilon(1e-7));
    }
  }
}
