// Whole-string number parsing (engine/util/parse.h): what the CLI options and checkpoint metadata use.
#include <doctest/doctest.h>

#include <cmath>

#include "engine/util/parse.h"

using orbit::util::parse_double;
using orbit::util::parse_int64;

TEST_SUITE("cpu") {
  TEST_CASE("parse: integers and reals only when the whole text is one number") {
    int64_t i = 7;
    CHECK(parse_int64("-42", i));
    CHECK(i == -42);
    CHECK(parse_int64("9223372036854775807", i));
    CHECK(i == INT64_MAX);
    for (const char* bad : {"", " 1", "1 ", "12abc", "1.5", "0x10", "9223372036854775808", "--1"}) {
      INFO(bad);
      int64_t j = 5;
      CHECK_FALSE(parse_int64(bad, j));
      CHECK(j == 5);  // untouched on failure
    }
    double d = 0;
    CHECK(parse_double("1e-9", d));
    CHECK(d == 1e-9);
    CHECK(parse_double("-2.5", d));
    CHECK(d == -2.5);
    CHECK(parse_double("inf", d));
    CHECK(std::isinf(d));
    for (const char* bad : {"", "1.5x", " 2", "1e", "e5"}) {
      INFO(bad);
      double e = 3;
      CHECK_FALSE(parse_double(bad, e));
      CHECK(e == 3);
    }
  }
}
