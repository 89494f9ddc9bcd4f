// safetensors reader (JSON header, offsets): any bytes either parse or throw orbit::Error; what
// parses survives a write and a second read unchanged, metadata included.
#include "engine/io/safetensors.h"
#include "tests/fuzz/fuzz_target.h"

using namespace orbit;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::map<std::string, Tensor> tensors;
  std::map<std::string, std::string> meta;
  try {
    parse_safetensors(data, size, "fuzz.safetensors", tensors, meta);
  } catch (const Error&) {
    return 0;
  }
  const std::vector<uint8_t> again = encode_safetensors(tensors, meta);
  std::map<std::string, Tensor> tensors2;
  std::map<std::string, std::string> meta2;
  try {
    parse_safetensors(again.data(), again.size(), "fuzz.safetensors (written back)", tensors2, meta2);
  } catch (const Error& e) {
    fuzz::broken("a parsed file written back must parse", e.what());
  }
  fuzz::expect(fuzz::same_tensors(tensors, tensors2), "a parsed file's tensors read back the same");
  fuzz::expect(meta == meta2, "a parsed file's metadata reads back the same");
  return 0;
}
