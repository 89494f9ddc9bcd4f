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

// Typed reads for settings stored as JSON (checkpoint configurations): `what` names the setting in the
// orbit::Error thrown when `j` is not a number, not finite in double (1e999), or, for the integer
// forms, not an integer written as one ("2.5", "1e3") within [lo, hi] (a cast would truncate or wrap).
double json_real(const Json& j, const std::string& what);
int64_t json_int(const Json& j, int64_t lo, int64_t hi, const std::string& what);
uint64_t json_u64(const Json& j, const std::string& what);

bool valid_utf8(std::string_view s);
// `s` as a JSON string literal; throws orbit::Error when `s` is not valid UTF-8.
std::string json_quote(std::string_view s);

}  // namespace orbit::io
