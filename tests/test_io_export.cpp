// Writes orbit's npy/npz/safetensors files for the manual NumPy check:
//   ORBIT_IO_EXPORT_DIR=/tmp/x ./orbit_tests -ts=cpu -tc='io export*'
//   python3 tests/fixtures/make_io_fixtures.py --check /tmp/x
// Without ORBIT_IO_EXPORT_DIR it only round-trips the same set in a temp dir (CI needs no Python).
#include <doctest/doctest.h>

#include <cstdlib>

#include "engine/io/npy.h"
#include "engine/io/npz.h"
#include "engine/io/safetensors.h"
#include "test_io_util.h"

using namespace orbit;
using namespace io_test;

TEST_SUITE("cpu") {

TEST_CASE("io export: the array set checked by make_io_fixtures.py --check") {
  std::map<std::string, Tensor> arrays;
  for (DType dt : kAllDTypes) {
    for (int rank = 0; rank <= 6; ++rank) arrays[pattern_name(dt, rank)] = pattern(dt, rank);
    arrays[std::string(dtype_name(dt)) + "_empty"] = Tensor::empty({0, 3}, dt);
  }
  const char* env = std::getenv("ORBIT_IO_EXPORT_DIR");
  TempDir tmp;
  std::string dir = env && *env ? std::string(env) : tmp.file("");
  if (env && *env) std::filesystem::create_directories(dir);
  auto path = [&](const std::string& name) { return (std::filesystem::path(dir) / name).string(); };

  for (auto& [name, t] : arrays) write_npy(path(name + ".npy"), t);
  write_npz(path("all.npz"), arrays);
  write_safetensors(path("all.safetensors"), arrays, {{"made_by", "orbit"}, {"quote", "a \"b\" \\ \xc3\xa9\n"}});

  for (auto& [name, t] : arrays) CHECK(same_tensor(read_npy(path(name + ".npy")), t));
  auto z = read_npz(path("all.npz"));
  std::map<std::string, Tensor> st;
  std::map<std::string, std::string> meta;
  read_safetensors(path("all.safetensors"), st, meta);
  for (auto& [name, t] : arrays) {
    CHECK(same_tensor(z.at(name), t));
    CHECK(same_tensor(st.at(name), t));
  }
  if (env && *env) MESSAGE("wrote " << arrays.size() << " arrays to " << dir);
}

}  // TEST_SUITE
