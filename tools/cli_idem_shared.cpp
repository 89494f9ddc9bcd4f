#include "tools/cli_idem_shared.h"

#include <cmath>
#include <random>
#include <sstream>

#include "engine/io/file_io.h"
#include "engine/io/json.h"
#include "engine/io/npy.h"
#include "models/systems/evaluation.h"
#include "models/systems/metric_plots.h"
#include "models/systems/metrics.h"

namespace orbit::cli::idem_cli {

namespace fs = std::filesystem;
using diffusion::IdemConfig;

void write_text(const std::filesystem::path& path, const std::string& text) {
  io::AtomicFile f(path.string(), "orbit idem");
  f.write(text.data(), text.size());
  f.commit();
}

// The reference set for the metrics: --reference, else the shipped 1000-row DW4/LJ13 test-split
// fixtures when run from the repository, else (GMM) exact samples of the mixture.
Tensor reference_for(const IdemConfig& c, const Args& a, std::string& source) {
  const systems::System sys = c.target();
  std::string path = a.str("reference");
  if (path.empty()) {
    // The working directory first (a checkout), then the source tree this binary was built from; the
    // iDEM reference rows (DW4, LJ13), else orbit's own MCMC samples (LJ55, which has no public set).
    for (const char* kind : {"_test_first1000.npy", "_mcmc1000.npy"}) {
      const std::string fixture = "tests/fixtures/systems/" + c.system + kind;
      if (fs::is_regular_file(fixture)) path = fixture;
#if defined(ORBIT_SOURCE_DIR)
      else if (fs::is_regular_file(std::string(ORBIT_SOURCE_DIR) + "/" + fixture))
        path = std::string(ORBIT_SOURCE_DIR) + "/" + fixture;
#endif
      if (!path.empty()) break;
    }
  }
  if (!path.empty()) {
    ORBIT_CHECK(fs::is_regular_file(path), "no such file '", path, "'");
    Tensor r = read_npy(path);
    systems::check_configurations(sys, r, "'" + path + "'");
    ORBIT_CHECK(r.rank() == 2, "'", path, "' must be [N, ", sys.flat_dim(), "]");
    source = path;
    return r.cast(DType::f64);
  }
  if (sys.kind == systems::Kind::gmm) {
    // Exact draws: a uniformly chosen component, plus isotropic Gaussian noise (original units).
    const int64_t n = 1000;
    std::mt19937_64 rng(20240101);
    std::uniform_int_distribution<int> comp(0, sys.gmm_components() - 1);
    std::normal_distribution<double> n01;
    Tensor r = Tensor::empty(Shape({n, 2}), DType::f64);
    for (int64_t i = 0; i < n; ++i) {
      int k = comp(rng);
      for (int d = 0; d < 2; ++d) r.data<double>()[i * 2 + d] = sys.gmm_means[k * 2 + d] + sys.gmm_std * n01(rng);
    }
    source = "exact GMM-40 samples (seed 20240101)";
    return r;
  }
  source = "";
  return Tensor();
}

namespace {
systems::ConfigSet set_of(const Tensor& t, int64_t n, uint64_t seed, uint64_t stream) {
  return systems::config_rows(t, systems::subsample_rows(t.shape()[0], n, seed, stream));
}
}  // namespace

// Metrics of `samples` (original units) against the reference; plots with `plot_prefix`.
std::string evaluate(const IdemConfig& c, const Tensor& samples, const Tensor& reference, const std::string& source,
                     int64_t n, const std::string& plot_prefix, std::vector<std::string>* plots) {
  if (!reference.defined() || reference.numel() == 0) return "null";
  const systems::System plain = systems::system_by_name(c.system);  // original units
  n = std::min<int64_t>({n, samples.shape()[0], reference.shape()[0]});
  systems::MetricsOptions mo = systems::metrics_options(plain);
  // Non-finite samples (a diverged path) cannot enter the OT; they are counted and left out.
  std::vector<double> v = samples.to_vector(), kept;
  const int64_t D = samples.shape()[1];
  int64_t bad = 0;
  for (int64_t i = 0; i < samples.shape()[0]; ++i) {
    bool ok = true;
    for (int64_t k = 0; k < D; ++k) ok = ok && std::isfinite(v[i * D + k]);
    if (ok) kept.insert(kept.end(), v.begin() + i * D, v.begin() + (i + 1) * D);
    else ++bad;
  }
  Tensor good = Tensor::from(Shape({static_cast<int64_t>(kept.size()) / D, D}), kept);
  n = std::min<int64_t>(n, good.shape()[0]);
  ORBIT_CHECK(n >= 2, "fewer than 2 finite samples to evaluate");
  systems::MetricsData data;
  systems::SampleMetrics m = systems::compute_metrics(set_of(good, n, c.seed, 0), set_of(reference, n, c.seed, 1), mo, &data);
  if (!plot_prefix.empty()) {
    auto written = systems::write_metric_plots(plot_prefix, plain.name, data);
    if (plots) plots->insert(plots->end(), written.begin(), written.end());
  }
  std::ostringstream o;
  o << "{\"reference\": " << io::json_quote(source) << ", \"nonfinite_samples\": " << bad << ", \"metrics\": " << m.to_json() << "}";
  return o.str();
}


Tensor first_rows(const Tensor& x, int64_t n, int64_t D) {
  const int64_t rows = x.rank() == 1 ? 1 : x.shape()[0];
  n = std::min(n, rows);
  std::vector<double> v = x.cast(DType::f64).to_vector();
  v.resize(static_cast<size_t>(n * D));
  return Tensor::from(Shape({n, D}), v);
}

}  // namespace orbit::cli::idem_cli
