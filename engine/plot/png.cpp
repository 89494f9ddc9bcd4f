// PNG encoder; see png.h.
#include "engine/plot/png.h"

#include <algorithm>

#include "engine/error.h"
#include "engine/io/crc32.h"

namespace orbit::plot {

namespace {

void put_be32(std::vector<uint8_t>& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
}

// length, type, data, CRC-32 of type and data.
void chunk(std::vector<uint8_t>& out, const char type[4], const std::vector<uint8_t>& data) {
  ORBIT_CHECK(data.size() < (1u << 31), "plot: PNG chunk of ", data.size(), " bytes is too large");
  put_be32(out, static_cast<uint32_t>(data.size()));
  size_t start = out.size();
  out.insert(out.end(), type, type + 4);
  out.insert(out.end(), data.begin(), data.end());
  put_be32(out, io::crc32(out.data() + start, out.size() - start));
}

}  // namespace

uint32_t adler32(const void* data, size_t n) {
  constexpr uint32_t kMod = 65521;
  auto p = static_cast<const uint8_t*>(data);
  uint32_t a = 1, b = 0;
  while (n > 0) {
    size_t run = std::min<size_t>(n, 5552);  // the most bytes before b can overflow 32 bits
    for (size_t i = 0; i < run; ++i) {
      a += p[i];
      b += a;
    }
    a %= kMod;
    b %= kMod;
    p += run;
    n -= run;
  }
  return (b << 16) | a;
}

std::vector<uint8_t> zlib_stored(const uint8_t* data, size_t n) {
  std::vector<uint8_t> out = {0x78, 0x01};  // deflate, 32 KiB window, no dictionary, fastest level
  size_t pos = 0;
  do {
    size_t len = std::min<size_t>(n - pos, 65535);
    bool last = pos + len == n;
    out.push_back(last ? 1 : 0);  // BFINAL, BTYPE = 00 (stored), then byte-aligned
    out.push_back(static_cast<uint8_t>(len));
    out.push_back(static_cast<uint8_t>(len >> 8));
    out.push_back(static_cast<uint8_t>(~len));
    out.push_back(static_cast<uint8_t>(~len >> 8));
    out.insert(out.end(), data + pos, data + pos + len);
    pos += len;
  } while (pos < n);
  put_be32(out, adler32(data, n));
  return out;
}

std::vector<uint8_t> encode_png(const Image& image) {
  ORBIT_CHECK(image.width > 0 && image.height > 0 && image.rgb.size() == size_t(image.width) * image.height * 3,
              "plot: cannot encode a ", image.width, "x", image.height, " image holding ", image.rgb.size(), " bytes");
  const size_t stride = static_cast<size_t>(image.width) * 3;
  std::vector<uint8_t> raw;
  raw.reserve((stride + 1) * image.height);
  for (int y = 0; y < image.height; ++y) {
    raw.push_back(0);  // filter type None
    raw.insert(raw.end(), image.rgb.begin() + y * stride, image.rgb.begin() + (y + 1) * stride);
  }

  std::vector<uint8_t> png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  std::vector<uint8_t> ihdr;
  put_be32(ihdr, static_cast<uint32_t>(image.width));
  put_be32(ihdr, static_cast<uint32_t>(image.height));
  ihdr.insert(ihdr.end(), {8, 2, 0, 0, 0});  // bit depth 8, RGB, deflate, adaptive filters, no interlace
  chunk(png, "IHDR", ihdr);
  chunk(png, "IDAT", zlib_stored(raw.data(), raw.size()));
  chunk(png, "IEND", {});
  return png;
}

}  // namespace orbit::plot
