// IDX reader ((Fashion-)MNIST, plain or gzip): any bytes either parse or throw orbit::Error, and a
// parsed tensor never holds more elements than the input's bytes can carry.
#include "engine/io/gzip.h"
#include "engine/io/idx.h"
#include "tests/fuzz/fuzz_target.h"

using namespace orbit;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto t = fuzz::accepted([&] { return parse_idx(data, size, "fuzz.idx"); });
  if (!t) return 0;
  // Plain: one byte per element at least. Gzip: DEFLATE expands at most 1032x.
  const size_t bound = io::is_gzip(data, size) ? size * 1032 : size;
  fuzz::expect(static_cast<size_t>(t->numel()) <= bound, "an IDX tensor is no larger than its input allows");
  return 0;
}
