// .npz (zip) reading and writing: round trips, np.savez / np.savez_compressed golden files,
// zip64, CRC-32, the DEFLATE decoder, and malformed archives.
#include <doctest/doctest.h>

#include "engine/io/crc32.h"
#include "engine/io/inflate.h"
#include "engine/io/npy.h"
#include "engine/io/npz.h"
#include "engine/io/zip.h"
#include "test_io_util.h"

using namespace orbit;
using namespace io_test;

namespace {

uint32_t get32(const std::vector<uint8_t>& b, size_t at) {
  uint32_t v;
  std::memcpy(&v, b.data() + at, 4);
  return v;
}
void set32(std::vector<uint8_t>& b, size_t at, uint32_t v) { std::memcpy(b.data() + at, &v, 4); }
// Offset of the central directory of a plain (non-zip64, no comment) archive.
size_t cd_offset(const std::vector<uint8_t>& b) { return get32(b, b.size() - 22 + 16); }

std::map<std::string, Tensor> all_patterns() {
  std::map<std::string, Tensor> m;
  for (DType dt : kAllDTypes) {
    for (int rank = 0; rank <= 6; ++rank) m[pattern_name(dt, rank)] = pattern(dt, rank);
    m[std::string(dtype_name(dt)) + "_empty"] = Tensor::empty({0, 3}, dt);
  }
  return m;
}

void check_same_maps(const std::map<std::string, Tensor>& a, const std::map<std::string, Tensor>& b) {
  REQUIRE(a.size() == b.size());
  for (auto& [k, t] : a) {
    CAPTURE(k);
    REQUIRE(b.count(k) == 1);
    CHECK(same_tensor(t, b.at(k)));
  }
}

// The arrays that make_io_fixtures.py puts in savez.npz (and savez_compressed.npz).
void check_savez_arrays(const std::map<std::string, Tensor>& m) {
  CHECK(same_tensor(m.at("a"), Tensor::from<float>({2, 3}, {-1, -0.5f, 0, 0.5f, 1, 1.5f})));
  CHECK(same_tensor(m.at("b"), Tensor::from<int64_t>({5}, {INT64_MIN, -1, 0, (int64_t{1} << 62) + 1, INT64_MAX})));
  CHECK(m.at("s").shape() == Shape{});
  CHECK(m.at("s").data<double>()[0] == 2.5);
  CHECK(m.at("e").shape() == Shape{0});
  CHECK(m.at("e").dtype() == DType::i32);
}

std::string npz_error(const std::vector<uint8_t>& b) {
  return error_of([&] { parse_npz(b.data(), b.size(), "t.npz"); });
}

}  // namespace

TEST_SUITE("cpu") {

TEST_CASE("io npz: round trip of every dtype, rank 0..6 and empty arrays") {
  auto m = all_patterns();
  std::vector<uint8_t> b = encode_npz(m);
  check_same_maps(m, parse_npz(b.data(), b.size(), "mem"));

  TempDir dir;
  write_npz(dir.file("all.npz"), m);
  check_same_maps(m, read_npz(dir.file("all.npz")));
  write_npz(dir.file("all.npz"), {});  // overwrite with an empty archive
  CHECK(read_npz(dir.file("all.npz")).empty());
  CHECK(dir.listing() == std::vector<std::string>{"all.npz"});
  CHECK(error_of([&] { read_npz(dir.file("none.npz")); }).find("none.npz") != std::string::npos);

  // A write that fails part way leaves the old file and no temp file.
  write_npz(dir.file("all.npz"), {{"x", pattern(DType::f32, 1)}});
  std::string msg = error_of([&] { write_npz(dir.file("all.npz"), {{"a", pattern(DType::f32, 1)}, {"b", Tensor()}}); });
  CHECK(msg.find("array 'b'") != std::string::npos);
  CHECK(msg.find("undefined") != std::string::npos);
  CHECK(dir.listing() == std::vector<std::string>{"all.npz"});
  CHECK(read_npz(dir.file("all.npz")).count("x") == 1);
}

TEST_CASE("io npz: keys with slashes, spaces and non-ASCII characters") {
  std::map<std::string, Tensor> m = {{"layer/0 w", pattern(DType::f32, 2)}, {"\xc3\xa9t\xc3\xa9", pattern(DType::i64, 1)}};
  std::vector<uint8_t> b = encode_npz(m);
  check_same_maps(m, parse_npz(b.data(), b.size(), "mem"));
}

TEST_CASE("io npz: each entry is the .npy encoding of its array") {
  std::vector<uint8_t> b = encode_npz({{"x", pattern(DType::f64, 2)}});
  int seen = 0;
  io::read_zip(b.data(), b.size(), "mem", [&](const std::string& name, const uint8_t* p, size_t n) {
    CHECK(name == "x.npy");
    CHECK(std::vector<uint8_t>(p, p + n) == encode_npy(pattern(DType::f64, 2)));
    ++seen;
  });
  CHECK(seen == 1);
}

TEST_CASE("io npz: np.savez and np.savez_compressed golden files") {
  auto m = read_npz(fixture("savez.npz"));
  CHECK(m.size() == 4);
  check_savez_arrays(m);

  m = read_npz(fixture("savez_compressed.npz"));
  CHECK(m.size() == 5);
  check_savez_arrays(m);
  Tensor c = m.at("c");
  REQUIRE(c.shape() == Shape{120});
  for (int64_t i = 0; i < 120; ++i) CHECK(c.data<double>()[i] == static_cast<double>((i * i * 37) % 1009) / 16.0);

  std::string msg = error_of([] { read_npz(fixture("savez_object.npz")); });
  CHECK(msg.find("savez_object.npz") != std::string::npos);
  CHECK(msg.find("entry 'o.npy'") != std::string::npos);
  CHECK(msg.find("object arrays") != std::string::npos);
}

TEST_CASE("io npz: zip64 records and extra fields are read") {
  auto m = all_patterns();
  std::vector<std::string> headers;
  std::vector<io::ZipSource> src;
  for (auto& [k, t] : m) headers.push_back(io::npy_header(t));
  size_t i = 0;
  for (auto& [k, t] : m) {
    src.push_back({k + ".npy", {{headers[i].data(), headers[i].size()}, {t.raw(), t.nbytes()}}});
    ++i;
  }
  io::VectorSink sink;
  io::write_zip(sink, src, /*force_zip64=*/true);
  check_same_maps(m, parse_npz(sink.bytes.data(), sink.bytes.size(), "zip64"));
}

TEST_CASE("io npz: CRC-32") {
  CHECK(io::crc32("123456789", 9) == 0xCBF43926u);
  CHECK(io::crc32("", 0) == 0);
  CHECK(io::crc32_update(io::crc32("1234", 4), "56789", 5) == 0xCBF43926u);

  std::vector<uint8_t> b = encode_npz({{"a", pattern(DType::f32, 2)}, {"b", pattern(DType::i32, 1)}});
  size_t second_local = get32(b, cd_offset(b) + 46 + 5 + 42);
  b[second_local - 1] ^= 0x10;  // last data byte of a.npy
  std::string msg = npz_error(b);
  CHECK(msg.find("CRC-32 mismatch for entry 'a.npy'") != std::string::npos);
}

TEST_CASE("io npz: raw DEFLATE decoder") {
  const uint8_t fixed[] = {0xcb, 0x48, 0xcd, 0xc9, 0xc9, 0x57, 0xc8, 0x40, 0x27, 0x15, 0x01};
  std::string want = "hello hello hello hello!";
  auto out = io::inflate_raw(fixed, sizeof fixed, want.size(), "t");
  CHECK(std::string(out.begin(), out.end()) == want);
  const uint8_t stored[] = {0x01, 0x03, 0x00, 0xfc, 0xff, 0x61, 0x62, 0x63};
  out = io::inflate_raw(stored, sizeof stored, 3, "t");
  CHECK(std::string(out.begin(), out.end()) == "abc");
  const uint8_t empty[] = {0x03, 0x00};
  CHECK(io::inflate_raw(empty, 2, 0, "t").empty());

  CHECK(error_of([&] { io::inflate_raw(fixed, sizeof fixed, want.size() - 1, "t"); }).find("exceeds the declared size") !=
        std::string::npos);
  CHECK(error_of([&] { io::inflate_raw(fixed, sizeof fixed, want.size() + 1, "t"); }).find("declares") !=
        std::string::npos);
  CHECK(error_of([&] { io::inflate_raw(fixed, 5, want.size(), "t"); }).find("truncated") != std::string::npos);
  const uint8_t bad_type[] = {0x07};
  CHECK(error_of([&] { io::inflate_raw(bad_type, 1, 0, "t"); }).find("invalid block type") != std::string::npos);
  const uint8_t bad_len[] = {0x01, 0x03, 0x00, 0x00, 0x00, 0x61, 0x62, 0x63};
  CHECK(error_of([&] { io::inflate_raw(bad_len, sizeof bad_len, 3, "t"); }).find("length check") != std::string::npos);

  // The bytes a stream took, up to the byte of its last bit; bytes after it are not read.
  size_t used = 0;
  io::inflate_raw(fixed, sizeof fixed, want.size(), "t", &used);
  CHECK(used == sizeof fixed);
  std::vector<uint8_t> longer(fixed, fixed + sizeof fixed);
  longer.insert(longer.end(), {0xde, 0xad});
  io::inflate_raw(longer.data(), longer.size(), want.size(), "t", &used);
  CHECK(used == sizeof fixed);
  io::inflate_raw(stored, sizeof stored, 3, "t", &used);
  CHECK(used == sizeof stored);
  io::inflate_raw(empty, 2, 0, "t", &used);
  CHECK(used == 2);
}

TEST_CASE("io npz: a deflated entry's stream must fill its compressed size") {
  // One entry written STORED around a raw DEFLATE stream, then relabelled as DEFLATE with the
  // uncompressed CRC and size: valid as is, rejected with one byte of slack after the stream.
  const uint8_t fixed[] = {0xcb, 0x48, 0xcd, 0xc9, 0xc9, 0x57, 0xc8, 0x40, 0x27, 0x15, 0x01};
  const std::string text = "hello hello hello hello!";
  auto archive = [&](size_t slack) {
    std::vector<uint8_t> body(fixed, fixed + sizeof fixed);
    body.resize(body.size() + slack, 0);
    io::VectorSink sink;
    io::write_zip(sink, {{"a.txt", {{body.data(), body.size()}}}});
    std::vector<uint8_t> b = sink.bytes;
    const size_t cd = cd_offset(b);
    const uint32_t crc = io::crc32(text.data(), text.size());
    b[8] = 8, b[cd + 10] = 8;  // method: deflate (local header, central directory)
    set32(b, 14, crc), set32(b, cd + 16, crc);
    set32(b, 22, static_cast<uint32_t>(text.size())), set32(b, cd + 24, static_cast<uint32_t>(text.size()));
    return b;
  };
  std::string got;
  auto read = [&](const std::vector<uint8_t>& b) {
    io::read_zip(b.data(), b.size(), "t.zip", [&](const std::string&, const uint8_t* p, size_t n) {
      got.assign(reinterpret_cast<const char*>(p), n);
    });
  };
  read(archive(0));
  CHECK(got == text);
  const std::vector<uint8_t> slack = archive(1);
  CHECK(error_of([&] { read(slack); }).find("entry 'a.txt': its compressed data ends after 11 of its 12 bytes") !=
        std::string::npos);
}

TEST_CASE("io npz: malformed archives are rejected") {
  std::vector<uint8_t> good = encode_npz({{"a", pattern(DType::f32, 2)}, {"b", pattern(DType::i32, 1)}});
  size_t cd = cd_offset(good);
  auto contains = [](const std::string& msg, const char* part) {
    INFO(msg);
    CHECK(msg.find("t.npz") == 0);
    CHECK(msg.find(part) != std::string::npos);
  };

  contains(npz_error(bytes_of("PK")), "not a zip archive");
  contains(npz_error(std::vector<uint8_t>(good.begin(), good.end() - 1)), "no end-of-central-directory record");
  contains(npz_error(encode_npy(pattern(DType::f32, 1))), "no end-of-central-directory record");

  auto b = good;
  set32(b, b.size() - 22 + 16, static_cast<uint32_t>(b.size() + 100));  // central directory past EOF
  contains(npz_error(b), "central directory (offset");
  b = good;
  set32(b, b.size() - 22 + 12, 0x7FFFFFFF);  // central directory size past EOF
  contains(npz_error(b), "lies outside the file");
  b = good;
  b[b.size() - 22 + 10] = 200;  // entry count larger than the directory can hold
  b[b.size() - 22 + 8] = 200;
  contains(npz_error(b), "claims 200 entries");
  b = good;
  set32(b, cd + 42, static_cast<uint32_t>(cd + 10));  // local header offset inside the directory
  contains(npz_error(b), "local header of entry 'a.npy'");
  b = good;
  set32(b, cd, 0x12345678);
  contains(npz_error(b), "bad signature for central directory entry 0");
  b = good;
  b[cd + 10] = 12;  // bzip2
  contains(npz_error(b), "compression method 12 (bzip2)");
  b = good;
  b[cd + 8] = 1;  // encrypted
  contains(npz_error(b), "encrypted");
  b = good;
  set32(b, cd + 20, 0xFFFFFFFF);  // zip64 marker without a zip64 extra field
  contains(npz_error(b), "no zip64 extra field");
  b = good;  // a.npy's data made to run over b.npy's local header
  uint32_t a_size = get32(b, cd + 20);
  set32(b, cd + 20, a_size + 1);
  set32(b, cd + 24, a_size + 1);
  contains(npz_error(b), "entries 'a.npy' and 'b.npy' overlap");
  b = good;
  set32(b, cd + 20, get32(b, cd + 20) + 100000);
  set32(b, cd + 24, get32(b, cd + 24) + 100000);
  contains(npz_error(b), "runs past the start of the central directory");

  // Entries that are not arrays, and repeated names.
  std::string x = "hello";
  io::VectorSink s1;
  io::write_zip(s1, {{"notes.txt", {{x.data(), x.size()}}}});
  contains(npz_error(s1.bytes), "entry 'notes.txt' is not a .npy array");
  std::string npy = io::npy_header(pattern(DType::f32, 0));
  Tensor t = pattern(DType::f32, 0);
  io::VectorSink s2;
  io::write_zip(s2, {{"a.npy", {{npy.data(), npy.size()}, {t.raw(), 4}}}, {"a.npy", {{npy.data(), npy.size()}, {t.raw(), 4}}}});
  contains(npz_error(s2.bytes), "duplicate entry 'a.npy'");
  io::VectorSink s3;
  io::write_zip(s3, {{"a.npy", {{npy.data(), npy.size()}}}});  // array data missing
  contains(npz_error(s3.bytes), "entry 'a.npy': array data is truncated");
}

}  // TEST_SUITE
