#include "engine/optim/init.h"

#include <cmath>

#include "kernels/scalar/random.h"

namespace orbit::init {

namespace {
uint64_t name_hash(const std::string& s) {  // FNV-1a: stable across platforms and runs
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}
}  // namespace

Tensor make(const std::string& name, const Shape& shape, DType dtype, const Initializer& init, uint64_t seed,
            Device device) {
  ORBIT_CHECK(is_float(dtype), "initialiser for '", name, "': parameters are f32 or f64");
  Tensor t = Tensor::empty(shape, dtype);
  int r = shape.rank();
  double fan_out = r == 0 ? 1.0 : static_cast<double>(shape[r - 1]);
  double fan_in = r <= 1 ? fan_out : static_cast<double>(shape.numel()) / std::max(fan_out, 1.0);
  const uint64_t stream = name_hash(name);
  using K = Initializer::Kind;
  if (init.kind == K::custom) {
    ORBIT_CHECK(init.fill != nullptr, "custom initialiser for '", name, "' has no function");
    init.fill(t, seed);
    ORBIT_CHECK(t.shape() == shape && t.dtype() == dtype, "custom initialiser for '", name, "' changed the tensor");
  } else {
    double lo = 0, hi = 0, mean = 0, std = 0;
    bool normal = false;
    switch (init.kind) {
      case K::constant: lo = hi = init.a; break;
      case K::uniform: lo = init.a; hi = init.b; break;
      case K::normal: normal = true; mean = init.a; std = init.b; break;
      case K::xavier_uniform: hi = init.a * std::sqrt(6.0 / std::max(fan_in + fan_out, 1.0)); lo = -hi; break;
      case K::xavier_normal: normal = true; std = init.a * std::sqrt(2.0 / std::max(fan_in + fan_out, 1.0)); break;
      case K::kaiming_uniform: hi = init.a * std::sqrt(3.0 / std::max(fan_in, 1.0)); lo = -hi; break;
      case K::kaiming_normal: normal = true; std = init.a / std::sqrt(std::max(fan_in, 1.0)); break;
      case K::custom: break;
    }
    ORBIT_CHECK(std::isfinite(lo) && std::isfinite(hi) && std::isfinite(std) && hi >= lo && std >= 0,
                "initialiser for '", name, "' has bad parameters");
    dispatch_float(dtype, [&]<class T>() {
      T* p = t.data<T>();
      for (int64_t i = 0; i < t.numel(); ++i) {
        double v = normal ? mean + std * scalar::random_normal<double>(seed, stream, 0, i)
                          : lo + (hi - lo) * scalar::random_uniform<double>(seed, stream, 0, i);
        p[i] = static_cast<T>(v);
      }
    });
  }
  return device.is_cpu() ? t : t.to(device);
}

void param(ParamStore& store, Var p, const Initializer& init, uint64_t seed, Device device) {
  ORBIT_CHECK(p.valid() && p.node().kind == NodeKind::parameter, "init::param: '", p.valid() ? p.name() : "",
              "' is not a parameter node");
  store.set(p.name(), make(p.name(), p.shape(), p.dtype(), init, seed, device));
}

}  // namespace orbit::init
