#include "models/systems/system.h"

#include <cmath>
#include <random>

#include "engine/ops.h"
#include "engine/program.h"
#include "models/systems/energy_ops.h"

namespace orbit::systems {

const std::vector<std::string>& system_names() {
  static const std::vector<std::string> names = {"gmm40", "dw4", "lj13", "lj55"};
  return names;
}

std::vector<double> gmm40_means() {
  // torch's CPU rand(): MT19937 seeded with 0, each float from the low 24 bits of one 32-bit draw.
  std::mt19937 gen(0);
  std::vector<double> m(80);
  for (auto& v : m) {
    float u = static_cast<float>(gen() & 0xFFFFFFu) / 16777216.0f;
    v = static_cast<double>((u - 0.5f) * 80.0f);  // float arithmetic, as torch does it
  }
  return m;
}

System system_by_name(const std::string& name, const SystemOptions& opts) {
  System s;
  s.name = name;
  if (name == "gmm40") {
    s.kind = Kind::gmm;
    s.n_particles = 1;
    s.dim = 2;
    s.gmm_means = gmm40_means();
    s.gmm_scale = opts.gmm_normalised ? 50.0 : 1.0;
  } else if (name == "dw4") {
    s.kind = Kind::double_well;
    s.n_particles = 4;
    s.dim = 2;
    s.pair_scale = 1;
    s.oscillator = 0;
  } else if (name == "lj13" || name == "lj55") {
    s.kind = Kind::lennard_jones;
    s.n_particles = name == "lj13" ? 13 : 55;
    s.dim = 3;
    s.pair_scale = opts.unique_pairs ? 1 : 2;
  } else {
    std::string known;
    for (auto& n : system_names()) known += (known.empty() ? "" : ", ") + n;
    throw Error(detail::cat("unknown system '", name, "' (known: ", known, ")"));
  }
  return s;
}

void check_configurations(const System& s, const Tensor& x, const std::string& what) {
  ORBIT_CHECK(x.dtype() == DType::f32 || x.dtype() == DType::f64, what, " holds ", dtype_name(x.dtype()),
              " values; configurations must be f32 or f64");
  const bool ok = (x.rank() == 2 && x.shape()[1] == s.flat_dim()) || (x.rank() == 1 && x.shape()[0] == s.flat_dim());
  ORBIT_CHECK(ok, what, " has shape ", x.shape().str(), "; ", s.name, " configurations are [batch, ", s.flat_dim(),
              "] (", s.n_particles, " particles x ", s.dim, " dimensions, flattened)");
  Tensor h = x.device().is_cpu() ? x : x.to(Device::cpu());
  const int64_t n = h.numel();
  for (int64_t i = 0; i < n; ++i) {
    double v = h.dtype() == DType::f64 ? h.data<double>()[i] : h.data<float>()[i];
    if (!std::isfinite(v))
      throw Error(detail::cat(what, " has a non-finite value (", v, ") in configuration ", i / s.flat_dim(),
                              ", coordinate ", i % s.flat_dim()));
  }
}

namespace {
scalar::PairParams pair_params(const System& s) {
  scalar::PairParams p;
  p.n = s.n_particles;
  p.dim = s.dim;
  p.scale = s.pair_scale;
  if (s.kind == Kind::lennard_jones) {
    p.kind = scalar::PairKind::lennard_jones;
    p.eps = s.lj_epsilon;
    p.rm = s.lj_rm;
    p.softening = s.lj_softening;
    p.oscillator = s.oscillator;
  } else {
    p.kind = scalar::PairKind::double_well;
    p.a = s.dw_a;
    p.b = s.dw_b;
    p.d0 = s.dw_d0;
    p.oscillator = s.oscillator;
  }
  return p;
}
}  // namespace

Var energy_op(const System& s, Var x, EnergyOutput out) {
  if (s.kind == Kind::gmm) {
    Tensor mu = Tensor::from(Shape({s.gmm_components(), s.dim}), s.gmm_means);
    if (x.dtype() != DType::f64) mu = mu.cast(x.dtype());
    return gmm_energy(x, x.graph()->constant(mu, s.name + "/means"), s.gmm_std, s.gmm_scale, out);
  }
  return pair_potential(x, pair_params(s), out);
}

Var energy_primitive(const System& s, Var x) {
  if (s.kind == Kind::gmm) {
    Tensor mu = Tensor::from(Shape({s.gmm_components(), s.dim}), s.gmm_means);
    if (x.dtype() != DType::f64) mu = mu.cast(x.dtype());
    return gmm_energy_primitive(x, x.graph()->constant(mu, s.name + "/means"), s.gmm_std, s.gmm_scale);
  }
  return pair_potential_primitive(x, pair_params(s));
}

Tensor energies(const System& s, const Tensor& x, Device dev, Tensor* grad_out) {
  check_configurations(s, x, "the configurations");
  Tensor x2 = x.rank() == 1 ? x.reshaped(Shape({1, s.flat_dim()})) : x;
  const int64_t batch = x2.shape()[0], flat = s.flat_dim();
  Tensor e = Tensor::empty(Shape({batch}), DType::f64);
  if (grad_out) *grad_out = Tensor::empty(Shape({batch, flat}), DType::f64);
  if (batch == 0) return e;
  Graph g;
  Var xin = g.input("x", x2.shape(), x2.dtype());
  Var both = energy_op(s, xin, EnergyOutput::both);
  Program prog = compile(g, {both}, dev);
  Tensor packed = prog.run({{"x", x2.device() == dev ? x2 : x2.to(dev)}})[0].to(Device::cpu());
  std::vector<double> v = packed.to_vector();
  for (int64_t b = 0; b < batch; ++b) {
    e.data<double>()[b] = v[b * (flat + 1)];
    if (grad_out)
      for (int64_t k = 0; k < flat; ++k) grad_out->data<double>()[b * flat + k] = v[b * (flat + 1) + 1 + k];
  }
  return e;
}

}  // namespace orbit::systems
