// iDEM (torch_anchors.py's idem and sampler workloads), built from the public pieces that
// models/diffusion/idem.cpp's Idem assembles, with the paper configs' values (IdemConfig::preset
// "paper": schedule, K, clip 20, EGNN width and depth):
//  - one training step for DW4 and LJ13: t ~ U(0, 1), x_t = x_0 + sqrt(h(t)) eps (mean-free), the DEM
//    Monte-Carlo score target (K noisy copies, softmax(-E) weights, per-particle clip 20; the fused
//    dem_score_target op), loss mean((s(t, x_t) - target)^2), backward, Adam with gradient-norm clip
//    0.5 (the config's grad_clip; constant lr: the plateau schedule changes it per epoch only);
//  - the sampler: `steps` reverse-SDE Euler-Maruyama steps x <- center(x + g^2 s dt + lambda g sqrt(dt) z)
//    with the EGNN score (LJ13), unrolled 10 steps per program run as Idem::sample does.
// The noise of both differs between orbit and the peer, so the peer checks what is deterministic: the
// step's EGNN output, DEM target and loss at sigma = 0 on the same x_t (all K copies equal: the clipped
// forces), and the sampler without noise (lambda = 0) from the same prior draw.
#include <numeric>

#include "bench/bench.h"
#include "bench/nn_util.h"
#include "engine/ops.h"
#include "engine/optim/optimizer.h"
#include "engine/optim/schedule.h"
#include "engine/optim/train_step.h"
#include "engine/program.h"
#include "models/diffusion/dem_target.h"
#include "models/diffusion/idem.h"
#include "models/diffusion/schedule.h"
#include "models/diffusion/score_model.h"

namespace orbit::bench {
namespace {

using diffusion::center;
using diffusion::GeometricSchedule;
using diffusion::IdemConfig;

std::vector<std::string> names_of(const std::vector<Var>& params) {
  std::vector<std::string> names;
  for (const Var& p : params) names.push_back(p.name());
  return names;
}

void save_params(const Context& ctx, Case& c, const std::vector<std::string>& names, const ParamStore& store) {
  std::vector<std::string> files;
  for (const std::string& name : names) {
    files.push_back("p" + std::to_string(files.size()));
    ctx.save(c, files.back(), store.get(name));
  }
  c.peer_args.set("params", files).set("param_names", names);
}

double params_bytes(const std::vector<std::string>& names, const ParamStore& store) {
  double b = 0;
  for (const std::string& name : names) b += static_cast<double>(store.get(name).numel()) * 4;
  return b;
}

// The energy's parameters for the peer (as the energy workload passes them) and the network's.
void system_args(Case& c, const IdemConfig& cfg, const systems::System& sys) {
  c.peer_args.set("system", cfg.system).set("n", static_cast<int64_t>(sys.n_particles)).set("dim", static_cast<int64_t>(sys.dim));
  c.peer_args.set("kind", sys.kind == systems::Kind::lennard_jones ? "lj" : "dw");
  c.peer_args.set("scale", sys.pair_scale).set("oscillator", sys.oscillator);
  c.peer_args.set("eps", sys.lj_epsilon).set("rm", sys.lj_rm).set("softening", sys.lj_softening);
  c.peer_args.set("a", sys.dw_a).set("b", sys.dw_b).set("d0", sys.dw_d0);
  c.peer_args.set("hidden", cfg.hidden).set("layers", cfg.layers).set("coords_range", 15.0 / static_cast<double>(cfg.layers));
  c.peer_args.set("sigma_min", cfg.sigma_min).set("sigma_max", cfg.sigma_max);
}

// A mean-free draw x ~ N(0, std^2 I) of B configurations (the prior of the sampler, the buffer points).
Tensor prior_draw(const systems::System& sys, int64_t B, uint64_t seed, double std) {
  Tensor x = randn_f32({B, sys.flat_dim()}, seed, std);
  float* p = x.data<float>();
  for (int64_t b = 0; b < B; ++b)
    for (int k = 0; k < sys.dim; ++k) {
      double mu = 0;
      for (int i = 0; i < sys.n_particles; ++i) mu += p[b * sys.flat_dim() + i * sys.dim + k];
      mu /= sys.n_particles;
      for (int i = 0; i < sys.n_particles; ++i) p[b * sys.flat_dim() + i * sys.dim + k] -= static_cast<float>(mu);
    }
  return x;
}

void run_step(Context& ctx, const char* system, int64_t b_tiny, int64_t b_cpu, int64_t b_full, int64_t k_tiny,
              int64_t k_cpu, int64_t k_full) {
  const Device dev = ctx.device();
  IdemConfig cfg = IdemConfig::preset(system, "paper");
  cfg.batch = ctx.pick(b_tiny, b_cpu, b_full);
  cfg.K = ctx.pick(k_tiny, k_cpu, k_full);
  const systems::System sys = cfg.target();
  const GeometricSchedule sched(cfg.sigma_min, cfg.sigma_max);
  const int64_t B = cfg.batch, D = sys.flat_dim(), n = sys.n_particles;
  Case c;
  c.workload = "idem";
  c.name = std::string("idem_step_") + system + "_B" + std::to_string(B) + "_K" + std::to_string(cfg.K);
  c.label = std::string(system) + " iDEM step (DEM target + EGNN + Adam), B=" + std::to_string(B) + " K=" +
            std::to_string(cfg.K);
  if (!ctx.wants(c.name)) return;

  // The training graph of Idem's constructor.
  Graph g;
  diffusion::ScoreNet net = diffusion::build_score_net(g, "score", sys, cfg.hidden, cfg.layers, cfg.dtype);
  auto store = std::make_shared<ParamStore>();
  net.init(*store, cfg.seed);
  if (!dev.is_cpu())
    for (auto& name : store->names()) store->set(name, store->get(name).to(dev));
  Var x0 = g.input("x0", Shape({B, D}));
  Var t = random_uniform(g, Shape({B, 1}), cfg.seed);
  Var h = sched.h(t);
  Var sigma = sqrt(h);
  Var xt = center(sys, x0 + sigma * center(sys, random_normal(g, Shape({B, D}), cfg.seed)));
  Var target = diffusion::dem_score_target(sys, xt, sigma, cfg.K, cfg.seed, cfg.clip);
  Var loss = mean(mean(square(net(t, xt) - target), {1}, true));

  // The agreement program: the same loss on fed t, x_t and sigma (the peer feeds the same).
  Graph gc;
  diffusion::ScoreNet net_c = diffusion::build_score_net(gc, "score", sys, cfg.hidden, cfg.layers, cfg.dtype);
  Var xc = gc.input("xt", Shape({B, D})), tc = gc.input("t", Shape({B, 1})), sc = gc.input("sigma", Shape({B, 1}));
  Var tgt_c = diffusion::dem_score_target(sys, xc, sc, cfg.K, cfg.seed, cfg.clip);
  Var out_c = net_c(tc, xc);
  Var loss_c = mean(mean(square(out_c - tgt_c), {1}, true));
  CompileOptions co;
  co.numerics = NumericsCheck::off;
  co.params = store;
  Tensor xb = prior_draw(sys, B, 51, sched.prior_std());  // buffer points (the initial buffer is the prior)
  Tensor tb = rand_f32({B, 1}, 52);
  {
    Program check = compile(gc, {tgt_c, out_c, loss_c}, dev, co);
    auto o = check.run({{"xt", xb.to(dev)}, {"t", tb.to(dev)}, {"sigma", Tensor::full(Shape({B, 1}), 0.0, DType::f32).to(dev)}});
    ctx.save(c, "xt", xb);
    ctx.save(c, "t", tb);
    ctx.save(c, "target0", o[0]);
    ctx.save(c, "out", o[1]);
    ctx.save(c, "loss0", o[2]);
  }
  save_params(ctx, c, names_of(net.params()), *store);

  const int rot = ctx.rotations_for(static_cast<double>(xb.nbytes()));
  std::vector<Tensor> xs;
  for (int r = 0; r < rot; ++r) xs.push_back(rolled(xb, r, dev));
  auto adam = std::make_shared<optim::Adam>(std::make_shared<optim::ConstantLr>(cfg.lr));
  adam->set_clip_norm(cfg.grad_clip);
  optim::TrainStep step(g, loss, net.params(), store, adam, dev, {}, NumericsCheck::off);
  ctx.measure(c, rot, [&](int r) { step.run({{"x0", xs[r]}}); });

  const double pairs = static_cast<double>(B) * static_cast<double>(cfg.K) * static_cast<double>(n * (n - 1) / 2);
  c.flops = matmul_flops(step.program()) + pairs * (sys.dim == 3 ? 32.0 : 28.0);
  c.bytes = static_cast<double>(xb.nbytes()) + 4 * params_bytes(names_of(net.params()), *store);
  c.work = static_cast<double>(B);
  c.work_unit = "configurations";
  c.extra.set("kernels", step.program().num_kernels()).set("planned_peak_bytes", step.program().planned_peak_bytes());
  c.extra.set("modeled_traffic_bytes", step.program().modeled_traffic_bytes());
  c.extra.set("flops_model", "GEMM flops of orbit's compiled step + 32 (LJ) / 28 (DW) per pair term of the K copies");
  c.extra.set("K", cfg.K).set("clip", cfg.clip).set("grad_clip", cfg.grad_clip);
  c.peer = "idem_step";
  c.tolerance = 1e-3;
  system_args(c, cfg, sys);
  c.peer_args.set("K", cfg.K).set("clip", cfg.clip).set("grad_clip", cfg.grad_clip).set("lr", cfg.lr);
  ctx.record(std::move(c));
}

int64_t gcd64(int64_t a, int64_t b) { return std::gcd(a, b); }

void run_sampler(Context& ctx) {
  const Device dev = ctx.device();
  IdemConfig cfg = IdemConfig::preset("lj13", "paper");
  const int64_t B = ctx.pick<int64_t>(2, 8, 1000), steps = ctx.pick<int64_t>(2, 20, 100);
  const int64_t U = gcd64(cfg.unroll, steps);
  const systems::System sys = cfg.target();
  const GeometricSchedule sched(cfg.sigma_min, cfg.sigma_max);
  const int64_t D = sys.flat_dim();
  const double dt = 1.0 / static_cast<double>(steps);
  Case c;
  c.workload = "idem";
  c.name = "idem_sampler_lj13_B" + std::to_string(B) + "_steps" + std::to_string(steps);
  c.label = "lj13 reverse SDE, EGNN score, B=" + std::to_string(B) + ", " + std::to_string(steps) + " steps";
  if (!ctx.wants(c.name)) return;

  auto store = std::make_shared<ParamStore>();
  {
    Graph g0;
    diffusion::build_score_net(g0, "score", sys, cfg.hidden, cfg.layers, cfg.dtype).init(*store, cfg.seed);
    if (!dev.is_cpu())
      for (auto& name : store->names()) store->set(name, store->get(name).to(dev));
  }
  // U Euler-Maruyama steps from time t (fed), as Idem::sample builds them; lambda = 0: no noise.
  auto build = [&](double lambda, std::vector<std::string>* params) {
    Graph g;
    diffusion::ScoreNet net = diffusion::build_score_net(g, "score", sys, cfg.hidden, cfg.layers, cfg.dtype);
    if (params) *params = names_of(net.params());
    Var x = g.input("x", Shape({B, D}));
    Var t = g.input("t", Shape({B, 1}));
    for (int64_t k = 0; k < U; ++k) {
      Var tk = t - static_cast<double>(k) * dt;
      Var gk = sched.g(tk);
      Var step = (square(gk) * dt) * net(tk, x);
      if (lambda != 0)
        step = step + (lambda * std::sqrt(dt)) * gk * random_normal(g, Shape({B, D}), cfg.seed + 11);
      x = center(sys, x + step);
    }
    CompileOptions co;
    co.numerics = NumericsCheck::off;
    co.params = store;
    return compile(g, {x}, dev, co);
  };
  std::vector<std::string> params;
  Program noisy = build(cfg.diffusion_scale, &params);
  Program quiet = build(0.0, nullptr);
  std::vector<Tensor> ts;  // the fed times 1 - i dt of each program run
  for (int64_t i = 0; i < steps; i += U)
    ts.push_back(Tensor::full(Shape({B, 1}), 1.0 - static_cast<double>(i) * dt, DType::f32).to(dev));
  auto integrate = [&](Program& p, Tensor x) {
    for (const Tensor& t : ts) x = p.run({{"x", x}, {"t", t}})[0];
    return x;
  };
  Tensor x0 = prior_draw(sys, B, 61, sched.prior_std());
  const int rot = ctx.rotations_for(static_cast<double>(x0.nbytes()));
  std::vector<Tensor> xs;
  for (int r = 0; r < rot; ++r) xs.push_back(rolled(x0, r, dev));
  ctx.save(c, "x0", x0);
  ctx.save(c, "out", integrate(quiet, xs[0]));
  save_params(ctx, c, params, *store);
  ctx.measure(c, rot, [&](int r) { integrate(noisy, xs[r]); });

  c.flops = matmul_flops(noisy) * static_cast<double>(steps / U);
  c.bytes = static_cast<double>(steps) * (2.0 * static_cast<double>(x0.nbytes()) + params_bytes(params, *store));
  c.work = static_cast<double>(B * steps);
  c.work_unit = "score evaluations";
  c.extra.set("kernels_per_run", noisy.num_kernels()).set("steps_per_run", U).set("steps", steps);
  c.extra.set("modeled_traffic_bytes", noisy.modeled_traffic_bytes() * static_cast<int64_t>(steps / U));
  c.extra.set("flops_model", "GEMM flops of orbit's compiled program x program runs");
  c.peer = "idem_sampler";
  c.tolerance = 1e-3;
  system_args(c, cfg, sys);
  c.peer_args.set("steps", steps).set("diffusion_scale", cfg.diffusion_scale);
  ctx.record(std::move(c));
}

void run_idem(Context& ctx) {
  run_step(ctx, "dw4", 8, 128, 512, 16, 1000, 1000);
  run_step(ctx, "lj13", 2, 32, 512, 16, 1000, 1000);
  run_step(ctx, "lj55", 2, 4, 128, 8, 100, 100);  // the LJ55 step: B 128, K 100
  run_sampler(ctx);
}

}  // namespace
}  // namespace orbit::bench

ORBIT_BENCH_WORKLOAD(idem, 34, "iDEM training step (DEM target + EGNN + Adam) and reverse-SDE sampler (f32)",
                     orbit::bench::run_idem)
