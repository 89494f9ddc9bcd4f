// Binning for histogram and density plots: equal-width bins, non-finite values skipped and counted.
#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <utility>
#include <vector>

namespace orbit::plot {

struct Histogram {
  std::vector<double> edges;    // bins + 1 increasing edges; bin i is [edges[i], edges[i+1]), the last one closed
  std::vector<int64_t> counts;  // per bin
  int64_t nonfinite = 0;        // NaN or infinite values, left out
  int64_t outside = 0;          // finite values outside an explicit range, left out

  int64_t total() const;               // values counted in the bins
  std::vector<double> density() const;  // counts / (total * bin width): integrates to 1
};

// Bins the finite values into `bins` (>= 1) equal bins spanning `range`, or the values' own
// [min, max] when no range is given (a single distinct value gets a bin of width 1 around it).
Histogram histogram(std::span<const double> values, int bins,
                    std::optional<std::pair<double, double>> range = std::nullopt);

struct Histogram2D {
  int nx = 0, ny = 0;
  std::vector<double> xedges, yedges;  // nx + 1 and ny + 1 edges
  std::vector<int64_t> counts;         // counts[iy * nx + ix]
  int64_t nonfinite = 0;               // points with a NaN or infinite coordinate, left out
};

// Bins the points (xs[i], ys[i]) into nx x ny equal cells spanning the finite points' bounding box.
Histogram2D histogram2d(std::span<const double> xs, std::span<const double> ys, int nx, int ny);

}  // namespace orbit::plot
