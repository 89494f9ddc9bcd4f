#include "models/systems/mcmc.h"

#include <chrono>
#include <cmath>
#include <algorithm>
#include <numeric>
#include <random>

#include "engine/ops.h"
#include "engine/program.h"
#include "engine/util/progress.h"

namespace orbit::systems {

McmcMethod parse_mcmc_method(const std::string& s) {
  if (s == "mala") return McmcMethod::mala;
  if (s == "hmc") return McmcMethod::hmc;
  if (s == "rwm") return McmcMethod::rwm;
  throw Error("unknown MCMC method '" + s + "' (known: mala, hmc, rwm)");
}

const char* mcmc_method_name(McmcMethod m) {
  return m == McmcMethod::mala ? "mala" : m == McmcMethod::hmc ? "hmc" : "rwm";
}

double gelman_rubin(const std::vector<std::vector<double>>& traces) {
  const size_t m = traces.size();
  ORBIT_CHECK(m >= 2, "R-hat needs at least 2 sequences, got ", m);
  const size_t n = traces[0].size();
  ORBIT_CHECK(n >= 2, "R-hat needs sequences of length >= 2, got ", n);
  std::vector<double> means(m);
  double W = 0;
  for (size_t j = 0; j < m; ++j) {
    ORBIT_CHECK(traces[j].size() == n, "R-hat: sequences of unequal length");
    means[j] = std::accumulate(traces[j].begin(), traces[j].end(), 0.0) / n;
    double s2 = 0;
    for (double v : traces[j]) s2 += (v - means[j]) * (v - means[j]);
    W += s2 / (n - 1) / m;
  }
  const double grand = std::accumulate(means.begin(), means.end(), 0.0) / m;
  double B = 0;
  for (double mu : means) B += (mu - grand) * (mu - grand);
  B *= static_cast<double>(n) / (m - 1);
  if (W <= 0) return B <= 0 ? 1.0 : INFINITY;
  return std::sqrt(((n - 1.0) / n * W + B / n) / W);
}

void apply_random_symmetry(const System& s, Tensor& x, uint64_t seed) {
  ORBIT_CHECK(s.is_molecule(), "random symmetries apply to particle systems, not ", s.name);
  ORBIT_CHECK(x.dtype() == DType::f64 && x.rank() == 2 && x.shape()[1] == s.flat_dim() && x.device().is_cpu(),
              "apply_random_symmetry: expects a [B, ", s.flat_dim(), "] f64 CPU tensor, got ", x.shape().str());
  std::mt19937_64 rng(seed ^ 0x5851f42d4c957f2dull);
  std::normal_distribution<double> n01;
  const int n = s.n_particles, d = s.dim;
  std::vector<double> q(d * d), tmp(n * d);
  std::vector<int> perm(n);
  for (int64_t b = 0; b < x.shape()[0]; ++b) {
    // Haar orthogonal: Gram-Schmidt of a Gaussian matrix (rows); the sign of the determinant is
    // itself uniform, so reflections come with probability 1/2.
    for (auto& v : q) v = n01(rng);
    for (int i = 0; i < d; ++i) {
      for (int j = 0; j < i; ++j) {
        double dot = 0;
        for (int k = 0; k < d; ++k) dot += q[i * d + k] * q[j * d + k];
        for (int k = 0; k < d; ++k) q[i * d + k] -= dot * q[j * d + k];
      }
      double nrm = 0;
      for (int k = 0; k < d; ++k) nrm += q[i * d + k] * q[i * d + k];
      nrm = std::sqrt(nrm);
      for (int k = 0; k < d; ++k) q[i * d + k] /= nrm;
    }
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), rng);
    double* xb = x.data<double>() + b * n * d;
    for (int i = 0; i < n; ++i)
      for (int r = 0; r < d; ++r) {
        double v = 0;
        for (int c = 0; c < d; ++c) v += q[r * d + c] * xb[perm[i] * d + c];
        tmp[i * d + r] = v;
      }
    std::copy(tmp.begin(), tmp.end(), xb);
  }
}

Tensor initial_configurations(const System& s, int64_t chains, uint64_t seed) {
  std::mt19937_64 rng(seed ^ 0x9e3779b97f4a7c15ull);
  std::normal_distribution<double> n01;
  const int n = s.n_particles, d = s.dim, D = s.flat_dim();
  Tensor x = Tensor::empty(Shape({chains, D}), DType::f64);
  double* p = x.data<double>();
  for (int64_t c = 0; c < chains; ++c) {
    double* xc = p + c * D;
    if (s.kind == Kind::gmm) {
      std::uniform_real_distribution<double> u(-40, 40);
      for (int k = 0; k < D; ++k) xc[k] = u(rng) / s.gmm_scale;
      continue;
    }
    const double spacing = s.kind == Kind::double_well ? 4.0 : 1.1, noise = 0.05 * spacing;
    const int side = static_cast<int>(std::ceil(std::pow(static_cast<double>(n), 1.0 / d) - 1e-9));
    for (int i = 0; i < n; ++i) {
      int rest = i;
      for (int k = 0; k < d; ++k) {
        xc[i * d + k] = spacing * (rest % side) + noise * n01(rng);
        rest /= side;
      }
    }
    for (int k = 0; k < d; ++k) {
      double m = 0;
      for (int i = 0; i < n; ++i) m += xc[i * d + k] / n;
      for (int i = 0; i < n; ++i) xc[i * d + k] -= m;
    }
  }
  if (s.is_molecule()) apply_random_symmetry(s, x, seed + 1);
  return x;
}

namespace {

double default_step(const System& s, McmcMethod m) {
  // Starting points only: adaptation takes over during burn-in.
  double rwm = s.kind == Kind::gmm ? 1.0 / s.gmm_scale : s.kind == Kind::double_well ? 0.3 : s.n_particles > 20 ? 0.01 : 0.03;
  if (m == McmcMethod::rwm) return rwm;
  if (m == McmcMethod::hmc) return 0.5 * rwm;
  return 0.5 * rwm * rwm;  // MALA's h plays the role of a variance: sqrt(2h) is the noise scale
}

double default_target(McmcMethod m) { return m == McmcMethod::mala ? 0.574 : m == McmcMethod::hmc ? 0.65 : 0.3; }

// The unrolled block of MCMC steps as one graph.
struct BlockGraph {
  Graph g;
  std::vector<Var> outputs;  // x, e, grad (gradient methods), accepted count
};

class Builder {
 public:
  Builder(const System& s, const McmcConfig& c, int64_t chains) : s_(s), c_(c), C_(chains), D_(s.flat_dim()) {}

  std::unique_ptr<BlockGraph> build(int64_t steps) {
    auto b = std::make_unique<BlockGraph>();
    Graph& g = b->g;
    g_ = &g;
    DType dt = c_.dtype;
    Var x = g.input("x", Shape({C_, D_}), dt);
    Var e = g.input("e", Shape({C_, 1}), dt);
    Var gr = needs_grad() ? g.input("g", Shape({C_, D_}), dt) : Var();
    Var h = g.input("h", Shape({C_, 1}), dt);
    Var acc = full(g, 0.0, Shape({C_, 1}), dt);
    for (int64_t k = 0; k < steps; ++k) {
      Var accept;
      if (c_.method == McmcMethod::mala) accept = mala(x, e, gr, h);
      else if (c_.method == McmcMethod::hmc) accept = hmc(x, e, gr, h);
      else accept = rwm(x, e, h);
      acc = acc + accept;
    }
    x = center(x);  // rounding drift off the subspace, once per block
    b->outputs = {x, e};
    if (needs_grad()) b->outputs.push_back(gr);
    b->outputs.push_back(acc);
    return b;
  }

 private:
  bool needs_grad() const { return c_.method != McmcMethod::rwm; }
  Var center(Var v) {
    if (!s_.is_molecule()) return v;
    Var r = reshape(v, {-1, s_.n_particles, s_.dim});
    return reshape(r - mean(r, {1}, true), {-1, D_});
  }
  Var noise() { return center(random_normal(*g_, Shape({C_, D_}), c_.seed, c_.dtype)); }
  Var uniform() { return random_uniform(*g_, Shape({C_, 1}), c_.seed, c_.dtype); }
  static Var sqnorm(Var v) { return sum(square(v), {1}, true); }
  void eval(Var y, Var& e, Var& gr) {
    if (!needs_grad()) {
      e = reshape(energy_op(s_, y, EnergyOutput::energy), {-1, 1});
      return;
    }
    Var both = energy_op(s_, y, EnergyOutput::both);
    e = slice(both, 1, 0, 1);
    gr = slice(both, 1, 1, D_ + 1);
  }
  // Keeps the proposal where accepted: u < alpha, i.e. log u < log alpha (a NaN alpha rejects).
  Var accept_where(Var log_alpha, Var& x, Var& e, Var& gr, Var y, Var ey, Var gy) {
    Var a = lt(log(uniform()), log_alpha);
    x = where(a, y, x);
    e = where(a, ey, e);
    if (gr.valid()) gr = where(a, gy, gr);
    return a;
  }
  Var mala(Var& x, Var& e, Var& gr, Var h) {
    const double beta = c_.beta;
    Var y = x - (h * beta) * gr + sqrt(h * 2.0) * noise();
    Var ey, gy;
    eval(y, ey, gy);
    Var fwd = y - x + (h * beta) * gr, bwd = x - y + (h * beta) * gy;
    Var log_alpha = -beta * (ey - e) + (sqnorm(fwd) - sqnorm(bwd)) / (h * 4.0);
    return accept_where(log_alpha, x, e, gr, y, ey, gy);
  }
  Var hmc(Var& x, Var& e, Var& gr, Var eps0) {
    const double beta = c_.beta;
    // The step is jittered by +-20% per chain and proposal: a fixed (step x path length) can resonate
    // with a mode's period (near-periodic or unstable trajectories) and stall both mixing and adaptation.
    Var eps = eps0 * (0.8 + 0.4 * uniform());
    Var p = noise();
    Var h0 = beta * e + 0.5 * sqnorm(p);
    Var y = x, ey = e, gy = gr;
    p = p - (eps * (0.5 * beta)) * gy;
    for (int l = 1; l <= c_.leapfrog; ++l) {
      y = y + eps * p;
      eval(y, ey, gy);
      p = p - (eps * (l < c_.leapfrog ? beta : 0.5 * beta)) * gy;
    }
    Var h1 = beta * ey + 0.5 * sqnorm(p);
    return accept_where(h0 - h1, x, e, gr, y, ey, gy);
  }
  Var rwm(Var& x, Var& e, Var sigma) {
    Var y = x + sigma * noise();
    Var ey, unused;
    eval(y, ey, unused);
    Var none;
    return accept_where(-c_.beta * (ey - e), x, e, none, y, ey, Var());
  }

  const System& s_;
  const McmcConfig& c_;
  int64_t C_, D_;
  Graph* g_ = nullptr;
};

int64_t gcd64(int64_t a, int64_t b) { return b == 0 ? a : gcd64(b, a % b); }

}  // namespace

McmcResult run_mcmc(const System& s, const McmcConfig& cfg_in, const Tensor* init) {
  McmcConfig cfg = cfg_in;
  ORBIT_CHECK(cfg.chains >= 2, "MCMC needs at least 2 chains, got ", cfg.chains);
  ORBIT_CHECK(cfg.groups >= 2 && cfg.groups <= cfg.chains && cfg.chains % cfg.groups == 0,
              "--groups must be >= 2 and divide --chains (", cfg.chains, "), got ", cfg.groups);
  ORBIT_CHECK(cfg.burn_in >= 0 && cfg.steps >= 1, "burn-in must be >= 0 and steps >= 1");
  ORBIT_CHECK(cfg.thin >= 1 && cfg.block >= 1, "thin and block must be >= 1");
  ORBIT_CHECK(cfg.leapfrog >= 1 && cfg.leapfrog <= 100, "leapfrog steps must be in 1..100, got ", cfg.leapfrog);
  ORBIT_CHECK(cfg.beta > 0 && std::isfinite(cfg.beta), "beta must be > 0, got ", cfg.beta);
  ORBIT_CHECK(cfg.step >= 0 && std::isfinite(cfg.step), "step size must be >= 0, got ", cfg.step);
  ORBIT_CHECK(cfg.dtype == DType::f32 || cfg.dtype == DType::f64, "MCMC runs in f32 or f64");
  cfg.block = gcd64(cfg.block, cfg.thin);  // samples are taken at block boundaries
  if (cfg.target_accept <= 0) cfg.target_accept = default_target(cfg.method);
  ORBIT_CHECK(cfg.target_accept < 1, "target acceptance must be in (0, 1), got ", cfg.target_accept);
  const int64_t C = cfg.chains, D = s.flat_dim(), G = cfg.groups, per_group = C / G;

  Tensor x0 = init ? *init : initial_configurations(s, C, cfg.seed);
  check_configurations(s, x0, "the initial configurations");
  ORBIT_CHECK(x0.rank() == 2 && x0.shape()[0] == C, "the initial configurations must be [", C, ", ", D, "], got ",
              x0.shape().str());
  auto t0 = std::chrono::steady_clock::now();
  Device dev = cfg.device;
  Tensor x = x0.cast(cfg.dtype).to(dev);

  // Initial energies and gradients.
  Tensor e, gr;
  {
    Graph g;
    Var xin = g.input("x", Shape({C, D}), cfg.dtype);
    Var both = energy_op(s, xin, EnergyOutput::both);
    Program p = compile(g, {slice(both, 1, 0, 1), slice(both, 1, 1, D + 1)}, dev);
    auto out = p.run({{"x", x}});
    e = out[0];
    gr = out[1];
  }
  const double step0 = cfg.step > 0 ? cfg.step : default_step(s, cfg.method);
  std::vector<double> step(G, step0);
  auto h_tensor = [&] {
    Tensor h = Tensor::empty(Shape({C, 1}), DType::f64);
    for (int64_t c = 0; c < C; ++c) h.data<double>()[c] = step[c / per_group];
    return h.cast(cfg.dtype).to(dev);
  };

  Builder builder(s, cfg, C);
  auto block = builder.build(cfg.block);
  Program prog = compile(block->g, block->outputs, dev);
  prog.set_run_index(cfg.seed * 1000003ull);  // distinct seeds draw distinct noise even for equal graphs
  const bool grad_method = cfg.method != McmcMethod::rwm;

  const int64_t burn_blocks = (cfg.burn_in + cfg.block - 1) / cfg.block;
  const int64_t run_blocks = (cfg.steps + cfg.block - 1) / cfg.block;
  const int64_t thin_blocks = cfg.thin / cfg.block;
  const int64_t total = burn_blocks + run_blocks;
  McmcResult r;
  r.burn_in_blocks = burn_blocks;
  std::vector<double> trace;  // [blocks, chains]
  trace.reserve(static_cast<size_t>(total * C));
  std::vector<double> samples;
  std::vector<double> accepted(G, 0.0);
  util::Progress::Options popt;
  popt.quiet = cfg.quiet;
  util::Progress bar(total, std::string("mcmc ") + s.name, popt);
  Tensor h = h_tensor();
  for (int64_t blk = 0; blk < total; ++blk) {
    const bool burning = blk < burn_blocks;
    Feeds feeds = {{"x", x}, {"e", e}, {"h", h}};
    if (grad_method) feeds.push_back({"g", gr});
    auto out = prog.run(feeds);
    x = out[0];
    e = out[1];
    if (grad_method) gr = out[2];
    std::vector<double> acc = out.back().to_vector(), ev = e.to_vector();
    trace.insert(trace.end(), ev.begin(), ev.end());
    std::vector<double> rate(G, 0.0);
    for (int64_t c = 0; c < C; ++c) rate[c / per_group] += acc[c] / (cfg.block * per_group);
    if (burning && cfg.adapt) {
      // Robbins-Monro on log(step) towards the target acceptance, with a decaying gain.
      const double gain = 1.5 / std::sqrt(1.0 + blk / 5.0);
      for (int64_t j = 0; j < G; ++j)
        step[j] *= std::exp(std::clamp(gain * (rate[j] - cfg.target_accept), -0.7, 0.7));
      h = h_tensor();
    }
    if (!burning) {
      for (int64_t j = 0; j < G; ++j) accepted[j] += rate[j] / run_blocks;
      if ((blk - burn_blocks + 1) % thin_blocks == 0) {
        std::vector<double> xv = x.to_vector();
        samples.insert(samples.end(), xv.begin(), xv.end());
      }
    }
    double mean_rate = std::accumulate(rate.begin(), rate.end(), 0.0) / G;
    double mean_e = std::accumulate(ev.begin(), ev.end(), 0.0) / C;
    bar.update(blk + 1, {{"accept", mean_rate}, {"E", mean_e}});
  }
  bar.finish();

  r.energy_trace = Tensor::from(Shape({total, C}), trace);
  const int64_t kept = static_cast<int64_t>(samples.size()) / D;
  r.samples = Tensor::from(Shape({kept, D}), samples);
  if (cfg.symmetrize && s.is_molecule()) apply_random_symmetry(s, r.samples, cfg.seed + 2);
  r.step_size = step;
  r.acceptance = accepted;
  // Diagnostics over the post-burn-in part of the traces.
  if (run_blocks >= 2) {
    std::vector<std::vector<double>> groups(G, std::vector<double>(run_blocks, 0.0)), chains(C);
    for (int64_t b = 0; b < run_blocks; ++b)
      for (int64_t c = 0; c < C; ++c) {
        double v = trace[(burn_blocks + b) * C + c];
        groups[c / per_group][b] += v / per_group;
        chains[c].push_back(v);
      }
    r.rhat_groups = gelman_rubin(groups);
    r.rhat_chains = gelman_rubin(chains);
  }
  if (kept > 0) {
    Tensor ek = energies(s, r.samples, Device::cpu());
    std::vector<double> ev = ek.to_vector();
    double m = std::accumulate(ev.begin(), ev.end(), 0.0) / kept, v = 0;
    for (double u : ev) v += (u - m) * (u - m);
    r.mean_energy = m;
    r.std_energy = kept > 1 ? std::sqrt(v / (kept - 1)) : 0.0;
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace orbit::systems
