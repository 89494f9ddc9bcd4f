// Colours for plots: 8-bit RGB, the palette series take their colours from, and a colour map for
// heat maps.
#pragma once
#include <cstdint>
#include <string>

namespace orbit::plot {

struct Color {
  uint8_t r = 0, g = 0, b = 0;

  static constexpr Color hex(uint32_t rgb) {
    return {static_cast<uint8_t>(rgb >> 16), static_cast<uint8_t>(rgb >> 8), static_cast<uint8_t>(rgb)};
  }
  std::string svg() const;  // "#rrggbb"
  bool operator==(const Color&) const = default;
};

// The i-th colour of the default series palette (ten distinct colours, repeating).
Color palette(int i);

// A perceptually ordered map from t in [0, 1] (clamped) to dark blue, teal, green and yellow.
Color colormap(double t);

}  // namespace orbit::plot
