// Machine ceilings, measured in the same run as the workloads: the FP32 matrix-product rate (orbit's
// matmul op: cuBLAS SGEMM without TF32 on the GPU, Eigen on the CPU) and the copy bandwidth (a
// device-to-device Tensor copy, counted as bytes read + bytes written). The report takes the better
// of orbit's and PyTorch's rate as the card's limit.
#include <cstring>

#include "bench/bench.h"
#include "engine/ops.h"
#include "engine/program.h"

namespace orbit::bench {
namespace {

void run_ceiling(Context& ctx) {
  const Device dev = ctx.device();
  {
    const int64_t n = ctx.pick<int64_t>(64, 1024, 8192);
    Case c;
    c.workload = "ceiling";
    c.name = "sgemm_f32_n" + std::to_string(n);
    c.label = "SGEMM f32 " + std::to_string(n) + "^3 (no TF32)";
    if (ctx.wants(c.name)) {
      Graph g;
      Var a = g.input("a", {n, n}), b = g.input("b", {n, n});
      CompileOptions co;
      co.numerics = NumericsCheck::off;
      Program p = compile(g, {matmul(a, b)}, dev, co);
      Tensor a0 = randn_f32({n, n}, 101), b0 = randn_f32({n, n}, 102);
      const int rot = ctx.rotations_for(2.0 * n * n * 4);
      std::vector<Tensor> as, bs;
      for (int r = 0; r < rot; ++r) {
        as.push_back(rolled(a0, r, dev));
        bs.push_back(rolled(b0, r, dev));
      }
      ctx.measure(c, rot, [&](int r) { p.run({{"a", as[r]}, {"b", bs[r]}}); });
      c.flops = 2.0 * n * n * n;
      c.bytes = 3.0 * n * n * 4;
      c.work = c.flops;
      c.work_unit = "flop";
      c.peer = "sgemm";
      c.peer_args.set("n", n);
      c.tolerance = 1e-4;  // relative; TF32 (10-bit mantissa) would give about 1e-3
      ctx.save(c, "a", a0);
      ctx.save(c, "b", b0);
      ctx.save(c, "c", p.run({{"a", as[0]}, {"b", bs[0]}})[0]);
      ctx.record(std::move(c));
    }
  }
  {
    const int64_t bytes = ctx.pick<int64_t>(1 << 20, 256 << 20, int64_t(1) << 30);
    Case c;
    c.workload = "ceiling";
    c.name = "copy_" + std::to_string(bytes >> 20) + "MiB";
    c.label = "copy " + std::to_string(bytes >> 20) + " MiB (read+write)";
    if (ctx.wants(c.name)) {
      const int64_t n = bytes / 4;
      Tensor src = randn_f32({n}, 103).to(dev);
      Tensor dst = Tensor::zeros({n}, DType::f32, dev);
      const int rot = ctx.rotations_for(2.0 * bytes);
      std::vector<Tensor> srcs{src}, dsts{dst};
      for (int r = 1; r < rot; ++r) {
        srcs.push_back(src.clone());
        dsts.push_back(Tensor::zeros({n}, DType::f32, dev));
      }
      ctx.measure(c, rot, [&](int r) { dsts[r].copy_from(srcs[r]); });
      // Self-check: the first MiB arrived.
      const int64_t k = std::min<int64_t>(n, 1 << 18);
      Tensor hs = src.to(Device::cpu()), hd = dsts[0].to(Device::cpu());
      ORBIT_CHECK(std::memcmp(hs.raw(), hd.raw(), static_cast<size_t>(k) * 4) == 0, "copy ceiling: the copy is wrong");
      c.bytes = 2.0 * bytes;
      c.work = c.bytes;
      c.work_unit = "B";
      c.peer = "copy";
      c.peer_args.set("bytes", bytes);
      c.extra.set("self_checked", true);
      ctx.record(std::move(c));
    }
  }
}

}  // namespace
}  // namespace orbit::bench

ORBIT_BENCH_WORKLOAD(ceiling, 0, "machine ceilings: SGEMM f32 rate and copy bandwidth", orbit::bench::run_ceiling)
