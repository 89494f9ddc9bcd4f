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

// Samples and reference as two scatter panels over the same square, with the means (if any) marked.
void save_points(const std::string& prefix, const std::string& system, const MetricsData& data,
                 const MetricPlotOptions& opts, std::vector<std::string>& written) {
  const std::vector<double>& s = data.points_samples;
  const std::vector<double>& r = data.points_reference;
  // The range: the reference and the means, widened by 10%; samples outside it are counted.
  double lo = INFINITY, hi = -INFINITY;
  for (const auto* v : {&r, &data.means})
    for (double x : *v)
      if (std::isfinite(x)) lo = std::min(lo, x), hi = std::max(hi, x);
  ORBIT_CHECK(lo < hi, "metric plots: the reference points span no range");
  const double pad = 0.1 * (hi - lo);
  lo -= pad, hi += pad;
  int64_t outside = 0;
  for (size_t i = 0; i + 1 < s.size(); i += 2)
    if (!(s[i] >= lo && s[i] <= hi && s[i + 1] >= lo && s[i + 1] <= hi)) ++outside;
  auto xy = [](const std::vector<double>& v, int c) {
    std::vector<double> out(v.size() / 2);
    for (size_t i = 0; i < out.size(); ++i) out[i] = v[2 * i + c];
    return out;
  };
  plot::Figure fig(2 * opts.width, opts.height);
  fig.grid(1, 2);
  plot::ScatterStyle dots;
  dots.radius = 1.5;
  dots.alpha = 0.5;
  plot::ScatterStyle means;
  means.radius = 3;
  means.alpha = 1;
  means.color = plot::Color{0, 0, 0};
  const std::string title_s = system + ": samples (" + std::to_string(s.size() / 2) + ")" +
                              (outside ? ", " + std::to_string(outside) + " off range" : "");
  for (int panel = 0; panel < 2; ++panel) {
    const std::vector<double>& v = panel == 0 ? s : r;
    auto& ax = fig.axes(panel == 0 ? title_s : system + ": reference (" + std::to_string(r.size() / 2) + ")", "x1", "x2");
    ax.scatter(xy(v, 0), xy(v, 1), panel == 0 ? "samples" : "reference", dots);
    if (!data.means.empty()) ax.scatter(xy(data.means, 0), xy(data.means, 1), "means", means);
    ax.xlim(lo, hi).ylim(lo, hi);
  }
  for (const char* ext : {".svg", ".png"}) {
    std::string path = prefix + "_samples" + ext;
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
  if (!data.points_samples.empty() && !data.points_reference.empty()) save_points(prefix, system, data, opts, written);
  return written;
}

}  // namespace orbit::systems
