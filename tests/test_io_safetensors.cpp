// safetensors reading and writing, and the strict JSON reader/writer behind it.
#include <doctest/doctest.h>

#include "engine/io/json.h"
#include "engine/io/safetensors.h"
#include "test_io_util.h"

using namespace orbit;
using namespace io_test;

namespace {

// A safetensors file built by hand from header JSON text and a data buffer.
std::vector<uint8_t> st_by_hand(const std::string& json, const std::string& data = "") {
  uint64_t n = json.size();
  std::string out(reinterpret_cast<const char*>(&n), 8);
  return bytes_of(out + json + data);
}

std::string st_error(const std::vector<uint8_t>& b) {
  std::map<std::string, Tensor> t;
  std::map<std::string, std::string> m;
  return error_of([&] { parse_safetensors(b.data(), b.size(), "t.safetensors", t, m); });
}

std::map<std::string, Tensor> all_patterns() {
  std::map<std::string, Tensor> m;
  for (DType dt : kAllDTypes) {
    for (int rank = 0; rank <= 6; ++rank) m[pattern_name(dt, rank)] = pattern(dt, rank);
    m[std::string(dtype_name(dt)) + "_empty"] = Tensor::empty({0, 3}, dt);
  }
  return m;
}

}  // namespace

TEST_SUITE("cpu") {

TEST_CASE("io safetensors: round trip of every dtype, rank 0..6, empty arrays and metadata") {
  auto tensors = all_patterns();
  std::map<std::string, std::string> meta = {
      {"format", "pt"}, {"quote \"and\" \\slash", "line\nbreak\ttab\x01\x1f"}, {"\xc3\xa9", "\xe2\x82\xac\xf0\x9f\x98\x80"}, {"", ""}};
  std::vector<uint8_t> b = encode_safetensors(tensors, meta);
  uint64_t hlen;
  std::memcpy(&hlen, b.data(), 8);
  CHECK((8 + hlen) % 8 == 0);

  std::map<std::string, Tensor> t2;
  std::map<std::string, std::string> m2 = {{"stale", "x"}};
  parse_safetensors(b.data(), b.size(), "mem", t2, m2);
  CHECK(m2 == meta);
  REQUIRE(t2.size() == tensors.size());
  for (auto& [k, t] : tensors) {
    CAPTURE(k);
    CHECK(same_tensor(t, t2.at(k)));
  }

  // Offsets are aligned to each tensor's itemsize.
  io::Json h = io::parse_json(std::string_view(reinterpret_cast<const char*>(b.data() + 8), hlen), "h");
  for (auto& [k, v] : h.members) {
    if (k == "__metadata__") continue;
    uint64_t begin;
    REQUIRE(io::json_uint(v.find("data_offsets")->items[0], UINT64_MAX, begin));
    CHECK(begin % dtype_size(tensors.at(k).dtype()) == 0);
  }

  TempDir dir;
  write_safetensors(dir.file("m.safetensors"), tensors, meta);
  std::map<std::string, Tensor> t3;
  std::map<std::string, std::string> m3;
  read_safetensors(dir.file("m.safetensors"), t3, m3);
  CHECK(m3 == meta);
  CHECK(t3.size() == tensors.size());
  write_safetensors(dir.file("m.safetensors"), {});
  read_safetensors(dir.file("m.safetensors"), t3, m3);
  CHECK(t3.empty());
  CHECK(m3.empty());
  CHECK(dir.listing() == std::vector<std::string>{"m.safetensors"});
}

TEST_CASE("io safetensors: golden file written by the reference layout") {
  std::map<std::string, Tensor> t;
  std::map<std::string, std::string> m;
  read_safetensors(fixture("basic.safetensors"), t, m);
  CHECK(m.at("format") == "pt");
  CHECK(m.at("note") == "h\xc3\xa9llo \"q\"\n\xe2\x82\xac\xf0\x9f\x98\x80");
  CHECK(same_tensor(t.at("weight"), Tensor::from<float>({2, 2}, {1, -2, 0.5f, 3.25f})));
  CHECK(same_tensor(t.at("bias"), Tensor::from<double>({3}, {0.125, -1e300, 7.0})));
  CHECK(t.at("step").shape() == Shape{});
  CHECK(t.at("step").data<int64_t>()[0] == -9007199254740993LL);
  CHECK(t.at("idx").shape() == Shape{0});
  CHECK(t.at("idx").dtype() == DType::i32);
}

TEST_CASE("io safetensors: writer refuses what it could not read back") {
  CHECK(error_of([] { encode_safetensors({{"__metadata__", pattern(DType::f32, 1)}}); }).find("__metadata__") !=
        std::string::npos);
  CHECK(error_of([] { encode_safetensors({{"bad\xff", pattern(DType::f32, 1)}}); }).find("UTF-8") != std::string::npos);
  CHECK(error_of([] { encode_safetensors({}, {{"k", "\xc0\x80"}}); }).find("UTF-8") != std::string::npos);
  CHECK(error_of([] { encode_safetensors({{"u", Tensor()}}); }).find("undefined") != std::string::npos);
}

TEST_CASE("io safetensors: malformed files are rejected") {
  const std::string f4x2 = std::string(8, '\0');
  auto err = [](const std::string& json, const std::string& data = "") { return st_error(st_by_hand(json, data)); };
  auto contains = [](const std::string& msg, const char* part) {
    INFO(msg);
    CHECK(msg.find("t.safetensors") == 0);
    CHECK(msg.find(part) != std::string::npos);
  };
  auto one = [](const std::string& body) { return "{\"x\":{" + body + "}}"; };

  contains(st_error(bytes_of("abc")), "too short for the 8-byte header length");
  auto b = st_by_hand("{}");
  b[0] = 0xFF, b[1] = 0xFF, b[2] = 0xFF, b[3] = 0x0F;
  contains(st_error(b), "header length 268435455 is absurd");
  std::fill(b.begin(), b.begin() + 8, 0xFF);
  contains(st_error(b), "header length 18446744073709551615 is absurd");
  b = st_by_hand("{}");
  b[0] = 50;
  contains(st_error(b), "header length 50 runs past the end of the file");
  contains(err("[]"), "does not start with '{'");
  contains(err(""), "does not start with '{'");

  const std::string ok = "\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]";
  CHECK(err(one(ok), f4x2).empty());
  CHECK(err(one(ok) + "   ", f4x2).empty());  // space padding is allowed
  contains(err(one(ok), f4x2 + "xx"), "2 bytes at the end of the data buffer belong to no tensor");
  contains(err(one(ok), "1234"), "run past the end of the 4-byte data buffer");
  contains(err(one("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,99999999999]"), f4x2), "run past the end");
  contains(err(one("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]"), f4x2), "are out of order");
  contains(err(one("\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]"), f4x2), "span 8 bytes but F32 [3] needs 12");
  contains(err(one("\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]"), "1234"), "dtype \"F16\"");
  contains(err(one("\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,4]"), "1234"), "dtype \"BF16\"");
  contains(err(one("\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]"), f4x2), "shape entry -2");
  contains(err(one("\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]"), f4x2), "shape entry 2.0");
  contains(err(one("\"dtype\":\"F32\",\"shape\":[4611686018427387904],\"data_offsets\":[0,8]"), f4x2), "<= 2^48");
  contains(err(one("\"dtype\":\"F32\",\"shape\":[281474976710656,281474976710656],\"data_offsets\":[0,8]"), f4x2),
           "too many elements");
  contains(err(one("\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,2],\"data_offsets\":[0,8]"), f4x2),
           "orbit supports at most 6");
  contains(err(one("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]"), f4x2), "pair of non-negative integers");
  contains(err(one("\"dtype\":\"F32\",\"shape\":[2]"), f4x2), "needs dtype, shape and data_offsets");
  contains(err(one(ok + ",\"extra\":1"), f4x2), "unexpected field \"extra\"");
  contains(err("{\"x\":[1]}"), "tensor \"x\" is not an object");
  contains(err("{\"x\":{" + ok + "},\"x\":{" + ok + "}}", f4x2), "duplicate key \"x\"");
  contains(err("{\"__metadata__\":{\"a\":1}}"), "__metadata__ value of \"a\" is not a string");
  contains(err("{\"__metadata__\":[]}"), "__metadata__ is not an object");

  // Overlaps and holes.
  const std::string y8 = "\"y\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}";
  contains(err("{\"x\":{" + ok + "}," + y8 + "}", std::string(12, '\0')), "tensors \"x\" and \"y\" overlap");
  const std::string y16 = "\"y\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}";
  contains(err("{\"x\":{" + ok + "}," + y16 + "}", std::string(20, '\0')), "bytes [8, 12) of the data buffer");
  const std::string y0 = "\"y\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}";
  CHECK(err("{" + y0 + ",\"x\":{" + ok + "}}", std::string(16, '\0')).empty());  // header order != data order

  // Outputs are left untouched on failure.
  std::map<std::string, Tensor> t = {{"keep", pattern(DType::f32, 1)}};
  std::map<std::string, std::string> m = {{"keep", "me"}};
  auto bad = st_by_hand(one(ok), "1234");
  CHECK_THROWS_AS(parse_safetensors(bad.data(), bad.size(), "t", t, m), Error);
  CHECK(t.count("keep") == 1);
  CHECK(m.at("keep") == "me");
}

TEST_CASE("io json: strict parsing") {
  auto ok = [](const std::string& s) { return error_of([&] { io::parse_json(s, "j"); }).empty(); };
  auto msg = [](const std::string& s) { return error_of([&] { io::parse_json(s, "j"); }); };
  CHECK(ok("{\"a\":[1,-2.5e+3,0,true,false,null,\"\"],\"b\":{}}"));
  CHECK(ok(" [ ] "));
  io::Json j = io::parse_json("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\u20AC\\ud83d\\ude00\"", "j");
  CHECK(j.text == "\"\\/\b\f\n\r\t\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
  CHECK(msg("{\"a\":1,}").find("expected a string key") != std::string::npos);
  CHECK(msg("[1,]").find("unexpected character ']'") != std::string::npos);
  CHECK(msg("{'a':1}").find("expected a string key") != std::string::npos);
  CHECK(msg("\"a\nb\"").find("unescaped control character") != std::string::npos);
  CHECK(msg("\"\\x\"").find("unknown escape") != std::string::npos);
  CHECK(msg("\"\\ude00\"").find("lone low surrogate") != std::string::npos);
  CHECK(msg("\"\\ud83d\"").find("high surrogate") != std::string::npos);
  CHECK(msg("\"\\u12zz\"").find("bad hex digit") != std::string::npos);
  CHECK(msg("\"\\u12\"").find("truncated \\u escape") != std::string::npos);
  CHECK(msg("\"\xff\"").find("invalid UTF-8") != std::string::npos);
  CHECK(msg("\"\xc0\x80\"").find("invalid UTF-8") != std::string::npos);     // overlong
  CHECK(msg("\"\xed\xa0\x80\"").find("invalid UTF-8") != std::string::npos);  // encoded surrogate
  CHECK(msg("01").find("unexpected content") != std::string::npos);
  CHECK(msg("1.").find("malformed number") != std::string::npos);
  CHECK(msg("-").find("malformed number") != std::string::npos);
  CHECK(msg("tru").find("unknown literal") != std::string::npos);
  CHECK(msg("{\"a\":1} x").find("unexpected content") != std::string::npos);
  CHECK(msg("\"abc").find("unterminated string") != std::string::npos);
  CHECK(msg("").find("unexpected end of input") != std::string::npos);
  CHECK(msg(std::string(100, '[') + std::string(100, ']')).find("deeper than 64") != std::string::npos);
  CHECK(ok(std::string(60, '[') + std::string(60, ']')));

  uint64_t v = 0;
  CHECK(io::json_uint(io::parse_json("18446744073709551615", "j"), UINT64_MAX, v));
  CHECK(v == UINT64_MAX);
  CHECK_FALSE(io::json_uint(io::parse_json("18446744073709551616", "j"), UINT64_MAX, v));
  CHECK_FALSE(io::json_uint(io::parse_json("11", "j"), 10, v));
  CHECK_FALSE(io::json_uint(io::parse_json("1e3", "j"), UINT64_MAX, v));
  CHECK_FALSE(io::json_uint(io::parse_json("-0", "j"), UINT64_MAX, v));

  std::string s = "q\"b\\s/\b\f\n\r\t\x01\x7f\xc3\xa9";
  CHECK(io::json_quote(s) == "\"q\\\"b\\\\s/\\b\\f\\n\\r\\t\\u0001\x7f\xc3\xa9\"");
  CHECK(io::parse_json(io::json_quote(s), "j").text == s);
}

}  // TEST_SUITE
