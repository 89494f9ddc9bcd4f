// The built-in 5x7 bitmap font that PNG output draws text with (printable ASCII; anything else is '?').
// Layout uses the same metrics for SVG, whose monospace text is sized to match.
#pragma once
#include <cstdint>
#include <string_view>

namespace orbit::plot::font {

constexpr int kGlyphWidth = 5;  // pixels of ink per glyph at scale 1
constexpr int kAdvance = 6;     // pixels from one glyph to the next
constexpr int kAscent = 7;      // rows above the baseline (capital height)
constexpr int kRows = 9;        // kAscent plus two descender rows

// The kRows rows of a glyph, top first; bit 4 is the leftmost column.
const uint8_t* glyph(char32_t c);

// Glyphs in UTF-8 text: one per byte that is not a continuation byte (10xxxxxx).
int glyph_count(std::string_view text);
inline double text_width(std::string_view text, int scale) { return glyph_count(text) * kAdvance * scale; }

// Calls f(code point) for each glyph of `text`: ASCII as is, everything else as '?'.
template <class F>
void for_each_glyph(std::string_view text, F&& f) {
  for (unsigned char c : text) {
    if ((c & 0xC0) == 0x80) continue;  // a continuation byte: part of the glyph already drawn
    f(c < 0x80 ? char32_t(c) : char32_t('?'));
  }
}

}  // namespace orbit::plot::font
