#include "models/egnn/solar.h"

#include <cmath>

#include "engine/error.h"
#include "engine/io/npz.h"
#include "engine/tensor.h"
#include "kernels/scalar/random.h"

namespace orbit::egnn {

namespace {
constexpr double kG = 2.9591220828559093e-4;  // AU^3 / (M_sun day^2)
constexpr double kPi = 3.14159265358979323846;

struct Body {
  const char* name;
  double mass, a, e, inc_deg;
};
// Masses (solar masses) and mean orbital elements (J2000) of the Sun and the planets.
constexpr Body kBodies[SolarSystem::kBodies] = {
    {"Sun", 1.0, 0, 0, 0},
    {"Mercury", 1.6601e-7, 0.38710, 0.20563, 7.005},
    {"Venus", 2.4478e-6, 0.72333, 0.00677, 3.395},
    {"Earth", 3.0404e-6, 1.00000, 0.01671, 0.000},
    {"Mars", 3.2272e-7, 1.52368, 0.09340, 1.850},
    {"Jupiter", 9.5479e-4, 5.20260, 0.04849, 1.303},
    {"Saturn", 2.8589e-4, 9.55491, 0.05551, 2.489},
    {"Uranus", 4.3662e-5, 19.21845, 0.04630, 0.773},
    {"Neptune", 5.1514e-5, 30.11039, 0.00899, 1.770},
};

void accelerations(const std::vector<double>& x, const std::vector<double>& m, std::vector<double>& acc) {
  const int n = SolarSystem::kBodies;
  std::fill(acc.begin(), acc.end(), 0.0);
  for (int i = 0; i < n; ++i)
    for (int j = i + 1; j < n; ++j) {
      double d[3], r2 = 0;
      for (int k = 0; k < 3; ++k) {
        d[k] = x[j * 3 + k] - x[i * 3 + k];
        r2 += d[k] * d[k];
      }
      const double inv3 = kG / (r2 * std::sqrt(r2));
      for (int k = 0; k < 3; ++k) {
        acc[i * 3 + k] += m[j] * inv3 * d[k];
        acc[j * 3 + k] -= m[i] * inv3 * d[k];
      }
    }
}
}  // namespace

void SolarConfig::validate() const {
  ORBIT_CHECK(train >= 1 && val >= 1 && test >= 1, "solar: split sizes must be >= 1");
  ORBIT_CHECK(horizon >= 1, "solar: horizon must be >= 1 frame");
  ORBIT_CHECK(frames() <= 10000000, "solar: too many frames (", frames(), ")");
  ORBIT_CHECK(frame_minutes > 0 && frame_minutes <= 1e5 && substeps >= 1 && substeps <= 1000,
              "solar: frame_minutes must be in (0, 1e5] and substeps in [1, 1000]");
}

SolarSystem simulate_solar(const SolarConfig& cfg) {
  cfg.validate();
  const int n = SolarSystem::kBodies;
  SolarSystem s;
  s.frames = cfg.frames();
  std::vector<double> x(n * 3, 0.0), v(n * 3, 0.0), acc(n * 3);
  for (int b = 0; b < n; ++b) {
    s.mass.push_back(kBodies[b].mass);
    s.names.push_back(kBodies[b].name);
  }
  uint64_t ctr = 0;
  auto uniform = [&] { return scalar::random_uniform<double>(cfg.seed, 0x501a7, 0, ctr++); };
  for (int b = 1; b < n; ++b) {  // heliocentric Keplerian state from the elements
    const Body& B = kBodies[b];
    const double node = 2 * kPi * uniform(), peri = 2 * kPi * uniform(), M = 2 * kPi * uniform();
    double E = M;
    for (int it = 0; it < 50; ++it) E -= (E - B.e * std::sin(E) - M) / (1 - B.e * std::cos(E));
    const double mu = kG * (1.0 + B.mass), nmean = std::sqrt(mu / (B.a * B.a * B.a));
    const double Edot = nmean / (1 - B.e * std::cos(E)), b2 = std::sqrt(1 - B.e * B.e);
    const double p[3] = {B.a * (std::cos(E) - B.e), B.a * b2 * std::sin(E), 0};
    const double q[3] = {-B.a * std::sin(E) * Edot, B.a * b2 * std::cos(E) * Edot, 0};
    const double inc = B.inc_deg * kPi / 180;
    const double cO = std::cos(node), sO = std::sin(node), cw = std::cos(peri), sw = std::sin(peri);
    const double ci = std::cos(inc), si = std::sin(inc);
    const double R[3][3] = {{cO * cw - sO * sw * ci, -cO * sw - sO * cw * ci, sO * si},
                            {sO * cw + cO * sw * ci, -sO * sw + cO * cw * ci, -cO * si},
                            {sw * si, cw * si, ci}};
    for (int k = 0; k < 3; ++k) {
      x[b * 3 + k] = R[k][0] * p[0] + R[k][1] * p[1];
      v[b * 3 + k] = R[k][0] * q[0] + R[k][1] * q[1];
    }
  }
  double mt = 0, cx[3] = {0, 0, 0}, cv[3] = {0, 0, 0};  // to the barycentric frame
  for (int b = 0; b < n; ++b) {
    mt += s.mass[b];
    for (int k = 0; k < 3; ++k) {
      cx[k] += s.mass[b] * x[b * 3 + k];
      cv[k] += s.mass[b] * v[b * 3 + k];
    }
  }
  for (int b = 0; b < n; ++b)
    for (int k = 0; k < 3; ++k) {
      x[b * 3 + k] -= cx[k] / mt;
      v[b * 3 + k] -= cv[k] / mt;
    }
  const double dt = cfg.frame_minutes / (60.0 * 24.0) / cfg.substeps;
  s.loc.resize(static_cast<size_t>(s.frames) * n * 3);
  s.vel.resize(s.loc.size());
  accelerations(x, s.mass, acc);
  for (int64_t f = 0; f < s.frames; ++f) {
    std::copy(x.begin(), x.end(), s.loc.begin() + f * n * 3);
    std::copy(v.begin(), v.end(), s.vel.begin() + f * n * 3);
    for (int k = 0; k < cfg.substeps; ++k) {
      for (int e = 0; e < n * 3; ++e) v[e] += 0.5 * dt * acc[e];
      for (int e = 0; e < n * 3; ++e) x[e] += dt * v[e];
      accelerations(x, s.mass, acc);
      for (int e = 0; e < n * 3; ++e) v[e] += 0.5 * dt * acc[e];
    }
  }
  return s;
}

double solar_energy(const SolarSystem& s, int64_t f) {
  const int n = SolarSystem::kBodies;
  const double* x = s.loc.data() + f * n * 3;
  const double* v = s.vel.data() + f * n * 3;
  double e = 0;
  for (int i = 0; i < n; ++i) e += 0.5 * s.mass[i] * (v[i * 3] * v[i * 3] + v[i * 3 + 1] * v[i * 3 + 1] + v[i * 3 + 2] * v[i * 3 + 2]);
  for (int i = 0; i < n; ++i)
    for (int j = i + 1; j < n; ++j) {
      double r2 = 0;
      for (int k = 0; k < 3; ++k) r2 += (x[i * 3 + k] - x[j * 3 + k]) * (x[i * 3 + k] - x[j * 3 + k]);
      e -= kG * s.mass[i] * s.mass[j] / std::sqrt(r2);
    }
  return e;
}

void save_solar(const std::string& path, const SolarConfig& cfg, const SolarSystem& s) {
  std::map<std::string, Tensor> a;
  a["loc"] = Tensor::from<double>({s.frames, SolarSystem::kBodies, 3}, s.loc);
  a["vel"] = Tensor::from<double>({s.frames, SolarSystem::kBodies, 3}, s.vel);
  a["mass"] = Tensor::from<double>({SolarSystem::kBodies}, s.mass);
  a["config"] = Tensor::from<double>({5}, {static_cast<double>(cfg.train), static_cast<double>(cfg.val),
                                           static_cast<double>(cfg.test), static_cast<double>(cfg.horizon),
                                           cfg.frame_minutes});
  write_npz(path, a);
}

SolarSystem load_solar(const std::string& path, SolarConfig* cfg_out) {
  auto a = read_npz(path);
  for (const char* k : {"loc", "vel", "mass", "config"})
    ORBIT_CHECK(a.count(k), "solar data '", path, "' lacks the array '", k, "'");
  for (auto& [k, v] : a)
    ORBIT_CHECK(v.dtype() == DType::f64, "solar data '", path, "': '", k, "' must be f64, got ", dtype_name(v.dtype()));
  const Tensor &loc = a.at("loc"), &vel = a.at("vel"), &mass = a.at("mass"), &conf = a.at("config");
  ORBIT_CHECK(loc.rank() == 3 && loc.shape()[1] == SolarSystem::kBodies && loc.shape()[2] == 3, "solar data '", path,
              "': 'loc' must be [frames, 9, 3], got ", loc.shape().str());
  ORBIT_CHECK(vel.shape() == loc.shape(), "solar data '", path, "': 'vel' ", vel.shape().str(), " differs from 'loc' ",
              loc.shape().str());
  ORBIT_CHECK(mass.rank() == 1 && mass.shape()[0] == SolarSystem::kBodies, "solar data '", path,
              "': 'mass' must have 9 values, got ", mass.shape().str());
  ORBIT_CHECK(conf.rank() == 1 && conf.shape()[0] == 5, "solar data '", path, "': 'config' must have 5 values, got ",
              conf.shape().str());
  SolarSystem s;
  s.frames = loc.shape()[0];
  s.loc = loc.to_vector();
  s.vel = vel.to_vector();
  s.mass = mass.to_vector();
  for (int b = 0; b < SolarSystem::kBodies; ++b) {
    s.names.push_back(kBodies[b].name);
    ORBIT_CHECK(s.mass[b] > 0 && std::isfinite(s.mass[b]), "solar data '", path, "': mass ", b, " is ", s.mass[b]);
  }
  for (size_t i = 0; i < s.loc.size(); ++i)
    ORBIT_CHECK(std::isfinite(s.loc[i]) && std::isfinite(s.vel[i]), "solar data '", path,
                "': non-finite position or velocity at flat index ", i);
  auto cv = conf.to_vector();
  SolarConfig c;
  c.train = static_cast<int64_t>(cv[0]);
  c.val = static_cast<int64_t>(cv[1]);
  c.test = static_cast<int64_t>(cv[2]);
  c.horizon = static_cast<int64_t>(cv[3]);
  c.frame_minutes = cv[4];
  ORBIT_CHECK(c.train >= 1 && c.val >= 1 && c.test >= 1 && c.horizon >= 1 && c.frame_minutes > 0 && c.frames() == s.frames,
              "solar data '", path, "': 'config' (train ", cv[0], ", val ", cv[1], ", test ", cv[2], ", horizon ", cv[3],
              ") does not match the ", s.frames, " frames");
  if (cfg_out) *cfg_out = c;
  return s;
}

SolarSamples solar_split(const SolarSystem& s, const SolarConfig& cfg, SolarSplit split) {
  ORBIT_CHECK(s.frames >= cfg.frames(), "solar: the system has ", s.frames, " frames, the splits need ", cfg.frames());
  int64_t start = 0, count = cfg.train;
  if (split == SolarSplit::val) start = cfg.train, count = cfg.val;
  if (split == SolarSplit::test) start = cfg.train + cfg.val, count = cfg.test;
  SolarSamples o;
  o.count = count;
  const size_t m = SolarSystem::kBodies * 3;
  o.x.assign(s.loc.begin() + start * m, s.loc.begin() + (start + count) * m);
  o.v.assign(s.vel.begin() + start * m, s.vel.begin() + (start + count) * m);
  o.y.assign(s.loc.begin() + (start + cfg.horizon) * m, s.loc.begin() + (start + cfg.horizon + count) * m);
  double mean_log = 0;
  for (double mm : s.mass) mean_log += std::log(mm) / SolarSystem::kBodies;
  for (double mm : s.mass) o.log_mass.push_back(std::log(mm) - mean_log);
  return o;
}

double relative_mse(const SolarSamples& s, const std::vector<double>& pred) {
  ORBIT_CHECK(pred.size() == s.y.size(), "relative_mse: ", pred.size(), " predictions for ", s.y.size(), " values");
  double acc = 0;
  const int64_t nodes = s.count * s.n;
  for (int64_t i = 0; i < nodes; ++i) {
    double num = 0, den = 0;
    for (int k = 0; k < 3; ++k) {
      num += (pred[i * 3 + k] - s.y[i * 3 + k]) * (pred[i * 3 + k] - s.y[i * 3 + k]);
      den += (s.x[i * 3 + k] - s.y[i * 3 + k]) * (s.x[i * 3 + k] - s.y[i * 3 + k]);
    }
    acc += num / std::max(den, 1e-300);
  }
  return acc / static_cast<double>(nodes);
}

double fit_solar_tau(const SolarSamples& s) {
  // minimise sum_i ||x_i + tau v_i - y_i||^2 / w_i with w_i = ||x_i - y_i||^2
  double num = 0, den = 0;
  for (int64_t i = 0; i < s.count * s.n; ++i) {
    double w = 0, vv = 0, vd = 0;
    for (int k = 0; k < 3; ++k) {
      const double d = s.y[i * 3 + k] - s.x[i * 3 + k];
      w += d * d;
      vv += s.v[i * 3 + k] * s.v[i * 3 + k];
      vd += s.v[i * 3 + k] * d;
    }
    w = std::max(w, 1e-300);
    num += vd / w;
    den += vv / w;
  }
  ORBIT_CHECK(den > 0, "solar linear baseline: all velocities are zero");
  return num / den;
}

}  // namespace orbit::egnn
