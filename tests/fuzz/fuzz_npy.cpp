// .npy reader: any bytes either parse or throw orbit::Error; what parses survives a write and a
// second read unchanged.
#include "engine/io/npy.h"
#include "tests/fuzz/fuzz_target.h"

using namespace orbit;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto t = fuzz::accepted([&] { return parse_npy(data, size, "fuzz.npy"); });
  if (!t) return 0;
  const std::vector<uint8_t> again = encode_npy(*t);
  const Tensor u = fuzz::reparsed([&] { return parse_npy(again.data(), again.size(), "fuzz.npy (written back)"); });
  fuzz::expect(fuzz::same_tensor(*t, u), "a parsed array written back reads the same");
  return 0;
}
