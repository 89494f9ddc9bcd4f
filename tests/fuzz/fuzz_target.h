// What every fuzz target shares (tests/fuzz/README.md): the libFuzzer entry point, and checks that
// abort with a message, so that a broken property is a crash the fuzzer keeps and the replay test
// (tests/fuzz/replay_main.cpp) reports.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <string>

#include "engine/error.h"
#include "engine/tensor.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace orbit::fuzz {

[[noreturn]] inline void broken(const char* property, const std::string& detail = "") {
  std::fprintf(stderr, "fuzz: property broken: %s%s%s\n", property, detail.empty() ? "" : ": ", detail.c_str());
  std::abort();
}

inline void expect(bool ok, const char* property, const std::string& detail = "") {
  if (!ok) broken(property, detail);
}

// What parse() returns, or nothing when it throws orbit::Error: the reader refused the input, as it may.
template <class Parse>
auto accepted(Parse&& parse) -> std::optional<decltype(parse())> {
  try {
    return parse();
  } catch (const Error&) {
    return std::nullopt;
  }
}

// What parse() returns on bytes a target wrote back from something the reader accepted: a refusal
// breaks the property that what was read can be written and read again.
template <class Parse>
auto reparsed(Parse&& parse) -> decltype(parse()) {
  try {
    return parse();
  } catch (const Error& e) {
    broken("what was read, written back, reads again", e.what());
  }
}

// Same dtype, shape and bytes (NaN payloads included).
inline bool same_tensor(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
  return a.nbytes() == 0 || std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
}

inline bool same_tensors(const std::map<std::string, Tensor>& a, const std::map<std::string, Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (auto ia = a.begin(), ib = b.begin(); ia != a.end(); ++ia, ++ib)
    if (ia->first != ib->first || !same_tensor(ia->second, ib->second)) return false;
  return true;
}

}  // namespace orbit::fuzz
