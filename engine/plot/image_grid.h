// Grids of small images (learned filters, samples) as SVG or PNG: panels side by side, each a titled
// grid of equally sized tiles, every tile value a square of `pixel` x `pixel` pixels.
//
//   plot::ImagePanel panel{"fc1, channel 0", tiles, /*count=*/196, /*h=*/14, /*w=*/14, /*cols=*/14};
//   plot::save_image_grid("filters.png", {panel}, "first-layer filters");
//
// Colours: `diverging` (default) maps each tile's values about its centre (its median, or 0) to blue
// (below), white (at the centre) and red (above), scaled by the tile's largest deviation, so the
// shape of a filter shows whatever its offset; `sequential` maps [min, max] of the panel to the
// plot colour map (for images such as digits).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/plot/scene.h"

namespace orbit::plot {

struct ImagePanel {
  std::string title;
  std::vector<float> values;  // count tiles of h x w, row-major, one after another
  int64_t count = 0, h = 0, w = 0;
  int64_t cols = 0;  // tiles per row; 0: as square as possible
};

struct ImageGridOptions {
  enum class Colors { diverging, sequential };
  Colors colors = Colors::diverging;
  bool center_median = true;  // diverging: centre each tile at its median (false: at 0)
  int pixel = 2;              // pixels per value, 1..64
  int gap = 2;                // pixels between tiles
  int font_scale = 1;
};

// Blue-white-red for t in [-1, 1] (clamped; NaN is white).
Color diverging_color(double t);

// Throws orbit::Error on inconsistent sizes, non-finite values or a picture over 16384 pixels a side.
Scene image_grid_scene(const std::vector<ImagePanel>& panels, const std::string& title = "",
                       const ImageGridOptions& opts = {});
// Writes SVG or PNG as `path` ends in .svg or .png, atomically.
void save_image_grid(const std::string& path, const std::vector<ImagePanel>& panels, const std::string& title = "",
                     const ImageGridOptions& opts = {});

}  // namespace orbit::plot
