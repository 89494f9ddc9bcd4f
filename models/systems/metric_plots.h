// Figures of a sampler's energies and interatomic distances against the reference samples: overlaid
// density histograms (engine/plot), written as SVG and PNG; for two-dimensional systems (GMM-40) also
// the samples and the reference side by side.
#pragma once
#include <string>
#include <vector>

#include "models/systems/metrics.h"

namespace orbit::systems {

struct MetricPlotOptions {
  int bins = 80;
  int width = 640, height = 480;
};

// Writes `prefix`_energy.svg/.png (when the data has energies), `prefix`_distances.svg/.png (when
// it has pair distances) and `prefix`_samples.svg/.png (when it has 2-D points: two scatter panels on
// one range, the mixture means marked) and returns the paths written. Both histograms share one bin range: the
// reference values' [min, max] widened by 10% of its span on each side, so that a few far-out
// samples (e.g. an LJ energy of 1e6) do not squash the picture; the title says how many sample values
// fell outside it. Throws when the data has neither energies nor distances.
std::vector<std::string> write_metric_plots(const std::string& prefix, const std::string& system,
                                            const MetricsData& data, const MetricPlotOptions& opts = {});

}  // namespace orbit::systems
