// Reading gzip files (RFC 1952) with orbit's own DEFLATE decoder: one member, header fields
// validated, CRC-32 and length checked. Used for the IDX files of (Fashion-)MNIST.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace orbit::io {

bool is_gzip(const uint8_t* data, size_t size);
// The decompressed bytes; throws orbit::Error prefixed with `what` on anything malformed. The
// declared size is capped (1 GiB, and 1032 x the compressed size, DEFLATE's largest ratio).
std::vector<uint8_t> gunzip(const uint8_t* data, size_t size, const std::string& what);

}  // namespace orbit::io
