// Energy and pair-distance histograms of samples vs reference (see metric_plots.h).
#include "models/systems/metric_plots.h"

#include <algorithm>
#include <cmath>

#include "engine/error.h"
#include "engine/plot/plot.h"

namespace orbit::systems {

namespace {

std::pair<double, double> shared_range(const std::vector<double>& reference) {
  auto [lo, hi] = std::minmax_element(reference.begin(), reference.end());
  double a = *lo, b = *hi, pad = 0.1 * (b - a);
  if (pad == 0) pad = std::max(0.5, 0.1 * std::fabs(a));
  return {a - pad, b + pad};
}

void save_both(const std::string& prefix, const std::string& what, const std::string& system,
               const std::vector<double>& samples, const std::vector<double>& reference, const std::string& xlabel,
               const MetricPlotOptions& opts, std::vector<std::string>& written) {
  ORBIT_CHECK(!reference.empty() && !samples.empty(), "metric plots: no ", what, " values to plot");
  const auto range = shared_range(reference);
  int64_t outside = 0;
  for (double v : samples)
    if (!(v >= range.first && v <= range.second)) ++outside;
  std::string title = system + ": " + what;
  if (outside > 0) title += " (" + std::to_string(outside) + " of " + std::to_string(samples.size()) + " samples off range)";
  plot::Figure fig(opts.width, opts.height);
  auto& ax = fig.axes(title, xlabel, "density");
  plot::HistStyle ref_style;
  ref_style.density = true;
  ref_style.range = range;
  plot::HistStyle gen_style = ref_style;
  ax.histogram(reference, opts.bins, "reference", ref_style);
  ax.histogram(samples, opts.bins, "samples", gen_style);
  for (const char* ext : {".svg", ".png"}) {
    std::string path = prefix + "_" + what + ext;
    fig.save(path);
    written.push_back(path);
  }
}

}  // namespace

std::vector<std::string> write_metric_plots(const std::string& prefix, const std::string& system,
                                            const MetricsData& data, const MetricPlotOptions& opts) {
  ORBIT_CHECK(!prefix.empty(), "metric plots: empty file prefix");
  ORBIT_CHECK(opts.bins >= 1, "metric plots: bins must be >= 1, got ", opts.bins);
  const bool energy = !data.energy_samples.empty() && !data.energy_reference.empty();
  const bool dist = !data.dist_samples.empty() && !data.dist_reference.empty();
  ORBIT_CHECK(energy || dist, "metric plots: neither energies nor pair distances to plot");
  std::vector<std::string> written;
  if (energy) save_both(prefix, "energy", system, data.energy_samples, data.energy_reference, "energy E(x)", opts, written);
  if (dist)
    save_both(prefix, "distances", system, data.dist_samples, data.dist_reference, "interatomic distance", opts,
              written);
  return written;
}

}  // namespace orbit::systems
