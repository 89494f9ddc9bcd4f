// FNV-1a, 64 bits: a fast non-cryptographic hash for naming things by their content (generated
// kernels, cached integration results). Continue a hash by passing the previous value as `h`.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace orbit::util {

inline constexpr uint64_t kFnv1aOffset = 1469598103934665603ull;

inline uint64_t fnv1a(const void* data, size_t n, uint64_t h = kFnv1aOffset) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 1099511628211ull;
  }
  return h;
}

inline uint64_t fnv1a(std::string_view s, uint64_t h = kFnv1aOffset) { return fnv1a(s.data(), s.size(), h); }

}  // namespace orbit::util
