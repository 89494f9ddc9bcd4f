// The strict JSON reader (safetensors headers): any bytes either parse or throw orbit::Error; what
// parses holds valid UTF-8 only, writes back (with json_quote for strings) to text that parses to the
// same tree, and its plain integers read by json_uint print as their own source text.
#include <string_view>

#include "engine/io/json.h"
#include "tests/fuzz/fuzz_target.h"

using namespace orbit;
using io::Json;

namespace {

void write(const Json& j, std::string& out) {
  switch (j.kind) {
    case Json::Kind::null: out += "null"; break;
    case Json::Kind::boolean: out += j.boolean ? "true" : "false"; break;
    case Json::Kind::number: out += j.text; break;
    case Json::Kind::string: out += io::json_quote(j.text); break;
    case Json::Kind::array:
      out += '[';
      for (size_t i = 0; i < j.items.size(); ++i) {
        if (i) out += ',';
        write(j.items[i], out);
      }
      out += ']';
      break;
    case Json::Kind::object:
      out += '{';
      for (size_t i = 0; i < j.members.size(); ++i) {
        if (i) out += ',';
        out += io::json_quote(j.members[i].first);
        out += ':';
        write(j.members[i].second, out);
      }
      out += '}';
      break;
  }
}

bool same(const Json& a, const Json& b) {
  if (a.kind != b.kind || a.boolean != b.boolean || a.text != b.text || a.items.size() != b.items.size() ||
      a.members.size() != b.members.size())
    return false;
  for (size_t i = 0; i < a.items.size(); ++i)
    if (!same(a.items[i], b.items[i])) return false;
  for (size_t i = 0; i < a.members.size(); ++i)
    if (a.members[i].first != b.members[i].first || !same(a.members[i].second, b.members[i].second)) return false;
  return true;
}

void check(const Json& j) {
  if (j.kind == Json::Kind::string) fuzz::expect(io::valid_utf8(j.text), "parsed strings are valid UTF-8");
  if (j.kind == Json::Kind::number) {
    uint64_t v = 0;
    if (io::json_uint(j, UINT64_MAX, v))
      fuzz::expect(std::to_string(v) == j.text, "a plain integer prints as its source text", j.text);
  }
  for (const Json& i : j.items) check(i);
  for (const auto& [key, value] : j.members) {
    fuzz::expect(io::valid_utf8(key), "parsed keys are valid UTF-8");
    check(value);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto j = fuzz::accepted([&] { return io::parse_json(text, "fuzz.json"); });
  if (!j) return 0;
  check(*j);
  std::string again;
  write(*j, again);
  const Json k = fuzz::reparsed([&] { return io::parse_json(again, "fuzz.json (written back)"); });
  fuzz::expect(same(*j, k), "a parsed value written back parses to the same tree");
  return 0;
}
