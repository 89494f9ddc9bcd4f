// .npy reading and writing: round trips, NumPy golden files and every rejection path.
#include <algorithm>
#include <doctest/doctest.h>

#include "engine/io/npy.h"
#include "test_io_util.h"

using namespace orbit;
using namespace io_test;

namespace {

// A .npy file built by hand: magic, version, header length, `dict` padded to 64 bytes, `data`.
std::vector<uint8_t> npy_by_hand(const std::string& dict, const std::string& data = "", int major = 1, int minor = 0) {
  size_t pre = major == 1 ? 10 : 12;
  std::string header = dict;
  header.append((64 - (pre + header.size() + 1) % 64) % 64, ' ');
  header += '\n';
  std::string out = "\x93NUMPY";
  out += static_cast<char>(major);
  out += static_cast<char>(minor);
  uint32_t len = static_cast<uint32_t>(header.size());
  out.append(reinterpret_cast<const char*>(&len), major == 1 ? 2 : 4);
  return bytes_of(out + header + data);
}

std::string f32_bytes(std::initializer_list<float> v) {
  return std::string(reinterpret_cast<const char*>(std::data(v)), v.size() * 4);
}

std::string parse_error(const std::vector<uint8_t>& b) {
  return error_of([&] { parse_npy(b.data(), b.size(), "test.npy"); });
}

}  // namespace

TEST_SUITE("cpu") {

TEST_CASE("io npy: round trip of every dtype and rank 0..6") {
  for (DType dt : kAllDTypes) {
    for (int rank = 0; rank <= 6; ++rank) {
      CAPTURE(pattern_name(dt, rank));
      Tensor t = pattern(dt, rank);
      std::vector<uint8_t> b = encode_npy(t);
      uint16_t hlen;
      std::memcpy(&hlen, b.data() + 8, 2);
      CHECK(b[6] == 1);
      CHECK(b[7] == 0);
      CHECK((10 + hlen) % 64 == 0);  // data aligned as NumPy aligns it
      CHECK(b[10 + hlen - 1] == '\n');
      CHECK(b.size() == 10 + hlen + t.nbytes());
      CHECK(same_tensor(parse_npy(b.data(), b.size(), "mem"), t));
    }
  }
}

TEST_CASE("io npy: empty arrays round trip") {
  for (DType dt : kAllDTypes) {
    for (const Shape& s : {Shape{0}, Shape{0, 3}, Shape{2, 0, 4}, Shape{1, 1, 1, 1, 1, 0}}) {
      Tensor t = Tensor::empty(s, dt);
      std::vector<uint8_t> b = encode_npy(t);
      Tensor back = parse_npy(b.data(), b.size(), "mem");
      CHECK(back.shape() == s);
      CHECK(back.dtype() == dt);
    }
  }
}

TEST_CASE("io npy: header text matches NumPy's") {
  auto header = [](const Tensor& t) {
    std::vector<uint8_t> b = encode_npy(t);
    return std::string(b.begin() + 10, b.begin() + 10 + (b[8] | (b[9] << 8)));
  };
  std::string h = header(pattern(DType::f32, 2));
  CHECK(h.rfind("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }  ", 0) == 0);
  CHECK((h.size() + 10) % 64 == 0);
  CHECK(header(pattern(DType::i64, 1)).rfind("{'descr': '<i8', 'fortran_order': False, 'shape': (2,), } ", 0) == 0);
  CHECK(header(pattern(DType::f64, 0)).rfind("{'descr': '<f8', 'fortran_order': False, 'shape': (), } ", 0) == 0);
  CHECK(header(pattern(DType::i32, 6)).rfind("{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3, 1, 2, 2, 1), }", 0) == 0);
}

TEST_CASE("io npy: orbit's encoding of NumPy's golden arrays is byte-identical to np.save") {
  for (const char* name : {"f4_2x3.npy", "f8_scalar.npy", "i4_1d.npy", "i8_2x1x2.npy", "f4_empty_0x3.npy", "f8_rank6.npy"}) {
    CAPTURE(name);
    std::vector<uint8_t> numpy = file_bytes(fixture(name));
    CHECK(encode_npy(read_npy(fixture(name))) == numpy);
  }
}

TEST_CASE("io npy: files are written atomically and read back") {
  TempDir dir;
  std::string path = dir.file("a.npy");
  write_npy(path, pattern(DType::f64, 3));
  CHECK(same_tensor(read_npy(path), pattern(DType::f64, 3)));
  write_npy(path, pattern(DType::i32, 1));  // overwrite in place
  CHECK(same_tensor(read_npy(path), pattern(DType::i32, 1)));
  CHECK(dir.listing() == std::vector<std::string>{"a.npy"});  // no temp file left behind

  // Missing folders on the way are created (mkdir -p); a file in the way is a clear error.
  const std::string nested = dir.file("missing_dir/deeper/b.npy");
  write_npy(nested, pattern(DType::f32, 1));
  CHECK(same_tensor(read_npy(nested), pattern(DType::f32, 1)));
  std::string bad = dir.file("a.npy/b.npy");  // a.npy is a file
  std::string msg = error_of([&] { write_npy(bad, pattern(DType::f32, 1)); });
  CHECK(msg.find("write_npy") != std::string::npos);
  CHECK(msg.find("cannot create the folder") != std::string::npos);
  CHECK(msg.find("a.npy/b.npy") != std::string::npos);
  std::vector<std::string> names = dir.listing();
  std::sort(names.begin(), names.end());
  CHECK(names == std::vector<std::string>{"a.npy", "missing_dir"});
  msg = error_of([&] { read_npy(dir.file("nope.npy")); });
  CHECK(msg.find("nope.npy") != std::string::npos);
  CHECK(msg.find("No such file") != std::string::npos);
  CHECK(error_of([&] { write_npy(path, Tensor()); }).find("undefined") != std::string::npos);
}

TEST_CASE("io npy: NumPy golden files load with exact values") {
  Tensor a = read_npy(fixture("f4_2x3.npy"));
  CHECK(same_tensor(a, Tensor::from<float>({2, 3}, {-1, -0.5f, 0, 0.5f, 1, 1.5f})));
  Tensor s = read_npy(fixture("f8_scalar.npy"));
  CHECK(s.shape() == Shape{});
  CHECK(s.data<double>()[0] == 3.141592653589793);
  CHECK(same_tensor(read_npy(fixture("i4_1d.npy")),
                    Tensor::from<int32_t>({5}, {INT32_MIN, -1, 0, 1, INT32_MAX})));
  CHECK(same_tensor(read_npy(fixture("i8_2x1x2.npy")),
                    Tensor::from<int64_t>({2, 1, 2}, {INT64_MIN, (int64_t{1} << 62) + 1, 0, INT64_MAX})));
  Tensor e = read_npy(fixture("f4_empty_0x3.npy"));
  CHECK(e.shape() == Shape{0, 3});
  CHECK(e.dtype() == DType::f32);
  Tensor r6 = read_npy(fixture("f8_rank6.npy"));
  REQUIRE(r6.shape() == Shape{2, 2, 2, 2, 2, 2});
  for (int i = 0; i < 64; ++i) CHECK(r6.data<double>()[i] == i / 8.0);
  CHECK(same_tensor(read_npy(fixture("f8_v2.npy")), Tensor::from<double>({2}, {1.5, -2.25})));
  CHECK(same_tensor(read_npy(fixture("i4_v3.npy")), Tensor::from<int32_t>({1, 2}, {7, 8})));
}

TEST_CASE("io npy: NumPy files orbit cannot represent are rejected clearly") {
  auto msg = [](const char* name) { return error_of([&] { read_npy(fixture(name)); }); };
  std::string m = msg("fortran_2x3.npy");
  CHECK(m.find("Fortran-order arrays are not supported: save with np.ascontiguousarray") != std::string::npos);
  CHECK(m.find("fortran_2x3.npy") != std::string::npos);
  CHECK(msg("bigendian_f4.npy").find("big-endian dtype '>f4'") != std::string::npos);
  m = msg("object.npy");
  CHECK(m.find("object arrays") != std::string::npos);
  CHECK(m.find("never unpickles") != std::string::npos);
  CHECK(msg("float16.npy").find("'<f2' (floating point") != std::string::npos);
  CHECK(msg("bool.npy").find("'|b1' (bool") != std::string::npos);
  CHECK(msg("structured.npy").find("structured dtypes") != std::string::npos);
  CHECK(msg("f8_rank7.npy").find("orbit supports at most 6") != std::string::npos);
}

TEST_CASE("io npy: byte-order characters and header variants") {
  std::string data = f32_bytes({1, 2, 3});
  for (const char* d : {"<f4", "|f4", "=f4"}) {
    auto b = npy_by_hand(std::string("{'descr': '") + d + "', 'fortran_order': False, 'shape': (3,), }", data);
    CHECK(same_tensor(parse_npy(b.data(), b.size(), "t"), Tensor::from<float>({3}, {1, 2, 3})));
  }
  // Key order, double quotes, no trailing comma, Python 2 long suffix, versions 2.0 and 3.0.
  auto b = npy_by_hand("{\"shape\": (3L,), \"fortran_order\": False, \"descr\": \"<f4\"}", data);
  CHECK(parse_npy(b.data(), b.size(), "t").shape() == Shape{3});
  for (int major : {2, 3}) {
    b = npy_by_hand("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3), }", data, major);
    CHECK(parse_npy(b.data(), b.size(), "t").shape() == Shape{1, 3});
  }
}

TEST_CASE("io npy: malformed files are rejected with the file name and the problem") {
  std::string data = f32_bytes({1, 2, 3});
  auto err = [&](const std::string& dict, const std::string& d = "") {
    return parse_error(npy_by_hand(dict, d.empty() ? f32_bytes({1, 2, 3}) : d));
  };
  const std::string ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }";
  auto contains = [](const std::string& msg, const char* part) {
    INFO(msg);
    CHECK(msg.find("test.npy") == 0);
    CHECK(msg.find(part) != std::string::npos);
  };

  auto b = npy_by_hand(ok, data);
  b[0] = 'X';
  contains(parse_error(b), "bad magic");
  contains(parse_error(bytes_of("\x93NUM")), "bad magic");
  contains(parse_error(npy_by_hand(ok, data, 4)), "unsupported .npy format version 4.0");
  contains(parse_error(npy_by_hand(ok, data, 1, 1)), "unsupported .npy format version 1.1");
  b = npy_by_hand(ok, data);
  b[8] = 0xFF, b[9] = 0xFF;
  contains(parse_error(b), "header length 65535 runs past the end");
  b = npy_by_hand(ok, data, 2);
  b[8] = b[9] = b[10] = b[11] = 0xFF;
  contains(parse_error(b), "header length 4294967295 runs past the end");

  contains(err("{'descr': '<f4', 'shape': (3,), }"), "missing key 'fortran_order'");
  contains(err("{'descr': '<f4', 'fortran_order': False}"), "missing key 'shape'");
  contains(err("{'fortran_order': False, 'shape': (3,)}"), "missing key 'descr'");
  contains(err("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), 'x': 1}"), "unexpected key 'x'");
  contains(err("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (3,)}"), "duplicate key 'descr'");
  contains(err("{'descr': '<f4' 'fortran_order': False, 'shape': (3,)}"), "expected ',' or '}'");
  contains(err("{'descr': '<f4', 'fortran_order': false, 'shape': (3,)}"), "fortran_order is not True or False");
  contains(err("{'descr': '<f4', 'fortran_order': False, 'shape': [3]}"), "shape is a list");
  contains(err("{'descr': '<f4', 'fortran_order': False, 'shape': (3)}"), "is not a tuple");
  contains(err("{'descr': '<f4', 'fortran_order': False, 'shape': (3,,)}"), "expected a dimension");
  contains(err("{'descr': '<f4', 'fortran_order': False, 'shape': (-3,)}"), "negative dimension");
  contains(err("{'descr': '<f4', 'fortran_order': False, 'shape': (3,)} junk"), "unexpected text after the dict");
  contains(err("{'descr': '<f4, 'fortran_order': False, 'shape': (3,)}"), "malformed .npy header");
  contains(err("['descr', '<f4']"), "expected '{'");
  contains(err("{'descr': 5, 'fortran_order': False, 'shape': (3,)}"), "descr is not a string");
  contains(err("{'descr': 'f4', 'fortran_order': False, 'shape': (3,)}"), "has no byte-order character");
  contains(err("{'descr': '>i8', 'fortran_order': False, 'shape': (3,)}"), "big-endian dtype '>i8'");
  contains(err("{'descr': '|O', 'fortran_order': False, 'shape': (3,)}"), "object arrays");
  contains(err("{'descr': '<c16', 'fortran_order': False, 'shape': (3,)}"), "'<c16' (complex");
  contains(err("{'descr': '<U5', 'fortran_order': False, 'shape': (3,)}"), "'<U5' (unicode string");
  contains(err("{'descr': '<f4', 'fortran_order': True, 'shape': (3,)}"), "Fortran-order arrays are not supported");
  contains(err("{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1)}"), "orbit supports at most 6");
  contains(err("{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904,)}"), "absurdly large");
  contains(err("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999999,)}"), "absurdly large");
  contains(err("{'descr': '<f4', 'fortran_order': False, 'shape': (281474976710656, 281474976710656)}"),
           "too many elements");
  contains(err("{'descr': '<f8', 'fortran_order': False, 'shape': (0, 281474976710656, 281474976710656)}"),
           "too many elements");
  contains(err("{'descr': '<f4', 'fortran_order': False, 'shape': (4,)}"), "array data is truncated");
  contains(err("{'descr': '<f4', 'fortran_order': False, 'shape': (2,)}"), "4 unexpected bytes after the array data");
  contains(err("{'descr': '<f4', 'fortran_order': False, 'shape': ()}"), "8 unexpected bytes");
}

}  // TEST_SUITE
