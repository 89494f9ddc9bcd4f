// The IDX format of (Fashion-)MNIST (plain or gzip-compressed): a magic (0, 0, type, rank), big-endian
// u32 dimensions, then the data. Validated against the file length before anything is allocated.
#pragma once
#include <string>

#include "engine/tensor.h"

namespace orbit {

// Unsigned/signed bytes, i16 and i32 come back as i32 tensors, f32 as f32, f64 as f64.
Tensor read_idx(const std::string& path);
Tensor parse_idx(const uint8_t* data, size_t size, const std::string& what);

}  // namespace orbit
