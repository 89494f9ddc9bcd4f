// Tensor-level glue of the weight-sharing prox: argument checks and dispatch to the CPU kernels
// (kernels/cpu/prox_ws.h) or, for CUDA tensors, to the GPU kernels (kernels/cuda/prox.h), which run
// on the legacy default stream, where tensor copies and the optimizer's updates run too.
#include "models/sharing/prox.h"

#include <cmath>

#include "engine/dtype.h"
#include "engine/error.h"
#include "kernels/cpu/prox_scratch.h"
#include "kernels/cpu/prox_ws.h"
#if defined(ORBIT_WITH_CUDA)
#include "kernels/cuda/kernels.h"
#include "kernels/cuda/prox.h"
#endif

namespace orbit::sharing {

const char* algorithm_name(ProxAlgorithm a) {
  switch (a) {
    case ProxAlgorithm::pava: return "pava";
    case ProxAlgorithm::imminent: return "imminent";
    case ProxAlgorithm::search: return "search";
  }
  return "?";
}

ProxAlgorithm parse_algorithm(const std::string& name) {
  if (name == "pava") return ProxAlgorithm::pava;
  if (name == "imminent") return ProxAlgorithm::imminent;
  if (name == "search") return ProxAlgorithm::search;
  throw Error("unknown prox algorithm '" + name + "' (expected pava, imminent or search)");
}

namespace {

cpu::prox::Algorithm kernel_algorithm(ProxAlgorithm a) {
  switch (a) {
    case ProxAlgorithm::pava: return cpu::prox::Algorithm::pava;
    case ProxAlgorithm::imminent: return cpu::prox::Algorithm::imminent;
    case ProxAlgorithm::search: break;
  }
  return cpu::prox::Algorithm::search;
}

// CUDA failures become orbit::Error, as the engine's other CUDA entry points report them.
template <class F>
auto on_gpu(const char* what, F&& f) -> decltype(f()) {
#if defined(ORBIT_WITH_CUDA)
  try {
    return f();
  } catch (const cuda::CudaFailure& e) {
    throw Error(detail::cat(what, " on cuda: ", e.what()));
  }
#else
  (void)f;
  throw Error(detail::cat(what, ": this orbit build has no CUDA backend"));
#endif
}

void check_input(const Tensor& w, const char* what) {
  ORBIT_CHECK(w.device().is_cpu() || w.device().is_cuda(), what, ": expected a CPU or CUDA tensor, got a ",
              w.device().str(), " tensor");
  ORBIT_CHECK(w.dtype() == DType::f32 || w.dtype() == DType::f64, what, ": expected f32 or f64 weights, got ",
              dtype_name(w.dtype()));
  dispatch_float(w.dtype(), [&]<class T>() {
    if (w.device().is_cuda()) {
      double bad = 0;
      const int64_t i = on_gpu(what, [&] {
#if defined(ORBIT_WITH_CUDA)
        return cuda::prox::first_nonfinite<T>(w.data<T>(), w.numel(), &bad, nullptr);
#else
        return int64_t(-1);
#endif
      });
      ORBIT_CHECK(i < 0, what, ": weight ", i, " of ", w.numel(), " is ", bad, " (the prox needs finite weights)");
      return;
    }
    const T* p = w.data<T>();
    for (int64_t i = 0; i < w.numel(); ++i)
      ORBIT_CHECK(std::isfinite(p[i]), what, ": weight ", i, " of ", w.numel(), " is ", double(p[i]),
                  " (the prox needs finite weights)");
  });
}

}  // namespace

void prox_weight_sharing_inplace(Tensor& w, double step, const ProxOptions& opts, ProxStats* stats) {
  ORBIT_CHECK(std::isfinite(step) && step >= 0, "prox_weight_sharing: step must be finite and >= 0, got ", step);
  ORBIT_CHECK(std::isfinite(opts.l1) && opts.l1 >= 0, "prox_weight_sharing: l1 must be finite and >= 0, got ",
              opts.l1);
  ORBIT_CHECK(opts.rho >= 0 && opts.rho <= 1, "prox_weight_sharing: rho must be in [0, 1], got ", opts.rho);
  check_input(w, "prox_weight_sharing");
  cpu::prox::Params p{step, opts.l1, opts.rho, kernel_algorithm(opts.algorithm)};
  cpu::prox::Counters c = dispatch_float(w.dtype(), [&]<class T>() {
    if (w.device().is_cuda())
      return on_gpu("prox_weight_sharing", [&] {
#if defined(ORBIT_WITH_CUDA)
        return cuda::prox::prox_weight_sharing<T>(w.data<T>(), w.numel(), p, w.data<T>(), nullptr);
#else
        return cpu::prox::Counters{};
#endif
      });
    return cpu::prox::prox_weight_sharing<T>(w.data<T>(), w.numel(), p, w.data<T>());
  });
  if (stats) *stats = ProxStats{w.numel(), c.distinct, c.zeros, c.blocks, c.rounds, c.depth, c.solve_seconds};
}

Tensor prox_weight_sharing(const Tensor& w, double step, const ProxOptions& opts, ProxStats* stats) {
  Tensor u = w.clone();
  prox_weight_sharing_inplace(u, step, opts, stats);
  return u;
}

void release_prox_workspace() { cpu::prox::scratch_release_cache(); }

double R(const Tensor& w) {
  if (w.device().is_cuda()) return R(w.to(Device::cpu()));  // a sort and a sum: the CPU's closed form
  check_input(w, "weight-sharing R");
  return dispatch_float(w.dtype(), [&]<class T>() {
    return cpu::prox::weight_sharing_regularizer<T>(w.data<T>(), w.numel());
  });
}

optim::ProxFn weight_sharing_hook(double ws_lr, ProxOptions opts) {
  ORBIT_CHECK(std::isfinite(ws_lr) && ws_lr >= 0, "weight_sharing_hook: ws_lr must be finite and >= 0, got ", ws_lr);
  return [ws_lr, opts](Tensor& param, double lr) { prox_weight_sharing_inplace(param, ws_lr * lr, opts); };
}

}  // namespace orbit::sharing
