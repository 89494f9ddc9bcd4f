// Strict JSON parsing and string quoting; see json.h.
#include "engine/io/json.h"

#include <cmath>
#include <set>

#include "engine/error.h"
#include "engine/util/parse.h"

namespace orbit::io {

namespace {

// Length of the valid UTF-8 sequence starting at s[i], or 0 when it is invalid.
size_t utf8_len(std::string_view s, size_t i) {
  auto b = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  uint8_t c = b(i);
  if (c < 0x80) return 1;
  size_t n;
  uint32_t cp;
  if ((c & 0xE0) == 0xC0) n = 2, cp = c & 0x1F;
  else if ((c & 0xF0) == 0xE0) n = 3, cp = c & 0x0F;
  else if ((c & 0xF8) == 0xF0) n = 4, cp = c & 0x07;
  else return 0;
  if (s.size() - i < n) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b(i + k) & 0x3F);
  }
  static constexpr uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

}  // namespace

Json::Json() = default;

namespace {

class Parser {
 public:
  Parser(std::string_view s, const std::string& what) : s_(s), what_(what) {}

  Json document() {
    Json v = value(0);
    ws();
    if (i_ != s_.size()) fail("unexpected content after the JSON value");
    return v;
  }

 private:
  static constexpr int kMaxDepth = 64;

  [[noreturn]] void fail(const std::string& msg) {
    throw Error(detail::cat(what_, ": invalid JSON at byte ", i_, ": ", msg));
  }
  bool more() const { return i_ < s_.size(); }
  char peek() const { return s_[i_]; }
  void ws() {
    while (more() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r')) ++i_;
  }
  void expect(char c) {
    if (!more() || peek() != c) fail(detail::cat("expected '", c, "'"));
    ++i_;
  }
  void literal(std::string_view word) {
    if (s_.substr(i_, word.size()) != word) fail("unknown literal");
    i_ += word.size();
  }

  Json value(int depth) {
    if (depth > kMaxDepth) fail("nesting is deeper than 64 levels");
    ws();
    if (!more()) fail("unexpected end of input");
    Json v;
    char c = peek();
    if (c == '{') {
      v.kind = Json::Kind::object;
      object(v, depth);
    } else if (c == '[') {
      v.kind = Json::Kind::array;
      ++i_;
      ws();
      if (more() && peek() == ']') {
        ++i_;
        return v;
      }
      for (;;) {
        v.items.push_back(value(depth + 1));
        ws();
        if (more() && peek() == ',') {
          ++i_;
          continue;
        }
        expect(']');
        break;
      }
    } else if (c == '"') {
      v.kind = Json::Kind::string;
      v.text = string();
    } else if (c == 't') {
      literal("true");
      v.kind = Json::Kind::boolean;
      v.boolean = true;
    } else if (c == 'f') {
      literal("false");
      v.kind = Json::Kind::boolean;
    } else if (c == 'n') {
      literal("null");
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      v.kind = Json::Kind::number;
      v.text = number();
    } else {
      fail(detail::cat("unexpected character '", c, "'"));
    }
    return v;
  }

  void object(Json& v, int depth) {
    ++i_;
    ws();
    if (more() && peek() == '}') {
      ++i_;
      return;
    }
    std::set<std::string> seen;
    for (;;) {
      ws();
      if (!more() || peek() != '"') fail("expected a string key");
      size_t at = i_;
      std::string key = string();
      if (!seen.insert(key).second) {
        i_ = at;
        fail(detail::cat("duplicate key \"", key, "\""));
      }
      ws();
      expect(':');
      v.members.emplace_back(std::move(key), value(depth + 1));
      ws();
      if (more() && peek() == ',') {
        ++i_;
        continue;
      }
      expect('}');
      return;
    }
  }

  bool digits() {
    size_t start = i_;
    while (more() && peek() >= '0' && peek() <= '9') ++i_;
    return i_ > start;
  }

  std::string number() {
    size_t start = i_;
    if (peek() == '-') ++i_;
    if (more() && peek() == '0') {
      ++i_;
    } else if (!digits()) {
      fail("malformed number");
    }
    if (more() && peek() == '.') {
      ++i_;
      if (!digits()) fail("malformed number");
    }
    if (more() && (peek() == 'e' || peek() == 'E')) {
      ++i_;
      if (more() && (peek() == '+' || peek() == '-')) ++i_;
      if (!digits()) fail("malformed number");
    }
    return std::string(s_.substr(start, i_ - start));
  }

  uint32_t hex4() {
    if (s_.size() - i_ < 4) fail("truncated \\u escape");
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      char c = s_[i_++];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= c - '0';
      else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
      else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
      else fail("bad hex digit in \\u escape");
    }
    return v;
  }

  std::string string() {
    ++i_;  // opening quote
    std::string out;
    for (;;) {
      if (!more()) fail("unterminated string");
      auto c = static_cast<uint8_t>(peek());
      if (c == '"') {
        ++i_;
        return out;
      }
      if (c < 0x20) fail("unescaped control character in string");
      if (c == '\\') {
        ++i_;
        if (!more()) fail("unterminated string");
        char e = s_[i_++];
        switch (e) {
          case '"': out += '"'; break;
          case '\\': out += '\\'; break;
          case '/': out += '/'; break;
          case 'b': out += '\b'; break;
          case 'f': out += '\f'; break;
          case 'n': out += '\n'; break;
          case 'r': out += '\r'; break;
          case 't': out += '\t'; break;
          case 'u': {
            uint32_t cp = hex4();
            if (cp >= 0xDC00 && cp <= 0xDFFF) fail("lone low surrogate in \\u escape");
            if (cp >= 0xD800 && cp <= 0xDBFF) {
              if (s_.substr(i_, 2) != "\\u") fail("high surrogate not followed by a low surrogate");
              i_ += 2;
              uint32_t lo = hex4();
              if (lo < 0xDC00 || lo > 0xDFFF) fail("high surrogate not followed by a low surrogate");
              cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            append_utf8(out, cp);
            break;
          }
          default: --i_; fail(detail::cat("unknown escape '\\", e, "'"));
        }
        continue;
      }
      size_t n = utf8_len(s_, i_);
      if (n == 0) fail("invalid UTF-8 in string");
      out.append(s_.substr(i_, n));
      i_ += n;
    }
  }

  std::string_view s_;
  const std::string& what_;
  size_t i_ = 0;
};

}  // namespace

const Json* Json::find(const std::string& key) const {
  for (auto& m : members)
    if (m.first == key) return &m.second;
  return nullptr;
}

Json parse_json(std::string_view text, const std::string& what) { return Parser(text, what).document(); }

double json_real(const Json& j, const std::string& what) {
  ORBIT_CHECK(j.kind == Json::Kind::number, what, " must be a number");
  double x = 0;
  ORBIT_CHECK(util::parse_double(j.text, x) && std::isfinite(x), what, " must be a finite number, got ", j.text);
  return x;
}

int64_t json_int(const Json& j, int64_t lo, int64_t hi, const std::string& what) {
  ORBIT_CHECK(j.kind == Json::Kind::number, what, " must be a number");
  int64_t x = 0;
  ORBIT_CHECK(util::parse_int64(j.text, x), what, " must be an integer, got ", j.text);
  ORBIT_CHECK(x >= lo && x <= hi, what, " must be in [", lo, ", ", hi, "], got ", x);
  return x;
}

uint64_t json_u64(const Json& j, const std::string& what) {
  uint64_t x = 0;
  ORBIT_CHECK(json_uint(j, UINT64_MAX, x), what, " must be a non-negative integer, got ",
              j.kind == Json::Kind::number ? j.text : std::string("a non-number"));
  return x;
}

bool json_uint(const Json& j, uint64_t max, uint64_t& out) {
  if (j.kind != Json::Kind::number || j.text.empty() || (j.text.size() > 1 && j.text[0] == '0')) return false;
  uint64_t v = 0;
  for (char c : j.text) {
    if (c < '0' || c > '9') return false;
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (d > max || v > (max - d) / 10) return false;
    v = v * 10 + d;
  }
  out = v;
  return true;
}

bool valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    size_t n = utf8_len(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string json_quote(std::string_view s) {
  if (!valid_utf8(s)) throw Error("JSON strings must be valid UTF-8");
  static const char* kHex = "0123456789abcdef";
  std::string out = "\"";
  for (char ch : s) {
    auto c = static_cast<uint8_t>(ch);
    switch (ch) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 15];
        } else {
          out += ch;
        }
    }
  }
  out += '"';
  return out;
}

}  // namespace orbit::io
