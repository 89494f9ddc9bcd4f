#include "models/diffusion/ode_batch_cache.h"

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>

#include "engine/error.h"
#include "engine/io/safetensors.h"
#include "engine/util/hash.h"

namespace orbit::diffusion {

namespace fs = std::filesystem;

namespace {

constexpr const char* kKind = "orbit-ode-batch-1";

bool is_rows(const Tensor& t, DType dtype, int64_t B, int64_t D) {
  return t.defined() && t.dtype() == dtype && t.rank() == 2 && t.shape()[0] == B && t.shape()[1] == D;
}

}  // namespace

OdeBatchCache::OdeBatchCache(std::string dir) : dir_(std::move(dir)) {
  ORBIT_CHECK(!dir_.empty(), "the evaluation cache needs a folder name");
  std::error_code ec;
  fs::create_directories(dir_, ec);
  ORBIT_CHECK(!ec && fs::is_directory(dir_), "cannot use '", dir_, "' as the evaluation cache folder",
              ec ? ": " + ec.message() : std::string(": it is not a folder"));
}

std::string OdeBatchCache::path_for(const std::string& key, const Tensor& z_in) const {
  ORBIT_CHECK(z_in.dtype() == DType::f64 && z_in.device().is_cpu() && z_in.rank() == 2,
              "the evaluation cache keeps [B, D] f64 rows on the CPU, got ", z_in.shape().str());
  uint64_t h = util::fnv1a(key);
  h = util::fnv1a(z_in.data<double>(), static_cast<size_t>(z_in.numel()) * sizeof(double), h);
  char name[48];
  std::snprintf(name, sizeof name, "batch_%016" PRIx64 ".safetensors", h);
  return (fs::path(dir_) / name).string();
}

std::optional<OdeBatch> OdeBatchCache::find(const std::string& key, const Tensor& z_in) const {
  const std::string path = path_for(key, z_in);
  std::error_code ec;
  if (!fs::exists(path, ec)) return std::nullopt;
  const int64_t B = z_in.shape()[0], D = z_in.shape()[1];
  std::map<std::string, Tensor> t;
  std::map<std::string, std::string> meta;
  try {
    read_safetensors(path, t, meta);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "orbit: warning: ignoring the unreadable cached batch '%s' (%s); integrating it again\n",
                 path.c_str(), e.what());
    return std::nullopt;
  }
  auto mismatch = [&](const char* what) {
    std::fprintf(stderr, "orbit: warning: the cached batch '%s' %s; integrating it again\n", path.c_str(), what);
    return std::nullopt;
  };
  if (meta["kind"] != kKind) return mismatch("is not an orbit integration batch");
  if (meta["key"] != key) return mismatch("was computed for another batch, flow or ODE settings");
  const Tensor &in = t["z_in"], &z = t["z"], &a = t["a"], &st = t["stats"];
  if (!is_rows(in, DType::f64, B, D) ||
      std::memcmp(in.data<double>(), z_in.data<double>(), static_cast<size_t>(B * D) * sizeof(double)) != 0)
    return mismatch("holds other input rows");
  if (!is_rows(z, DType::f64, B, D) || !a.defined() || a.dtype() != DType::f64 || a.shape() != Shape({B}) ||
      !st.defined() || st.dtype() != DType::i64 || st.shape() != Shape({4}))
    return mismatch("has arrays of the wrong shape or type");
  const int64_t* s = st.data<int64_t>();
  if (s[0] < 0 || s[1] < 0 || s[2] < 0 || s[3] < 0) return mismatch("has negative work counts");
  OdeBatch b;
  b.z = z;
  b.a = a.to_vector();
  b.stats.nfe = s[0];
  b.stats.accepted = s[1];
  b.stats.rejected = s[2];
  b.stats.fallbacks = s[3];
  return b;
}

void OdeBatchCache::store(const std::string& key, const Tensor& z_in, const OdeBatch& batch) const {
  const std::string path = path_for(key, z_in);
  try {
    Tensor st = Tensor::from(Shape({4}), std::vector<int64_t>{batch.stats.nfe, batch.stats.accepted,
                                                               batch.stats.rejected, batch.stats.fallbacks});
    write_safetensors(path,
                      {{"z_in", z_in}, {"z", batch.z}, {"a", Tensor::from(Shape({z_in.shape()[0]}), batch.a)},
                       {"stats", st}},
                      {{"kind", kKind}, {"key", key}});
  } catch (const std::exception& e) {
    std::fprintf(stderr, "orbit: warning: could not keep a finished batch in '%s' (%s); going on without it\n",
                 path.c_str(), e.what());
  }
}

}  // namespace orbit::diffusion
