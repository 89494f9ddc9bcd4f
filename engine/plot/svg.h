// Writes a scene as a standalone SVG document.
#pragma once
#include <string>

#include "engine/plot/scene.h"

namespace orbit::plot {

// Every item becomes one element whose class attribute is the item's role ("bar", "marker", ...).
std::string to_svg(const Scene& scene);

}  // namespace orbit::plot
