#include "engine/op_registry.h"

#include <mutex>

#include "engine/builtin_ops.h"

namespace orbit {

std::string InferCtx::inputs_str() const {
  std::string s;
  for (size_t i = 0; i < inputs_.size(); ++i) s += (i ? ", " : "") + g_.describe(inputs_[i]);
  return s.empty() ? "none" : s;
}

OpId OpRegistry::add(OpDef def) {
  ORBIT_CHECK(!def.name.empty(), "an op needs a name");
  ORBIT_CHECK(!has(def.name), "op '", def.name, "' is already registered");
  ORBIT_CHECK(def.infer != nullptr, "op '", def.name, "' has no type inference");
  ORBIT_CHECK(def.vjp != nullptr || def.zero_grad, "op '", def.name, "' has no VJP rule");
  ORBIT_CHECK(defs_.size() < 65535, "too many ops");
  defs_.push_back(std::move(def));
  return static_cast<OpId>(defs_.size() - 1);
}

const OpDef& OpRegistry::get(OpId id) const {
  ORBIT_CHECK(id < defs_.size(), "unknown op id ", id);
  return defs_[id];
}

OpDef& OpRegistry::mutable_get(OpId id) {
  ORBIT_CHECK(id < defs_.size(), "unknown op id ", id);
  return defs_[id];
}

bool OpRegistry::has(const std::string& name) const {
  for (auto& d : defs_)
    if (d.name == name) return true;
  return false;
}

OpId OpRegistry::find(const std::string& name) const {
  for (size_t i = 0; i < defs_.size(); ++i)
    if (defs_[i].name == name) return static_cast<OpId>(i);
  throw Error("unknown op '" + name + "'");
}

OpRegistry& ops() {
  static OpRegistry reg;
  static std::once_flag once;
  std::call_once(once, [] {
    detail::define_elementwise_ops(reg);
    detail::define_reduce_ops(reg);
    detail::define_layout_ops(reg);
    ORBIT_CHECK(reg.size() == static_cast<int>(Op::kCount), "built-in op table out of order: ", reg.size(),
                " registered, ", static_cast<int>(Op::kCount), " expected");
    detail::bind_cpu_elementwise(reg);
    detail::bind_cpu_reduce(reg);
    detail::bind_cpu_layout(reg);
#if defined(ORBIT_WITH_CUDA)
    detail::bind_cuda_elementwise(reg);
    detail::bind_cuda_reduce(reg);
    detail::bind_cuda_layout(reg);
#endif
  });
  return reg;
}

}  // namespace orbit
