// Valid DEFLATE streams of every kind zlib writes: the input after two control bytes is compressed by
// zlib at the level, strategy and window size they choose (stored, fixed and dynamic Huffman blocks,
// long matches, run-length), and orbit must decode it back exactly.
#include <zlib.h>

#include "engine/io/inflate.h"
#include "tests/fuzz/fuzz_target.h"

using namespace orbit;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  static const int kStrategies[] = {Z_DEFAULT_STRATEGY, Z_FILTERED, Z_HUFFMAN_ONLY, Z_RLE, Z_FIXED};
  const int level = data[0] % 10, strategy = kStrategies[(data[0] / 10) % 5];
  const int window = 9 + data[1] % 7, mem = 1 + (data[1] / 7) % 9;
  data += 2, size -= 2;
  z_stream z{};
  if (deflateInit2(&z, level, Z_DEFLATED, -window, mem, strategy) != Z_OK) fuzz::broken("deflateInit2");
  std::vector<uint8_t> packed(deflateBound(&z, size) + 16);
  z.next_in = const_cast<Bytef*>(data);
  z.avail_in = static_cast<uInt>(size);
  z.next_out = packed.data();
  z.avail_out = static_cast<uInt>(packed.size());
  const int rc = deflate(&z, Z_FINISH);
  packed.resize(z.total_out);
  deflateEnd(&z);
  fuzz::expect(rc == Z_STREAM_END, "zlib compresses within deflateBound");
  std::vector<uint8_t> back;
  size_t used = 0;
  try {
    back = io::inflate_raw(packed.data(), packed.size(), size, "fuzz.deflate", &used);
  } catch (const Error& e) {
    fuzz::broken("orbit decodes every stream zlib writes", e.what());
  }
  fuzz::expect(back.size() == size && (size == 0 || std::memcmp(back.data(), data, size) == 0),
               "orbit decodes zlib's stream to the original bytes");
  fuzz::expect(used == packed.size(), "orbit's stream ends where zlib's does");
  return 0;
}
