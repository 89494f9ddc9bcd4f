// iDEM's EGNN score network (torch_anchors.py's egnn workload): egnn::Dynamics (EGNN_dynamics: hidden
// 128, attention, tanh * 15 / L, sum aggregation, norm_diff, time-conditioned h^0, fully connected)
// for DW4 (n 4, dim 2, 3 layers), LJ13 and LJ55 (n 13 / 55, dim 3, 5 layers) in f32. Two cases per
// system: the forward pass s(t, x), and one training step (forward, backward of mean((s - y)^2), Adam
// lr 1e-3; optim::TrainStep). The peer (bench/peers/egnn.py) loads orbit's initial parameters and
// checks the forward output and the loss.
#include "bench/bench.h"
#include "bench/nn_util.h"
#include "engine/ops.h"
#include "engine/optim/optimizer.h"
#include "engine/optim/schedule.h"
#include "engine/optim/train_step.h"
#include "engine/program.h"
#include "models/egnn/egnn.h"

namespace orbit::bench {
namespace {

// Saves the network's parameters as p0, p1, ... (orbit's layout: Linear weights [in, out]) and sets
// the peer's "params" (files) and "param_names" (orbit's names) arguments.
void save_params(const Context& ctx, Case& c, const std::vector<Var>& params, const ParamStore& store) {
  std::vector<std::string> files, names;
  for (const Var& p : params) {
    files.push_back("p" + std::to_string(files.size()));
    names.push_back(p.name());
    ctx.save(c, files.back(), store.get(p.name()));
  }
  c.peer_args.set("params", files).set("param_names", names);
}

double params_bytes(const std::vector<Var>& params) {
  double b = 0;
  for (const Var& p : params) b += static_cast<double>(p.shape().numel()) * 4;
  return b;
}

void run_egnn(Context& ctx) {
  const Device dev = ctx.device();
  struct Sys {
    const char* name;
    int64_t n, dim, layers, b_tiny, b_cpu, b_full;
  };
  const Sys systems[] = {{"dw4", 4, 2, 3, 8, 128, 1024}, {"lj13", 13, 3, 5, 2, 32, 1024}, {"lj55", 55, 3, 5, 0, 4, 512}};
  const int64_t H = 128;
  for (const Sys& s : systems) {
    const int64_t B = ctx.pick(s.b_tiny, s.b_cpu, s.b_full), D = s.n * s.dim;
    if (B == 0) continue;  // LJ55 is left out of the tiny smoke run (seconds per step on a loaded CPU)
    const std::string tag = std::string(s.name) + "_B" + std::to_string(B) + "_h" + std::to_string(H) + "_L" +
                            std::to_string(s.layers);
    const std::string fwd_name = "egnn_forward_" + tag, step_name = "egnn_step_" + tag;
    const bool want_fwd = ctx.wants(fwd_name), want_step = ctx.wants(step_name);
    if (!want_fwd && !want_step) continue;

    egnn::DynamicsConfig dc;
    dc.n_particles = s.n;
    dc.dim = s.dim;
    dc.hidden = H;
    dc.layers = s.layers;
    // The forward graph and the training graph build the same network ("score/..."), one store.
    Graph gf;
    Var xf = gf.input("x", {B, D}), tf = gf.input("t", {B, 1});
    egnn::Dynamics dyn_f(gf, "score", dc);
    Var out_f = dyn_f(tf, xf);
    Graph gt;
    Var xt = gt.input("x", {B, D}), tt = gt.input("t", {B, 1}), yt = gt.input("y", {B, D});
    egnn::Dynamics dyn_t(gt, "score", dc);
    Var loss = mean(square(dyn_t(tt, xt) - yt));

    auto store = std::make_shared<ParamStore>();
    dyn_f.init(*store, 7);
    if (!dev.is_cpu())
      for (auto& name : store->names()) store->set(name, store->get(name).to(dev));

    Tensor x0 = randn_f32({B, D}, 41), t0 = rand_f32({B, 1}, 42), y0 = randn_f32({B, D}, 43);
    const int rot = ctx.rotations_for(static_cast<double>(x0.nbytes() + t0.nbytes() + y0.nbytes()));
    std::vector<Tensor> xs, ts, ys;
    for (int r = 0; r < rot; ++r) {
      xs.push_back(rolled(x0, r, dev));
      ts.push_back(rolled(t0, r, dev));
      ys.push_back(rolled(y0, r, dev));
    }
    CompileOptions co;
    co.numerics = NumericsCheck::off;
    co.params = store;
    Program fwd = compile(gf, {out_f}, dev, co);
    // The agreement values at the initial parameters (before any training step changes them).
    Tensor out0 = fwd.run({{"x", xs[0]}, {"t", ts[0]}})[0];
    Tensor loss0;
    {
      Program lp = compile(gt, {loss}, dev, co);
      loss0 = lp.run({{"x", xs[0]}, {"t", ts[0]}, {"y", ys[0]}})[0];
    }
    const double pbytes = params_bytes(dyn_f.params());
    const double edges = static_cast<double>(B * s.n * (s.n - 1));

    auto common = [&](Case& c) {
      c.workload = "egnn";
      c.work = static_cast<double>(B);
      c.work_unit = "configurations";
      c.tolerance = 1e-3;  // f32 through L layers of 128-wide MLPs
      c.peer_args.set("n", s.n).set("dim", s.dim).set("hidden", H).set("layers", s.layers);
      c.peer_args.set("coords_range", 15.0 / static_cast<double>(s.layers));
      c.extra.set("edges", edges);
      ctx.save(c, "x", x0);
      ctx.save(c, "t", t0);
      ctx.save(c, "out", out0);
      save_params(ctx, c, dyn_f.params(), *store);
    };

    if (want_fwd) {
      Case c;
      c.name = fwd_name;
      c.label = std::string(s.name) + " EGNN forward, B=" + std::to_string(B);
      ctx.measure(c, rot, [&](int r) { fwd.run({{"x", xs[r]}, {"t", ts[r]}}); });
      c.flops = matmul_flops(fwd);
      c.bytes = static_cast<double>(x0.nbytes() + t0.nbytes()) * 2 + pbytes;  // x, t in; s out; parameters
      c.peer = "egnn_forward";
      c.extra.set("kernels", fwd.num_kernels()).set("planned_peak_bytes", fwd.planned_peak_bytes());
      c.extra.set("modeled_traffic_bytes", fwd.modeled_traffic_bytes());
      c.extra.set("flops_model", "GEMM flops of orbit's compiled forward");
      common(c);
      ctx.record(std::move(c));
    }
    if (want_step) {
      Case c;
      c.name = step_name;
      c.label = std::string(s.name) + " EGNN train step (Adam), B=" + std::to_string(B);
      common(c);  // saves the initial parameters before the timed steps update them
      ctx.save(c, "y", y0);
      ctx.save(c, "loss", loss0);
      auto adam = std::make_shared<optim::Adam>(std::make_shared<optim::ConstantLr>(1e-3));
      optim::TrainStep step(gt, loss, dyn_t.params(), store, adam, dev, {}, NumericsCheck::off);
      ctx.measure(c, rot, [&](int r) { step.run({{"x", xs[r]}, {"t", ts[r]}, {"y", ys[r]}}); });
      c.flops = matmul_flops(step.program());
      c.bytes = static_cast<double>(x0.nbytes() + t0.nbytes() + y0.nbytes()) + 4 * pbytes;
      c.peer = "egnn_step";
      c.peer_args.set("lr", 1e-3);
      c.extra.set("kernels", step.program().num_kernels())
          .set("planned_peak_bytes", step.program().planned_peak_bytes())
          .set("modeled_traffic_bytes", step.program().modeled_traffic_bytes());
      c.extra.set("flops_model", "GEMM flops of orbit's compiled step");
      ctx.record(std::move(c));
    }
  }
}

}  // namespace
}  // namespace orbit::bench

ORBIT_BENCH_WORKLOAD(egnn, 32, "iDEM's EGNN_dynamics (h 128, attention, tanh): forward and Adam step (f32)",
                     orbit::bench::run_egnn)
