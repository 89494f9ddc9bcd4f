// A small strict JSON (RFC 8259) reader and writer, enough for safetensors headers.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace orbit::io {

struct Json {
  enum class Kind { null, boolean, number, string, array, object };
  Kind kind = Kind::null;
  bool boolean = false;
  std::string text;                                    // a string's UTF-8 value, or a number's source text
  std::vector<Json> items;                             // array elements
  std::vector<std::pair<std::string, Json>> members;  // object members in file order; keys are unique

  // Declared here, defined in json.cpp: an implicit one makes clang (with libstdc++) instantiate
  // std::pair<std::string, Json> while Json is still incomplete.
  Json();

  const Json* find(const std::string& key) const;
};

// Parses one JSON value (surrounding whitespace allowed). Rejects duplicate object keys, invalid
// UTF-8, unescaped control characters, lone surrogates and nesting deeper than 64. Errors are
// orbit::Error prefixed with `what` and naming the byte offset.
Json parse_json(std::string_view text, const std::string& what);

// The value of a number that is a plain non-negative integer (no sign, fraction or exponent);
// false when it is not one or exceeds `max`.
bool json_uint(const Json& j, uint64_t max, uint64_t& out);

bool valid_utf8(std::string_view s);
// `s` as a JSON string literal; throws orbit::Error when `s` is not valid UTF-8.
std::string json_quote(std::string_view s);

}  // namespace orbit::io
