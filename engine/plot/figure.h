// A figure: a canvas of axes laid out in a grid (subplots), saved as SVG or PNG.
//
//   plot::Figure fig(800, 600);
//   auto& ax = fig.axes("loss", "step", "loss");
//   ax.line(steps, losses, "train").log_y();
//   fig.save("loss.png");   // or "loss.svg"
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/plot/axes.h"
#include "engine/plot/raster.h"
#include "engine/plot/scene.h"

namespace orbit::plot {

class Figure {
 public:
  // Size in pixels, each between 16 and 16384.
  explicit Figure(int width = 640, int height = 480);

  // A new panel; the returned reference stays valid for the figure's lifetime. Panels fill the grid
  // row by row.
  Axes& axes(std::string title = "", std::string xlabel = "", std::string ylabel = "");
  // The subplot grid; by default as square as possible for the number of panels (columns first).
  Figure& grid(int rows, int cols);
  // Multiplies every text size (1: 7-pixel capitals; 2 suits figures of 1200 pixels and more).
  Figure& font_scale(int scale);

  Scene scene() const;
  std::string svg() const;
  Image image() const;
  std::vector<uint8_t> png() const;

  // Writes SVG or PNG as `path` ends in .svg or .png (any case), atomically (a temporary file
  // renamed over `path`). Throws orbit::Error for any other extension or a failed write.
  void save(const std::string& path) const;

 private:
  int width_, height_, rows_ = 0, cols_ = 0, font_scale_ = 1;
  std::vector<std::unique_ptr<Axes>> axes_;
};

}  // namespace orbit::plot
