// The JSON-lines metrics log: every line parses (with orbit's strict JSON reader), doubles round-trip
// exactly, NaN and infinities become null with a "_nonfinite" note, strings are escaped, lines are
// on disk as soon as write() returns, and appending on resume cuts a torn last line.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/io/json.h"
#include "engine/util/jsonl_log.h"

using namespace orbit;
using util::JsonlLog;

namespace {

std::string tmp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("orbit_jsonl_" + std::to_string(getpid()) + "_" + name)).string();
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Every line of the file, each checked to be one JSON object.
std::vector<io::Json> parse_lines(const std::string& path) {
  std::string text = slurp(path);
  CHECK((text.empty() || text.back() == '\n'));
  std::vector<io::Json> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    io::Json j = io::parse_json(line, "jsonl test");
    CHECK(j.kind == io::Json::Kind::object);
    out.push_back(std::move(j));
  }
  return out;
}

}  // namespace

TEST_SUITE("cpu") {

TEST_CASE("jsonl lines parse and numbers round-trip") {
  std::string path = tmp_path("roundtrip.jsonl");
  const std::vector<double> doubles = {0.1, 1.0 / 3, -2.5e-310, DBL_MAX, DBL_MIN, -0.0, 1e21, 123456789012345678.0,
                                       M_PI, 5e-324, 0.5};
  {
    JsonlLog log(path);
    log.write({{"step", 10}, {"loss", 0.5}, {"phase", "train"}});
    for (size_t i = 0; i < doubles.size(); ++i) log.write({{"i", i}, {"x", doubles[i]}, {"f", 0.1f}});
    log.write({{"min", std::numeric_limits<int64_t>::min()},
               {"max", std::numeric_limits<int64_t>::max()},
               {"umax", std::numeric_limits<uint64_t>::max()},
               {"yes", true},
               {"no", false},
               {"none", nullptr}});
    CHECK(log.lines_written() == static_cast<int64_t>(doubles.size()) + 2);
  }
  std::vector<io::Json> lines = parse_lines(path);
  REQUIRE(lines.size() == doubles.size() + 2);
  CHECK(slurp(path).substr(0, 43) == "{\"step\":10,\"loss\":0.5,\"phase\":\"train\"}\n{\"i\"");
  for (size_t i = 0; i < doubles.size(); ++i) {
    const io::Json* x = lines[i + 1].find("x");
    REQUIRE(x);
    REQUIRE(x->kind == io::Json::Kind::number);
    double back = std::strtod(x->text.c_str(), nullptr);
    CHECK(std::memcmp(&back, &doubles[i], sizeof back) == 0);  // bit for bit, -0.0 included
    CHECK(std::strtof(lines[i + 1].find("f")->text.c_str(), nullptr) == 0.1f);
  }
  const io::Json& last = lines.back();
  CHECK(last.find("min")->text == "-9223372036854775808");
  CHECK(last.find("max")->text == "9223372036854775807");
  CHECK(last.find("umax")->text == "18446744073709551615");
  CHECK(last.find("yes")->boolean);
  CHECK(last.find("no")->kind == io::Json::Kind::boolean);
  CHECK(last.find("none")->kind == io::Json::Kind::null);
  std::filesystem::remove(path);
}

TEST_CASE("jsonl writes nan and infinities as null with a note") {
  std::string line = JsonlLog::format({{"step", 3},
                                       {"loss", std::nan("")},
                                       {"grad", std::numeric_limits<double>::infinity()},
                                       {"lr", -std::numeric_limits<double>::infinity()},
                                       {"ok", 1.5}});
  CHECK(line == "{\"step\":3,\"loss\":null,\"grad\":null,\"lr\":null,\"ok\":1.5,"
                "\"_nonfinite\":{\"loss\":\"nan\",\"grad\":\"inf\",\"lr\":\"-inf\"}}");
  io::Json j = io::parse_json(line, "jsonl test");
  CHECK(j.find("loss")->kind == io::Json::Kind::null);
  CHECK(j.find("_nonfinite")->find("grad")->text == "inf");
  CHECK(JsonlLog::format({{"x", std::nan("")}}) == "{\"x\":null,\"_nonfinite\":{\"x\":\"nan\"}}");
  CHECK(JsonlLog::format({}) == "{}");
}

TEST_CASE("jsonl escapes strings and keys") {
  std::string nasty = std::string("quote\" backslash\\ newline\n tab\t bell\x07 nul") + '\0' + " sigma\xcf\x83 bad\xff";
  std::string line = JsonlLog::format({{"text", nasty}, {"key \"with\" quotes", "v"}});
  CHECK(line.find('\n') == std::string::npos);
  io::Json j = io::parse_json(line, "jsonl test");
  std::string expected = std::string("quote\" backslash\\ newline\n tab\t bell\x07 nul") + '\0' +
                         " sigma\xcf\x83 bad\xef\xbf\xbd";  // the invalid byte becomes U+FFFD
  CHECK(j.find("text")->text == expected);
  CHECK(j.find("key \"with\" quotes")->text == "v");
  CHECK_THROWS_AS(JsonlLog::format({{"a", 1}, {"a", 2}}), Error);
  CHECK_THROWS_AS(JsonlLog::format({{"_nonfinite", 1}}), Error);
}

TEST_CASE("jsonl lines reach the file at once and append resumes cleanly") {
  std::string path = tmp_path("append.jsonl");
  {
    JsonlLog log(path);
    log.write({{"step", 1}});
    CHECK(slurp(path) == "{\"step\":1}\n");  // visible before the log is closed
    log.write({{"step", 2}});
  }
  {
    JsonlLog log(path, JsonlLog::Mode::append);
    log.write({{"step", 3}});
  }
  CHECK(slurp(path) == "{\"step\":1}\n{\"step\":2}\n{\"step\":3}\n");

  // A run killed mid-line: the torn line is cut off before appending.
  { std::ofstream(path, std::ios::app) << "{\"step\":4,\"lo"; }
  {
    JsonlLog log(path, JsonlLog::Mode::append);
    log.write({{"step", 4}});
  }
  CHECK(slurp(path) == "{\"step\":1}\n{\"step\":2}\n{\"step\":3}\n{\"step\":4}\n");
  CHECK(parse_lines(path).size() == 4);

  { std::ofstream(path, std::ios::trunc) << "{\"torn"; }  // a torn first line
  { JsonlLog(path, JsonlLog::Mode::append).write({{"a", 1}}); }
  CHECK(slurp(path) == "{\"a\":1}\n");

  { JsonlLog(path).write({{"fresh", true}}); }  // truncate mode starts over
  CHECK(slurp(path) == "{\"fresh\":true}\n");
  std::filesystem::remove(path);

  std::string created = tmp_path("created.jsonl");
  { JsonlLog(created, JsonlLog::Mode::append).write({{"n", 0}}); }  // append creates a missing file
  CHECK(slurp(created) == "{\"n\":0}\n");
  std::filesystem::remove(created);
  CHECK_THROWS_AS(JsonlLog("/dev/null/log.jsonl"), Error);
}

}  // TEST_SUITE
