// `orbit demo`: fits a tanh MLP to sin(x) by gradient descent, then checks the compiled second
// derivative d2u/dx2 (grad of grad) against central finite differences of the trained network.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>

#include "engine/orbit.h"
#include "models/nn/mlp.h"
#include "tools/args.h"
#include "tools/commands.h"

namespace orbit::cli {

int cmd_demo(const std::vector<std::string>& words) {
  Args args(words, {"steps", "lr", "device", "seed"}, {});
  const int steps = static_cast<int>(args.integer("steps", 2000, 1, 10000000));
  const double lr = args.real("lr", 0.1);
  ORBIT_CHECK(lr > 0, "--lr must be positive");
  const Device dev = Device::parse(args.str("device", "cpu"));
  const uint64_t seed = static_cast<uint64_t>(args.integer("seed", 1, 0, (1LL << 62)));
  ORBIT_CHECK(dev.is_cpu(), "the demo runs on the CPU in this build stage; --device ", dev.str(),
              " needs the CUDA kernels of a later issue");

  const int64_t n = 128;
  Graph g;
  Var x = g.input("x", {n, 1}, DType::f64);
  Var target = g.input("target", {n, 1}, DType::f64);
  nn::MLP net(g, "u", {1, 32, 32, 1}, nn::Activation::tanh, DType::f64);
  Var u = net(x);
  Var loss = mean(square(u - target));
  std::vector<Var> grads = grad(loss, net.params());
  Var du = grad(sum(u), {x})[0];
  Var d2u = grad(sum(du), {x})[0];

  auto store = std::make_shared<ParamStore>();
  net.init(*store, seed);
  CompileOptions opts;
  opts.params = store;
  std::vector<Var> train_outs{loss};
  train_outs.insert(train_outs.end(), grads.begin(), grads.end());
  Program train = compile(g, train_outs, dev, opts);
  Program curv = compile(g, {u, d2u}, dev, opts);
  std::printf("train step: %d kernels, arena %lld bytes (%lld without reuse)\n", train.num_kernels(),
              static_cast<long long>(train.planned_peak_bytes()), static_cast<long long>(train.naive_bytes()));

  Tensor xs = Tensor::empty({n, 1}, DType::f64), ys = Tensor::empty({n, 1}, DType::f64);
  for (int64_t i = 0; i < n; ++i) {
    xs.data<double>()[i] = -M_PI + 2 * M_PI * static_cast<double>(i) / static_cast<double>(n - 1);
    ys.data<double>()[i] = std::sin(xs.data<double>()[i]);
  }
  auto t0 = std::chrono::steady_clock::now();
  double l = 0;
  for (int s = 0; s < steps; ++s) {
    auto out = train.run({{"x", xs}, {"target", ys}});
    l = out[0].item();
    ORBIT_CHECK(std::isfinite(l), "the loss diverged at step ", s, "; lower --lr");
    for (size_t k = 0; k < net.params().size(); ++k) {
      Tensor& p = store->get_mut(net.params()[k].name());
      double* pp = p.data<double>();
      const double* gp = out[k + 1].data<double>();
      for (int64_t i = 0; i < p.numel(); ++i) pp[i] -= lr * gp[i];
    }
    if (s % std::max(1, steps / 10) == 0 || s + 1 == steps)
      std::printf("step %6d/%d  loss %.3e\n", s + 1, steps, l);
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("trained in %.2f s (%.1f steps/s), final loss %.3e\n", secs, steps / secs, l);

  // d2u/dx2 from the compiled grad-of-grad vs central differences of u.
  auto res = curv.run({{"x", xs}});
  const double h = 1e-4;
  Tensor xp = xs.clone(), xm = xs.clone();
  for (int64_t i = 0; i < n; ++i) {
    xp.data<double>()[i] += h;
    xm.data<double>()[i] -= h;
  }
  auto up = curv.run({{"x", xp}})[0], um = curv.run({{"x", xm}})[0];
  double worst = 0;
  for (int64_t i = 0; i < n; ++i) {
    double fd = (up.at(i) - 2 * res[0].at(i) + um.at(i)) / (h * h);
    worst = std::max(worst, std::abs(fd - res[1].at(i)));
  }
  std::printf("d2u/dx2 by autodiff vs finite differences: max |difference| %.2e over %lld points\n", worst,
              static_cast<long long>(n));
  std::printf("u''(x) should approach -sin(x): at x = pi/2 the network gives %.3f\n",
              res[1].at(static_cast<int64_t>(0.75 * (n - 1))));
  return l < 1e-2 && worst < 1e-3 ? 0 : 1;
}

}  // namespace orbit::cli
