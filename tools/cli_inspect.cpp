// `orbit inspect FILE`: the arrays in a .npy, .npz or .safetensors file with dtype, shape and simple
// statistics (and the metadata of a checkpoint), as text or JSON.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>

#include "engine/io/json.h"
#include "engine/io/npy.h"
#include "engine/io/npz.h"
#include "engine/io/safetensors.h"
#include "engine/orbit.h"
#include "tools/commands.h"

namespace orbit::cli {

namespace {

struct Stats {
  double min = INFINITY, max = -INFINITY, mean = 0;
  int64_t nonfinite = 0;
};

Stats stats_of(const Tensor& t) {
  Stats s;
  double sum = 0;
  int64_t n = 0;
  for (int64_t i = 0; i < t.numel(); ++i) {
    double v = t.at(i);
    if (!std::isfinite(v)) {
      ++s.nonfinite;
      continue;
    }
    s.min = std::min(s.min, v);
    s.max = std::max(s.max, v);
    sum += v;
    ++n;
  }
  s.mean = n ? sum / static_cast<double>(n) : NAN;
  return s;
}

std::string num(double v) {
  if (!std::isfinite(v)) return "null";
  char b[32];
  std::snprintf(b, sizeof b, "%.9g", v);
  return b;
}

int run_inspect(const Args& args) {
  const std::string path = args.str("file");
  ORBIT_CHECK(std::filesystem::exists(path), "no such file '", path, "'");
  std::map<std::string, Tensor> arrays;
  std::map<std::string, std::string> meta;
  std::string ext = std::filesystem::path(path).extension().string();
  if (ext == ".npy") arrays["(array)"] = read_npy(path);
  else if (ext == ".npz") arrays = read_npz(path);
  else if (ext == ".safetensors") read_safetensors(path, arrays, meta);
  else throw Error("'" + path + "': unknown file type '" + ext + "' (expected .npy, .npz or .safetensors)");

  const bool json = args.flag("json");
  if (json) std::printf("{\"file\": %s, \"arrays\": [", io::json_quote(path).c_str());
  bool first = true;
  for (auto& [name, t] : arrays) {
    Stats s = stats_of(t);
    if (json) {
      std::printf("%s{\"name\": %s, \"dtype\": \"%s\", \"shape\": %s, \"min\": %s, \"max\": %s, \"mean\": %s, "
                  "\"nonfinite\": %lld}",
                  first ? "" : ", ", io::json_quote(name).c_str(), dtype_name(t.dtype()),
                  [&] {
                    std::string sh = "[";
                    for (int i = 0; i < t.rank(); ++i) sh += (i ? ", " : "") + std::to_string(t.shape()[i]);
                    return sh + "]";
                  }().c_str(),
                  num(s.min).c_str(), num(s.max).c_str(), num(s.mean).c_str(), static_cast<long long>(s.nonfinite));
    } else {
      std::printf("%-32s %s %-16s min %-12s max %-12s mean %-12s%s\n", name.c_str(), dtype_name(t.dtype()),
                  t.shape().str().c_str(), num(s.min).c_str(), num(s.max).c_str(), num(s.mean).c_str(),
                  s.nonfinite ? ("  " + std::to_string(s.nonfinite) + " NaN/inf").c_str() : "");
    }
    first = false;
  }
  if (json) {
    std::printf("], \"metadata\": {");
    bool f = true;
    for (auto& [k, v] : meta) {
      std::printf("%s%s: %s", f ? "" : ", ", io::json_quote(k).c_str(), io::json_quote(v).c_str());
      f = false;
    }
    std::printf("}}\n");
  } else {
    for (auto& [k, v] : meta) std::printf("metadata %s = %s\n", k.c_str(), v.c_str());
  }
  return 0;
}

}  // namespace

Command inspect_command() {
  return Command("inspect", "list the arrays (dtype, shape, min/max/mean) of a .npy, .npz or .safetensors file",
                 {{"file", "the file to read", "", false, true}, {"json", "print JSON instead of text", "", true}},
                 run_inspect, false);
}

}  // namespace orbit::cli
