#include "engine/io/gzip.h"

#include "engine/error.h"
#include "engine/io/crc32.h"
#include "engine/io/inflate.h"

namespace orbit::io {

bool is_gzip(const uint8_t* d, size_t n) { return n >= 2 && d[0] == 0x1f && d[1] == 0x8b; }

std::vector<uint8_t> gunzip(const uint8_t* d, size_t n, const std::string& what) {
  ORBIT_CHECK(n >= 18, what, ": too short for a gzip file (", n, " bytes)");
  ORBIT_CHECK(is_gzip(d, n), what, ": not a gzip file (bad magic)");
  ORBIT_CHECK(d[2] == 8, what, ": unknown gzip compression method ", int(d[2]));
  const uint8_t flags = d[3];
  ORBIT_CHECK((flags & 0xE0) == 0, what, ": reserved gzip flag bits are set");
  size_t pos = 10;
  auto need = [&](size_t k, const char* field) {
    ORBIT_CHECK(k <= n - 8 && pos <= n - 8 - k, what, ": gzip header field ", field, " runs past the data");
  };
  if (flags & 0x04) {  // FEXTRA
    need(2, "FEXTRA length");
    size_t xlen = d[pos] | (size_t(d[pos + 1]) << 8);
    pos += 2;
    need(xlen, "FEXTRA");
    pos += xlen;
  }
  for (uint8_t bit : {uint8_t(0x08), uint8_t(0x10)}) {  // FNAME, FCOMMENT: zero-terminated
    if (!(flags & bit)) continue;
    while (true) {
      need(1, bit == 0x08 ? "FNAME" : "FCOMMENT");
      if (d[pos++] == 0) break;
    }
  }
  if (flags & 0x02) {  // FHCRC: the low 16 bits of the CRC-32 of the header bytes before it
    need(2, "FHCRC");
    const uint32_t stored = d[pos] | (uint32_t(d[pos + 1]) << 8);
    const uint32_t computed = crc32(d, pos) & 0xFFFFu;
    ORBIT_CHECK(stored == computed, what, ": gzip header CRC mismatch (corrupt header)");
    pos += 2;
  }
  const uint8_t* tail = d + n - 8;
  uint32_t crc = tail[0] | (uint32_t(tail[1]) << 8) | (uint32_t(tail[2]) << 16) | (uint32_t(tail[3]) << 24);
  uint32_t isize = tail[4] | (uint32_t(tail[5]) << 8) | (uint32_t(tail[6]) << 16) | (uint32_t(tail[7]) << 24);
  const size_t body = n - 8 - pos;
  ORBIT_CHECK(isize <= (1u << 30), what, ": declared uncompressed size ", isize, " exceeds 1 GiB");
  ORBIT_CHECK(static_cast<double>(isize) <= 1032.0 * static_cast<double>(body) + 64, what,
              ": declared uncompressed size ", isize, " is impossible for ", body, " compressed bytes");
  size_t used = 0;
  std::vector<uint8_t> out = inflate_raw(d + pos, body, isize, what, &used);
  // One member and nothing else: the trailer must follow the compressed stream directly.
  ORBIT_CHECK(used == body, what, ": ", body - used, " unexpected bytes between the compressed data and the gzip trailer",
              " (a second member or trailing data)");
  ORBIT_CHECK(crc32(out.data(), out.size()) == crc, what, ": gzip CRC-32 mismatch (corrupt data)");
  return out;
}

}  // namespace orbit::io
