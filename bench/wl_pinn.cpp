// One PINN training step for the heat equation u_t = u_xx (torch_anchors.py's pinn workload): a tanh
// MLP 2-64x4-1 in f32 on N collocation points in [0, 1]^2, u_x and u_t by one gradient, u_xx by a
// second, loss = mean((u_t - u_xx)^2), its gradient w.r.t. the parameters (third order through the
// network) and an Adam update (lr 1e-3). Orbit: the graph of README's example, optim::TrainStep.
#include "bench/bench.h"
#include "bench/nn_util.h"
#include "engine/autodiff.h"
#include "engine/ops.h"
#include "engine/optim/optimizer.h"
#include "engine/optim/schedule.h"
#include "engine/optim/train_step.h"
#include "engine/program.h"

namespace orbit::bench {
namespace {

void run_pinn(Context& ctx) {
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
  {
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
    Program check = compile(gc, outs, dev, co);
    auto out = check.run({{"xt", xs[0]}});
    ctx.save(c, "xt", x0);
    ctx.save(c, "loss", out[0]);
    std::vector<std::string> gfiles;
    for (size_t i = 1; i < out.size(); ++i) {
      gfiles.push_back("g" + std::to_string(i - 1));
      ctx.save(c, gfiles.back(), out[i]);
    }
    c.peer_args.set("grads", gfiles);
  }

  auto adam = std::make_shared<optim::Adam>(std::make_shared<optim::ConstantLr>(1e-3));
  optim::TrainStep step(g, loss, net.params(), store, adam, dev, {}, NumericsCheck::off);
  ctx.measure(c, rot, [&](int r) { step.run({{"xt", xs[r]}}); });

  c.flops = matmul_flops(step.program());
  c.bytes = static_cast<double>(x0.nbytes()) + 4 * param_bytes(net);  // points; params, grads, Adam m and v
  c.work = static_cast<double>(N);
  c.work_unit = "points";
  c.extra.set("kernels", step.program().num_kernels()).set("planned_peak_bytes", step.program().planned_peak_bytes());
  c.extra.set("flops_model", "GEMM flops of orbit's compiled step");
  c.peer_args.set("widths", std::vector<int64_t>{2, 64, 64, 64, 64, 1}).set("activation", "tanh");
  c.peer_args.set("params", param_files).set("lr", 1e-3);
  ctx.record(std::move(c));
}

}  // namespace
}  // namespace orbit::bench

ORBIT_BENCH_WORKLOAD(pinn, 20, "PINN heat-equation training step (tanh MLP 2-64x4-1, d2u/dx2, Adam, f32)",
                     orbit::bench::run_pinn)
