#include "models/diffusion/dem_target.h"

#include <memory>
#include <mutex>

#include "engine/op_registry.h"
#include "engine/ops.h"
#include "kernels/cpu/dem_target.h"
#if defined(ORBIT_WITH_CUDA)
#include "engine/ops/cuda_kernel.h"
#include "kernels/cuda/runtime.h"
#include "kernels/cuda/systems.h"
#endif

namespace orbit::diffusion {

scalar::DemParams DemTargetAttr::params(int64_t D, int64_t components, uint64_t run) const {
  scalar::DemParams p;
  p.gmm = gmm != 0;
  p.pair.kind = static_cast<scalar::PairKind>(kind);
  p.pair.n = static_cast<int>(n);
  p.pair.dim = static_cast<int>(dim);
  p.pair.scale = scale;
  p.pair.oscillator = oscillator;
  p.pair.eps = eps;
  p.pair.rm = rm;
  p.pair.softening = softening;
  p.pair.a = a;
  p.pair.b = b;
  p.pair.d0 = d0;
  p.mixture.dim = static_cast<int>(D);
  p.mixture.components = static_cast<int>(components);
  p.mixture.std = gmm_std;
  p.mixture.scale = gmm_scale;
  p.D = static_cast<int>(D);
  p.K = static_cast<int>(K);
  p.seed = seed;
  p.stream = stream;
  p.run = run;
  p.max_norm = max_norm;
  p.clip_group = static_cast<int>(clip_group);
  return p;
}

namespace {

std::once_flag g_once;
OpId g_op = -1;

void register_now() {
  OpDef d;
  d.name = DemTargetAttr::kName;
  d.num_inputs = -1;  // x, sigma (+ means for the GMM)
  d.random = true;
  d.zero_grad = true;  // a stop-gradient regression target
  d.infer = [](const InferCtx& c) {
    const auto& a = c.attr<DemTargetAttr>();
    if (c.num_inputs() != (a.gmm ? 3 : 2))
      c.fail(a.gmm ? "takes x, sigma and the mixture means" : "takes x and sigma", ", got ", c.num_inputs(), " inputs");
    const Shape& x = c.shape(0);
    if (!is_float(c.dtype(0))) c.fail("x must be f32 or f64");
    if (x.rank() != 2) c.fail("x must be [batch, dim], got ", x.str());
    const int64_t D = x[1];
    if (!a.gmm && D != a.n * a.dim) c.fail("x must be [batch, ", a.n * a.dim, "], got ", x.str());
    if (a.gmm && (D < 1 || D > 8)) c.fail("GMM dimension must be 1..8, got ", D);
    if (D > 192) c.fail("at most 192 coordinates per configuration, got ", D);
    const Shape& s = c.shape(1);
    if (!((s.rank() == 1 && s[0] == x[0]) || (s.rank() == 2 && s[0] == x[0] && s[1] == 1)))
      c.fail("sigma must be [", x[0], "] or [", x[0], ", 1], got ", s.str());
    if (c.dtype(1) != c.dtype(0)) c.fail("sigma must have x's dtype");
    if (a.gmm && (c.shape(2).rank() != 2 || c.shape(2)[1] != D || c.dtype(2) != c.dtype(0)))
      c.fail("means must be [components, ", D, "] of x's dtype, got ", c.shape(2).str());
    if (a.K < 1) c.fail("K must be >= 1, got ", a.K);
    const int64_t group = a.clip_group > 0 ? a.clip_group : D;
    if (D % group != 0) c.fail("clip group ", group, " does not divide ", D);
    return TypeInfo{x, c.dtype(0)};
  };
  d.kernels[static_cast<int>(Device::Kind::cpu)] = [](KernelCtx& k) {
    const auto& a = k.node.attr_as<DemTargetAttr>();
    const Tensor &x = k.in[0], &s = k.in[1];
    const int64_t comps = a.gmm ? k.in[2].shape()[0] : 0;
    scalar::DemParams p = a.params(x.shape()[1], comps, k.run_index);
    if (x.dtype() == DType::f64)
      cpu::dem_target<double>(p, x.data<double>(), s.data<double>(), a.gmm ? k.in[2].data<double>() : nullptr,
                              x.shape()[0], k.out.data<double>());
    else
      cpu::dem_target<float>(p, x.data<float>(), s.data<float>(), a.gmm ? k.in[2].data<float>() : nullptr,
                             x.shape()[0], k.out.data<float>());
  };
#if defined(ORBIT_WITH_CUDA)
  d.kernels[static_cast<int>(Device::Kind::cuda)] = detail::cuda_kernel("dem_score_target", [](KernelCtx& k) {
    const auto& a = k.node.attr_as<DemTargetAttr>();
    const Tensor &x = k.in[0], &s = k.in[1];
    const int64_t comps = a.gmm ? k.in[2].shape()[0] : 0;
    scalar::DemParams p = a.params(x.shape()[1], comps, k.run_index);
    cuda::dem_target(x.dtype() == DType::f64 ? cuda::Elem::f64 : cuda::Elem::f32, p, x.raw(), s.raw(),
                     a.gmm ? k.in[2].raw() : nullptr, x.shape()[0], k.out.raw(), k.run_index_dev,
                     static_cast<cudaStream_t>(k.stream));
  });
#endif
  g_op = ops().add(std::move(d));
}

}  // namespace

OpId dem_target_op() {
  std::call_once(g_once, register_now);
  return g_op;
}

Var dem_score_target(const systems::System& s, Var x, Var sigma, int64_t K, uint64_t seed, double max_norm) {
  ORBIT_CHECK(x.valid() && sigma.valid(), "dem_score_target: invalid input");
  Graph& g = *x.graph();
  auto a = std::make_shared<DemTargetAttr>();
  const OpId op = dem_target_op();
  a->gmm = s.kind == systems::Kind::gmm;
  a->n = s.n_particles;
  a->dim = s.dim;
  if (s.kind == systems::Kind::lennard_jones) {
    a->kind = static_cast<int64_t>(scalar::PairKind::lennard_jones);
    a->eps = s.lj_epsilon;
    a->rm = s.lj_rm;
    a->softening = s.lj_softening;
  } else if (s.kind == systems::Kind::double_well) {
    a->kind = static_cast<int64_t>(scalar::PairKind::double_well);
    a->a = s.dw_a;
    a->b = s.dw_b;
    a->d0 = s.dw_d0;
  }
  a->scale = s.pair_scale;
  a->oscillator = s.oscillator;
  a->gmm_std = s.gmm_std;
  a->gmm_scale = s.gmm_scale;
  a->K = K;
  a->seed = seed;
  for (int i = 0; i < g.size(); ++i)  // distinct noise for every target node of one graph
    if (g.node(i).kind == NodeKind::op && g.node(i).op == op) ++a->stream;
  a->max_norm = max_norm;
  a->clip_group = s.is_molecule() ? s.dim : s.flat_dim();
  std::vector<Var> ins = {x, sigma};
  if (a->gmm) {
    Tensor mu = Tensor::from(Shape({s.gmm_components(), s.dim}), s.gmm_means);
    if (x.dtype() != DType::f64) mu = mu.cast(x.dtype());
    ins.push_back(g.constant(mu, s.name + "/means"));
  }
  return g.add_op(op, ins, a);
}

}  // namespace orbit::diffusion
