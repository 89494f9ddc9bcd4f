// Device selection (best(), parse()) lives apart from the rest of Device because it consults the op
// registry: the I/O layer (and its sanitizer test) links Device without the whole engine.
#include "engine/builtin_ops.h"
#include "engine/device.h"
#include "engine/error.h"
#include "engine/op_registry.h"

namespace orbit {

// The GPU counts only once the backend can run every built-in op on it.
Device Device::best() {
  if (cuda_device_count() == 0) return cpu();
  for (int i = 0; i < static_cast<int>(Op::kCount); ++i)
    if (!ops().get(static_cast<OpId>(i)).kernels[static_cast<int>(Kind::cuda)]) return cpu();
  return cuda(0);
}

Device Device::parse(const std::string& spec) {
  if (spec == "auto") return best();
  if (spec == "cpu") return cpu();
  if (spec.rfind("cuda", 0) == 0) {
    int idx = 0;
    if (spec.size() > 4) {
      ORBIT_CHECK(spec[4] == ':' && spec.size() > 5, "bad device '", spec, "': expected cuda or cuda:N");
      try {
        size_t used = 0;
        idx = std::stoi(spec.substr(5), &used);
        ORBIT_CHECK(used == spec.size() - 5, "bad device index in '", spec, "'");
      } catch (const std::logic_error&) {
        throw Error("bad device index in '" + spec + "'");
      }
    }
    ORBIT_CHECK(cuda_built(), "device '", spec, "' requested but this orbit build has no CUDA backend");
    int n = cuda_device_count();
    ORBIT_CHECK(idx >= 0 && idx < n, "device '", spec, "' requested but ", n, " CUDA device(s) are visible");
    return cuda(idx);
  }
  throw Error("unknown device '" + spec + "': expected auto, cpu, cuda or cuda:N");
}

}  // namespace orbit
