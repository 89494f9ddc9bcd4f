// Shared helpers for the array I/O tests: deterministic tensors, fixture files, temp dirs, checks.
#pragma once
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/tensor.h"
#include "tests/error_of.h"

namespace io_test {

using orbit::DType;
using orbit::Shape;
using orbit::Tensor;

inline const DType kAllDTypes[] = {DType::f32, DType::f64, DType::i32, DType::i64};

inline std::string fixture(const std::string& name) {
  return std::string(ORBIT_SOURCE_DIR) + "/tests/fixtures/io/" + name;
}

inline std::vector<uint8_t> file_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot open " + path);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

inline Shape pattern_shape(int rank) {
  static const int64_t dims[] = {2, 3, 1, 2, 2, 1};
  return Shape(std::vector<int64_t>(dims, dims + rank));
}

// Element i of pattern(dt, rank); mirrored by expected() in tests/fixtures/make_io_fixtures.py.
template <class T>
T pattern_value(int64_t i) {
  if constexpr (std::is_floating_point_v<T>) return static_cast<T>(i * 0.25 - 1.5);
  else if constexpr (sizeof(T) == 4) return static_cast<T>(i * 7 - 20);
  else return (int64_t{1} << 62) + i * 7 - 20;
}

// Shape (2, 3, 1, 2, 2, 1)[:rank] filled with pattern_value.
inline Tensor pattern(DType dt, int rank) {
  Tensor t = Tensor::empty(pattern_shape(rank), dt);
  orbit::dispatch_all(dt, [&]<class T>() {
    for (int64_t i = 0; i < t.numel(); ++i) t.data<T>()[i] = pattern_value<T>(i);
  });
  return t;
}

inline std::string pattern_name(DType dt, int rank) { return std::string(orbit::dtype_name(dt)) + "_r" + std::to_string(rank); }

// Same dtype, shape and bytes.
inline bool same_tensor(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() &&
         (a.nbytes() == 0 || std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0);
}

using orbit::testing::error_of;

// A fresh directory under the system temp dir, removed with its contents at scope exit.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("orbit_io_test_" + std::to_string(getpid()) + "_" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  // Names of the files in the directory (to check no temp file is left behind).
  std::vector<std::string> listing() const {
    std::vector<std::string> names;
    for (auto& e : std::filesystem::directory_iterator(path_)) names.push_back(e.path().filename().string());
    return names;
  }

 private:
  std::filesystem::path path_;
};

inline std::vector<uint8_t> bytes_of(const std::string& s) { return {s.begin(), s.end()}; }

}  // namespace io_test
