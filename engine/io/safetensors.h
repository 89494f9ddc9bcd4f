// safetensors files: an 8-byte little-endian header length, a JSON header (dtype, shape,
// data_offsets per tensor; optional "__metadata__" string map), then the tensor bytes.
// Supported dtypes: F32, F64, I32, I64.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace orbit {

// Atomic: writes "path.tmp.<pid>" and renames it over `path`. Tensors are laid out by itemsize
// (largest first) then name, so every tensor's offset is aligned to its itemsize.
void write_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                       const std::map<std::string, std::string>& metadata = {});
// Replaces the contents of `tensors` and `metadata` (left untouched when it throws).
void read_safetensors(const std::string& path, std::map<std::string, Tensor>& tensors,
                      std::map<std::string, std::string>& metadata);

// In-memory forms. `what` names the source in error messages.
std::vector<uint8_t> encode_safetensors(const std::map<std::string, Tensor>& tensors,
                                        const std::map<std::string, std::string>& metadata = {});
void parse_safetensors(const uint8_t* data, size_t size, const std::string& what,
                       std::map<std::string, Tensor>& tensors, std::map<std::string, std::string>& metadata);

}  // namespace orbit
