// Sets an environment variable for a scope, then restores it (or removes it when it was unset).
#pragma once
#include <cstdlib>
#include <string>

namespace orbit::testing {

struct ScopedEnv {
  std::string name, old;
  bool had = false;
  ScopedEnv(const char* n, const std::string& v) : name(n) {
    if (const char* p = std::getenv(n)) {
      had = true;
      old = p;
    }
    setenv(n, v.c_str(), 1);
  }
  ~ScopedEnv() {
    if (had) setenv(name.c_str(), old.c_str(), 1);
    else unsetenv(name.c_str());
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;
};

}  // namespace orbit::testing
