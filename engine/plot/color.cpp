// Palette and colour map; see color.h.
#include "engine/plot/color.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace orbit::plot {

std::string Color::svg() const {
  char buf[8];
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", r, g, b);
  return buf;
}

Color palette(int i) {
  static constexpr Color kPalette[] = {
      Color::hex(0x1f77b4), Color::hex(0xff7f0e), Color::hex(0x2ca02c), Color::hex(0xd62728),
      Color::hex(0x9467bd), Color::hex(0x8c564b), Color::hex(0xe377c2), Color::hex(0x7f7f7f),
      Color::hex(0xbcbd22), Color::hex(0x17becf)};
  constexpr int n = sizeof kPalette / sizeof kPalette[0];
  return kPalette[((i % n) + n) % n];
}

Color colormap(double t) {
  static constexpr Color kStops[] = {Color::hex(0x440154), Color::hex(0x3b528b), Color::hex(0x21918c),
                                     Color::hex(0x5ec962), Color::hex(0xfde725)};
  constexpr int n = sizeof kStops / sizeof kStops[0];
  if (!(t > 0)) t = 0;  // also NaN
  t = std::min(t, 1.0) * (n - 1);
  int i = std::min(static_cast<int>(t), n - 2);
  double f = t - i;
  auto mix = [f](uint8_t a, uint8_t b) { return static_cast<uint8_t>(std::lround(a + (b - a) * f)); };
  const Color &a = kStops[i], &b = kStops[i + 1];
  return {mix(a.r, b.r), mix(a.g, b.g), mix(a.b, b.b)};
}

}  // namespace orbit::plot
