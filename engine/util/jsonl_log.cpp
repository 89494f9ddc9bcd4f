// JSON-lines metrics log; see jsonl_log.h.
#include "engine/util/jsonl_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <set>

#include "engine/error.h"
#include "engine/io/json.h"

namespace orbit::util {

namespace {

constexpr const char* kNonfinite = "_nonfinite";

// `s` with every byte that is not part of a valid UTF-8 sequence replaced by U+FFFD.
std::string repair_utf8(std::string_view s) {
  if (io::valid_utf8(s)) return std::string(s);
  std::string out;
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (len > 0 && i + len <= s.size() && io::valid_utf8(s.substr(i, len))) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

std::string quote(std::string_view s) { return io::json_quote(repair_utf8(s)); }

std::string errno_text() { return std::strerror(errno); }

// Cuts a torn last line (no final '\n') off the file open as fd.
void cut_torn_line(int fd, const std::string& path) {
  off_t size = lseek(fd, 0, SEEK_END);
  if (size < 0) throw Error(detail::cat("jsonl log: cannot seek in '", path, "': ", errno_text()));
  off_t end = size;
  char buf[4096];
  while (end > 0) {
    off_t start = std::max<off_t>(0, end - static_cast<off_t>(sizeof buf));
    ssize_t got = pread(fd, buf, static_cast<size_t>(end - start), start);
    if (got != end - start) throw Error(detail::cat("jsonl log: cannot read '", path, "': ", errno_text()));
    for (off_t i = end - start; i > 0; --i)
      if (buf[i - 1] == '\n') {
        off_t keep = start + i;
        if (keep < size && ftruncate(fd, keep) != 0)
          throw Error(detail::cat("jsonl log: cannot cut the torn last line of '", path, "': ", errno_text()));
        return;
      }
    end = start;
  }
  if (size > 0 && ftruncate(fd, 0) != 0)
    throw Error(detail::cat("jsonl log: cannot cut the torn last line of '", path, "': ", errno_text()));
}

}  // namespace

JsonlLog::JsonlLog(const std::string& path, Mode mode) : path_(path) {
  int flags = O_CLOEXEC | O_CREAT | (mode == Mode::append ? O_RDWR | O_APPEND : O_WRONLY | O_TRUNC);
  fd_ = ::open(path.c_str(), flags, 0644);
  if (fd_ < 0) throw Error(detail::cat("jsonl log: cannot open '", path, "': ", errno_text()));
  if (mode == Mode::append) {
    try {
      cut_torn_line(fd_, path_);
    } catch (...) {
      ::close(fd_);
      throw;
    }
  }
}

JsonlLog::~JsonlLog() {
  if (fd_ >= 0) ::close(fd_);
}

std::string JsonlLog::format(const std::vector<JsonField>& fields) {
  std::set<std::string_view> keys;
  std::string out = "{", nonfinite;
  for (const auto& [key, value] : fields) {
    ORBIT_CHECK(key != kNonfinite, "jsonl log: the key '", kNonfinite, "' is reserved");
    ORBIT_CHECK(keys.insert(key).second, "jsonl log: key '", key, "' appears twice in one line");
    if (out.size() > 1) out += ',';
    out += quote(key) + ':';
    switch (value.kind()) {
      case JsonValue::Kind::null: out += "null"; break;
      case JsonValue::Kind::boolean: out += value.boolean() ? "true" : "false"; break;
      case JsonValue::Kind::integer: out += std::to_string(value.integer()); break;
      case JsonValue::Kind::unsigned_integer: out += std::to_string(value.unsigned_integer()); break;
      case JsonValue::Kind::string: out += quote(value.string()); break;
      case JsonValue::Kind::number: {
        double d = value.number();
        if (std::isfinite(d)) {
          char buf[32];
          auto res = std::to_chars(buf, buf + sizeof buf, d);  // shortest text that reads back exactly
          out.append(buf, res.ptr);
        } else {
          out += "null";
          if (!nonfinite.empty()) nonfinite += ',';
          nonfinite += quote(key) + ':' + (std::isnan(d) ? "\"nan\"" : d > 0 ? "\"inf\"" : "\"-inf\"");
        }
        break;
      }
    }
  }
  if (!nonfinite.empty()) out += std::string(out.size() > 1 ? "," : "") + '"' + kNonfinite + "\":{" + nonfinite + '}';
  out += '}';
  return out;
}

void JsonlLog::write(const std::vector<JsonField>& fields) {
  std::string line = format(fields) + '\n';
  const char* p = line.data();
  size_t left = line.size();
  while (left > 0) {
    ssize_t n = ::write(fd_, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw Error(detail::cat("jsonl log: writing to '", path_, "' failed: ", errno_text()));
    p += n;
    left -= static_cast<size_t>(n);
  }
  ++lines_;
}

}  // namespace orbit::util
