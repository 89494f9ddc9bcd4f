// Draws a scene into an RGB image: anti-aliased lines and circles, pixel-aligned rectangles and
// text in the built-in bitmap font.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/plot/color.h"
#include "engine/plot/scene.h"

namespace orbit::plot {

struct Image {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;  // row-major, 3 bytes per pixel, top row first

  Color at(int x, int y) const {
    const uint8_t* p = &rgb[(static_cast<size_t>(y) * width + x) * 3];
    return {p[0], p[1], p[2]};
  }
};

Image rasterize(const Scene& scene);

}  // namespace orbit::plot
