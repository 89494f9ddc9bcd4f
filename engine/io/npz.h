// NumPy .npz archives: a zip of "<key>.npy" entries. Reads np.savez (stored) and
// np.savez_compressed (deflate) archives; writes stored archives like np.savez.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace orbit {

std::map<std::string, Tensor> read_npz(const std::string& path);
// Atomic: writes "path.tmp.<pid>" and renames it over `path`.
void write_npz(const std::string& path, const std::map<std::string, Tensor>& arrays);

// In-memory forms. `what` names the source in error messages.
std::map<std::string, Tensor> parse_npz(const uint8_t* data, size_t size, const std::string& what);
std::vector<uint8_t> encode_npz(const std::map<std::string, Tensor>& arrays);

}  // namespace orbit
