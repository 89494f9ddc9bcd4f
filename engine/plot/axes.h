// One plot panel: its series (lines, scatter, histograms, 2D density), axis options and the layout
// that turns them into scene items (axes_draw.cpp).
#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "engine/plot/color.h"
#include "engine/plot/histogram.h"
#include "engine/plot/scene.h"

namespace orbit::plot {

// Style options; a colour left out comes from the palette, in the order the series were added.
struct LineStyle {
  std::optional<Color> color{};
  double width = 1.5;  // pixels
};
struct ScatterStyle {
  std::optional<Color> color{};
  double radius = 2.5;  // pixels
  double alpha = 0.8;
};
struct HistStyle {
  std::optional<Color> color{};
  bool density = false;  // bars show count / (total * bin width) instead of counts
  double alpha = 0.5;    // overlaid histograms stay visible through each other
  std::optional<std::pair<double, double>> range{};  // bin range; default: the data's [min, max]
};
struct DensityStyle {
  int bins_y = 0;          // 0: as many as the x bins
  bool log_color = false;  // colour by log(1 + count) instead of count
};

struct Series {
  enum class Kind { line, scatter, histogram, density };
  Kind kind = Kind::line;
  std::string label;
  Color color;
  double size = 1.5;  // line width or marker radius
  double alpha = 1;
  std::vector<double> xs, ys;  // line and scatter points
  Histogram hist;              // histogram
  bool density_norm = false;   // histogram
  Histogram2D grid;            // density
  bool log_color = false;      // density
};

class Axes {
 public:
  Axes(std::string title, std::string xlabel, std::string ylabel);

  // Points (xs[i], ys[i]) joined in order; a NaN or infinite point breaks the line. xs and ys must
  // have the same length.
  Axes& line(std::span<const double> xs, std::span<const double> ys, std::string label = "", LineStyle style = {});
  Axes& scatter(std::span<const double> xs, std::span<const double> ys, std::string label = "",
                ScatterStyle style = {});
  // Bars over `bins` equal bins; several histograms overlay with transparency.
  Axes& histogram(std::span<const double> values, int bins, std::string label = "", HistStyle style = {});
  // A 2D histogram of the points as a heat map (empty cells left blank).
  Axes& density(std::span<const double> xs, std::span<const double> ys, int bins, DensityStyle style = {});

  Axes& log_y(bool on = true);
  Axes& xlim(double lo, double hi);  // fixed ranges instead of automatic ones
  Axes& ylim(double lo, double hi);
  Axes& legend(bool on);             // default on: shown when some series has a label

  // Values left out of the picture: NaN or infinite, or not positive on a log y axis.
  int64_t skipped() const;
  const std::vector<Series>& series() const { return series_; }
  const std::string& title() const { return title_; }

  // Lays the panel out into the cell `cell` of a figure; font_scale multiplies every text size.
  void draw(Scene& scene, const Box& cell, int font_scale) const;

 private:
  bool drawable(const Series& s, size_t i) const;  // point i of a line or scatter series is shown
  Series& add(Series::Kind kind, std::string label, const std::optional<Color>& color);

  std::string title_, xlabel_, ylabel_;
  std::vector<Series> series_;
  int next_color_ = 0;
  bool log_y_ = false, legend_ = true;
  std::optional<std::pair<double, double>> xlim_, ylim_;
};

}  // namespace orbit::plot
