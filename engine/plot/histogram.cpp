// Equal-width binning; see histogram.h.
#include "engine/plot/histogram.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "engine/error.h"

namespace orbit::plot {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

std::vector<double> make_edges(double lo, double hi, int bins) {
  if (lo == hi) {
    lo -= 0.5;
    hi += 0.5;
  }
  std::vector<double> e(static_cast<size_t>(bins) + 1);
  for (int i = 0; i <= bins; ++i) e[i] = lo + (hi - lo) * i / bins;
  e[bins] = hi;
  return e;
}

// The bin of v in [edges.front(), edges.back()], checked against the edges themselves so that a
// value exactly on an edge always lands in the bin that starts there.
int bin_of(double v, const std::vector<double>& edges) {
  int bins = static_cast<int>(edges.size()) - 1;
  double lo = edges.front(), hi = edges.back();
  int i = static_cast<int>((v - lo) / (hi - lo) * bins);
  i = std::clamp(i, 0, bins - 1);
  while (i > 0 && v < edges[i]) --i;
  while (i < bins - 1 && v >= edges[i + 1]) ++i;
  return i;
}

void check_bins(int bins, const char* what) {
  ORBIT_CHECK(bins >= 1 && bins <= 100000, "plot: ", what, " needs between 1 and 100000 bins, got ", bins);
}

}  // namespace

int64_t Histogram::total() const {
  int64_t n = 0;
  for (int64_t c : counts) n += c;
  return n;
}

std::vector<double> Histogram::density() const {
  std::vector<double> d(counts.size(), 0.0);
  double n = static_cast<double>(total());
  if (n == 0) return d;
  for (size_t i = 0; i < counts.size(); ++i) d[i] = counts[i] / (n * (edges[i + 1] - edges[i]));
  return d;
}

Histogram histogram(std::span<const double> values, int bins, std::optional<std::pair<double, double>> range) {
  check_bins(bins, "histogram");
  Histogram h;
  double lo = kInf, hi = -kInf;
  if (range) {
    lo = std::min(range->first, range->second);
    hi = std::max(range->first, range->second);
    ORBIT_CHECK(std::isfinite(lo) && std::isfinite(hi), "plot: histogram range [", range->first, ", ",
                range->second, "] must be finite");
  } else {
    for (double v : values)
      if (std::isfinite(v)) {
        lo = std::min(lo, v);
        hi = std::max(hi, v);
      }
    if (lo > hi) lo = hi = 0.5;  // no finite values: an empty [0, 1] histogram
  }
  h.edges = make_edges(lo, hi, bins);
  h.counts.assign(static_cast<size_t>(bins), 0);
  for (double v : values) {
    if (!std::isfinite(v)) {
      ++h.nonfinite;
    } else if (v < h.edges.front() || v > h.edges.back()) {
      ++h.outside;
    } else {
      ++h.counts[bin_of(v, h.edges)];
    }
  }
  return h;
}

Histogram2D histogram2d(std::span<const double> xs, std::span<const double> ys, int nx, int ny) {
  check_bins(nx, "density (x)");
  check_bins(ny, "density (y)");
  ORBIT_CHECK(xs.size() == ys.size(), "plot: density has ", xs.size(), " x values but ", ys.size(), " y values");
  double x0 = kInf, x1 = -kInf, y0 = kInf, y1 = -kInf;
  for (size_t i = 0; i < xs.size(); ++i)
    if (std::isfinite(xs[i]) && std::isfinite(ys[i])) {
      x0 = std::min(x0, xs[i]);
      x1 = std::max(x1, xs[i]);
      y0 = std::min(y0, ys[i]);
      y1 = std::max(y1, ys[i]);
    }
  if (x0 > x1) x0 = x1 = y0 = y1 = 0.5;
  Histogram2D h;
  h.nx = nx;
  h.ny = ny;
  h.xedges = make_edges(x0, x1, nx);
  h.yedges = make_edges(y0, y1, ny);
  h.counts.assign(static_cast<size_t>(nx) * ny, 0);
  for (size_t i = 0; i < xs.size(); ++i) {
    if (!std::isfinite(xs[i]) || !std::isfinite(ys[i])) {
      ++h.nonfinite;
      continue;
    }
    ++h.counts[static_cast<size_t>(bin_of(ys[i], h.yedges)) * nx + bin_of(xs[i], h.xedges)];
  }
  return h;
}

}  // namespace orbit::plot
