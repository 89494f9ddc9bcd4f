// NumPy .npy files: read format 1.0/2.0/3.0 (little-endian f4, f8, i4, i8; C order; rank <= 6)
// and write format 1.0 with the data aligned to 64 bytes, as NumPy does.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace orbit {

Tensor read_npy(const std::string& path);
// Atomic: writes "path.tmp.<pid>" and renames it over `path`.
void write_npy(const std::string& path, const Tensor& t);

// In-memory forms. `what` names the source in error messages (a file name, an archive entry).
Tensor parse_npy(const uint8_t* data, size_t size, const std::string& what);
std::vector<uint8_t> encode_npy(const Tensor& t);

namespace io {
// The magic, version, header length and header dict of t's .npy encoding; the raw
// little-endian, C-order array bytes follow it.
std::string npy_header(const Tensor& t);
}  // namespace io

}  // namespace orbit
