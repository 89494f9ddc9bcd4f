// Runs the real `orbit` program for the CLI tests: exit code and stdout+stderr together.
#pragma once
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "tests/test_temp.h"

#if defined(ORBIT_CLI_PATH)
namespace orbit::testing {

struct CliResult {
  int code;
  std::string out;  // stdout and stderr together
};

inline CliResult run_orbit(const std::string& args) {
  std::string cmd = std::string(ORBIT_CLI_PATH) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

inline std::string temp_path(const std::string& name) {
  return orbit::testing::test_temp(name);
}

// A whole file as bytes ("" when it cannot be read: the checks that follow then fail).
inline std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The number after "key": in a JSON text written by the CLI.
inline double json_number(const std::string& text, const std::string& key) {
  auto at = text.find("\"" + key + "\": ");
  REQUIRE_MESSAGE(at != std::string::npos, "no '" << key << "' in " << text);
  return std::stod(text.substr(at + key.size() + 4));
}

}  // namespace orbit::testing
#endif  // ORBIT_CLI_PATH
