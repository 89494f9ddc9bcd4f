// Fuzz-style robustness of the npy, npz and safetensors readers: every truncation, thousands of
// seeded bit flips and hand-made hostile headers must either parse or throw orbit::Error --
// never crash, hang, throw anything else or allocate more than the input can justify.
#include <doctest/doctest.h>

#include <functional>
#include <random>

#include "engine/allocator.h"
#include "engine/io/npy.h"
#include "engine/io/npz.h"
#include "engine/io/safetensors.h"
#include "engine/io/zip.h"
#include "test_io_util.h"

using namespace orbit;
using namespace io_test;

namespace {

// Parses bytes; returns the tensor memory its result held (measured while the result is alive).
using Parser = std::function<size_t(const uint8_t*, size_t)>;

size_t npy_parser(const uint8_t* p, size_t n) {
  size_t before = cpu_bytes_in_use();
  Tensor t = parse_npy(p, n, "fuzz.npy");
  return cpu_bytes_in_use() - before;
}
size_t npz_parser(const uint8_t* p, size_t n) {
  size_t before = cpu_bytes_in_use();
  auto m = parse_npz(p, n, "fuzz.npz");
  return cpu_bytes_in_use() - before;
}
size_t st_parser(const uint8_t* p, size_t n) {
  size_t before = cpu_bytes_in_use();
  std::map<std::string, Tensor> t;
  std::map<std::string, std::string> m;
  parse_safetensors(p, n, "fuzz.safetensors", t, m);
  return cpu_bytes_in_use() - before;
}

struct Outcome {
  int parsed = 0, rejected = 0;
};

// Runs one parse: success or orbit::Error are fine; anything else fails the test. A success may
// hold at most max_ratio * input bytes of tensor memory (plus the allocator's 64-byte rounding).
void attempt(const Parser& parse, const std::vector<uint8_t>& b, double max_ratio, Outcome& out,
             const std::string& what) {
  try {
    size_t held = parse(b.data(), b.size());
    if (held > max_ratio * b.size() + 2 * b.size() + 4096)
      FAIL(what << ": " << held << " bytes of tensors from " << b.size() << " input bytes");
    ++out.parsed;
  } catch (const Error& e) {
    std::string m = e.what();
    if (m.find("out of host memory") != std::string::npos) FAIL(what << ": hostile allocation: " << m);
    ++out.rejected;
  } catch (const std::exception& e) {
    FAIL(what << ": threw a non-orbit exception: " << e.what());
  } catch (...) {
    FAIL(what << ": threw a non-exception");
  }
}

void fuzz(const std::string& name, const std::vector<uint8_t>& good, const Parser& parse, double max_ratio,
          int mutations) {
  Outcome out;
  REQUIRE_NOTHROW(parse(good.data(), good.size()));
  // (a) every truncation
  for (size_t len = 0; len < good.size(); ++len) {
    std::vector<uint8_t> b(good.begin(), good.begin() + len);
    attempt(parse, b, max_ratio, out, name + " truncated to " + std::to_string(len));
  }
  // (b) seeded mutations: bit flips, bytes set to boundary values, small bursts
  std::mt19937 rng(12345);
  const uint8_t special[] = {0x00, 0xFF, 0x7F, 0x80, 0x01, 0xFE};
  for (int i = 0; i < mutations; ++i) {
    std::vector<uint8_t> b = good;
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < edits; ++k) {
      size_t pos = rng() % b.size();
      switch (rng() % 3) {
        case 0: b[pos] ^= static_cast<uint8_t>(1u << (rng() % 8)); break;
        case 1: b[pos] = special[rng() % sizeof special]; break;
        default: b[pos] = static_cast<uint8_t>(rng()); break;
      }
    }
    attempt(parse, b, max_ratio, out, name + " mutation " + std::to_string(i));
  }
  CAPTURE(out.parsed);
  CHECK(out.rejected > 0);
}

}  // namespace

TEST_SUITE("cpu") {

TEST_CASE("io fuzz: npy truncations and mutations") {
  fuzz("npy f32 rank 2", encode_npy(pattern(DType::f32, 2)), npy_parser, 1.0, 3000);
  fuzz("npy i64 rank 0", encode_npy(pattern(DType::i64, 0)), npy_parser, 1.0, 1000);
  fuzz("npy f64 empty", encode_npy(Tensor::empty({0, 3}, DType::f64)), npy_parser, 1.0, 1000);
  fuzz("npy golden v3", file_bytes(fixture("i4_v3.npy")), npy_parser, 1.0, 1000);
}

TEST_CASE("io fuzz: npz truncations and mutations") {
  std::map<std::string, Tensor> m = {{"a", pattern(DType::f32, 2)}, {"b", pattern(DType::i64, 1)}, {"c", pattern(DType::f64, 0)}};
  fuzz("npz orbit", encode_npz(m), npz_parser, 1.0, 3000);
  fuzz("npz savez", file_bytes(fixture("savez.npz")), npz_parser, 1.0, 3000);
  fuzz("npz savez_compressed", file_bytes(fixture("savez_compressed.npz")), npz_parser, 1100.0, 3000);

  std::string h = io::npy_header(pattern(DType::i32, 3));
  Tensor t = pattern(DType::i32, 3);
  io::VectorSink z64;
  io::write_zip(z64, {{"z.npy", {{h.data(), h.size()}, {t.raw(), t.nbytes()}}}}, /*force_zip64=*/true);
  fuzz("npz zip64", z64.bytes, npz_parser, 1.0, 3000);
}

TEST_CASE("io fuzz: safetensors truncations and mutations") {
  std::map<std::string, Tensor> m = {{"w", pattern(DType::f32, 2)}, {"n", pattern(DType::i64, 0)}, {"e", Tensor::empty({0}, DType::i32)}};
  fuzz("safetensors orbit", encode_safetensors(m, {{"k", "v\n\"\xc3\xa9"}}), st_parser, 1.0, 3000);
  fuzz("safetensors golden", file_bytes(fixture("basic.safetensors")), st_parser, 1.0, 3000);
}

}  // TEST_SUITE

namespace {

uint64_t get64(const std::vector<uint8_t>& b, size_t at) {
  uint64_t v;
  std::memcpy(&v, b.data() + at, 8);
  return v;
}
void set64(std::vector<uint8_t>& b, size_t at, uint64_t v) { std::memcpy(b.data() + at, &v, 8); }
void set32(std::vector<uint8_t>& b, size_t at, uint32_t v) { std::memcpy(b.data() + at, &v, 4); }
uint32_t get32(const std::vector<uint8_t>& b, size_t at) {
  uint32_t v;
  std::memcpy(&v, b.data() + at, 4);
  return v;
}

template <class F>
void rejects(F&& parse, const std::vector<uint8_t>& b, const char* part) {
  std::string msg;
  try {
    parse(b.data(), b.size());
  } catch (const Error& e) {
    msg = e.what();
  } catch (const std::exception& e) {
    FAIL("non-orbit exception: " << e.what());
  }
  INFO(msg);
  CHECK(msg.find(part) != std::string::npos);
}

}  // namespace

TEST_SUITE("cpu") {

TEST_CASE("io fuzz: hand-crafted hostile headers") {
  auto npy = [](const uint8_t* p, size_t n) { parse_npy(p, n, "h.npy"); };
  auto npz = [](const uint8_t* p, size_t n) { parse_npz(p, n, "h.npz"); };
  auto st = [](const uint8_t* p, size_t n) {
    std::map<std::string, Tensor> t;
    std::map<std::string, std::string> m;
    parse_safetensors(p, n, "h.safetensors", t, m);
  };
  auto npy_file = [](const std::string& dict, int major = 1) {
    std::string h = dict + "\n";
    std::string out = "\x93NUMPY";
    out += static_cast<char>(major);
    out += '\0';
    uint32_t len = static_cast<uint32_t>(h.size());
    out.append(reinterpret_cast<const char*>(&len), major == 1 ? 2 : 4);
    return bytes_of(out + h);
  };

  // npy: shape (2**62,), huge products, header lengths past EOF.
  rejects(npy, npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904,), }"), "absurdly large");
  rejects(npy, npy_file("{'descr': '<i8', 'fortran_order': False, 'shape': (65536, 65536, 65536, 65536), }"),
          "too many elements");
  rejects(npy, npy_file("{'descr': '<f8', 'fortran_order': False, 'shape': (2147483648, 2147483648), }"),
          "byte size overflows");
  rejects(npy, npy_file("{'descr': '<f8', 'fortran_order': False, 'shape': (1048576, 1048576), }"), "array data is truncated");
  auto b = npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", 2);
  set32(b, 8, 0xFFFFFFFFu);
  rejects(npy, b, "header length 4294967295 runs past the end");
  b = npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", 1);
  b[8] = b[9] = 0xFF;
  rejects(npy, b, "header length 65535 runs past the end");

  // safetensors: lengths, offsets past EOF, overlaps.
  auto st_file = [](const std::string& json, size_t data) {
    uint64_t n = json.size();
    return bytes_of(std::string(reinterpret_cast<const char*>(&n), 8) + json + std::string(data, '\0'));
  };
  b = st_file("{}", 0);
  set64(b, 0, 0xFFFFFFFFull);
  rejects(st, b, "is absurd");
  set64(b, 0, 99'999'999);
  rejects(st, b, "runs past the end of the file");
  rejects(st, st_file(R"({"a":{"dtype":"I64","shape":[1],"data_offsets":[18446744073709551608,18446744073709551615]}})", 8),
          "run past the end");
  rejects(st, st_file(R"({"a":{"dtype":"I64","shape":[268435456],"data_offsets":[0,2147483648]}})", 8), "run past the end");
  rejects(st, st_file(R"({"a":{"dtype":"I32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"I32","shape":[2],"data_offsets":[0,8]}})", 8),
          "overlap");
  rejects(st, st_file(R"({"a":{"dtype":"F64","shape":[281474976710656,281474976710656],"data_offsets":[0,8]}})", 8),
          "too many elements");

  // zip: central directory outside the file, zip64 records and sizes that are huge.
  std::vector<uint8_t> plain = encode_npz({{"a", pattern(DType::f32, 2)}});
  b = plain;
  set32(b, b.size() - 22 + 16, 0xFFFFFF00u);
  rejects(npz, b, "central directory (offset");
  b = plain;
  set32(b, b.size() - 22 + 12, 0xFFFFFF00u);
  rejects(npz, b, "lies outside the file");

  std::string h = io::npy_header(pattern(DType::i32, 3));
  Tensor t = pattern(DType::i32, 3);
  io::VectorSink sink;
  io::write_zip(sink, {{"z.npy", {{h.data(), h.size()}, {t.raw(), t.nbytes()}}}}, /*force_zip64=*/true);
  const std::vector<uint8_t> z64 = sink.bytes;
  REQUIRE_NOTHROW(npz(z64.data(), z64.size()));
  size_t rec = z64.size() - 22 - 20 - 56;      // zip64 end-of-central-directory record
  size_t cd = get64(z64, rec + 48);            // central directory
  size_t extra = cd + 46 + 5 + 4;              // zip64 extra values: size, compressed size, offset
  REQUIRE(get32(z64, cd) == 0x02014b50u);
  b = z64;
  set64(b, extra, uint64_t{1} << 62);
  set64(b, extra + 8, uint64_t{1} << 62);
  rejects(npz, b, "runs past the start of the central directory");
  b = z64;
  set64(b, extra + 16, uint64_t{1} << 63);
  rejects(npz, b, "lies outside the file data");
  b = z64;
  set64(b, rec + 24, uint64_t{1} << 60);
  set64(b, rec + 32, uint64_t{1} << 60);
  rejects(npz, b, "claims 1152921504606846976 entries");
  b = z64;
  set64(b, rec + 48, uint64_t{1} << 62);
  rejects(npz, b, "central directory (offset 4611686018427387904");
  b = z64;
  set64(b, rec + 40, ~uint64_t{0});
  rejects(npz, b, "lies outside the file");
  b = z64;
  set64(b, z64.size() - 22 - 20 + 8, ~uint64_t{0} - 8);  // locator -> record offset
  rejects(npz, b, "zip64 end-of-central-directory record offset");

  // deflate: declared sizes that the compressed bytes cannot (or do not) produce.
  std::vector<uint8_t> comp = file_bytes(fixture("savez_compressed.npz"));
  size_t ccd = get32(comp, comp.size() - 22 + 16);
  REQUIRE(get32(comp, ccd) == 0x02014b50u);
  b = comp;
  set32(b, ccd + 24, 0x7FFFFFFFu);
  rejects(npz, b, "beyond what deflate can produce");
  b = comp;
  set32(b, ccd + 24, get32(comp, ccd + 24) + 1000);
  rejects(npz, b, "but the archive declares");
  b = comp;
  set32(b, ccd + 24, get32(comp, ccd + 24) - 1);
  rejects(npz, b, "exceeds the declared size");
}

}  // TEST_SUITE
