// PNG encoding of an RGB image: 8-bit truecolour, one IDAT chunk holding a zlib stream of stored
// (uncompressed) deflate blocks, chunk CRCs from orbit::io::crc32.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "engine/plot/raster.h"

namespace orbit::plot {

// Adler-32 (RFC 1950), the zlib stream checksum.
uint32_t adler32(const void* data, size_t n);

// A zlib stream (RFC 1950) carrying `data` in stored deflate blocks of at most 65535 bytes.
std::vector<uint8_t> zlib_stored(const uint8_t* data, size_t n);

std::vector<uint8_t> encode_png(const Image& image);

}  // namespace orbit::plot
