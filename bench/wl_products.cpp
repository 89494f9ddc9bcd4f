// The matrix products of small networks, alone: the tall-and-narrow shapes that PINN, EGNN and MLP
// programs are made of (N x 64 activations against 64 x 64 weights), in the three layouts a training
// step uses: the forward product X W, the backward product dY W^T and the weight gradient X^T dY
// (a contraction over all N rows). On the CPU these are the narrow-product kernel's shapes
// (docs/cpu.md); on the GPU, cuBLAS's. The peer is torch.matmul on the same layout, TF32 off.
#include "bench/bench.h"
#include "engine/ops.h"
#include "engine/program.h"

namespace orbit::bench {
namespace {

struct Layout {
  const char* name;   // row id part
  const char* label;  // table text
  bool trans_a, trans_b;
};

void run_products(Context& ctx) {
  const Device dev = ctx.device();
  const int64_t N = ctx.pick<int64_t>(512, 16384, 65536), W = 64;
  const Layout layouts[] = {{"xw", "X W", false, false}, {"dywt", "dY W^T", false, true}, {"xtdy", "X^T dY", true, false}};
  for (const Layout& l : layouts) {
    Case c;
    c.workload = "products";
    c.name = std::string("matmul_") + l.name + "_N" + std::to_string(N) + "_w64";
    // Shapes of the operands as stored: a [N, 64]; b [64, 64] for the first two, [N, 64] for X^T dY.
    c.label = std::string("matmul f32 ") + l.label + ", N=" + std::to_string(N) + ", width 64";
    if (!ctx.wants(c.name)) continue;
    const Shape a_shape{N, W}, b_shape = l.trans_a ? Shape{N, W} : Shape{W, W};
    Graph g;
    Var a = g.input("a", a_shape), b = g.input("b", b_shape);
    CompileOptions co;
    co.numerics = NumericsCheck::off;
    Program p = compile(g, {matmul(a, b, l.trans_a, l.trans_b)}, dev, co);
    Tensor a0 = randn_f32(a_shape, 201), b0 = randn_f32(b_shape, 202, 0.125);
    const int rot = ctx.rotations_for(static_cast<double>(a0.nbytes() + b0.nbytes()));
    std::vector<Tensor> as, bs;
    for (int r = 0; r < rot; ++r) {
      as.push_back(rolled(a0, r, dev));
      bs.push_back(rolled(b0, r, dev));
    }
    ctx.measure(c, rot, [&](int r) { p.run({{"a", as[r]}, {"b", bs[r]}}); });
    const double out_elems = l.trans_a ? double(W * W) : double(N * W);
    c.flops = 2.0 * double(N) * W * W;
    c.bytes = static_cast<double>(a0.nbytes() + b0.nbytes()) + out_elems * 4;
    c.work = c.flops;
    c.work_unit = "flop";
    c.peer = "matmul";
    c.peer_args.set("trans_a", l.trans_a).set("trans_b", l.trans_b);
    c.tolerance = 1e-4;
    ctx.save(c, "a", a0);
    ctx.save(c, "b", b0);
    ctx.save(c, "c", p.run({{"a", as[0]}, {"b", bs[0]}})[0]);
    ctx.record(std::move(c));
  }
}

}  // namespace
}  // namespace orbit::bench

ORBIT_BENCH_WORKLOAD(products, 5, "small networks' matrix products (N x 64 by 64 x 64: X W, dY W^T, X^T dY; f32)",
                     orbit::bench::run_products)
