#include "engine/util/parse.h"

#include <charconv>
#include <system_error>

namespace orbit::util {

namespace {
template <class T>
bool parse_whole(std::string_view text, T& out) {
  T v{};
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return false;
  out = v;
  return true;
}
}  // namespace

bool parse_int64(std::string_view text, int64_t& out) { return parse_whole(text, out); }
bool parse_double(std::string_view text, double& out) { return parse_whole(text, out); }

}  // namespace orbit::util
