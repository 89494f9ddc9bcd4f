#include "engine/optim/checkpoint.h"

#include "engine/io/safetensors.h"
#include "engine/version.h"

namespace orbit::optim {

namespace {
const std::string kParam = "param/", kEma = "ema/", kExtra = "extra/";

uint64_t parse_u64(const std::map<std::string, std::string>& meta, const std::string& key, const std::string& path) {
  auto it = meta.find(key);
  ORBIT_CHECK(it != meta.end(), "checkpoint '", path, "' lacks '", key, "'");
  try {
    size_t used = 0;
    unsigned long long v = std::stoull(it->second, &used);
    // std::stoull reads "-1" as 2^64 - 1: a sign is an error here.
    ORBIT_CHECK(used == it->second.size() && it->second.find('-') == std::string::npos, "checkpoint '", path,
                "': bad ", key, " '", it->second, "'");
    return v;
  } catch (const std::logic_error&) {
    throw Error("checkpoint '" + path + "': bad " + key + " '" + it->second + "'");
  }
}
}  // namespace

void save_checkpoint(const std::string& path, const CheckpointState& s) {
  ORBIT_CHECK(s.params != nullptr, "save_checkpoint: no ParamStore");
  std::map<std::string, Tensor> tensors;
  std::map<std::string, std::string> meta = s.meta;
  for (auto& n : s.params->names()) {
    const Tensor& t = s.params->get(n);
    tensors[kParam + n] = t.device().is_cpu() ? t : t.to(Device::cpu());
  }
  if (s.optimizer) s.optimizer->save(tensors, meta);
  if (s.ema) {
    for (auto& n : s.ema->averaged().names()) {
      const Tensor& t = s.ema->averaged().get(n);
      tensors[kEma + n] = t.device().is_cpu() ? t : t.to(Device::cpu());
    }
    meta["ema.decay"] = std::to_string(s.ema->decay());
  }
  for (auto& [n, t] : s.extra) tensors[kExtra + n] = t.device().is_cpu() ? t : t.to(Device::cpu());
  meta["orbit.version"] = version();
  meta["rng.run_index"] = std::to_string(s.run_index);
  write_safetensors(path, tensors, meta);
}

void load_checkpoint(const std::string& path, CheckpointState& s) {
  ORBIT_CHECK(s.params != nullptr, "load_checkpoint: no ParamStore");
  std::map<std::string, Tensor> tensors;
  std::map<std::string, std::string> meta;
  read_safetensors(path, tensors, meta);
  ParamStore loaded;
  for (auto& [k, v] : tensors)
    if (k.rfind(kParam, 0) == 0) loaded.set(k.substr(kParam.size()), v);
  ORBIT_CHECK(loaded.size() > 0, "checkpoint '", path, "' holds no parameters");
  for (auto& n : s.params->names()) {
    ORBIT_CHECK(loaded.has(n), "checkpoint '", path, "' lacks parameter '", n, "'");
    const Tensor &have = s.params->get(n), &got = loaded.get(n);
    ORBIT_CHECK(have.shape() == got.shape() && have.dtype() == got.dtype(), "checkpoint '", path, "': parameter '", n,
                "' is ", got.shape().str(), " ", dtype_name(got.dtype()), " but this model has ", have.shape().str(),
                " ", dtype_name(have.dtype()), " (a different configuration?)");
  }
  if (s.optimizer) s.optimizer->load(tensors, meta);
  if (s.ema) {
    for (auto& [k, v] : tensors)
      if (k.rfind(kEma, 0) == 0) s.ema->mutable_averaged().set(k.substr(kEma.size()), v);
  }
  s.run_index = parse_u64(meta, "rng.run_index", path);
  s.extra.clear();
  for (auto& [k, v] : tensors)
    if (k.rfind(kExtra, 0) == 0) s.extra[k.substr(kExtra.size())] = v;
  for (auto& n : loaded.names()) {
    Device d = s.params->has(n) ? s.params->get(n).device() : Device::cpu();
    s.params->set(n, d.is_cpu() ? loaded.get(n) : loaded.get(n).to(d));
  }
  s.meta = std::move(meta);
}

}  // namespace orbit::optim
