// The weight-sharing prox (models/sharing/prox.h) and a sort floor. In a CPU run everything runs on
// the CPU; in a CUDA run imminent and search run on the GPU (kernels/cuda/prox.cu, the weights on
// the device), the sequential PAVA stays on the CPU, and the sort floor is the GPU prox's own first
// step (a CUB radix sort of keys and int32 indices). Inputs as in the
// paper's timing anchor: w ~ N(0, 0.01^2), step 1e-4, in f32; and the worst case of the parallel
// rounds ("imminent collisions"): sorted z = [d^2, 1, 2, ..., d-1] realised as w = z - v with step
// t = d^3 and divided by d^3 (the prox is positively homogeneous), so step 1 and O(1) weights. That
// input needs f64 on both sides: in f32 the unit gaps of z vanish next to the O(d^3) drifts.
// The peer is the paper's own PyTorch algorithm of the same name (bench/peers/prox.py); orbit's
// sequential PAVA has no peer of its own and is checked against the peer's search result.
#include <cmath>

#include "bench/bench.h"
#include "kernels/cpu/prox_sort.h"
#include "models/sharing/prox.h"
#if defined(ORBIT_WITH_CUDA)
#include "kernels/cuda/prox.h"
#endif

namespace orbit::bench {
namespace {

Tensor worst_case(int64_t d) {
  Tensor w = Tensor::empty({d}, DType::f64);
  double* p = w.data<double>();
  const double d3 = static_cast<double>(d) * d * d;
  for (int64_t k = 0; k < d; ++k) {
    const double z = k == 0 ? static_cast<double>(d) * d : static_cast<double>(k);
    p[k] = z / d3 - static_cast<double>(d - 1 - 2 * k) / static_cast<double>(d - 1);
  }
  return w;
}

void prox_case(Context& ctx, const std::string& input, const Tensor& w0, double step, sharing::ProxAlgorithm alg) {
  const int64_t d = w0.numel();
  Case c;
  c.workload = "prox";
  c.name = std::string("prox_") + sharing::algorithm_name(alg) + "_" + input + "_d" + std::to_string(d);
  c.label = std::string("prox_R ") + sharing::algorithm_name(alg) + ", " + input + " " +
            (w0.dtype() == DType::f64 ? "f64" : "f32") + ", d=" + std::to_string(d);
  if (!ctx.wants(c.name)) return;
  sharing::ProxOptions opts;
  opts.algorithm = alg;
  // The GPU runs imminent and search; PAVA is the sequential reference and stays on the CPU.
  const Device dev = ctx.cuda() && alg != sharing::ProxAlgorithm::pava ? ctx.device() : Device::cpu();
  const int rot = ctx.rotations_for(static_cast<double>(w0.nbytes()));
  std::vector<Tensor> ws;
  for (int r = 0; r < rot; ++r) ws.push_back(rolled(w0, r, dev));
  ctx.measure(c, rot, [&](int r) { sharing::prox_weight_sharing(ws[r], step, opts); }, dev);
  sharing::ProxStats st;
  Tensor out = sharing::prox_weight_sharing(ws[0], step, opts, &st);
  if (ctx.cuda() && dev.is_cpu()) c.where = "cpu";
  c.bytes = static_cast<double>(w0.nbytes()) * 2;  // read w, write the result
  c.work = static_cast<double>(d);
  c.work_unit = "weights";
  c.extra.set("rounds", st.rounds).set("depth", st.depth).set("blocks", st.blocks).set("distinct", st.distinct);
  c.extra.set("solve_ms", st.solve_seconds * 1e3);
  c.peer = "prox";
  c.tolerance = w0.dtype() == DType::f64 ? 1e-9 : 1e-4;  // relative to max |w|
  c.peer_args.set("algorithm", sharing::algorithm_name(alg)).set("step", step).set("input", input);
  c.peer_args.set("dtype", w0.dtype() == DType::f64 ? "f64" : "f32");
  ctx.save(c, "w", w0);
  ctx.save(c, "out", out);
  ctx.record(std::move(c));
}

void run_prox(Context& ctx) {
  const int64_t d = ctx.pick<int64_t>(256, int64_t(1) << 16, int64_t(1) << 20);
  const Tensor w = randn_f32({d}, 41, 0.01);
  for (auto alg : {sharing::ProxAlgorithm::pava, sharing::ProxAlgorithm::imminent, sharing::ProxAlgorithm::search})
    prox_case(ctx, "gauss", w, 1e-4, alg);
  // On the GPU also the largest size, d = 2^24 (no PAVA there).
  if (ctx.cuda() && ctx.size() == Size::full) {
    const Tensor big = randn_f32({int64_t(1) << 24}, 43, 0.01);
    for (auto alg : {sharing::ProxAlgorithm::imminent, sharing::ProxAlgorithm::search})
      prox_case(ctx, "gauss", big, 1e-4, alg);
  }
  const int64_t dw = ctx.pick<int64_t>(64, 1024, 4096);
  const Tensor ww = worst_case(dw);
  for (auto alg : {sharing::ProxAlgorithm::imminent, sharing::ProxAlgorithm::search})
    prox_case(ctx, "worst", ww, 1.0, alg);

  // The sort floor: a stable argsort (values and permutation) of the same d weights; the prox is this
  // plus O(d) work and the unsort.
  Case c;
  c.workload = "prox";
  c.name = "sort_f32_d" + std::to_string(d);
  c.label = "sort floor (values + indices), f32, d=" + std::to_string(d);
  if (!ctx.wants(c.name)) return;
  const int rot = ctx.rotations_for(static_cast<double>(w.nbytes()));
  std::vector<Tensor> ws;
  Tensor sorted;
#if defined(ORBIT_WITH_CUDA)
  if (ctx.cuda()) {
    for (int r = 0; r < rot; ++r) ws.push_back(rolled(w, r, ctx.device()));
    sorted = Tensor::empty({d}, DType::f32, ctx.device());
    Tensor perm = Tensor::empty({d}, DType::i32, ctx.device());
    // On the legacy default stream (measure's events); each call synchronises.
    auto argsort = [&](int r) {
      cuda::prox::radix_argsort<float>(ws[r].data<float>(), d, sorted.data<float>(), perm.data<int32_t>(), nullptr);
    };
    ctx.measure(c, rot, argsort, ctx.device());
    argsort(0);
    c.bytes = static_cast<double>(d) * (4 + 4 + 4);
    c.extra.set("algorithm", "CUB radix sort of keys and int32 indices (kernels/cuda/prox.h, the prox's first step)");
  }
#endif
  if (!ctx.cuda()) {
    for (int r = 0; r < rot; ++r) ws.push_back(rolled(w, r, Device::cpu()));
    sorted = Tensor::empty({d}, DType::f32);
    Tensor perm = Tensor::empty({d}, DType::i64);
    ctx.measure(c, rot, [&](int r) {
      cpu::prox::radix_argsort<float>(ws[r].data<float>(), d, sorted.data<float>(), perm.data<int64_t>());
    }, Device::cpu());
    cpu::prox::radix_argsort<float>(ws[0].data<float>(), d, sorted.data<float>(), perm.data<int64_t>());
    c.bytes = static_cast<double>(d) * (4 + 4 + 8);
    c.extra.set("algorithm", "LSD radix argsort (kernels/cpu/prox_sort.h)");
  }
  c.work = static_cast<double>(d);
  c.work_unit = "keys";
  c.peer = "sort";
  c.tolerance = 0;
  ctx.save(c, "w", w);
  ctx.save(c, "sorted", sorted);
  ctx.record(std::move(c));
}

}  // namespace
}  // namespace orbit::bench

ORBIT_BENCH_WORKLOAD(prox, 40, "weight-sharing prox_R (pava / imminent / search; imminent and search on the GPU in a CUDA run) and a sort floor",
                     orbit::bench::run_prox)
