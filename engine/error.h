// Errors: every user-facing failure is an orbit::Error with a message that names the problem.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace orbit {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

namespace detail {
template <class... Args>
std::string cat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
}  // namespace detail

}  // namespace orbit

// Throws orbit::Error built from the streamed arguments when cond is false.
#define ORBIT_CHECK(cond, ...)                                        \
  do {                                                                \
    if (!(cond)) throw ::orbit::Error(::orbit::detail::cat(__VA_ARGS__)); \
  } while (0)
