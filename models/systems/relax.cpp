#include "models/systems/relax.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/error.h"
#include "engine/orbit.h"
#include "models/systems/energy_ops.h"

namespace orbit::systems {

namespace {

double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double length_scale(const System& s) {
  switch (s.kind) {
    case Kind::lennard_jones: return s.lj_rm;
    case Kind::double_well: return s.dw_d0 / 4;
    default: return 1.0;
  }
}

}  // namespace

Tensor relax_outliers(const System& s, const Tensor& x_in, const RelaxOptions& opt, RelaxReport* report) {
  check_configurations(s, x_in, "the configurations to relax");
  ORBIT_CHECK(opt.mad_factor > 0 && opt.max_displacement >= 0 && opt.max_iters >= 0,
              "relax_outliers: mad_factor > 0, max_displacement >= 0 and max_iters >= 0 are required");
  Tensor x = (x_in.rank() == 1 ? x_in.reshaped(Shape({1, s.flat_dim()})) : x_in).to(Device::cpu()).cast(DType::f64);
  x = x.clone();
  const int64_t batch = x.shape()[0], flat = s.flat_dim(), dim = s.dim, np = s.n_particles;
  RelaxReport rep;
  if (batch == 0) {
    if (report) *report = rep;
    return x;
  }
  std::vector<double> e = energies(s, x, opt.device).to_vector();
  const double med = median_of(e);
  std::vector<double> dev(e.size());
  for (size_t i = 0; i < e.size(); ++i) dev[i] = std::abs(e[i] - med);
  // MAD floored so that a batch of (nearly) equal energies does not call everything an outlier.
  const double mad = std::max(median_of(dev), 1e-3 * std::abs(med) + 1e-6);
  rep.threshold = med + opt.mad_factor * mad;
  rep.target = med;
  std::vector<int64_t> rows;
  for (int64_t b = 0; b < batch; ++b)
    if (e[b] > rep.threshold) rows.push_back(b);
  rep.outliers = static_cast<int64_t>(rows.size());
  if (rows.empty()) {
    if (report) *report = rep;
    return x;
  }

  // The outlier rows, one program for their energies and gradients (compiled once).
  const int64_t m = rep.outliers;
  std::vector<double> xo(static_cast<size_t>(m * flat));
  for (int64_t r = 0; r < m; ++r)
    std::copy_n(x.data<double>() + rows[r] * flat, flat, xo.begin() + r * flat);
  Graph g;
  Var xin = g.input("x", Shape({m, flat}), DType::f64);
  Program prog = compile(g, {energy_op(s, xin, EnergyOutput::both)}, opt.device);
  auto eval = [&](const std::vector<double>& at, std::vector<double>& energy, std::vector<double>* grad) {
    Tensor t = Tensor::from(Shape({m, flat}), at);
    std::vector<double> v = prog.run({{"x", opt.device.is_cpu() ? t : t.to(opt.device)}})[0].to(Device::cpu()).to_vector();
    energy.resize(static_cast<size_t>(m));
    if (grad) grad->resize(static_cast<size_t>(m * flat));
    for (int64_t r = 0; r < m; ++r) {
      energy[r] = v[r * (flat + 1)];
      if (grad) std::copy_n(v.begin() + r * (flat + 1) + 1, flat, grad->begin() + r * flat);
    }
  };

  const double cap0 = opt.max_displacement > 0 ? opt.max_displacement : 0.05 * length_scale(s);
  std::vector<double> cap(static_cast<size_t>(m), cap0), energy, grad, trial_e;
  std::vector<char> done(static_cast<size_t>(m), 0);
  eval(xo, energy, &grad);
  std::vector<double> trial = xo;
  for (int64_t it = 0; it < opt.max_iters; ++it) {
    bool any = false;
    for (int64_t r = 0; r < m; ++r) {
      if (!done[r] && (energy[r] <= rep.target || cap[r] < 1e-12 * cap0)) done[r] = 1;
      if (done[r]) {
        std::copy_n(xo.begin() + r * flat, flat, trial.begin() + r * flat);
        continue;
      }
      any = true;
      // Steepest descent, each particle's move capped at cap[r] (its direction kept).
      for (int64_t p = 0; p < np; ++p) {
        double norm = 0;
        for (int64_t d = 0; d < dim; ++d) norm += grad[r * flat + p * dim + d] * grad[r * flat + p * dim + d];
        norm = std::sqrt(norm);
        const double scale = norm > 0 ? std::min(1.0, cap[r] / norm) : 0.0;
        for (int64_t d = 0; d < dim; ++d)
          trial[r * flat + p * dim + d] = xo[r * flat + p * dim + d] - scale * grad[r * flat + p * dim + d];
      }
      if (s.is_molecule())  // stay in the zero-centre-of-mass subspace
        for (int64_t d = 0; d < dim; ++d) {
          double c = 0;
          for (int64_t p = 0; p < np; ++p) c += trial[r * flat + p * dim + d];
          c /= static_cast<double>(np);
          for (int64_t p = 0; p < np; ++p) trial[r * flat + p * dim + d] -= c;
        }
    }
    if (!any) break;
    rep.iterations = it + 1;
    std::vector<double> trial_grad;
    eval(trial, trial_e, &trial_grad);
    for (int64_t r = 0; r < m; ++r) {
      if (done[r]) continue;
      if (std::isfinite(trial_e[r]) && trial_e[r] < energy[r]) {  // accept; let the cap grow back
        std::copy_n(trial.begin() + r * flat, flat, xo.begin() + r * flat);
        std::copy_n(trial_grad.begin() + r * flat, flat, grad.begin() + r * flat);
        energy[r] = trial_e[r];
        cap[r] = std::min(cap0, cap[r] * 1.2);
      } else {
        cap[r] *= 0.5;
      }
    }
  }
  for (int64_t r = 0; r < m; ++r) {
    if (energy[r] <= rep.target) ++rep.relaxed;
    std::copy_n(xo.begin() + r * flat, flat, x.data<double>() + rows[r] * flat);
  }
  if (report) *report = rep;
  return x;
}

}  // namespace orbit::systems
