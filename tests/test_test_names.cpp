// ctest runs each doctest case through a CMake list (tests/CMakeLists.txt, doctest_discover_tests): a ';'
// in a case's name splits it into two ctest entries whose filters match no case, so the case silently
// never runs in CI. This keeps every name free of it.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

TEST_SUITE("cpu") {
  TEST_CASE("test names: no test case name holds a semicolon (ctest would run none of it)") {
    namespace fs = std::filesystem;
    int files = 0;
    for (const auto& entry : fs::directory_iterator(std::string(ORBIT_SOURCE_DIR) + "/tests")) {
      if (entry.path().extension() != ".cpp") continue;
      ++files;
      std::ifstream in(entry.path());
      std::stringstream text;
      text << in.rdbuf();
      const std::string s = text.str();
      for (size_t at = s.find("TEST_CASE(\""); at != std::string::npos; at = s.find("TEST_CASE(\"", at + 1)) {
        const size_t begin = at + 11, end = s.find('"', begin);
        REQUIRE(end != std::string::npos);
        const std::string name = s.substr(begin, end - begin);
        INFO(entry.path().filename().string() << ": \"" << name << "\"");
        CHECK(name.find(';') == std::string::npos);
      }
    }
    CHECK(files > 20);
  }
}
