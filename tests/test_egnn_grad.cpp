// Gradient checks through EGNN layers in f64 against central differences: first order (d/dx and
// d/dtheta of a scalar of the outputs) and second order (d/dx and d/dtheta of a scalar of the input
// gradient, as force matching and iDEM's score training need), for every variant and EGNN_dynamics.
#include <doctest/doctest.h>

#include "tests/test_egnn_util.h"

using namespace orbit;
using namespace orbit::egnn_test;

namespace {

struct Built {
  std::shared_ptr<Graph> g;
  Var x;                  // the input we differentiate with respect to
  Var y;                  // scalar of the outputs
  std::vector<Var> params;
  Feeds feeds;            // every input but x
};

// Central differences of the scalar program `f` (run with x fed) against the analytic gradients, for
// every entry of x and a spread of entries of every parameter.
void compare(const std::string& what, Built& b, Var f, const std::vector<Var>& ad, const Tensor& x0,
             std::shared_ptr<ParamStore> store) {
  CompileOptions o;
  o.params = store;
  o.optimize = true;
  Program pf = compile(*b.g, {f}, Device::cpu(), o);
  Program pa = compile(*b.g, ad, Device::cpu(), o);
  Feeds feeds = b.feeds;
  feeds.push_back({b.x.name(), x0});
  auto grads = pa.run(feeds);
  auto eval = [&](const Tensor& x) {
    Feeds fd = b.feeds;
    fd.push_back({b.x.name(), x});
    return pf.run(fd)[0].item();
  };
  const double h = 1e-5;
  // Errors relative to the entry, with a floor of 1e-3 of the largest gradient entry (the finite
  // differences' rounding error scales with the function, not with each entry).
  double gmax = 0;
  for (auto& t : grads)
    for (int64_t i = 0; i < t.numel(); ++i) gmax = std::max(gmax, std::abs(t.at(i)));
  int checked = 0;
  double worst = 0;
  auto check = [&](double fd, double an, const std::string& where) {
    const double err = std::abs(fd - an) / (1e-3 * gmax + std::abs(an));
    worst = std::max(worst, err);
    ++checked;
    if (err > 2e-6) FAIL_CHECK(what << ": " << where << " autodiff " << an << " vs finite differences " << fd);
  };
  for (int64_t i = 0; i < x0.numel(); ++i) {
    Tensor xp = x0.clone(), xm = x0.clone();
    xp.data<double>()[i] += h;
    xm.data<double>()[i] -= h;
    check((eval(xp) - eval(xm)) / (2 * h), grads[0].at(i), "d/dx[" + std::to_string(i) + "]");
  }
  for (size_t k = 0; k < b.params.size(); ++k) {
    Tensor& p = store->get_mut(b.params[k].name());
    const int64_t stride = std::max<int64_t>(1, p.numel() / 7);
    for (int64_t i = 0; i < p.numel(); i += stride) {
      double* v = p.data<double>() + i;
      const double keep = *v;
      *v = keep + h;
      const double fp = eval(x0);
      *v = keep - h;
      const double fm = eval(x0);
      *v = keep;
      check((fp - fm) / (2 * h), grads[1 + k].at(i), b.params[k].name() + "[" + std::to_string(i) + "]");
    }
  }
  MESSAGE(what << ": " << checked << " entries, worst relative error " << worst);
  CHECK(checked > 20);
}

// First and second order for one built model.
void gradcheck(const std::string& label, Built& b, const Tensor& x0, std::shared_ptr<ParamStore> store) {
  std::vector<Var> wrt{b.x};
  wrt.insert(wrt.end(), b.params.begin(), b.params.end());
  auto g1 = grad(b.y, wrt);
  {
    INFO(label << " first order");
    compare(label, b, b.y, g1, x0, store);
  }
  // z = sum(dy/dx * U): d/dx and d/dtheta of z are second derivatives of y.
  Tensor U = Tensor::from<double>(b.x.shape(), randn(b.x.shape().numel(), 99, 1));
  Var z = sum(g1[0] * b.g->constant(U, "U"));
  auto g2 = grad(z, wrt);
  {
    INFO(label << " second order");
    compare(label, b, z, g2, x0, store);
  }
}

}  // namespace

TEST_SUITE("cpu") {
  TEST_CASE("egnn gradcheck: first and second order through every variant (f64 central differences)") {
    for (auto& var0 : variants()) {
      Variant var = var0;
      var.cfg.hidden = 5;
      const int64_t B = 2, n = 4, d = 3;
      const Inputs in = make_inputs(B, n, d, 3);
      Built b;
      b.g = std::make_shared<Graph>();
      Graph& g = *b.g;
      Var h = g.input("h", {B, n, 2}, DType::f64), x = g.input("x", {B, n, d}, DType::f64);
      Var v = g.input("v", {B, n, d}, DType::f64), q = g.input("q", {B, n, 1}, DType::f64);
      Var na = g.input("na", {B, n, 2}, DType::f64);
      Connectivity c = Connectivity::dense(n);
      Var ea;
      if (var.edge_q) ea = concat({c.at_receiver(q) * c.at_sender(q), sum(square(c.diff(x)), {-1}, true)}, -1);
      Var vel = var.cfg.velocity ? v : Var(), nattr = var.cfg.node_attr > 0 ? na : Var();
      Var xo, ho;
      if (var.cfg.channels == 0) {
        EGNN net(g, "net", var.cfg, DType::f64);
        auto o = net(c, h, x, ea, vel, nattr);
        xo = o.x, ho = o.h, b.params = net.params();
      } else {
        MCEGNN net(g, "net", var.cfg, DType::f64);
        auto o = net(c, h, x, ea, vel, nattr);
        xo = o.X, ho = o.h, b.params = net.params();
      }
      Tensor Wx = Tensor::from<double>(xo.shape(), randn(xo.shape().numel(), 5, 1));
      Tensor Wh = Tensor::from<double>(ho.shape(), randn(ho.shape().numel(), 5, 2));
      b.y = sum(xo * g.constant(Wx, "Wx")) + sum(tanh(ho) * g.constant(Wh, "Wh"));
      b.x = x;
      b.feeds = {{"h", in.h}, {"v", in.v}, {"q", in.q}, {"na", in.na}};
      auto store = std::make_shared<ParamStore>();
      randomize(*store, b.params, 8);
      gradcheck(var.label, b, in.x, store);
    }
  }

  TEST_CASE("egnn gradcheck: EGNN_dynamics first and second order, dense and sparse") {
    for (bool sparse : {false, true}) {
      const int64_t B = 2, n = 4, d = 2;
      Built b;
      b.g = std::make_shared<Graph>();
      Graph& g = *b.g;
      Var t = g.input("t", {B, 1}, DType::f64), x = g.input("x", {B, n * d}, DType::f64);
      DynamicsConfig cfg;
      cfg.n_particles = n;
      cfg.dim = d;
      cfg.hidden = 6;
      cfg.layers = 2;
      cfg.sparse = sparse;
      Dynamics dyn(g, "score", cfg, DType::f64);
      Var s = dyn(t, x);
      Tensor W = Tensor::from<double>(s.shape(), randn(s.shape().numel(), 6, 1));
      b.y = sum(s * g.constant(W, "W"));
      b.x = x;
      b.params = dyn.params();
      b.feeds = {{"t", Tensor::from<double>({B, 1}, {0.3, 0.8})}};
      auto store = std::make_shared<ParamStore>();
      randomize(*store, b.params, 9);
      gradcheck(sparse ? "dynamics sparse" : "dynamics dense", b,
                Tensor::from<double>({B, n * d}, randn(B * n * d, 12, 1)), store);
    }
  }
}
