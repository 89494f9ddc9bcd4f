// CRC-32 (ISO-HDLC, polynomial 0xEDB88320), as used by ZIP.
#pragma once
#include <cstddef>
#include <cstdint>

namespace orbit::io {

// Continues a CRC: crc32_update(crc32_update(0, a, n), b, m) == CRC of a followed by b.
uint32_t crc32_update(uint32_t crc, const void* data, size_t n);
inline uint32_t crc32(const void* data, size_t n) { return crc32_update(0, data, n); }

}  // namespace orbit::io
