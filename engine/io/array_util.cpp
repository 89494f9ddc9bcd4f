// Shape validation for file readers and host copies for writers; see array_util.h.
#include "engine/io/array_util.h"

#include <limits>
#include <sstream>

namespace orbit::io {

std::string dims_str(const std::vector<uint64_t>& dims) {
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < dims.size(); ++i) os << (i ? ", " : "") << dims[i];
  os << ']';
  return os.str();
}

Shape checked_shape(const std::vector<uint64_t>& dims, size_t itemsize, const std::string& what, uint64_t& nbytes) {
  if (dims.size() > static_cast<size_t>(Shape::kMaxRank))
    throw Error(detail::cat(what, ": the array has ", dims.size(), " dimensions; orbit supports at most ",
                            Shape::kMaxRank));
  constexpr uint64_t kMax = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  // The product of the non-zero dimensions must fit too, even when a zero makes the array empty:
  // then every partial product (numel, strides) that later code computes fits in int64.
  uint64_t n = 1;
  bool empty = false;
  for (uint64_t d : dims) {
    if (d > kMaxFileDim)
      throw Error(detail::cat(what, ": shape ", dims_str(dims), " has an absurdly large dimension ", d,
                              " (limit 2^48)"));
    if (d == 0) {
      empty = true;
      continue;
    }
    if (__builtin_mul_overflow(n, d, &n) || n > kMax)
      throw Error(detail::cat(what, ": shape ", dims_str(dims), " has too many elements (overflows 64 bits)"));
  }
  if (empty) n = 0;
  if (__builtin_mul_overflow(n, static_cast<uint64_t>(itemsize), &nbytes) || nbytes > kMax)
    throw Error(detail::cat(what, ": shape ", dims_str(dims), " is too large: its byte size overflows 64 bits"));
  return Shape(std::vector<int64_t>(dims.begin(), dims.end()));
}

Tensor host_tensor(const Tensor& t, const std::string& who) {
  if (!t.defined()) throw Error(detail::cat(who, ": the tensor is undefined"));
  return t.device().is_cpu() ? t : t.to(Device::cpu());
}

}  // namespace orbit::io
