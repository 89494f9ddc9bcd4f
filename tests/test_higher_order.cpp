// Higher-order autodiff for real: second derivatives of a tanh MLP w.r.t. its input, the gradient
// w.r.t. the parameters of a loss built from them (third order through the network), exact
// Hessian-vector products, forward-mode products, and a network fitted by gradient descent.
#include <doctest/doctest.h>

#include <cmath>
#include <memory>
#include <random>

#include "engine/orbit.h"
#include "models/nn/mlp.h"

using namespace orbit;

namespace {

Tensor random_tensor(const Shape& s, std::mt19937_64& rng, double lo = -1, double hi = 1) {
  std::uniform_real_distribution<double> u(lo, hi);
  Tensor t = Tensor::empty(s, DType::f64);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<double>()[i] = u(rng);
  return t;
}

// A scalar function of one tensor evaluated with one element moved by +-h.
double central(const std::function<double(const Tensor&)>& f, const Tensor& x, int64_t i, double h) {
  Tensor p = x.clone(), m = x.clone();
  p.data<double>()[i] += h;
  m.data<double>()[i] -= h;
  return (f(p) - f(m)) / (2 * h);
}

}  // namespace

TEST_SUITE("cpu") {
  TEST_CASE("d2u/dx2 of a tanh MLP matches finite differences") {
    const int64_t n = 7;
    Graph g;
    Var x = g.input("x", {n, 1}, DType::f64);
    nn::MLP net(g, "u", {1, 16, 16, 1}, nn::Activation::tanh, DType::f64);
    Var u = net(x);
    Var ux = grad(sum(u), {x})[0];
    Var uxx = grad(sum(ux), {x})[0];
    auto store = std::make_shared<ParamStore>();
    net.init(*store, 3);
    CompileOptions o;
    o.params = store;
    Program pu = compile(g, {u}, Device::cpu(), o);
    Program pxx = compile(g, {uxx}, Device::cpu(), o);
    std::mt19937_64 rng(5);
    Tensor xs = random_tensor({n, 1}, rng, -2, 2);
    Tensor got = pxx.run({{"x", xs}})[0];
    const double h = 1e-4;
    for (int64_t i = 0; i < n; ++i) {
      Tensor p = xs.clone(), m = xs.clone();
      p.data<double>()[i] += h;
      m.data<double>()[i] -= h;
      double up = pu.run({{"x", p}})[0].at(i), um = pu.run({{"x", m}})[0].at(i), u0 = pu.run({{"x", xs}})[0].at(i);
      double fd = (up - 2 * u0 + um) / (h * h);
      CHECK(got.at(i) == doctest::Approx(fd).epsilon(1e-5));
    }
  }

  TEST_CASE("d/dtheta of a PDE-residual loss (third order) matches finite differences") {
    // loss = mean((u_t - 0.1 u_xx)^2) over points (x, t): a heat-equation residual.
    const int64_t n = 5;
    Graph g;
    Var xt = g.input("xt", {n, 2}, DType::f64);
    nn::MLP net(g, "u", {2, 8, 8, 1}, nn::Activation::tanh, DType::f64);
    Var u = net(xt);
    Var du = grad(sum(u), {xt})[0];
    Var ux = col(du, 0), ut = col(du, 1);
    Var uxx = col(grad(sum(ux), {xt})[0], 0);
    Var loss = mean(square(ut - 0.1 * uxx));
    auto gparams = grad(loss, net.params());
    auto store = std::make_shared<ParamStore>();
    net.init(*store, 11);
    CompileOptions o;
    o.params = store;
    Program pl = compile(g, {loss}, Device::cpu(), o);
    Program pg = compile(g, gparams, Device::cpu(), o);
    std::mt19937_64 rng(7);
    Tensor pts = random_tensor({n, 2}, rng);
    auto analytic = pg.run({{"xt", pts}});
    for (size_t k = 0; k < net.params().size(); ++k) {
      const std::string name = net.params()[k].name();
      Tensor orig = store->get(name).clone();
      for (int64_t i = 0; i < orig.numel(); i += 3) {
        auto f = [&](const Tensor& p) {
          store->set(name, p);
          return pl.run({{"xt", pts}})[0].item();
        };
        double fd = central(f, orig, i, 1e-6);
        store->set(name, orig);
        INFO(name << "[" << i << "]");
        CHECK(std::abs(analytic[k].at(i) - fd) <= 1e-7 + 1e-6 * std::abs(fd));
      }
    }
  }

  TEST_CASE("Hessian-vector product of a quadratic is exact") {
    // f(x) = 0.5 x^T A x + b^T x, so H v = 0.5 (A + A^T) v exactly.
    const int64_t n = 6;
    std::mt19937_64 rng(13);
    Tensor a = random_tensor({n, n}, rng), b = random_tensor({n, 1}, rng), v = random_tensor({n, 1}, rng);
    Tensor x0 = random_tensor({n, 1}, rng);
    Graph g;
    Var x = g.input("x", {n, 1}, DType::f64);
    Var A = g.constant(a, "A"), B = g.constant(b, "b"), V = g.input("v", {n, 1}, DType::f64);
    Var f = sum(matmul(x, matmul(A, x), true, false)) * 0.5 + sum(B * x);
    Var gx = grad(f, {x})[0];
    Var hv = grad(sum(gx * V), {x})[0];
    Program p = compile(g, {hv});
    Tensor got = p.run({{"x", x0}, {"v", v}})[0];
    for (int64_t i = 0; i < n; ++i) {
      double want = 0;
      for (int64_t j = 0; j < n; ++j) want += 0.5 * (a.at(i * n + j) + a.at(j * n + i)) * v.at(j);
      CHECK(got.at(i) == doctest::Approx(want).epsilon(1e-14));
    }
  }

  TEST_CASE("jvp gives the directional derivative and is itself differentiable") {
    Graph g;
    Var x = g.input("x", {4}, DType::f64);
    Var t = g.input("t", {4}, DType::f64);
    Var y = sin(x) * exp(x);  // y' = (cos x + sin x) e^x
    Var jv = jvp(y, x, t);
    Var d = grad(sum(jv), {x})[0];  // d/dx of y'(x) t = (2 cos x) e^x t
    Program p = compile(g, {jv, d});
    Tensor xs = Tensor::from<double>({4}, {-1.0, 0.2, 0.7, 1.3}), ts = Tensor::from<double>({4}, {0.5, -2.0, 1.0, 3.0});
    auto out = p.run({{"x", xs}, {"t", ts}});
    for (int64_t i = 0; i < 4; ++i) {
      double xv = xs.at(i), tv = ts.at(i);
      CHECK(out[0].at(i) == doctest::Approx((std::cos(xv) + std::sin(xv)) * std::exp(xv) * tv).epsilon(1e-14));
      CHECK(out[1].at(i) == doctest::Approx(2 * std::cos(xv) * std::exp(xv) * tv).epsilon(1e-13));
    }
  }

  TEST_CASE("fourth derivative of sin by repeated grad") {
    Graph g;
    Var x = g.input("x", {3}, DType::f64);
    Var d = sin(x);
    for (int k = 0; k < 4; ++k) d = grad(sum(d), {x})[0];
    Program p = compile(g, {d});
    Tensor xs = Tensor::from<double>({3}, {0.3, -1.1, 2.0});
    Tensor out = p.run({{"x", xs}})[0];
    for (int64_t i = 0; i < 3; ++i) CHECK(out.at(i) == doctest::Approx(std::sin(xs.at(i))).epsilon(1e-13));
  }

  TEST_CASE("a small MLP fitted by gradient descent reaches a low loss") {
    const int64_t n = 64;
    Graph g;
    Var x = g.input("x", {n, 1});
    Var y = g.input("y", {n, 1});
    nn::MLP net(g, "f", {1, 24, 24, 1}, nn::Activation::tanh);
    Var loss = mean(square(net(x) - y));
    auto grads = grad(loss, net.params());
    std::vector<Var> outs{loss};
    outs.insert(outs.end(), grads.begin(), grads.end());
    auto store = std::make_shared<ParamStore>();
    net.init(*store, 1);
    CompileOptions o;
    o.params = store;
    Program step = compile(g, outs, Device::cpu(), o);
    Tensor xs = Tensor::empty({n, 1}, DType::f32), ys = Tensor::empty({n, 1}, DType::f32);
    for (int64_t i = 0; i < n; ++i) {
      float v = -2.0f + 4.0f * static_cast<float>(i) / (n - 1);
      xs.data<float>()[i] = v;
      ys.data<float>()[i] = 0.5f * v * v - 1.0f;  // a parabola
    }
    double first = 0, last = 0;
    for (int s = 0; s < 1500; ++s) {
      auto out = step.run({{"x", xs}, {"y", ys}});
      last = out[0].item();
      if (s == 0) first = last;
      for (size_t k = 0; k < net.params().size(); ++k) {
        Tensor& p = store->get_mut(net.params()[k].name());
        for (int64_t i = 0; i < p.numel(); ++i) p.data<float>()[i] -= 0.05f * out[k + 1].data<float>()[i];
      }
    }
    INFO("loss " << first << " -> " << last);
    CHECK(first > 0.1);
    CHECK(last < 2e-3);
  }
}
