// PNG output of the plotting library: CRC-32 and Adler-32 against known values, the zlib stream of
// stored blocks decoded by orbit's own inflater, the chunk structure of whole PNG files, and
// pixel checks of the rasterised picture (bar colours at their places, frame, text).
#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/io/crc32.h"
#include "engine/io/inflate.h"
#include "engine/plot/font.h"
#include "engine/plot/plot.h"
#include "engine/plot/png.h"
#include "engine/plot/raster.h"

using namespace orbit;

namespace {

uint32_t be32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3];
}

// Decodes a PNG written by encode_png, checking its structure on the way.
plot::Image decode_png(const std::vector<uint8_t>& png) {
  static const uint8_t kSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  REQUIRE(png.size() > 8);
  REQUIRE(std::memcmp(png.data(), kSignature, 8) == 0);
  std::vector<std::string> types;
  std::vector<uint8_t> idat;
  plot::Image img;
  size_t p = 8;
  while (p < png.size()) {
    REQUIRE(p + 12 <= png.size());
    uint32_t len = be32(&png[p]);
    REQUIRE(p + 12 + len <= png.size());
    std::string type(reinterpret_cast<const char*>(&png[p + 4]), 4);
    CHECK(be32(&png[p + 8 + len]) == io::crc32(&png[p + 4], len + 4));
    const uint8_t* data = &png[p + 8];
    if (type == "IHDR") {
      REQUIRE(len == 13);
      img.width = static_cast<int>(be32(data));
      img.height = static_cast<int>(be32(data + 4));
      CHECK(data[8] == 8);   // bit depth
      CHECK(data[9] == 2);   // RGB
      CHECK(data[10] == 0);  // deflate
      CHECK(data[11] == 0);  // filter method
      CHECK(data[12] == 0);  // no interlace
    }
    if (type == "IDAT") idat.insert(idat.end(), data, data + len);
    types.push_back(type);
    p += 12 + len;
  }
  REQUIRE(types.size() >= 3);
  CHECK(types.front() == "IHDR");
  CHECK(types.back() == "IEND");
  // zlib: header, raw deflate, Adler-32 of the decoded bytes.
  REQUIRE(idat.size() >= 6);
  CHECK((idat[0] * 256 + idat[1]) % 31 == 0);
  CHECK((idat[0] & 0x0f) == 8);
  const size_t stride = static_cast<size_t>(img.width) * 3 + 1;
  std::vector<uint8_t> raw = io::inflate_raw(idat.data() + 2, idat.size() - 6, stride * img.height, "png test");
  CHECK(raw.size() == stride * img.height);
  CHECK(be32(&idat[idat.size() - 4]) == plot::adler32(raw.data(), raw.size()));
  img.rgb.reserve(static_cast<size_t>(img.width) * img.height * 3);
  for (int y = 0; y < img.height; ++y) {
    CHECK(raw[y * stride] == 0);  // filter None
    img.rgb.insert(img.rgb.end(), raw.begin() + y * stride + 1, raw.begin() + (y + 1) * stride);
  }
  return img;
}

}  // namespace

TEST_SUITE("cpu") {

TEST_CASE("crc32 and adler32 match known values") {
  CHECK(io::crc32("123456789", 9) == 0xCBF43926u);
  CHECK(io::crc32("", 0) == 0u);
  CHECK(io::crc32("IEND", 4) == 0xAE426082u);  // the CRC every PNG ends with
  CHECK(plot::adler32("Wikipedia", 9) == 0x11E60398u);
  CHECK(plot::adler32("", 0) == 1u);
  // Long input (the sums are reduced in runs of 5552 bytes) against the definition.
  std::vector<uint8_t> big(100000);
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<uint8_t>(255 - i % 7);
  uint32_t a = 1, b = 0;
  for (uint8_t c : big) {
    a = (a + c) % 65521;
    b = (b + a) % 65521;
  }
  CHECK(plot::adler32(big.data(), big.size()) == ((b << 16) | a));
}

TEST_CASE("zlib stream of stored blocks decodes to its input") {
  for (size_t n : {size_t(0), size_t(1), size_t(65535), size_t(65536), size_t(200000)}) {
    std::vector<uint8_t> data(n);
    for (size_t i = 0; i < n; ++i) data[i] = static_cast<uint8_t>(i * 31 + 7);
    std::vector<uint8_t> z = plot::zlib_stored(data.data(), n);
    size_t blocks = n == 0 ? 1 : (n + 65534) / 65535;
    CHECK(z.size() == 2 + 5 * blocks + n + 4);
    CHECK(io::inflate_raw(z.data() + 2, z.size() - 6, n, "zlib test") == data);
    CHECK(be32(&z[z.size() - 4]) == plot::adler32(data.data(), n));
  }
}

TEST_CASE("png files have a valid structure and the decoded size") {
  plot::Figure fig(333, 211);  // odd sizes: rows are not a multiple of anything
  fig.axes("t", "x", "y").line(std::vector<double>{0, 1, 2}, std::vector<double>{0, 1, 0}, "tri");
  std::vector<uint8_t> png = fig.png();
  plot::Image img = decode_png(png);
  CHECK(img.width == 333);
  CHECK(img.height == 211);
  CHECK(img.rgb == fig.image().rgb);
}

TEST_CASE("png pixels show bars of their colour at their place") {
  plot::Figure fig(400, 300);
  const plot::Color red = plot::Color::hex(0xff0000), blue = plot::Color::hex(0x0000ff);
  auto& ax = fig.axes("bars", "value", "count");
  std::vector<double> v = {0, 1, 1, 2, 2, 2, 3, 3, 3, 3};
  ax.histogram(v, 4, "", {.color = red, .alpha = 1.0});
  plot::Image img = decode_png(fig.png());
  plot::Scene sc = fig.scene();
  int bars = 0;
  for (const auto& item : sc.items) {
    if (item.role == "frame") {
      const auto& f = std::get<plot::RectItem>(item.shape).box;
      CHECK(img.at(static_cast<int>(f.x0), static_cast<int>((f.y0 + f.y1) / 2)) == plot::Color::hex(0x444444));
    }
    if (item.role != "bar") continue;
    const auto& b = std::get<plot::RectItem>(item.shape).box;
    int cx = static_cast<int>((b.x0 + b.x1) / 2), cy = static_cast<int>((b.y0 + b.y1) / 2);
    CHECK(img.at(cx, cy) == red);
    CHECK(img.at(cx, static_cast<int>(b.y0) + 1) == red);       // just inside the top
    CHECK_FALSE(img.at(cx, static_cast<int>(b.y0) - 3) == red);  // above the bar: no red
    ++bars;
  }
  CHECK(bars == 4);

  // Blending: a half-transparent blue rectangle over white.
  plot::Scene s2;
  s2.width = 20;
  s2.height = 10;
  s2.add(plot::RectItem{{2, 2, 8, 8}, true, blue, 0.5}, "r");
  plot::Image im2 = plot::rasterize(s2);
  CHECK(im2.at(5, 5) == plot::Color{128, 128, 255});
  CHECK(im2.at(1, 5) == plot::Color::hex(0xffffff));
  CHECK(im2.at(8, 5) == plot::Color::hex(0xffffff));  // [2, 8) covers columns 2..7
  CHECK(im2.at(7, 5) == plot::Color{128, 128, 255});
}

TEST_CASE("png text is drawn from the bitmap font") {
  plot::Scene sc;
  sc.width = 40;
  sc.height = 20;
  const plot::Color ink = plot::Color::hex(0x000000), white = plot::Color::hex(0xffffff);
  sc.add(plot::TextItem{{10, 12}, "1H", 1, ink}, "text");
  plot::Image img = plot::rasterize(sc);
  for (int g = 0; g < 2; ++g) {
    const uint8_t* rows = plot::font::glyph(g == 0 ? '1' : 'H');
    for (int r = 0; r < plot::font::kRows; ++r)
      for (int c = 0; c < plot::font::kGlyphWidth; ++c) {
        bool on = rows[r] & (1u << (plot::font::kGlyphWidth - 1 - c));
        CHECK(img.at(10 + g * plot::font::kAdvance + c, 12 - plot::font::kAscent + r) == (on ? ink : white));
      }
  }
  CHECK(plot::font::glyph_count("a\xcf\x83") == 2);  // 'σ' is one glyph ('?')
  CHECK(plot::font::glyph(0x3c3) == plot::font::glyph('?'));
}

TEST_CASE("anti-aliased lines stay inside their clip box") {
  plot::Scene sc;
  sc.width = 50;
  sc.height = 50;
  sc.clips.push_back({10, 10, 40, 40});
  sc.add(plot::PolylineItem{{{0, 25.3}, {50, 25.3}}, plot::Color::hex(0x000000), 2}, "line", 0);
  plot::Image img = plot::rasterize(sc);
  CHECK(img.at(5, 25) == plot::Color::hex(0xffffff));   // clipped away
  CHECK(img.at(25, 25) == plot::Color::hex(0x000000));  // centre 25.5 is 0.2 from the line: covered
  for (int y : {24, 26}) {                              // 0.8 and 1.2 away: partly covered, grey
    plot::Color edge = img.at(25, y);
    CHECK(edge.r > 0);
    CHECK(edge.r < 255);
  }
  CHECK(img.at(25, 24).r < img.at(25, 26).r);  // the nearer row is darker
  CHECK(img.at(25, 23) == plot::Color::hex(0xffffff));
  CHECK(img.at(25, 28) == plot::Color::hex(0xffffff));
}

}  // TEST_SUITE
