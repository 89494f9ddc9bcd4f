// IDX files (plain and gzip) for (Fashion-)MNIST: values, dtypes, the real Debian data set when it is
// installed, and hostile input (every truncation, bit flips, absurd shapes) giving clean errors.
#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <random>
#include <vector>

#include "engine/io/crc32.h"
#include "engine/io/gzip.h"
#include "engine/io/idx.h"

using namespace orbit;

namespace {

std::vector<uint8_t> idx_bytes(uint8_t type, const std::vector<uint32_t>& dims, const std::vector<uint8_t>& data) {
  std::vector<uint8_t> b{0, 0, type, static_cast<uint8_t>(dims.size())};
  for (uint32_t d : dims)
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(d >> s));
  b.insert(b.end(), data.begin(), data.end());
  return b;
}

// A gzip member of stored (uncompressed) DEFLATE blocks, with a file name in the header.
std::vector<uint8_t> gzip_stored(const std::vector<uint8_t>& raw) {
  std::vector<uint8_t> g{0x1f, 0x8b, 8, 0x08, 0, 0, 0, 0, 0, 0xff, 'x', '.', 'i', 'd', 'x', 0};
  size_t pos = 0;
  do {
    size_t len = std::min<size_t>(raw.size() - pos, 7);  // several blocks on purpose
    bool last = pos + len == raw.size();
    g.push_back(last ? 1 : 0);
    g.push_back(len & 0xff);
    g.push_back(len >> 8);
    g.push_back(~len & 0xff);
    g.push_back((~len >> 8) & 0xff);
    g.insert(g.end(), raw.begin() + static_cast<long>(pos), raw.begin() + static_cast<long>(pos + len));
    pos += len;
  } while (pos < raw.size());
  uint32_t crc = io::crc32(raw.data(), raw.size()), n = static_cast<uint32_t>(raw.size());
  for (uint32_t v : {crc, n})
    for (int s = 0; s < 32; s += 8) g.push_back(static_cast<uint8_t>(v >> s));
  return g;
}

}  // namespace

TEST_SUITE("cpu") {
  TEST_CASE("io idx: unsigned bytes, plain and gzip, load exactly") {
    std::vector<uint8_t> data(24);
    for (int i = 0; i < 24; ++i) data[i] = static_cast<uint8_t>(i * 11);
    auto raw = idx_bytes(0x08, {2, 3, 4}, data);
    for (auto bytes : {raw, gzip_stored(raw)}) {
      Tensor t = parse_idx(bytes.data(), bytes.size(), "test");
      CHECK(t.shape() == Shape({2, 3, 4}));
      CHECK(t.dtype() == DType::i32);
      for (int i = 0; i < 24; ++i) CHECK(t.at(i) == i * 11);
    }
  }

  TEST_CASE("io idx: signed bytes, i16, f32 and f64 are big-endian") {
    auto s8 = idx_bytes(0x09, {2}, {0xff, 0x05});
    CHECK(parse_idx(s8.data(), s8.size(), "s8").to_vector() == std::vector<double>{-1, 5});
    auto s16 = idx_bytes(0x0B, {2}, {0xff, 0xfe, 0x01, 0x00});
    CHECK(parse_idx(s16.data(), s16.size(), "s16").to_vector() == std::vector<double>{-2, 256});
    float f = 1.5f;
    uint32_t fb;
    std::memcpy(&fb, &f, 4);
    auto f32 = idx_bytes(0x0D, {1}, {uint8_t(fb >> 24), uint8_t(fb >> 16), uint8_t(fb >> 8), uint8_t(fb)});
    Tensor tf = parse_idx(f32.data(), f32.size(), "f32");
    CHECK(tf.dtype() == DType::f32);
    CHECK(tf.at(0) == 1.5);
    double dv = -0.25;
    uint64_t db;
    std::memcpy(&db, &dv, 8);
    std::vector<uint8_t> be8;
    for (int s = 56; s >= 0; s -= 8) be8.push_back(static_cast<uint8_t>(db >> s));
    auto f64 = idx_bytes(0x0E, {1}, be8);
    CHECK(parse_idx(f64.data(), f64.size(), "f64").at(0) == -0.25);
  }

  TEST_CASE("io idx: malformed and hostile files give clear errors") {
    auto bad = [](std::vector<uint8_t> b, const char* says) {
      INFO(says);
      CHECK_THROWS_WITH_AS(parse_idx(b.data(), b.size(), "f"), doctest::Contains(says), Error);
    };
    bad({1, 0, 8, 1, 0, 0, 0, 0}, "bad IDX magic");
    bad({0, 0, 0x42, 1, 0, 0, 0, 0}, "unknown IDX element type");
    bad({0, 0, 8, 9}, "IDX rank");
    bad({0, 0, 8, 2, 0, 0, 0, 1}, "header runs past");
    bad(idx_bytes(0x08, {3}, {1, 2}), "holds 2 bytes but the shape needs 3");
    bad(idx_bytes(0x08, {3}, {1, 2, 3, 4}), "holds 4 bytes");
    bad(idx_bytes(0x08, {0xffffffff, 0xffffffff}, {}), "has too many elements");
    // Found by tests/fuzz/fuzz_idx: 2^39 x 0xfa000000 wraps to 0 mod 2^64, which matched an empty body.
    bad(idx_bytes(0x0E, {2, 0x400000, 0x10000, 0xfa000000, 0x1000000}, {}), "has too many elements");
    bad(idx_bytes(0x0E, {0x10000, 0x10000, 0x10000, 1}, {}), "holds 0 bytes but the shape needs 2251799813685248");
    // Empty is fine, however large the other dimensions, as long as their product fits.
    const auto none = idx_bytes(0x08, {0x10000, 0x10000, 0x10000, 0}, {});
    CHECK(parse_idx(none.data(), none.size(), "f").shape() == Shape({0x10000, 0x10000, 0x10000, 0}));
    auto gz = gzip_stored(idx_bytes(0x08, {4}, {1, 2, 3, 4}));
    gz[gz.size() - 8] ^= 1;  // CRC
    bad(gz, "CRC-32 mismatch");
    auto huge = gzip_stored(idx_bytes(0x08, {4}, {1, 2, 3, 4}));
    huge[huge.size() - 1] = 0x7f;  // declared size ~2 GiB
    bad(huge, "exceeds 1 GiB");
  }

  TEST_CASE("io idx: gzip header CRC and bytes between the stream and the trailer are checked") {
    const std::vector<uint8_t> raw = idx_bytes(0x08, {4}, {1, 2, 3, 4});
    auto bad = [](const std::vector<uint8_t>& b, const char* says) {
      INFO(says);
      CHECK_THROWS_WITH_AS(io::gunzip(b.data(), b.size(), "f"), doctest::Contains(says), Error);
    };
    // FHCRC: the low 16 bits of the CRC-32 of the header bytes before it (RFC 1952 2.3.1).
    std::vector<uint8_t> g = gzip_stored(raw);
    g[3] |= 0x02;
    const size_t header = 16;  // 10 fixed bytes + "x.idx\0"
    const uint32_t hcrc = io::crc32(g.data(), header) & 0xFFFFu;
    g.insert(g.begin() + header, {uint8_t(hcrc), uint8_t(hcrc >> 8)});
    CHECK(io::gunzip(g.data(), g.size(), "f") == raw);
    g[header] ^= 1;
    bad(g, "header CRC mismatch");
    // One member and nothing else: a byte after the last block, before the trailer, is an error.
    std::vector<uint8_t> slack = gzip_stored(raw);
    slack.insert(slack.end() - 8, 0x00);
    bad(slack, "1 unexpected bytes between the compressed data and the gzip trailer");
  }

  TEST_CASE("io idx: every truncation and many bit flips are clean errors or valid tensors") {
    std::vector<uint8_t> data(60);
    for (int i = 0; i < 60; ++i) data[i] = static_cast<uint8_t>(i);
    auto raw = idx_bytes(0x08, {3, 4, 5}, data);
    auto gz = gzip_stored(raw);
    for (auto* src : {&raw, &gz}) {
      for (size_t len = 0; len < src->size(); ++len) {
        std::vector<uint8_t> cut(src->begin(), src->begin() + static_cast<long>(len));
        CHECK_THROWS_AS(parse_idx(cut.data(), cut.size(), "cut"), Error);
      }
      std::mt19937 rng(7);
      for (int k = 0; k < 2000; ++k) {
        std::vector<uint8_t> m = *src;
        m[rng() % m.size()] ^= static_cast<uint8_t>(1u << (rng() % 8));
        try {
          Tensor t = parse_idx(m.data(), m.size(), "flip");
          CHECK(t.numel() <= 60);  // a flip in the data keeps the shape; one in the header cannot grow it
        } catch (const Error&) {
        }
      }
    }
  }

  TEST_CASE("io idx: the Fashion-MNIST test set from Debian's dataset-fashion-mnist") {
    const std::string dir = "/usr/share/datasets/fashion-mnist/";
    if (!std::filesystem::exists(dir + "t10k-labels-idx1-ubyte.gz")) {
      MESSAGE("skipped: dataset-fashion-mnist is not installed");
      return;
    }
    Tensor images = read_idx(dir + "t10k-images-idx3-ubyte.gz");
    Tensor labels = read_idx(dir + "t10k-labels-idx1-ubyte.gz");
    CHECK(images.shape() == Shape({10000, 28, 28}));
    CHECK(labels.shape() == Shape({10000}));
    std::vector<int> per_class(10, 0);
    for (int64_t i = 0; i < labels.numel(); ++i) {
      int l = static_cast<int>(labels.at(i));
      REQUIRE((l >= 0 && l < 10));
      ++per_class[l];
    }
    for (int c : per_class) CHECK(c == 1000);  // the test set is balanced
    int32_t mx = 0;
    for (int64_t i = 0; i < images.numel(); ++i) mx = std::max(mx, images.data<int32_t>()[i]);
    CHECK(mx == 255);
  }
}
