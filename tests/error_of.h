// The message of the orbit::Error a callable throws, for tests that compare or search error messages.
// Header-only (the I/O tests under AddressSanitizer link no test harness).
#pragma once
#include <string>
#include <utility>

#include "engine/error.h"

namespace orbit::testing {

// The message of the orbit::Error that f throws; "" when f returns normally (any other exception
// escapes and fails the test case).
template <class F>
std::string error_of(F&& f) {
  try {
    std::forward<F>(f)();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace orbit::testing
