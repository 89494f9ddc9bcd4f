// Minimal ZIP container for .npz: reads STORED and DEFLATE entries (zip64 aware), checking every
// offset and size against the buffer and each CRC-32; writes STORED entries (zip64 when needed).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "engine/io/file_io.h"

namespace orbit::io {

// Validates the whole archive in [data, data + size), then calls `visit` for each entry in
// central-directory order with its uncompressed bytes (pointing into `data` for stored entries).
// Entries may not overlap, names may not repeat. Throws orbit::Error prefixed with `what`.
void read_zip(const uint8_t* data, size_t size, const std::string& what,
              const std::function<void(const std::string& name, const uint8_t* bytes, size_t n)>& visit);

// One entry to write: its name and its bytes, given as pieces that are concatenated.
struct ZipSource {
  std::string name;
  std::vector<std::pair<const void*, size_t>> pieces;
};

// Writes a STORED archive. Zip64 records are used where sizes or offsets need them, or for every
// entry when force_zip64 is set (used by tests to exercise the zip64 reading path).
void write_zip(ByteSink& out, const std::vector<ZipSource>& entries, bool force_zip64 = false);

}  // namespace orbit::io
