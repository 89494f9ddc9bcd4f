// Scratch files for tests: one folder per test process (orbit-test-<pid> in the system's temp folder),
// so two test runs at once (two build folders, ctest -j) never write the same path; removed with
// everything in it when the process that made it exits.
#pragma once
#include <unistd.h>

#include <filesystem>
#include <string>
#include <system_error>

namespace orbit::testing {

inline const std::filesystem::path& test_temp_dir() {
  struct Folder {
    pid_t owner = getpid();
    std::filesystem::path path = std::filesystem::temp_directory_path() / ("orbit-test-" + std::to_string(owner));
    Folder() { std::filesystem::create_directories(path); }
    ~Folder() {
      std::error_code ec;
      if (getpid() == owner) std::filesystem::remove_all(path, ec);  // not from a forked child
    }
  };
  static const Folder folder;
  return folder.path;
}

// `name` (a file or a folder, not created) inside this process's scratch folder.
inline std::string test_temp(const std::string& name) { return (test_temp_dir() / name).string(); }

}  // namespace orbit::testing
