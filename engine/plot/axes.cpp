// Axes: adding series and options; the layout is in axes_draw.cpp.
#include "engine/plot/axes.h"

#include <cmath>

#include "engine/error.h"

namespace orbit::plot {

namespace {

void check_xy(std::span<const double> xs, std::span<const double> ys, const char* kind, const std::string& label) {
  ORBIT_CHECK(xs.size() == ys.size(), "plot: ", kind, " '", label, "' has ", xs.size(), " x values but ", ys.size(),
              " y values");
}

void check_limits(double lo, double hi, const char* which) {
  ORBIT_CHECK(std::isfinite(lo) && std::isfinite(hi) && lo < hi, "plot: ", which, "(", lo, ", ", hi,
              ") needs finite limits with lo < hi");
}

}  // namespace

Axes::Axes(std::string title, std::string xlabel, std::string ylabel)
    : title_(std::move(title)), xlabel_(std::move(xlabel)), ylabel_(std::move(ylabel)) {}

Series& Axes::add(Series::Kind kind, std::string label, const std::optional<Color>& color) {
  Series s;
  s.kind = kind;
  s.label = std::move(label);
  s.color = color ? *color : palette(next_color_);
  ++next_color_;
  series_.push_back(std::move(s));
  return series_.back();
}

Axes& Axes::line(std::span<const double> xs, std::span<const double> ys, std::string label, LineStyle style) {
  check_xy(xs, ys, "line", label);
  Series& s = add(Series::Kind::line, std::move(label), style.color);
  s.size = style.width;
  s.xs.assign(xs.begin(), xs.end());
  s.ys.assign(ys.begin(), ys.end());
  return *this;
}

Axes& Axes::scatter(std::span<const double> xs, std::span<const double> ys, std::string label,
                    ScatterStyle style) {
  check_xy(xs, ys, "scatter", label);
  Series& s = add(Series::Kind::scatter, std::move(label), style.color);
  s.size = style.radius;
  s.alpha = style.alpha;
  s.xs.assign(xs.begin(), xs.end());
  s.ys.assign(ys.begin(), ys.end());
  return *this;
}

Axes& Axes::histogram(std::span<const double> values, int bins, std::string label, HistStyle style) {
  Histogram h = plot::histogram(values, bins, style.range);
  Series& s = add(Series::Kind::histogram, std::move(label), style.color);
  s.hist = std::move(h);
  s.density_norm = style.density;
  s.alpha = style.alpha;
  return *this;
}

Axes& Axes::density(std::span<const double> xs, std::span<const double> ys, int bins, DensityStyle style) {
  Histogram2D g = histogram2d(xs, ys, bins, style.bins_y > 0 ? style.bins_y : bins);
  Series s;
  s.kind = Series::Kind::density;
  s.grid = std::move(g);
  s.log_color = style.log_color;
  series_.push_back(std::move(s));
  return *this;
}

Axes& Axes::log_y(bool on) {
  log_y_ = on;
  return *this;
}

Axes& Axes::xlim(double lo, double hi) {
  check_limits(lo, hi, "xlim");
  xlim_ = {lo, hi};
  return *this;
}

Axes& Axes::ylim(double lo, double hi) {
  check_limits(lo, hi, "ylim");
  ORBIT_CHECK(!log_y_ || lo > 0, "plot: ylim(", lo, ", ", hi, ") on a log axis needs lo > 0");
  ylim_ = {lo, hi};
  return *this;
}

Axes& Axes::legend(bool on) {
  legend_ = on;
  return *this;
}

bool Axes::drawable(const Series& s, size_t i) const {
  double x = s.xs[i], y = s.ys[i];
  return std::isfinite(x) && std::isfinite(y) && (!log_y_ || y > 0);
}

int64_t Axes::skipped() const {
  int64_t n = 0;
  for (const Series& s : series_) {
    switch (s.kind) {
      case Series::Kind::line:
      case Series::Kind::scatter:
        for (size_t i = 0; i < s.xs.size(); ++i) n += drawable(s, i) ? 0 : 1;
        break;
      case Series::Kind::histogram: n += s.hist.nonfinite; break;
      case Series::Kind::density: n += s.grid.nonfinite; break;
    }
  }
  return n;
}

}  // namespace orbit::plot
