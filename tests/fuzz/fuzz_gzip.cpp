// orbit's gzip reader against zlib's (one member, nothing after it): they accept the same inputs and
// decode them to the same bytes. zlib checks everything orbit does (method, reserved flags, header
// CRC-16, CRC-32, length); orbit adds only size caps, which a fuzz input cannot reach.
#include "engine/io/gzip.h"
#include "tests/fuzz/fuzz_target.h"
#include "tests/fuzz/zlib_oracle.h"

using namespace orbit;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<uint8_t> expected;
  size_t zlib_used = 0;
  const fuzz::ZlibResult r = fuzz::zlib_decode(data, size, 31, size_t(1) << 22, expected, &zlib_used);
  if (r == fuzz::ZlibResult::too_large) return 0;
  const bool zlib_ok = r == fuzz::ZlibResult::ok && zlib_used == size;
  std::vector<uint8_t> got;
  try {
    got = io::gunzip(data, size, "fuzz.gz");
  } catch (const Error& e) {
    fuzz::expect(!zlib_ok, "orbit reads the gzip files zlib reads", e.what());
    return 0;
  }
  fuzz::expect(zlib_ok, "orbit rejects the gzip files zlib rejects");
  fuzz::expect(got == expected, "orbit's output equals zlib's");
  return 0;
}
