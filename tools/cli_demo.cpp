// `orbit demo`: fits a tanh MLP to sin(x) with Adam (a compiled TrainStep), then checks the compiled
// second derivative d2u/dx2 (grad of grad) against central finite differences of the trained network.
// With --out DIR it writes results.json, metrics.jsonl, predictions.npy and plots.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "engine/io/json.h"
#include "engine/io/npy.h"
#include "engine/optim/checkpoint.h"
#include "engine/optim/train_step.h"
#include "engine/orbit.h"
#include "models/nn/mlp.h"
#include "tools/commands.h"
#include "tools/demo_outputs.h"

namespace orbit::cli {

namespace {

int run_demo(const Args& args) {
  const int steps = static_cast<int>(args.integer("steps", 1, 10000000));
  const double lr = args.positive("lr");
  const Device dev = Device::parse(args.str("device"));
  const uint64_t seed = static_cast<uint64_t>(args.integer("seed", 0, (1LL << 62)));
  const std::string out_dir = args.str("out");
  if (!out_dir.empty()) std::filesystem::create_directories(out_dir);

  const int64_t n = 128;
  Graph g;
  Var x = g.input("x", {n, 1}, DType::f64);
  Var target = g.input("target", {n, 1}, DType::f64);
  nn::MLP net(g, "u", {1, 32, 32, 1}, nn::Activation::tanh, DType::f64);
  Var u = net(x);
  Var loss = mean(square(u - target));
  Var du = grad(sum(u), {x})[0];
  Var d2u = grad(sum(du), {x})[0];

  auto store = std::make_shared<ParamStore>();
  net.init(*store, seed);
  auto adam = std::make_shared<optim::Adam>(std::make_shared<optim::CosineLr>(lr, steps, lr * 0.01));
  optim::TrainStep train(g, loss, net.params(), store, adam, dev);
  CompileOptions opts;
  opts.params = store;
  Program curv = compile(g, {u, d2u}, dev, opts);
  std::printf("train step: %d kernels, arena %lld bytes (%lld without reuse)\n", train.program().num_kernels(),
              static_cast<long long>(train.program().planned_peak_bytes()),
              static_cast<long long>(train.program().naive_bytes()));

  Tensor xs = Tensor::empty({n, 1}, DType::f64), ys = Tensor::empty({n, 1}, DType::f64);
  for (int64_t i = 0; i < n; ++i) {
    xs.data<double>()[i] = -M_PI + 2 * M_PI * static_cast<double>(i) / static_cast<double>(n - 1);
    ys.data<double>()[i] = std::sin(xs.data<double>()[i]);
  }
  DemoOutputs outputs(out_dir, steps, args.flag("quiet"));
  auto t0 = std::chrono::steady_clock::now();
  double l = 0;
  for (int s = 0; s < steps; ++s) {
    auto r = train.run({{"x", xs}, {"target", ys}});
    l = r.loss;
    outputs.step(s + 1, l, adam->lr());
  }
  outputs.finish();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("trained in %.2f s (%.1f steps/s), final loss %.3e\n", secs, steps / secs, l);

  // d2u/dx2 from the compiled grad-of-grad vs central differences of u.
  auto res = curv.run({{"x", xs}});
  for (auto& t : res) t = t.to(Device::cpu());
  const double h = 1e-4;
  Tensor xp = xs.clone(), xm = xs.clone();
  for (int64_t i = 0; i < n; ++i) {
    xp.data<double>()[i] += h;
    xm.data<double>()[i] -= h;
  }
  auto up = curv.run({{"x", xp}})[0].to(Device::cpu()), um = curv.run({{"x", xm}})[0].to(Device::cpu());
  double worst = 0;
  for (int64_t i = 0; i < n; ++i) {
    double fd = (up.at(i) - 2 * res[0].at(i) + um.at(i)) / (h * h);
    worst = std::max(worst, std::abs(fd - res[1].at(i)));
  }
  std::printf("d2u/dx2 by autodiff vs finite differences: max |difference| %.2e over %lld points\n", worst,
              static_cast<long long>(n));
  std::printf("u''(x) should approach -sin(x): at x = pi/2 the network gives %.3f\n",
              res[1].at(static_cast<int64_t>(0.75 * (n - 1))));
  const bool ok = l < 1e-3 && worst < 1e-3;
  outputs.results(xs, ys, res[0], res[1], l, worst, steps / secs, ok);
  if (!out_dir.empty()) {
    optim::CheckpointState ck{store.get(), adam.get(), nullptr, train.program().run_index(),
                              {{"config", "{\"steps\": " + std::to_string(steps) + ", \"lr\": " + args.str("lr") +
                                              ", \"seed\": " + std::to_string(seed) + "}"}}};
    optim::save_checkpoint((std::filesystem::path(out_dir) / "checkpoint.safetensors").string(), ck);
  }
  return ok ? 0 : 1;
}

}  // namespace

Command demo_command() {
  return Command("demo", "fit a small tanh MLP to sin(x) and check its second derivative against autodiff",
                 {{"steps", "training steps", "2000"},
                  {"lr", "Adam learning rate (cosine decay to 1% of it)", "0.01"},
                  {"out", "folder for results.json, metrics.jsonl, predictions.npy and plots", ""}},
                 run_demo);
}

}  // namespace orbit::cli
