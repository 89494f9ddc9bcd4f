// Whole-string number parsing for command-line values and file metadata: true only when all of
// `text` is one number (no leading blanks, no trailing characters), so "12abc" or "" never reads as 12
// or 0. Integers in decimal with an optional '-'; reals as strtod reads them (inf and nan included:
// callers that need finite values check).
#pragma once
#include <cstdint>
#include <string_view>

namespace orbit::util {

bool parse_int64(std::string_view text, int64_t& out);
bool parse_double(std::string_view text, double& out);

}  // namespace orbit::util
