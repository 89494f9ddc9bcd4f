// Boltzmann energies and forces (torch_anchors.py's energy workload): E(x) and dE/dx of a batch of
// LJ55, LJ13 and DW4 configurations x ~ 1.5 N(0, 1) in f32, reported in pair terms per second
// (B n (n - 1) / 2 per evaluation). Orbit: the fused pair_potential custom op with both outputs,
// [B, 1 + n dim]; the peer differentiates the same energy with PyTorch autograd.
#include "bench/bench.h"
#include "engine/ops.h"
#include "engine/program.h"
#include "models/systems/system.h"

namespace orbit::bench {
namespace {

void run_energy(Context& ctx) {
  const Device dev = ctx.device();
  struct Sys {
    const char* name;
    int64_t b_tiny, b_cpu, b_full;
  };
  const Sys systems[] = {{"lj55", 8, 512, 65536}, {"lj13", 16, 8192, int64_t(1) << 20}, {"dw4", 64, 65536, int64_t(1) << 22}};
  for (const Sys& s : systems) {
    const systems::System sys = systems::system_by_name(s.name);
    const int64_t B = ctx.pick(s.b_tiny, s.b_cpu, s.b_full), D = sys.flat_dim(), n = sys.n_particles;
    Case c;
    c.workload = "energy";
    c.name = std::string("energy_grad_") + s.name + "_B" + std::to_string(B);
    c.label = std::string(s.name) + " energy+forces, B=" + std::to_string(B);
    if (!ctx.wants(c.name)) continue;
    Graph g;
    Var x = g.input("x", {B, D});
    CompileOptions co;
    co.numerics = NumericsCheck::off;
    Program p = compile(g, {systems::energy_op(sys, x, systems::EnergyOutput::both)}, dev, co);
    Tensor x0 = randn_f32({B, D}, 31, 1.5);
    const int rot = ctx.rotations_for(static_cast<double>(x0.nbytes()));
    std::vector<Tensor> xs;
    for (int r = 0; r < rot; ++r) xs.push_back(rolled(x0, r, dev));
    ctx.measure(c, rot, [&](int r) { p.run({{"x", xs[r]}}); });

    const double pairs = static_cast<double>(B) * static_cast<double>(n * (n - 1) / 2);
    // Cost model: per pair term, LJ ~ 3 + 5 + 1 + 1 + 2 + 4 + 5 + 4 + 6 + 1 = 32 flops (difference, r^2,
    // softening, reciprocal, powers, energy, de/dr2, force, two accumulations, energy sum); the
    // double well's square root counted as one. Memory: x read once, E and dE/dx written once.
    c.flops = pairs * (sys.dim == 3 ? 32.0 : 28.0);
    c.bytes = static_cast<double>(B) * (2 * D + 1) * 4;
    c.work = pairs;
    c.work_unit = "pair terms";
    c.peer = "energy";
    c.tolerance = 1e-3;  // row-wise relative, f32
    c.peer_args.set("system", s.name).set("n", n).set("dim", static_cast<int64_t>(sys.dim));
    c.peer_args.set("kind", sys.kind == systems::Kind::lennard_jones ? "lj" : "dw");
    c.peer_args.set("scale", sys.pair_scale).set("oscillator", sys.oscillator);
    c.peer_args.set("eps", sys.lj_epsilon).set("rm", sys.lj_rm).set("softening", sys.lj_softening);
    c.peer_args.set("a", sys.dw_a).set("b", sys.dw_b).set("d0", sys.dw_d0);
    ctx.save(c, "x", x0);
    ctx.save(c, "out", p.run({{"x", xs[0]}})[0]);
    ctx.record(std::move(c));
  }
}

}  // namespace
}  // namespace orbit::bench

ORBIT_BENCH_WORKLOAD(energy, 30, "LJ55 / LJ13 / DW4 energy + forces (fused pair_potential op, f32)",
                     orbit::bench::run_energy)
