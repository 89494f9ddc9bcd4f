// Harness cases of the Boltzmann-energy custom ops (models/systems/energy_ops.h), with naive f64
// references written here from the textbook formulas (distances and unit vectors, no shared code).
// Particles sit on a lattice plus a perturbation driven by the harness input, so that finite
// differences probe the potentials away from their singularities.
#include <algorithm>
#include <cmath>

#include "engine/ops.h"
#include "kernels/scalar/random.h"
#include "models/diffusion/dem_target.h"
#include "models/systems/energy_ops.h"
#include "tests/harness/op_harness.h"

namespace orbit::testing {

namespace {

using systems::EnergyOutput;

std::vector<double> lattice(int n, int dim, double spacing) {
  std::vector<double> p(n * dim);
  for (int i = 0; i < n; ++i)
    for (int k = 0; k < dim; ++k) {
      int coord = k == 0 ? i % 2 : k == 1 ? (i / 2) % 2 : i / 4;
      p[i * dim + k] = spacing * coord + 0.05 * k * i;  // small shear: no exactly equal distances
    }
  return p;
}

// x_eff = lattice + amp * x for x [B, n*dim]
Var place(Graph& g, Var x, const std::vector<double>& lat, double amp) {
  Tensor t = Tensor::from(Shape({1, static_cast<int64_t>(lat.size())}), lat);
  if (x.dtype() != DType::f64) t = t.cast(x.dtype());
  return g.constant(t) + amp * x;
}

// Energy and gradient of one configuration (reference).
struct EG {
  double e = 0;
  std::vector<double> g;
};

EG pair_reference(const scalar::PairParams& p, const std::vector<double>& x) {
  const int n = p.n, d = p.dim;
  EG out;
  out.g.assign(n * d, 0.0);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) {
      if (i == j) continue;
      double r2 = 0;
      for (int k = 0; k < d; ++k) r2 += std::pow(x[i * d + k] - x[j * d + k], 2);
      double e, de_dr;  // as a function of the (softened) distance r
      double r = p.kind == scalar::PairKind::lennard_jones ? std::sqrt(r2 + p.softening) : std::sqrt(r2);
      if (p.kind == scalar::PairKind::lennard_jones) {
        e = p.eps * (std::pow(p.rm / r, 12) - 2 * std::pow(p.rm / r, 6));
        de_dr = p.eps * (-12 * std::pow(p.rm, 12) / std::pow(r, 13) + 12 * std::pow(p.rm, 6) / std::pow(r, 7));
      } else {
        e = p.a * std::pow(r - p.d0, 4) + p.b * std::pow(r - p.d0, 2);
        de_dr = 4 * p.a * std::pow(r - p.d0, 3) + 2 * p.b * (r - p.d0);
      }
      // Ordered pairs (i, j): each unordered pair twice, hence the factor 1/2 on the energy.
      out.e += 0.5 * p.scale * e;
      for (int k = 0; k < d; ++k) out.g[i * d + k] += p.scale * de_dr * (x[i * d + k] - x[j * d + k]) / r;
    }
  if (p.oscillator != 0)
    for (int k = 0; k < d; ++k) {
      double m = 0;
      for (int i = 0; i < n; ++i) m += x[i * d + k] / n;
      for (int i = 0; i < n; ++i) {
        out.e += 0.5 * p.oscillator * std::pow(x[i * d + k] - m, 2);
        out.g[i * d + k] += p.oscillator * (x[i * d + k] - m);
      }
    }
  return out;
}

EG gmm_reference(const std::vector<double>& mu, int K, double std, double scale, const std::vector<double>& x) {
  // p(x) = sum_c N(scale x; mu_c, var I) / K, summed relative to the largest term so that points far
  // from every mean (the DEM target's noisy copies) do not underflow.
  const int d = static_cast<int>(x.size());
  const double var = std * std, log_norm = -0.5 * d * std::log(2 * M_PI * var) - std::log(K);
  std::vector<double> l(K);
  for (int c = 0; c < K; ++c) {
    double s = 0;
    for (int k = 0; k < d; ++k) s += std::pow(scale * x[k] - mu[c * d + k], 2);
    l[c] = log_norm - 0.5 * s / var;
  }
  const double lmax = *std::max_element(l.begin(), l.end());
  double p = 0;  // p(x) / e^lmax
  std::vector<double> dp(d, 0.0);
  for (int c = 0; c < K; ++c) {
    const double pc = std::exp(l[c] - lmax);
    p += pc;
    for (int k = 0; k < d; ++k) dp[k] += pc * (-(scale * x[k] - mu[c * d + k]) / var) * scale;
  }
  EG r;
  r.e = -(lmax + std::log(p));
  r.g.resize(d);
  for (int k = 0; k < d; ++k) r.g[k] = -dp[k] / p;
  return r;
}

// Packs per-configuration references into the op's output layout.
Nd pack(const std::vector<EG>& rs, EnergyOutput out, int64_t flat) {
  const int64_t B = static_cast<int64_t>(rs.size());
  if (out == EnergyOutput::energy) {
    Nd o({B});
    for (int64_t b = 0; b < B; ++b) o.v[b] = rs[b].e;
    return o;
  }
  const int64_t w = out == EnergyOutput::grad ? flat : flat + 1;
  Nd o({B, w});
  for (int64_t b = 0; b < B; ++b) {
    int64_t off = 0;
    if (out == EnergyOutput::both) o.v[b * w + off++] = rs[b].e;
    for (int64_t k = 0; k < flat; ++k) o.v[b * w + off + k] = rs[b].g[k];
  }
  return o;
}

const char* out_name(EnergyOutput o) {
  return o == EnergyOutput::energy ? "energy" : o == EnergyOutput::grad ? "grad" : "both";
}

}  // namespace

void add_system_cases(std::vector<OpCase>& cs) {
  systems::register_energy_ops();
  auto pair_case = [&](const std::string& label, scalar::PairParams p, int64_t batch, double spacing, double amp,
                       EnergyOutput out, bool grad = true, bool f32 = true) {
    OpCase c;
    c.op = "pair_potential";
    c.label = label + " " + out_name(out);
    InputSpec s;
    s.shape = {batch, static_cast<int64_t>(p.n) * p.dim};
    c.inputs = {s};
    auto lat = lattice(p.n, p.dim, spacing);
    c.build = [p, lat, amp, out](Graph& g, const std::vector<Var>& in) {
      return systems::pair_potential(place(g, in[0], lat, amp), p, out);
    };
    c.ref = [p, lat, amp, out](const std::vector<Nd>& x) {
      const int64_t flat = p.n * p.dim;
      std::vector<EG> rs;
      for (int64_t b = 0; b < x[0].shape[0]; ++b) {
        std::vector<double> xb(flat);
        for (int64_t k = 0; k < flat; ++k) xb[k] = lat[k] + amp * x[0].v[b * flat + k];
        rs.push_back(pair_reference(p, xb));  // the op's gradient output is dE/dx_eff
      }
      return pack(rs, out, flat);
    };
    c.grad = grad;
    c.f32 = f32;
    cs.push_back(c);
  };
  scalar::PairParams lj;
  lj.kind = scalar::PairKind::lennard_jones;
  lj.n = 4;
  lj.dim = 3;
  lj.scale = 2;
  lj.oscillator = 1;
  lj.softening = 1e-6;
  for (auto o : {EnergyOutput::energy, EnergyOutput::grad, EnergyOutput::both})
    pair_case("pair_potential lj ordered+osc", lj, 3, 1.1, 0.1, o);
  scalar::PairParams lj2 = lj;
  lj2.n = 3;
  lj2.dim = 2;
  lj2.scale = 1;
  lj2.oscillator = 0;
  lj2.softening = 0;
  lj2.eps = 1.3;
  lj2.rm = 0.9;
  pair_case("pair_potential lj unique 2d", lj2, 2, 1.0, 0.1, EnergyOutput::energy);
  scalar::PairParams dw;
  dw.kind = scalar::PairKind::double_well;
  dw.n = 4;
  dw.dim = 2;
  dw.scale = 1;
  dw.a = 0.9;
  dw.b = -4;
  dw.d0 = 4;
  for (auto o : {EnergyOutput::energy, EnergyOutput::grad, EnergyOutput::both})
    pair_case("pair_potential dw4", dw, 3, 4.0, 0.5, o);
  scalar::PairParams lj13 = lj;
  lj13.n = 13;
  // f64 only: in f32 the lattice + perturbation sum itself rounds positions by ~1e-7, which the stiff
  // 13-particle forces amplify past single precision (the small cases above check f32).
  pair_case("pair_potential lj13 batch 70", lj13, 70, 1.1, 0.1, EnergyOutput::both, false, false);
  // More particles than a warp has lanes: on the GPU each lane owns two particles.
  scalar::PairParams lj55 = lj;
  lj55.n = 55;
  pair_case("pair_potential lj55 batch 5", lj55, 5, 1.1, 0.1, EnergyOutput::both, false, false);

  auto gmm_case = [&](EnergyOutput out, int64_t batch, bool grad) {
    const int K = 5, d = 2;
    const double std = 0.8, scale = 1.7;
    std::vector<double> mu = {-2, 1.5, 0.5, -1, 1.8, 1.2, -0.7, -1.9, 0.1, 0.3};
    OpCase c;
    c.op = "gmm_energy";
    c.label = std::string("gmm_energy ") + out_name(out) + (batch > 20 ? " large" : "");
    InputSpec s;
    s.shape = {batch, d};
    c.inputs = {s};
    c.build = [=](Graph& g, const std::vector<Var>& in) {
      Tensor m = Tensor::from(Shape({K, d}), mu);
      if (in[0].dtype() != DType::f64) m = m.cast(in[0].dtype());
      return systems::gmm_energy(in[0], g.constant(m), std, scale, out);
    };
    c.ref = [=](const std::vector<Nd>& x) {
      std::vector<EG> rs;
      for (int64_t b = 0; b < x[0].shape[0]; ++b)
        rs.push_back(gmm_reference(mu, K, std, scale, {x[0].v[b * d], x[0].v[b * d + 1]}));
      return pack(rs, out, d);
    };
    c.grad = grad;
    cs.push_back(c);
  };
  for (auto o : {EnergyOutput::energy, EnergyOutput::grad, EnergyOutput::both}) gmm_case(o, 4, true);
  gmm_case(EnergyOutput::both, 200, false);

  // The DEM Monte-Carlo score target: the reference redraws the same Philox noise (the first run of a
  // program has run index 0; the op is the graph's first target node, stream 0) and forms the
  // self-normalised weighted mean of -grad E with the naive energies above, then clips per particle.
  {
    const int64_t K = 16;
    const double max_norm = 3.0;
    // sigma_hi: the largest noise level; LJ at sigma 2 draws overlapping particles whose energies and
    // forces overflow f32 (the kernels compute in f64 whatever the dtype, so copies are not dropped).
    auto dem_case = [&](const std::string& name, uint64_t seed, double sigma_lo, double sigma_hi) {
      systems::System sys = systems::system_by_name(name);
      scalar::PairParams p;
      p.n = sys.n_particles;
      p.dim = sys.dim;
      p.scale = sys.pair_scale;
      p.oscillator = sys.oscillator;
      const bool lj = sys.kind == systems::Kind::lennard_jones;
      p.kind = lj ? scalar::PairKind::lennard_jones : scalar::PairKind::double_well;
      p.softening = sys.lj_softening;
      p.a = sys.dw_a;
      p.b = sys.dw_b;
      p.d0 = sys.dw_d0;
      const double spacing = lj ? 1.1 : 4.0, amp = lj ? 0.05 : 0.5;
      auto lat = lattice(p.n, p.dim, spacing);
      OpCase c;
      c.op = "dem_score_target";
      c.label = "dem_score_target " + name + (sigma_hi > 1 ? " overlapping" : "");
      InputSpec xs, ss;
      xs.shape = {3, static_cast<int64_t>(p.n) * p.dim};
      ss.shape = {3, 1};
      ss.lo = sigma_lo;
      ss.hi = sigma_hi;
      c.inputs = {xs, ss};
      c.build = [sys, lat, amp, K, seed, max_norm](Graph& g, const std::vector<Var>& in) {
        return diffusion::dem_score_target(sys, place(g, in[0], lat, amp), in[1], K, seed, max_norm);
      };
      c.ref = [p, lat, amp, K, seed, max_norm](const std::vector<Nd>& x) {
        const int64_t D = p.n * p.dim, B = x[0].shape[0];
        Nd out({B, D});
        for (int64_t b = 0; b < B; ++b) {
          std::vector<double> e(K), y(D);
          std::vector<std::vector<double>> f(K);
          double emin = INFINITY;
          for (int64_t k = 0; k < K; ++k) {
            for (int64_t j = 0; j < D; ++j)
              y[j] = lat[j] + amp * x[0].v[b * D + j] +
                     x[1].v[b] * scalar::random_normal<double>(seed, 0, 0, (b * K + k) * D + j);
            EG r = pair_reference(p, y);
            e[k] = r.e;
            f[k] = r.g;
            emin = std::min(emin, r.e);
          }
          double z = 0;
          for (int64_t k = 0; k < K; ++k) z += std::exp(-(e[k] - emin));
          for (int64_t j = 0; j < D; ++j) {
            double v = 0;
            for (int64_t k = 0; k < K; ++k) v -= std::exp(-(e[k] - emin)) / z * f[k][j];
            out.v[b * D + j] = v;
          }
          for (int64_t i = 0; i < p.n; ++i) {
            double n2 = 0;
            for (int k = 0; k < p.dim; ++k) n2 += std::pow(out.v[b * D + i * p.dim + k], 2);
            const double s = std::min(1.0, max_norm / (std::sqrt(n2) + 1e-6));
            for (int k = 0; k < p.dim; ++k) out.v[b * D + i * p.dim + k] *= s;
          }
        }
        return out;
      };
      c.grad = false;
      cs.push_back(c);
    };
    dem_case("dw4", 5, 0.1, 0.8);
    dem_case("lj13", 6, 0.01, 0.05);
    dem_case("lj13", 7, 1.0, 2.0);

    // GMM-40 in iDEM's normalised coordinates, clipped as one vector (max norm 70 as iDEM; 3 here so
    // that the clip acts): points spread over the means' square, noise from a tenth of a mode to the
    // whole square (the far components' weights underflow).
    systems::SystemOptions opts;
    opts.gmm_normalised = true;
    const systems::System gmm = systems::system_by_name("gmm40", opts);
    const uint64_t seed = 8;
    OpCase c;
    c.op = "dem_score_target";
    c.label = "dem_score_target gmm40";
    InputSpec xs, ss;
    xs.shape = {5, 2};
    xs.lo = -0.8;
    xs.hi = 0.8;
    ss.shape = {5, 1};
    ss.lo = 0.002;
    ss.hi = 0.8;
    c.inputs = {xs, ss};
    c.build = [gmm, K, seed, max_norm](Graph& g, const std::vector<Var>& in) {
      return diffusion::dem_score_target(gmm, in[0], in[1], K, seed, max_norm);
    };
    c.ref = [gmm, K, seed, max_norm](const std::vector<Nd>& x) {
      const int64_t B = x[0].shape[0];
      Nd out({B, 2});
      for (int64_t b = 0; b < B; ++b) {
        std::vector<EG> r;
        for (int64_t k = 0; k < K; ++k) {
          std::vector<double> y(2);
          for (int64_t j = 0; j < 2; ++j)
            y[j] = x[0].v[b * 2 + j] + x[1].v[b] * scalar::random_normal<double>(seed, 0, 0, (b * K + k) * 2 + j);
          r.push_back(gmm_reference(gmm.gmm_means, gmm.gmm_components(), gmm.gmm_std, gmm.gmm_scale, y));
        }
        double emin = INFINITY, z = 0, v[2] = {0, 0};
        for (auto& e : r) emin = std::min(emin, e.e);
        for (auto& e : r) z += std::exp(emin - e.e);
        for (auto& e : r)
          for (int j = 0; j < 2; ++j) v[j] -= std::exp(emin - e.e) / z * e.g[j];
        const double s = std::min(1.0, max_norm / (std::hypot(v[0], v[1]) + 1e-6));
        for (int j = 0; j < 2; ++j) out.v[b * 2 + j] = s * v[j];
      }
      return out;
    };
    c.grad = false;
    cs.push_back(c);
  }
}

}  // namespace orbit::testing
