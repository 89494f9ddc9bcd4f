// One PINN training step for the heat equation u_t = u_xx (torch_anchors.py's pinn workload): a tanh
// MLP 2-64x4-1 in f32 on N collocation points in [0, 1]^2, u_x and u_t by one gradient, u_xx by a
// second, loss = mean((u_t - u_xx)^2), its gradient w.r.t. the parameters (third order through the
// network) and an Adam update (lr 1e-3). Orbit: the graph of README's example, optim::TrainStep.
//
// Second case: the same step with the Lie point symmetry loss, built as `orbit pinn train --pde heat
// --symmetry on` builds its interior losses (models/pinn/trainer.cpp): the standard heat problem
// (L = 6, T = 16, nu = 0.01), the network on (x, t) scaled to [-1, 1]^2, the third-order jet of
// make_jet, loss = w_residual mean((T Delta)^2) + w_symmetry T^2 symmetry_loss(evolutionary) with the
// trainer's default weights (1, 1), on N points uniform in [0, L] x [0, T]. The initial-condition and
// boundary losses are left out (a few hundred points; the interior losses are the workload).
#include "bench/bench.h"
#include "bench/nn_util.h"
#include "engine/autodiff.h"
#include "engine/ops.h"
#include "engine/optim/optimizer.h"
#include "engine/optim/schedule.h"
#include "engine/optim/train_step.h"
#include "engine/program.h"
#include "models/pinn/problem.h"
#include "models/pinn/symmetry.h"
#include "models/pinn/trainer.h"

namespace orbit::bench {
namespace {

// Saves the points, and the loss and every parameter gradient at the initial parameters (orbit's
// values for the peer's agreement check), computed by a separate compiled program of g.
void save_check(Context& ctx, Case& c, const Graph& g, const Var& loss, const nn::MLP& net,
                const std::shared_ptr<ParamStore>& store, const std::string& input, const Tensor& x0,
                const Tensor& x0_dev) {
  Graph gc = g;
  Var lc(&gc, loss.id());
  std::vector<Var> wrt;
  for (const Var& p : net.params()) wrt.emplace_back(&gc, p.id());
  auto grads = grad(lc, wrt);
  std::vector<Var> outs{lc};
  outs.insert(outs.end(), grads.begin(), grads.end());
  CompileOptions co;
  co.numerics = NumericsCheck::off;
  co.params = store;
  Program check = compile(gc, outs, ctx.device(), co);
  auto out = check.run({{input, x0_dev}});
  ctx.save(c, "xt", x0);
  ctx.save(c, "loss", out[0]);
  std::vector<std::string> gfiles;
  for (size_t i = 1; i < out.size(); ++i) {
    gfiles.push_back("g" + std::to_string(i - 1));
    ctx.save(c, gfiles.back(), out[i]);
  }
  c.peer_args.set("grads", gfiles);
}

void run_pinn_residual(Context& ctx) {
  const Device dev = ctx.device();
  const int64_t N = ctx.pick<int64_t>(64, 4096, 65536);
  Case c;
  c.workload = "pinn";
  c.name = "pinn_heat_step_N" + std::to_string(N) + "_w64_d4";
  c.label = "PINN heat step (d2u, Adam), N=" + std::to_string(N);
  if (!ctx.wants(c.name)) return;

  Graph g;
  Var xt = g.input("xt", {N, 2});
  nn::MLP net(g, "u", {2, 64, 64, 64, 64, 1}, nn::Activation::tanh);
  Var u = net(xt);
  Var du = grad(sum(u), {xt})[0];                          // [N, 2]: u_x, u_t
  Var uxx = col(grad(sum(col(du, 0)), {xt})[0], 0);        // [N, 1]
  Var loss = mean(square(col(du, 1) - uxx));
  auto store = mlp_store(net, 2, dev);

  Tensor x0 = rand_f32({N, 2}, 21);
  const int rot = ctx.rotations_for(static_cast<double>(x0.nbytes()));
  std::vector<Tensor> xs;
  for (int r = 0; r < rot; ++r) xs.push_back(rolled(x0, r, dev));

  // The agreement check first (loss and gradients at the initial parameters), then the timed steps.
  c.peer = "pinn";
  c.tolerance = 2e-3;  // f32 third-order derivatives through 5 layers, summed over N points
  const auto param_files = save_mlp_params(ctx, c, net, *store);
  save_check(ctx, c, g, loss, net, store, "xt", x0, xs[0]);

  auto adam = std::make_shared<optim::Adam>(std::make_shared<optim::ConstantLr>(1e-3));
  optim::TrainStep step(g, loss, net.params(), store, adam, dev, {}, NumericsCheck::off);
  ctx.measure(c, rot, [&](int r) { step.run({{"xt", xs[r]}}); });

  c.flops = matmul_flops(step.program());
  c.bytes = static_cast<double>(x0.nbytes()) + 4 * param_bytes(net);  // points; params, grads, Adam m and v
  c.work = static_cast<double>(N);
  c.work_unit = "points";
  c.extra.set("kernels", step.program().num_kernels()).set("planned_peak_bytes", step.program().planned_peak_bytes());
  c.extra.set("modeled_traffic_bytes", step.program().modeled_traffic_bytes());
  c.extra.set("flops_model", "GEMM flops of orbit's compiled step");
  c.peer_args.set("widths", std::vector<int64_t>{2, 64, 64, 64, 64, 1}).set("activation", "tanh");
  c.peer_args.set("params", param_files).set("lr", 1e-3);
  ctx.record(std::move(c));
}


// The residual + Lie point symmetry step (see the top of the file).
void run_pinn_symmetry(Context& ctx) {
  const Device dev = ctx.device();
  const int64_t N = ctx.pick<int64_t>(64, 4096, 65536);
  // `orbit pinn train --symmetry on` is the evolutionary form (tools/cli_pinn.cpp): third derivatives.
  const pinn::SymmetryForm form = pinn::SymmetryForm::evolutionary;
  const pinn::PinnConfig cfg;  // the trainer's default weights and problem seed
  Case c;
  c.workload = "pinn";
  c.name = "pinn_heat_sym_step_N" + std::to_string(N) + "_w64_d4";
  c.label = "PINN heat step + symmetry loss (d3u, Adam), N=" + std::to_string(N);
  if (!ctx.wants(c.name)) return;

  const pinn::Problem prob = pinn::Problem::standard(pinn::Pde::heat, cfg.problem_seed, cfg.ic_terms);
  const double L = prob.length, T = prob.t_end;
  Graph g;
  Var x_r = g.input("x_r", {N, 2});
  nn::MLP net(g, "u", {2, 64, 64, 64, 64, 1}, nn::Activation::tanh);
  // As the trainer: the network sees (x, t) scaled to [-1, 1]^2; derivatives in physical units.
  Var centre = g.constant(Tensor::from<float>({2}, {static_cast<float>(L / 2), static_cast<float>(T / 2)}), "centre");
  Var inv_half = g.constant(Tensor::from<float>({2}, {static_cast<float>(2 / L), static_cast<float>(2 / T)}), "inv_half");
  auto u_of = [&](Var X) { return net((X - centre) * inv_half); };
  pinn::Jet jet = pinn::make_jet(x_r, u_of, form == pinn::SymmetryForm::evolutionary);
  Var loss_res = mean(square(pinn::residual(prob, jet) * T));
  Var loss_sym = pinn::symmetry_loss(prob, jet, x_r, form) * (T * T);
  Var loss = cfg.w_residual * loss_res + cfg.w_symmetry * loss_sym;
  auto store = mlp_store(net, 2, dev);

  Tensor x0 = rand_f32({N, 2}, 22);
  for (int64_t i = 0; i < N; ++i) {  // uniform on [0, L] x [0, T]
    x0.data<float>()[2 * i] *= static_cast<float>(L);
    x0.data<float>()[2 * i + 1] *= static_cast<float>(T);
  }
  const int rot = ctx.rotations_for(static_cast<double>(x0.nbytes()));
  std::vector<Tensor> xs;
  for (int r = 0; r < rot; ++r) xs.push_back(rolled(x0, r, dev));

  c.peer = "pinn_sym";
  c.tolerance = 2e-3;
  const auto param_files = save_mlp_params(ctx, c, net, *store);
  save_check(ctx, c, g, loss, net, store, "x_r", x0, xs[0]);

  auto adam = std::make_shared<optim::Adam>(std::make_shared<optim::ConstantLr>(1e-3));
  optim::TrainStep step(g, loss, net.params(), store, adam, dev, {}, NumericsCheck::off);
  ctx.measure(c, rot, [&](int r) { step.run({{"x_r", xs[r]}}); });

  c.flops = matmul_flops(step.program());
  c.bytes = static_cast<double>(x0.nbytes()) + 4 * param_bytes(net);
  c.work = static_cast<double>(N);
  c.work_unit = "points";
  c.extra.set("kernels", step.program().num_kernels()).set("planned_peak_bytes", step.program().planned_peak_bytes());
  c.extra.set("modeled_traffic_bytes", step.program().modeled_traffic_bytes());
  c.extra.set("flops_model", "GEMM flops of orbit's compiled step");
  c.extra.set("symmetry_form", pinn::symmetry_form_name(form));
  c.peer_args.set("widths", std::vector<int64_t>{2, 64, 64, 64, 64, 1}).set("activation", "tanh");
  c.peer_args.set("params", param_files).set("lr", 1e-3);
  c.peer_args.set("form", pinn::symmetry_form_name(form)).set("nu", prob.nu).set("length", L).set("t_end", T);
  c.peer_args.set("w_residual", cfg.w_residual).set("w_symmetry", cfg.w_symmetry);
  ctx.record(std::move(c));
}

void run_pinn(Context& ctx) {
  run_pinn_residual(ctx);
  run_pinn_symmetry(ctx);
}

}  // namespace
}  // namespace orbit::bench

ORBIT_BENCH_WORKLOAD(pinn, 20, "PINN heat-equation training steps (tanh MLP 2-64x4-1, f32, Adam): residual only (d2u); residual + Lie point symmetry loss (d3u)",
                     orbit::bench::run_pinn)
