// A JSON-lines metrics log: one JSON object per line, written with a single write(2) per line so a
// killed run loses at most the line being written.
//
//   util::JsonlLog log("metrics.jsonl");                 // or {path, JsonlLog::Mode::append} on resume
//   log.write({{"step", 10}, {"loss", 0.5}, {"phase", "train"}});
//
// Numbers: integers exactly; doubles in the shortest form that reads back to the same double.
// JSON has no NaN or infinity: such a value is written as null and the line gets a field
// "_nonfinite" naming it, e.g. {"loss":null,"_nonfinite":{"loss":"nan"}}. Strings are escaped
// per RFC 8259; bytes that are not valid UTF-8 become U+FFFD. Keys must be unique in a line.
#pragma once
#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace orbit::util {

// A value in a log line: null, a boolean, an integer, a double or a string.
class JsonValue {
 public:
  enum class Kind { null, boolean, integer, unsigned_integer, number, string };

  JsonValue(std::nullptr_t = nullptr) {}
  JsonValue(bool b) : kind_(Kind::boolean), b_(b) {}
  template <std::signed_integral T>
  JsonValue(T v) : kind_(Kind::integer), i_(v) {}
  template <std::unsigned_integral T>
    requires(!std::same_as<T, bool>)
  JsonValue(T v) : kind_(Kind::unsigned_integer), u_(v) {}
  template <std::floating_point T>
  JsonValue(T v) : kind_(Kind::number), d_(static_cast<double>(v)) {}
  JsonValue(const char* s) : kind_(Kind::string), s_(s) {}
  JsonValue(std::string_view s) : kind_(Kind::string), s_(s) {}
  JsonValue(std::string s) : kind_(Kind::string), s_(std::move(s)) {}

  Kind kind() const { return kind_; }
  bool boolean() const { return b_; }
  int64_t integer() const { return i_; }
  uint64_t unsigned_integer() const { return u_; }
  double number() const { return d_; }
  const std::string& string() const { return s_; }

 private:
  Kind kind_ = Kind::null;
  bool b_ = false;
  int64_t i_ = 0;
  uint64_t u_ = 0;
  double d_ = 0;
  std::string s_;
};

using JsonField = std::pair<std::string, JsonValue>;

class JsonlLog {
 public:
  enum class Mode {
    truncate,  // start a new log
    append,    // continue an existing one (created if missing); a torn last line is cut off first
  };

  explicit JsonlLog(const std::string& path, Mode mode = Mode::truncate);
  ~JsonlLog();
  JsonlLog(const JsonlLog&) = delete;
  JsonlLog& operator=(const JsonlLog&) = delete;

  // Appends one line. Throws orbit::Error on a duplicate key or a failed write.
  void write(const std::vector<JsonField>& fields);

  // The line write() would append, without its '\n'.
  static std::string format(const std::vector<JsonField>& fields);

  const std::string& path() const { return path_; }
  int64_t lines_written() const { return lines_; }

 private:
  std::string path_;
  int fd_ = -1;
  int64_t lines_ = 0;
};

}  // namespace orbit::util
