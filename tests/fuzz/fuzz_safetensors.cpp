// safetensors reader (JSON header, offsets): any bytes either parse or throw orbit::Error; what
// parses survives a write and a second read unchanged, metadata included.
#include "engine/io/safetensors.h"
#include "tests/fuzz/fuzz_target.h"

using namespace orbit;

namespace {
struct File {
  std::map<std::string, Tensor> tensors;
  std::map<std::string, std::string> meta;
};
File parse(const uint8_t* data, size_t size, const std::string& what) {
  File f;
  parse_safetensors(data, size, what, f.tensors, f.meta);
  return f;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto f = fuzz::accepted([&] { return parse(data, size, "fuzz.safetensors"); });
  if (!f) return 0;
  const std::vector<uint8_t> again = encode_safetensors(f->tensors, f->meta);
  const File g = fuzz::reparsed([&] { return parse(again.data(), again.size(), "fuzz.safetensors (written back)"); });
  fuzz::expect(fuzz::same_tensors(f->tensors, g.tensors), "a parsed file's tensors read back the same");
  fuzz::expect(f->meta == g.meta, "a parsed file's metadata reads back the same");
  return 0;
}
