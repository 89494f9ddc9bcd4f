// .npz reader (zip container, stored and deflated entries, CRC-32): any bytes either parse or throw
// orbit::Error; what parses survives a write and a second read unchanged.
#include "engine/io/npz.h"
#include "tests/fuzz/fuzz_target.h"

using namespace orbit;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto arrays = fuzz::accepted([&] { return parse_npz(data, size, "fuzz.npz"); });
  if (!arrays) return 0;
  const std::vector<uint8_t> again = encode_npz(*arrays);
  const auto back = fuzz::reparsed([&] { return parse_npz(again.data(), again.size(), "fuzz.npz (written back)"); });
  fuzz::expect(fuzz::same_tensors(*arrays, back), "a parsed archive written back reads the same");
  return 0;
}
