// Small-MLP inference (torch_anchors.py's mlp workload): x [N, 32] -> 4 x (Linear 64, ReLU) ->
// Linear 16, f32, no gradients; and the PINN's network evaluated on its points (x [N, 2] -> 4 x
// (Linear 64, tanh) -> Linear 1), where the activations cost as much as the products. Orbit:
// models/nn's MLP compiled once (one fused mlp_fused kernel), run on rotated inputs.
#include "bench/bench.h"
#include "bench/nn_util.h"
#include "engine/ops.h"
#include "engine/program.h"

namespace orbit::bench {
namespace {

struct MlpCase {
  const char* name;   // row id prefix
  const char* label;  // table text before ", N="
  std::vector<int64_t> widths;
  nn::Activation act;
  const char* act_name;  // the peer's name for it
};

void run_one(Context& ctx, const MlpCase& m) {
  const Device dev = ctx.device();
  const int64_t N = ctx.pick<int64_t>(256, 65536, int64_t(1) << 22);
  const std::vector<int64_t>& widths = m.widths;
  Case c;
  c.workload = "mlp";
  c.name = std::string(m.name) + "_N" + std::to_string(N) + "_w64_d4";
  c.label = std::string(m.label) + ", N=" + std::to_string(N);
  if (!ctx.wants(c.name)) return;

  Graph g;
  Var x = g.input("x", {N, widths.front()});
  nn::MLP net(g, "mlp", widths, m.act);
  Var y = net(x);
  auto store = mlp_store(net, 1, dev);
  CompileOptions co;
  co.numerics = NumericsCheck::off;  // PyTorch does not scan its inputs for NaN either
  co.params = store;
  Program p = compile(g, {y}, dev, co);

  Tensor x0 = randn_f32({N, widths.front()}, 11);
  const int rot = ctx.rotations_for(static_cast<double>(x0.nbytes()));
  std::vector<Tensor> xs;
  for (int r = 0; r < rot; ++r) xs.push_back(rolled(x0, r, dev));
  ctx.measure(c, rot, [&](int r) { p.run({{"x", xs[r]}}); });

  double mm = 0;
  for (size_t i = 0; i + 1 < widths.size(); ++i) mm += static_cast<double>(widths[i] * widths[i + 1]);
  c.flops = 2.0 * static_cast<double>(N) * mm;
  c.bytes = static_cast<double>(N) * (widths.front() + widths.back()) * 4 + param_bytes(net);
  c.work = static_cast<double>(N);
  c.work_unit = "rows";
  c.extra.set("kernels", p.num_kernels()).set("planned_peak_bytes", p.planned_peak_bytes());
  c.extra.set("modeled_traffic_bytes", p.modeled_traffic_bytes());
  c.peer = "mlp";
  c.tolerance = 1e-4;
  ctx.save(c, "x", x0);
  ctx.save(c, "y", p.run({{"x", xs[0]}})[0]);
  c.peer_args.set("widths", widths).set("activation", m.act_name).set("params", save_mlp_params(ctx, c, net, *store));
  ctx.record(std::move(c));
}

void run_mlp(Context& ctx) {
  run_one(ctx, {"mlp_infer", "MLP 32-64x4-16 ReLU inference", {32, 64, 64, 64, 64, 16}, nn::Activation::relu, "relu"});
  run_one(ctx, {"mlp_tanh_infer", "MLP 2-64x4-1 tanh inference (the PINN's network)", {2, 64, 64, 64, 64, 1},
                nn::Activation::tanh, "tanh"});
}

}  // namespace
}  // namespace orbit::bench

ORBIT_BENCH_WORKLOAD(mlp, 10, "small-MLP inference (32-64x4-16 ReLU; 2-64x4-1 tanh; f32)", orbit::bench::run_mlp)
