#include "models/systems/energy_ops.h"

#include <cmath>
#include <memory>
#include <mutex>

#include "engine/autodiff.h"
#include "engine/ops.h"
#include "engine/op_registry.h"
#include "kernels/cpu/systems.h"
#if defined(ORBIT_WITH_CUDA)
#include "engine/ops/cuda_kernel.h"
#include "kernels/cuda/runtime.h"
#include "kernels/cuda/systems.h"
#endif

namespace orbit::systems {

scalar::PairParams PairPotentialAttr::params() const {
  scalar::PairParams p;
  p.kind = static_cast<scalar::PairKind>(kind);
  p.n = static_cast<int>(n);
  p.dim = static_cast<int>(dim);
  p.scale = scale;
  p.oscillator = oscillator;
  p.eps = eps;
  p.rm = rm;
  p.softening = softening;
  p.a = a;
  p.b = b;
  p.d0 = d0;
  return p;
}

PairPotentialAttr PairPotentialAttr::from(const scalar::PairParams& p, EnergyOutput out) {
  PairPotentialAttr a;
  a.kind = static_cast<int64_t>(p.kind);
  a.n = p.n;
  a.dim = p.dim;
  a.scale = p.scale;
  a.oscillator = p.oscillator;
  a.eps = p.eps;
  a.rm = p.rm;
  a.softening = p.softening;
  a.a = p.a;
  a.b = p.b;
  a.d0 = p.d0;
  a.output = static_cast<int64_t>(out);
  return a;
}

namespace {

TypeInfo energy_type(const InferCtx& c, int64_t flat, EnergyOutput out) {
  const Shape& s = c.shape(0);
  if (!is_float(c.dtype(0))) c.fail("configurations must be f32 or f64, got ", dtype_name(c.dtype(0)));
  if (s.rank() != 2 || s[1] != flat)
    c.fail("configurations must have shape [batch, ", flat, "], got ", s.str());
  switch (out) {
    case EnergyOutput::energy: return {Shape({s[0]}), c.dtype(0)};
    case EnergyOutput::grad: return {s, c.dtype(0)};
    case EnergyOutput::both: return {Shape({s[0], flat + 1}), c.dtype(0)};
  }
  c.fail("unknown output kind ", static_cast<int64_t>(out));
}

// The VJP shared by both ops: `fused(kind)` rebuilds the op with another output kind, `primitive()` the
// energy in primitive ops (for the Hessian-vector product of gradient outputs).
template <class Fused, class Primitive>
Var energy_vjp_x(VjpCtx& c, EnergyOutput out, Fused fused, Primitive primitive) {
  Var x = c.in(0);
  const int64_t flat = x.shape()[1];
  auto hvp = [&](Var cot_grad) {
    Var g = grad(sum(primitive()), {x})[0];  // dE/dx in primitive ops
    return grad(g, {x}, cot_grad)[0];        // d/dx <dE/dx, cot> = H cot
  };
  switch (out) {
    case EnergyOutput::energy: return reshape(c.grad, {-1, 1}) * fused(EnergyOutput::grad);
    case EnergyOutput::grad: return hvp(c.grad);
    case EnergyOutput::both: {
      Var ce = slice(c.grad, 1, 0, 1), cg = slice(c.grad, 1, 1, flat + 1);
      return ce * fused(EnergyOutput::grad) + hvp(cg);
    }
  }
  throw Error("corrupt energy output kind");
}

// Output pointers of a kernel for the three output kinds (out: [B], [B, D] or [B, 1 + D]).
template <class T>
cpu::EnergyOut<T> outputs(Tensor& out, EnergyOutput kind, int64_t flat) {
  cpu::EnergyOut<T> o;
  T* p = out.data<T>();
  if (kind == EnergyOutput::energy) o.energy = p;
  if (kind == EnergyOutput::grad) o = {nullptr, 1, p, flat};
  if (kind == EnergyOutput::both) o = {p, flat + 1, p + 1, flat + 1};
  return o;
}

void pair_cpu(KernelCtx& k) {
  const auto& a = k.node.attr_as<PairPotentialAttr>();
  const Tensor& x = k.in[0];
  const int64_t batch = x.shape()[0], flat = x.shape()[1];
  if (x.dtype() == DType::f64)
    cpu::pair_potential<double>(a.params(), x.data<double>(), batch, outputs<double>(k.out, a.out(), flat));
  else
    cpu::pair_potential<float>(a.params(), x.data<float>(), batch, outputs<float>(k.out, a.out(), flat));
}

void gmm_cpu(KernelCtx& k) {
  const auto& a = k.node.attr_as<GmmEnergyAttr>();
  const Tensor &x = k.in[0], &mu = k.in[1];
  scalar::GmmParams p{static_cast<int>(x.shape()[1]), static_cast<int>(mu.shape()[0]), a.std, a.scale};
  const int64_t batch = x.shape()[0], flat = x.shape()[1];
  if (x.dtype() == DType::f64)
    cpu::gmm_energy<double>(p, x.data<double>(), mu.data<double>(), batch, outputs<double>(k.out, a.out(), flat));
  else
    cpu::gmm_energy<float>(p, x.data<float>(), mu.data<float>(), batch, outputs<float>(k.out, a.out(), flat));
}

#if defined(ORBIT_WITH_CUDA)
using detail::cuda_kernel;

struct RawOut {
  void *energy = nullptr, *grad = nullptr;
  int64_t es = 1, gs = 0;
};
RawOut raw_outputs(Tensor& out, EnergyOutput kind, int64_t flat) {
  char* p = static_cast<char*>(out.raw());
  const size_t sz = dtype_size(out.dtype());
  if (kind == EnergyOutput::energy) return {p, nullptr, 1, 0};
  if (kind == EnergyOutput::grad) return {nullptr, p, 1, flat};
  return {p, p + sz, flat + 1, flat + 1};
}
cuda::Elem elem(DType t) { return t == DType::f64 ? cuda::Elem::f64 : cuda::Elem::f32; }
#endif

std::once_flag g_once;
OpId g_pair = -1, g_gmm = -1;

void register_now() {
  OpRegistry& r = ops();
  {
    OpDef d;
    d.name = PairPotentialAttr::kName;
    d.num_inputs = 1;
    d.infer = [](const InferCtx& c) {
      const auto& a = c.attr<PairPotentialAttr>();
      if (a.n < 2) c.fail("needs at least 2 particles, got ", a.n);
      if (a.dim < 1 || a.dim > 4) c.fail("spatial dimension must be 1..4, got ", a.dim);
      if (a.kind != 0 && a.kind != 1) c.fail("unknown pair potential kind ", a.kind);
      return energy_type(c, a.n * a.dim, a.out());
    };
    d.vjp = [](VjpCtx& c) -> std::vector<Var> {
      PairPotentialAttr a = c.attr<PairPotentialAttr>();
      Var x = c.in(0);
      auto fused = [&](EnergyOutput o) { return pair_potential(x, a.params(), o); };
      auto prim = [&] { return pair_potential_primitive(x, a.params()); };
      return {energy_vjp_x(c, a.out(), fused, prim)};
    };
    d.kernels[static_cast<int>(Device::Kind::cpu)] = pair_cpu;
#if defined(ORBIT_WITH_CUDA)
    d.kernels[static_cast<int>(Device::Kind::cuda)] = cuda_kernel("pair_potential", [](KernelCtx& k) {
      const auto& a = k.node.attr_as<PairPotentialAttr>();
      const Tensor& x = k.in[0];
      RawOut o = raw_outputs(k.out, a.out(), x.shape()[1]);
      cuda::pair_potential(elem(x.dtype()), a.params(), x.raw(), x.shape()[0], o.energy, o.es, o.grad, o.gs,
                           static_cast<cudaStream_t>(k.stream));
    });
#endif
    g_pair = r.add(std::move(d));
  }
  {
    OpDef d;
    d.name = GmmEnergyAttr::kName;
    d.num_inputs = 2;
    d.infer = [](const InferCtx& c) {
      const auto& a = c.attr<GmmEnergyAttr>();
      const Shape& m = c.shape(1);
      if (c.shape(0).rank() != 2) c.fail("points must have shape [batch, dim], got ", c.shape(0).str());
      const int64_t d = c.shape(0)[1];
      if (d < 1 || d > 8) c.fail("dimension must be 1..8, got ", d);
      if (m.rank() != 2 || m[1] != d || m[0] < 1) c.fail("means must have shape [components, ", d, "], got ", m.str());
      if (c.dtype(1) != c.dtype(0)) c.fail("means must have the points' dtype");
      if (!(a.std > 0)) c.fail("std must be > 0, got ", a.std);
      return energy_type(c, d, a.out());
    };
    d.vjp = [](VjpCtx& c) -> std::vector<Var> {
      GmmEnergyAttr a = c.attr<GmmEnergyAttr>();
      Var x = c.in(0), mu = c.in(1);
      auto fused = [&](EnergyOutput o) { return gmm_energy(x, mu, a.std, a.scale, o); };
      auto prim = [&] { return gmm_energy_primitive(x, mu, a.std, a.scale); };
      return {energy_vjp_x(c, a.out(), fused, prim), Var()};
    };
    d.kernels[static_cast<int>(Device::Kind::cpu)] = gmm_cpu;
#if defined(ORBIT_WITH_CUDA)
    d.kernels[static_cast<int>(Device::Kind::cuda)] = cuda_kernel("gmm_energy", [](KernelCtx& k) {
      const auto& a = k.node.attr_as<GmmEnergyAttr>();
      const Tensor &x = k.in[0], &mu = k.in[1];
      scalar::GmmParams p{static_cast<int>(x.shape()[1]), static_cast<int>(mu.shape()[0]), a.std, a.scale};
      RawOut o = raw_outputs(k.out, a.out(), x.shape()[1]);
      cuda::gmm_energy(elem(x.dtype()), p, x.raw(), mu.raw(), x.shape()[0], o.energy, o.es, o.grad, o.gs,
                       static_cast<cudaStream_t>(k.stream));
    });
#endif
    g_gmm = r.add(std::move(d));
  }
}

}  // namespace

void register_energy_ops() { std::call_once(g_once, register_now); }
OpId pair_potential_op() {
  register_energy_ops();
  return g_pair;
}
OpId gmm_energy_op() {
  register_energy_ops();
  return g_gmm;
}

Var pair_potential(Var x, const scalar::PairParams& p, EnergyOutput out) {
  ORBIT_CHECK(x.valid(), "pair_potential: invalid input");
  auto attr = std::make_shared<PairPotentialAttr>(PairPotentialAttr::from(p, out));
  return x.graph()->add_op(pair_potential_op(), {x}, attr);
}

Var gmm_energy(Var x, Var means, double std, double scale, EnergyOutput out) {
  ORBIT_CHECK(x.valid() && means.valid(), "gmm_energy: invalid input");
  auto attr = std::make_shared<GmmEnergyAttr>();
  attr->std = std;
  attr->scale = scale;
  attr->output = static_cast<int64_t>(out);
  return x.graph()->add_op(gmm_energy_op(), {x, means}, attr);
}

Var pair_potential_primitive(Var x, const scalar::PairParams& p) {
  Graph& g = *x.graph();
  const int64_t n = p.n, dim = p.dim;
  Var xr = reshape(x, {-1, n, dim});
  Var diff = reshape(x, {-1, n, 1, dim}) - reshape(x, {-1, 1, n, dim});
  Var r2 = sum(square(diff), {3});  // [B, n, n]
  // Unique pairs i < j; the other entries get a harmless r2 = 1 before the masked sum (no 1/0).
  Tensor m = Tensor::zeros(Shape({n, n}), x.dtype());
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = i + 1; j < n; ++j) {
      if (x.dtype() == DType::f64) m.data<double>()[i * n + j] = 1;
      else m.data<float>()[i * n + j] = 1;
    }
  Var mask = g.constant(m);
  Var r2s = where(mask, r2, g.scalar(1.0, x.dtype()));
  Var e;
  if (p.kind == scalar::PairKind::lennard_jones) {
    Var s = (p.rm * p.rm) / (r2s + p.softening);
    Var s3 = s * s * s;
    e = p.eps * (s3 * s3 - 2.0 * s3);
  } else {
    Var u = sqrt(r2s) - p.d0;
    Var u2 = square(u);
    e = p.a * square(u2) + p.b * u2;
  }
  Var energy = p.scale * sum(e * mask, {1, 2});
  if (p.oscillator != 0) {
    Var c = xr - mean(xr, {1}, true);
    energy = energy + (0.5 * p.oscillator) * sum(square(c), {1, 2});
  }
  return energy;
}

Var gmm_energy_primitive(Var x, Var means, double std, double scale) {
  const int64_t d = x.shape()[1], K = means.shape()[0];
  const double var = std * std;
  const double log_norm = std::log(static_cast<double>(K)) + 0.5 * d * std::log(2 * M_PI * var);
  Var diff = reshape(x * scale, {-1, 1, d}) - reshape(means, {1, K, d});
  Var q = sum(square(diff), {2}) * (-0.5 / var);
  return log_norm - logsumexp(q, {1});
}

}  // namespace orbit::systems
