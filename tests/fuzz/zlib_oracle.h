// zlib as the reference decoder for the DEFLATE fuzz targets (fuzz builds and the corpus replay only;
// orbit itself reads compressed files without zlib).
#pragma once
#include <zlib.h>

#include <cstdint>
#include <vector>

namespace orbit::fuzz {

enum class ZlibResult { ok, error, too_large };

// Decodes [in, in + n) with zlib: window_bits -15 for raw DEFLATE, 31 for one gzip member. ok when a
// complete stream was decoded (`consumed`: the input bytes it took, up to its last bit's byte), error
// when the stream is corrupt or truncated, too_large when the output would pass `cap` bytes.
inline ZlibResult zlib_decode(const uint8_t* in, size_t n, int window_bits, size_t cap, std::vector<uint8_t>& out,
                              size_t* consumed = nullptr) {
  out.clear();
  z_stream z{};
  if (inflateInit2(&z, window_bits) != Z_OK) return ZlibResult::error;
  z.next_in = const_cast<Bytef*>(in);
  z.avail_in = static_cast<uInt>(n);
  uint8_t buf[16384];
  int rc = Z_OK;
  while (rc == Z_OK) {
    z.next_out = buf;
    z.avail_out = sizeof buf;
    rc = inflate(&z, Z_NO_FLUSH);
    out.insert(out.end(), buf, buf + (sizeof buf - z.avail_out));
    if (out.size() > cap) {
      inflateEnd(&z);
      return ZlibResult::too_large;
    }
    if (rc == Z_BUF_ERROR || (rc == Z_OK && z.avail_in == 0 && z.avail_out != 0)) break;  // truncated
  }
  const size_t left = z.avail_in;
  inflateEnd(&z);
  if (consumed) *consumed = n - left;
  return rc == Z_STREAM_END ? ZlibResult::ok : ZlibResult::error;
}

}  // namespace orbit::fuzz
