#include "engine/io/idx.h"

#include <cstring>
#include <vector>

#include "engine/io/array_util.h"
#include "engine/io/file_io.h"
#include "engine/io/gzip.h"

namespace orbit {

Tensor parse_idx(const uint8_t* d, size_t n, const std::string& what) {
  std::vector<uint8_t> unzipped;
  if (io::is_gzip(d, n)) {
    unzipped = io::gunzip(d, n, what);
    d = unzipped.data();
    n = unzipped.size();
  }
  ORBIT_CHECK(n >= 4, what, ": too short for an IDX file");
  ORBIT_CHECK(d[0] == 0 && d[1] == 0, what, ": bad IDX magic");
  const uint8_t type = d[2], rank = d[3];
  size_t item = 0;
  switch (type) {
    case 0x08: case 0x09: item = 1; break;  // unsigned / signed byte
    case 0x0B: item = 2; break;             // i16
    case 0x0C: case 0x0D: item = 4; break;  // i32, f32
    case 0x0E: item = 8; break;             // f64
    default: throw Error(detail::cat(what, ": unknown IDX element type 0x", std::hex, int(type)));
  }
  ORBIT_CHECK(rank >= 1 && rank <= Shape::kMaxRank, what, ": IDX rank ", int(rank), " (orbit supports 1..",
              Shape::kMaxRank, ")");
  ORBIT_CHECK(n >= 4 + 4 * size_t(rank), what, ": IDX header runs past the end of the file");
  std::vector<uint64_t> dims;
  for (int i = 0; i < rank; ++i) {
    const uint8_t* p = d + 4 + 4 * i;
    dims.push_back((uint64_t(p[0]) << 24) | (uint64_t(p[1]) << 16) | (uint64_t(p[2]) << 8) | p[3]);
  }
  // Element count and byte size checked for overflow the way every array reader does (multiplying
  // first wrapped here once: 2^39 x 0xfa000000 is 0 mod 2^64, found by tests/fuzz/fuzz_idx); then
  // the body must hold exactly those bytes.
  uint64_t nbytes = 0;
  const Shape shape = io::checked_shape(dims, item, what + ": IDX", nbytes);
  const uint64_t count = static_cast<uint64_t>(shape.numel());
  const size_t header = 4 + 4 * size_t(rank);
  ORBIT_CHECK(n - header == nbytes, what, ": IDX data holds ", n - header, " bytes but the shape needs ", nbytes);
  const uint8_t* p = d + header;
  auto be = [&](size_t i, size_t k) {
    uint64_t v = 0;
    for (size_t b = 0; b < k; ++b) v = (v << 8) | p[i * k + b];
    return v;
  };
  if (type == 0x0D || type == 0x0E) {
    Tensor t = Tensor::empty(shape, type == 0x0D ? DType::f32 : DType::f64);
    for (uint64_t i = 0; i < count; ++i) {
      uint64_t bits = be(i, item);
      if (type == 0x0D) {
        uint32_t b32 = static_cast<uint32_t>(bits);
        std::memcpy(t.data<float>() + i, &b32, 4);
      } else {
        std::memcpy(t.data<double>() + i, &bits, 8);
      }
    }
    return t;
  }
  Tensor t = Tensor::empty(shape, DType::i32);
  int32_t* o = t.data<int32_t>();
  for (uint64_t i = 0; i < count; ++i) {
    uint64_t v = be(i, item);
    switch (type) {
      case 0x08: o[i] = static_cast<int32_t>(v); break;
      case 0x09: o[i] = static_cast<int8_t>(v); break;
      case 0x0B: o[i] = static_cast<int16_t>(v); break;
      default: o[i] = static_cast<int32_t>(static_cast<uint32_t>(v)); break;
    }
  }
  return t;
}

Tensor read_idx(const std::string& path) {
  std::vector<uint8_t> bytes = io::read_file(path, "read_idx");
  return parse_idx(bytes.data(), bytes.size(), "IDX file '" + path + "'");
}

}  // namespace orbit
