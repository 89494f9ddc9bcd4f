// orbit's DEFLATE decoder against zlib's, on any bytes taken as a raw DEFLATE stream: where zlib
// decodes a complete stream, orbit decodes the same bytes from the same input bytes; where zlib finds
// the stream corrupt or truncated, orbit throws orbit::Error. The first input byte chooses how orbit is
// asked for its output size (exact, one less, one more), so the size checks are fuzzed too.
#include "engine/io/inflate.h"
#include "tests/fuzz/fuzz_target.h"
#include "tests/fuzz/zlib_oracle.h"

using namespace orbit;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const int mode = data[0] % 3;  // 0: the exact size, 1: one byte less, 2: one byte more
  ++data, --size;
  constexpr size_t kCap = size_t(1) << 22;
  std::vector<uint8_t> expected;
  size_t zlib_used = 0;
  const fuzz::ZlibResult r = fuzz::zlib_decode(data, size, -15, kCap, expected, &zlib_used);
  if (r == fuzz::ZlibResult::too_large) return 0;
  const bool zlib_ok = r == fuzz::ZlibResult::ok;
  size_t declared = zlib_ok ? expected.size() : kCap;
  if (zlib_ok && mode == 1 && declared == 0) return 0;
  if (zlib_ok) declared = mode == 1 ? declared - 1 : mode == 2 ? declared + 1 : declared;
  std::vector<uint8_t> got;
  size_t used = 0;
  try {
    got = io::inflate_raw(data, size, declared, "fuzz.deflate", &used);
  } catch (const Error& e) {
    fuzz::expect(!zlib_ok || mode != 0, "orbit decodes what zlib decodes", e.what());
    return 0;
  }
  fuzz::expect(zlib_ok, "orbit rejects what zlib rejects");
  fuzz::expect(mode == 0, "orbit rejects a stream whose output differs from the declared size");
  fuzz::expect(got == expected, "orbit's output equals zlib's");
  fuzz::expect(used == zlib_used, "orbit ends the stream at zlib's byte",
               std::to_string(used) + " vs " + std::to_string(zlib_used));
  return 0;
}
