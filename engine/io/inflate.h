// A small raw-DEFLATE (RFC 1951) decoder for np.savez_compressed archives, written for orbit
// so that reading compressed .npz needs no zlib. Bounded: output never exceeds the declared size.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace orbit::io {

// Decodes the raw DEFLATE stream in [in, in + n), which must produce exactly `expected_size`
// bytes. Throws orbit::Error prefixed with `what` on any malformed, truncated or oversized stream.
// `used`, when given, receives the bytes the stream took, up to the byte holding its last bit: bytes
// after that are not part of it, and the containers (gzip, zip) reject them.
std::vector<uint8_t> inflate_raw(const uint8_t* in, size_t n, size_t expected_size, const std::string& what,
                                 size_t* used = nullptr);

}  // namespace orbit::io
