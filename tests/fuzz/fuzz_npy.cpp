// .npy reader: any bytes either parse or throw orbit::Error; what parses survives a write and a
// second read unchanged.
#include "engine/io/npy.h"
#include "tests/fuzz/fuzz_target.h"

using namespace orbit;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Tensor t;
  try {
    t = parse_npy(data, size, "fuzz.npy");
  } catch (const Error&) {
    return 0;
  }
  const std::vector<uint8_t> again = encode_npy(t);
  Tensor u;
  try {
    u = parse_npy(again.data(), again.size(), "fuzz.npy (written back)");
  } catch (const Error& e) {
    fuzz::broken("a parsed array written back must parse", e.what());
  }
  fuzz::expect(fuzz::same_tensor(t, u), "a parsed array written back reads the same");
  return 0;
}
