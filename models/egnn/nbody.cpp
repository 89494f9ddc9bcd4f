#include "models/egnn/nbody.h"

#include <cmath>

#include "engine/error.h"
#include "engine/io/npz.h"
#include "engine/tensor.h"
#include "kernels/cpu/parallel.h"
#include "kernels/scalar/random.h"

namespace orbit::egnn {

void NBodyConfig::validate() const {
  ORBIT_CHECK(n_particles >= 2 && n_particles <= 1000, "nbody: n_particles must be in [2, 1000], got ", n_particles);
  ORBIT_CHECK(dim >= 1 && dim <= 3, "nbody: dim must be 1, 2 or 3, got ", dim);
  ORBIT_CHECK(dt > 0 && std::isfinite(dt), "nbody: dt must be positive");
  ORBIT_CHECK(sample_every >= 1 && steps >= 2 * sample_every, "nbody: need sample_every >= 1 and steps >= 2 * sample_every (got ",
              steps, ", ", sample_every, ")");
  ORBIT_CHECK(steps % sample_every == 0, "nbody: steps (", steps, ") must be a multiple of sample_every (", sample_every, ")");
  ORBIT_CHECK(box_size > 0 && loc_std > 0 && vel_norm > 0, "nbody: box_size, loc_std and vel_norm must be positive");
}

void charged_forces(const NBodyConfig& cfg, const double* loc, const double* q, double* force) {
  const int n = cfg.n_particles, d = cfg.dim;
  const double max_f = 0.1 / cfg.dt;
  for (int i = 0; i < n; ++i) {
    double f[3] = {0, 0, 0};
    for (int j = 0; j < n; ++j) {
      if (j == i) continue;
      double r2 = 0, diff[3] = {0, 0, 0};
      for (int k = 0; k < d; ++k) {
        diff[k] = loc[i * d + k] - loc[j * d + k];
        r2 += diff[k] * diff[k];
      }
      const double s = cfg.interaction * q[i] * q[j] / (r2 * std::sqrt(r2));
      for (int k = 0; k < d; ++k) f[k] += s * diff[k];
    }
    for (int k = 0; k < d; ++k) force[i * d + k] = std::min(max_f, std::max(-max_f, f[k]));
  }
}

double charged_energy(const NBodyConfig& cfg, const double* loc, const double* vel, const double* q) {
  const int n = cfg.n_particles, d = cfg.dim;
  double e = 0;
  for (int i = 0; i < n; ++i)
    for (int k = 0; k < d; ++k) e += 0.5 * vel[i * d + k] * vel[i * d + k];
  for (int i = 0; i < n; ++i)
    for (int j = i + 1; j < n; ++j) {
      double r2 = 0;
      for (int k = 0; k < d; ++k) r2 += (loc[i * d + k] - loc[j * d + k]) * (loc[i * d + k] - loc[j * d + k]);
      e += cfg.interaction * q[i] * q[j] / std::sqrt(r2);
    }
  return e;
}

Trajectories simulate_charged(const NBodyConfig& cfg, int64_t count, uint64_t seed, uint64_t split) {
  cfg.validate();
  ORBIT_CHECK(count >= 0 && count <= 10000000, "nbody: trajectory count must be in [0, 1e7], got ", count);
  Trajectories t;
  t.count = count;
  t.frames = cfg.frames();
  t.n = cfg.n_particles;
  t.dim = cfg.dim;
  const int n = cfg.n_particles, d = cfg.dim;
  const size_t per = static_cast<size_t>(t.frames) * n * d;
  t.loc.assign(per * count, 0.0);
  t.vel.assign(per * count, 0.0);
  t.charges.assign(static_cast<size_t>(count) * n, 0.0);
  const double loc_std = cfg.loc_std * std::cbrt(n / 5.0);
  cpu::parallel_for(count, 1, [&](int64_t s) {
    const uint64_t run = static_cast<uint64_t>(s);
    uint64_t ctr = 0;
    auto normal = [&] { return scalar::random_normal<double>(seed, split, run, ctr++); };
    auto uniform = [&] { return scalar::random_uniform<double>(seed, split, run, ctr++); };
    std::vector<double> q(n), x(n * d), v(n * d), f(n * d);
    for (int i = 0; i < n; ++i) q[i] = uniform() < 0.5 ? -1.0 : 1.0;
    for (auto& xi : x) xi = normal() * loc_std;
    for (auto& vi : v) vi = normal();
    for (int i = 0; i < n; ++i) {
      double nv = 0;
      for (int k = 0; k < d; ++k) nv += v[i * d + k] * v[i * d + k];
      nv = std::sqrt(nv);
      for (int k = 0; k < d; ++k) v[i * d + k] *= cfg.vel_norm / nv;
    }
    // The original's _clamp of the initial state: reflect into [-box, box] and point the velocity inward.
    for (int e = 0; e < n * d; ++e) {
      if (x[e] > cfg.box_size) {
        x[e] = 2 * cfg.box_size - x[e];
        v[e] = -std::abs(v[e]);
      }
      if (x[e] < -cfg.box_size) {
        x[e] = -2 * cfg.box_size - x[e];
        v[e] = std::abs(v[e]);
      }
    }
    for (int i = 0; i < n; ++i) t.charges[static_cast<size_t>(s) * n + i] = q[i];
    charged_forces(cfg, x.data(), q.data(), f.data());
    for (int e = 0; e < n * d; ++e) v[e] += cfg.dt * f[e];  // half step
    int64_t frame = 0;
    for (int i = 1; i < cfg.steps; ++i) {
      for (int e = 0; e < n * d; ++e) x[e] += cfg.dt * v[e];
      if (i % cfg.sample_every == 0) {
        double* L = t.loc.data() + static_cast<size_t>(s) * per + static_cast<size_t>(frame) * n * d;
        double* V = t.vel.data() + static_cast<size_t>(s) * per + static_cast<size_t>(frame) * n * d;
        for (int e = 0; e < n * d; ++e) {
          L[e] = x[e];
          V[e] = v[e];
        }
        ++frame;
      }
      charged_forces(cfg, x.data(), q.data(), f.data());
      for (int e = 0; e < n * d; ++e) v[e] += cfg.dt * f[e];
    }
  });
  return t;
}

void save_trajectories(const std::string& path, const NBodyConfig& cfg, const Trajectories& t) {
  const Shape s{t.count, t.frames, t.n, t.dim};
  std::map<std::string, Tensor> arrays;
  arrays["loc"] = Tensor::from<double>(s, t.loc);
  arrays["vel"] = Tensor::from<double>(s, t.vel);
  arrays["charges"] = Tensor::from<double>({t.count, t.n}, t.charges);
  arrays["config"] = Tensor::from<double>({5}, {static_cast<double>(cfg.n_particles), static_cast<double>(cfg.dim), cfg.dt,
                                                static_cast<double>(cfg.steps), static_cast<double>(cfg.sample_every)});
  write_npz(path, arrays);
}

Trajectories load_trajectories(const std::string& path, NBodyConfig* cfg_out) {
  auto a = read_npz(path);
  for (const char* k : {"loc", "vel", "charges", "config"})
    ORBIT_CHECK(a.count(k), "nbody data '", path, "' lacks the array '", k, "'");
  auto as_f64 = [&](const char* k) {
    Tensor& v = a.at(k);
    ORBIT_CHECK(v.dtype() == DType::f64 || v.dtype() == DType::f32, "nbody data '", path, "': '", k,
                "' must be f32 or f64, got ", dtype_name(v.dtype()));
    return v.dtype() == DType::f64 ? v : v.cast(DType::f64);
  };
  Tensor loc = as_f64("loc"), vel = as_f64("vel"), q = as_f64("charges"), conf = as_f64("config");
  ORBIT_CHECK(loc.rank() == 4, "nbody data '", path, "': 'loc' must be [trajectories, frames, particles, dim], got ",
              loc.shape().str());
  ORBIT_CHECK(vel.shape() == loc.shape(), "nbody data '", path, "': 'vel' ", vel.shape().str(), " differs from 'loc' ",
              loc.shape().str());
  ORBIT_CHECK(q.rank() == 2 && q.shape()[0] == loc.shape()[0] && q.shape()[1] == loc.shape()[2], "nbody data '", path,
              "': 'charges' must be [", loc.shape()[0], ", ", loc.shape()[2], "], got ", q.shape().str());
  ORBIT_CHECK(conf.rank() == 1 && conf.shape()[0] == 5, "nbody data '", path, "': 'config' must have 5 values, got ",
              conf.shape().str());
  Trajectories t;
  t.count = loc.shape()[0];
  t.frames = loc.shape()[1];
  t.n = loc.shape()[2];
  t.dim = loc.shape()[3];
  t.loc = loc.to_vector();
  t.vel = vel.to_vector();
  t.charges = q.to_vector();
  for (size_t i = 0; i < t.loc.size(); ++i)
    ORBIT_CHECK(std::isfinite(t.loc[i]) && std::isfinite(t.vel[i]), "nbody data '", path,
                "': non-finite position or velocity at flat index ", i);
  for (size_t i = 0; i < t.charges.size(); ++i)
    ORBIT_CHECK(t.charges[i] == 1.0 || t.charges[i] == -1.0, "nbody data '", path, "': charge ", i, " is ",
                t.charges[i], ", expected +1 or -1");
  NBodyConfig c;
  auto cv = conf.to_vector();
  c.n_particles = static_cast<int>(cv[0]);
  c.dim = static_cast<int>(cv[1]);
  c.dt = cv[2];
  c.steps = static_cast<int>(cv[3]);
  c.sample_every = static_cast<int>(cv[4]);
  ORBIT_CHECK(cv[0] == t.n && cv[1] == t.dim && c.dt > 0 && c.sample_every >= 1 && c.steps / c.sample_every - 1 == t.frames,
              "nbody data '", path, "': 'config' (n ", cv[0], ", dim ", cv[1], ", dt ", cv[2], ", steps ", cv[3],
              ", sample_every ", cv[4], ") does not match the arrays (", t.n, " particles, ", t.dim, " dims, ",
              t.frames, " frames)");
  if (cfg_out) *cfg_out = c;
  return t;
}

NBodySamples make_task(const Trajectories& t, int frame_in, int frame_out, int64_t max_count) {
  ORBIT_CHECK(frame_in >= 0 && frame_out >= 0 && frame_in < t.frames && frame_out < t.frames, "nbody task: frames ",
              frame_in, " -> ", frame_out, " outside the ", t.frames, " saved frames");
  NBodySamples s;
  s.count = max_count < 0 ? t.count : std::min(max_count, t.count);
  s.n = t.n;
  s.dim = t.dim;
  const size_t m = static_cast<size_t>(t.n * t.dim);
  s.x.resize(s.count * m);
  s.v.resize(s.count * m);
  s.y.resize(s.count * m);
  s.q.assign(t.charges.begin(), t.charges.begin() + s.count * t.n);
  for (int64_t i = 0; i < s.count; ++i)
    for (size_t e = 0; e < m; ++e) {
      s.x[i * m + e] = t.loc[(i * t.frames + frame_in) * m + e];
      s.v[i * m + e] = t.vel[(i * t.frames + frame_in) * m + e];
      s.y[i * m + e] = t.loc[(i * t.frames + frame_out) * m + e];
    }
  return s;
}

double fit_linear_tau(const NBodySamples& s) {
  double num = 0, den = 0;
  for (size_t e = 0; e < s.x.size(); ++e) {
    num += s.v[e] * (s.y[e] - s.x[e]);
    den += s.v[e] * s.v[e];
  }
  ORBIT_CHECK(den > 0, "linear baseline: all velocities are zero");
  return num / den;
}

double linear_mse(const NBodySamples& s, double tau) {
  double acc = 0;
  for (size_t e = 0; e < s.x.size(); ++e) {
    double r = s.x[e] + tau * s.v[e] - s.y[e];
    acc += r * r;
  }
  return s.x.empty() ? 0.0 : acc / static_cast<double>(s.x.size());
}

}  // namespace orbit::egnn
