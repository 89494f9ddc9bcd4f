#include "models/systems/evaluation.h"

namespace orbit::systems {

MetricsOptions metrics_options(const System& s) {
  MetricsOptions o;
  o.system = s.name;
  o.n_particles = s.n_particles;
  o.dim = s.dim;
  o.molecule = s.is_molecule();
  if (s.kind == Kind::gmm) o.gmm_means = s.gmm_means;
  o.energy = [&s](const ConfigSet& c) {
    return energies(s, Tensor::from<double>(Shape({c.n, c.flat_dim}), c.x), Device::cpu()).to_vector();
  };
  return o;
}

ConfigSet config_rows(const Tensor& t, const std::vector<int64_t>& rows) {
  ORBIT_CHECK(t.rank() == 2 && (t.dtype() == DType::f32 || t.dtype() == DType::f64) && t.device().is_cpu(),
              "config_rows: expects a [N, D] f32/f64 CPU tensor, got ", t.shape().str());
  ConfigSet s;
  s.n = static_cast<int64_t>(rows.size());
  s.flat_dim = t.shape()[1];
  s.x.resize(static_cast<size_t>(s.n * s.flat_dim));
  for (int64_t r = 0; r < s.n; ++r) {
    ORBIT_CHECK(rows[r] >= 0 && rows[r] < t.shape()[0], "config_rows: row ", rows[r], " out of [0, ", t.shape()[0], ")");
    for (int64_t k = 0; k < s.flat_dim; ++k) {
      const int64_t i = rows[r] * s.flat_dim + k;
      s.x[r * s.flat_dim + k] = t.dtype() == DType::f64 ? t.data<double>()[i] : static_cast<double>(t.data<float>()[i]);
    }
  }
  return s;
}

}  // namespace orbit::systems
