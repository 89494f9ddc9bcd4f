// Checks shared by the array readers (shapes from untrusted files) and writers (host copies).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace orbit::io {

// Largest single dimension accepted from a file (2^48): anything bigger is corrupt or hostile.
constexpr uint64_t kMaxFileDim = uint64_t{1} << 48;

// A Shape from dimensions read out of a file, after checking the rank, each dimension and that
// the element count and byte size (elements * itemsize) fit in 63 bits. The byte size goes to
// `nbytes`. Throws orbit::Error prefixed with `what`.
Shape checked_shape(const std::vector<uint64_t>& dims, size_t itemsize, const std::string& what, uint64_t& nbytes);

// "[2, 3]" for dimensions not yet known to be valid.
std::string dims_str(const std::vector<uint64_t>& dims);

// `t` as a host tensor (copied from a device when needed); throws when `t` is undefined.
Tensor host_tensor(const Tensor& t, const std::string& who);

}  // namespace orbit::io
