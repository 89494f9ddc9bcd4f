// `orbit metrics`: the iDEM sample-quality metrics of generated configurations against reference
// configurations (two .npy files of shape [N, flat_dim]): x-space W2 by exact OT, energy and
// interatomic-distance W2 (and W2 squared, iDEM's energy_w2 / dist_w2), distance TV, energy
// statistics and, for gmm40, mode coverage. n rows of each file are drawn with the seed; the JSON is
// printed and, with --out, written; --plots PREFIX writes energy and distance histograms.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "engine/io/json.h"
#include "engine/io/npy.h"
#include "engine/orbit.h"
#include "models/systems/metric_plots.h"
#include "models/systems/evaluation.h"
#include "models/systems/metrics.h"
#include "models/systems/system.h"
#include "tools/commands.h"

namespace orbit::cli {

namespace {

// Reads `path` as [N, flat_dim] finite floats; every error names the file (`role` says which one).
Tensor load_configurations(const std::string& role, const std::string& path, const systems::System& sys) {
  ORBIT_CHECK(!path.empty(), "--", role, " needs a file name");
  ORBIT_CHECK(std::filesystem::exists(path), role, " file '", path, "' does not exist");
  ORBIT_CHECK(std::filesystem::is_regular_file(path), role, " file '", path, "' is not a regular file");
  Tensor t;
  try {
    t = read_npy(path);
  } catch (const std::exception& e) {
    throw Error(detail::cat(role, " file '", path, "' is not a readable .npy file: ", e.what()));
  }
  ORBIT_CHECK(t.dtype() == DType::f32 || t.dtype() == DType::f64, role, " file '", path, "' holds ",
              dtype_name(t.dtype()), " values; configurations must be float32 or float64");
  ORBIT_CHECK(t.rank() == 2 && t.shape()[1] == sys.flat_dim(), role, " file '", path, "' has shape ",
              t.shape().str(), "; ", sys.name, " configurations are [N, ", sys.flat_dim(), "] (", sys.n_particles,
              " particles x ", sys.dim, " dimensions, flattened)");
  ORBIT_CHECK(t.shape()[0] >= 1, role, " file '", path, "' holds no configurations");
  const int64_t flat = sys.flat_dim(), total = t.numel();
  for (int64_t i = 0; i < total; ++i) {
    const double v = t.dtype() == DType::f64 ? t.data<double>()[i] : t.data<float>()[i];
    ORBIT_CHECK(std::isfinite(v), role, " file '", path, "' has a non-finite value (", v, ") in row ", i / flat,
                ", column ", i % flat);
  }
  return t;
}

int run_metrics(const Args& args) {
  const systems::System sys = systems::system_by_name(args.str("system"));
  const std::string samples_path = args.str("samples"), reference_path = args.str("reference");
  const long long n = args.integer("n", 1, 10000);  // the OT cost matrix takes 8 n^2 bytes
  prepare_outputs(args, {"out"}, {"plots"});
  const unsigned long long seed = static_cast<unsigned long long>(args.integer("seed", 0, (1LL << 62)));
  const double min_fraction = args.real("mode-min-fraction");
  ORBIT_CHECK(min_fraction >= 0 && min_fraction <= 1, "--mode-min-fraction must be in [0, 1], got ", min_fraction);
  const int bins = static_cast<int>(args.integer("bins", 1, 100000));

  Tensor samples = load_configurations("samples", samples_path, sys);
  Tensor reference = load_configurations("reference", reference_path, sys);
  ORBIT_CHECK(samples.shape()[0] >= n, "--n ", n, " is larger than the ", samples.shape()[0],
              " configurations in samples file '", samples_path, "'");
  ORBIT_CHECK(reference.shape()[0] >= n, "--n ", n, " is larger than the ", reference.shape()[0],
              " configurations in reference file '", reference_path, "'");
  systems::ConfigSet a = systems::config_rows(samples, systems::subsample_rows(samples.shape()[0], n, seed, 0));
  systems::ConfigSet b = systems::config_rows(reference, systems::subsample_rows(reference.shape()[0], n, seed, 1));

  systems::MetricsOptions opts = systems::metrics_options(sys);
  opts.tv_bins = bins;
  opts.mode_min_fraction = min_fraction;
  systems::MetricsData data;
  systems::SampleMetrics m = systems::compute_metrics(std::move(a), std::move(b), opts, &data);

  std::vector<std::string> plots;
  if (args.has("plots")) plots = systems::write_metric_plots(args.str("plots"), sys.name, data);

  std::string json = m.to_json();
  json.pop_back();  // the closing brace: the command adds where the numbers came from
  json += ", \"samples_file\": " + io::json_quote(samples_path) + ", \"reference_file\": " +
          io::json_quote(reference_path) + ", \"samples_available\": " + std::to_string(samples.shape()[0]) +
          ", \"reference_available\": " + std::to_string(reference.shape()[0]) + ", \"seed\": " +
          std::to_string(seed) + ", \"plots\": [";
  for (size_t i = 0; i < plots.size(); ++i) json += (i ? ", " : "") + io::json_quote(plots[i]);
  json += "]}";

  if (args.has("out")) {
    const std::string out = args.str("out");
    const std::string tmp = out + ".tmp";
    {
      std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
      ORBIT_CHECK(f.good(), "cannot write --out file '", out, "'");
      f << json << "\n";
      f.close();
      ORBIT_CHECK(f.good(), "writing --out file '", out, "' failed");
    }
    std::error_code ec;
    std::filesystem::rename(tmp, out, ec);
    ORBIT_CHECK(!ec, "cannot write --out file '", out, "': ", ec.message());
  }
  std::printf("%s\n", json.c_str());
  return 0;
}

}  // namespace

Command metrics_command() {
  return Command("metrics",
                 "iDEM sample metrics of generated vs reference configurations: x-W2 (exact OT), energy and "
                 "distance W2, distance TV, mode coverage",
                 {{"system", "gmm40, dw4, lj13 or lj55", "", false, true},
                  {"samples", ".npy of generated configurations, [N, flat_dim] float32/float64", "", false, true},
                  {"reference", ".npy of reference configurations, [M, flat_dim] float32/float64", "", false, true},
                  {"n", "configurations drawn (without replacement) from each file, at most 10000", "1000"},
                  {"seed", "seed of the subsampling", "0"},
                  {"bins", "bins of the distance total variation (edges from the reference)", "200"},
                  {"mode-min-fraction", "gmm40: a mode is covered when it gets at least this fraction of samples",
                   "0.005"},
                  {"plots", "write PREFIX_energy.{svg,png} and PREFIX_distances.{svg,png}", ""},
                  {"out", "also write the JSON to this file", ""},
                  {"config", "JSON file of option values (command-line options override it)", ""}},
                 run_metrics, false);
}

}  // namespace orbit::cli
