// The fused MLP op (engine/mlp_fused.h): type inference, a VJP that expands the network into primitive
// ops, and the CPU / CUDA kernels (kernels/cpu/mlp_fused.h, kernels/cuda/mlp_fused.h).
#include <map>
#include <memory>
#include <mutex>
#include <set>

#include "engine/autodiff.h"
#include "engine/builtin_ops.h"
#include "engine/mlp_fused.h"
#include "engine/op_registry.h"
#include "engine/ops.h"
#include "kernels/cpu/mlp_fused.h"
#if defined(ORBIT_WITH_CUDA)
#include "engine/ops/cuda_kernel.h"
#include "kernels/cuda/mlp_fused.h"
#include "kernels/cuda/runtime.h"
#endif

namespace orbit {

const char* mlp_act_op_name(MlpAct act) {
  return act == MlpAct::identity ? "identity" : scalar::mlp_act_name(act);
}

Var apply_mlp_act(MlpAct act, Var x) {
  switch (act) {
    case MlpAct::identity: return x;
    case MlpAct::relu: return relu(x);
    case MlpAct::tanh: return tanh(x);
    case MlpAct::silu: return silu(x);
    case MlpAct::sigmoid: return sigmoid(x);
    case MlpAct::gelu: return gelu(x);
    case MlpAct::softplus: return softplus(x);
  }
  throw Error(detail::cat("mlp_fused: unknown activation ", static_cast<int>(act)));
}

namespace {

void check_acts(const MlpFusedAttr& a, const InferCtx& c) {
  if (a.acts.empty()) c.fail("needs at least one layer (the attribute lists no activation)");
  if (a.layers() > scalar::kMlpMaxLayers) c.fail(a.layers(), " layers > ", scalar::kMlpMaxLayers);
  for (int l = 0; l < a.layers(); ++l)
    if (static_cast<int>(a.acts[l]) >= scalar::kMlpNumActs)
      c.fail("layer ", l, " has unknown activation ", static_cast<int>(a.acts[l]));
}

TypeInfo infer_mlp(const InferCtx& c) {
  const auto& a = c.attr<MlpFusedAttr>();
  check_acts(a, c);
  const int L = a.layers();
  if (c.num_inputs() != 1 + 2 * L)
    c.fail("expected ", 1 + 2 * L, " inputs (x, then W and b for each of the ", L, " layers), got ", c.num_inputs());
  const DType dt = c.dtype(0);
  if (dt != DType::f32 && dt != DType::f64) c.fail("x must be f32 or f64, got ", dtype_name(dt));
  if (c.shape(0).rank() != 2) c.fail("x must be 2-D [N, in], got ", c.shape(0).str());
  int64_t width = c.shape(0)[1];
  if (width < 1) c.fail("x has no features: ", c.shape(0).str());
  for (int l = 0; l < L; ++l) {
    const int iw = 1 + 2 * l, ib = 2 + 2 * l;
    const Shape& ws = c.shape(iw);
    const Shape& bs = c.shape(ib);
    if (c.dtype(iw) != dt || c.dtype(ib) != dt)
      c.fail("layer ", l, ": W is ", dtype_name(c.dtype(iw)), " and b ", dtype_name(c.dtype(ib)), ", x is ", dtype_name(dt));
    if (ws.rank() != 2) c.fail("layer ", l, ": W must be 2-D [in, out], got ", ws.str());
    if (ws[0] != width)
      c.fail("layer ", l, ": W is ", ws.str(), " but its input has ", width, " features (W must be [", width, ", out])");
    if (ws[1] < 1) c.fail("layer ", l, ": W has no outputs: ", ws.str());
    if (bs.rank() != 1 || bs[0] != ws[1]) c.fail("layer ", l, ": b must be [", ws[1], "] (W is ", ws.str(), "), got ", bs.str());
    width = ws[1];
  }
  return {Shape({c.shape(0)[0], width}), dt};
}

// The network expanded into primitive ops, differentiated by a sweep over the expansion alone
// (engine/autodiff.h), as the fused elementwise op is.
std::vector<Var> vjp_mlp(VjpCtx& c) {
  const MlpFusedAttr a = c.attr<MlpFusedAttr>();  // a copy: building nodes may move the graph's storage
  return vjp_by_expansion(c, [&](const std::vector<Var>& ins) { return expand_mlp_fused(a, ins); });
}

void mlp_cpu(KernelCtx& k) {
  const auto& a = k.node.attr_as<MlpFusedAttr>();
  const int L = a.layers();
  std::vector<int64_t> widths{k.in[0].shape()[1]};
  for (int l = 0; l < L; ++l) widths.push_back(k.in[1 + 2 * l].shape()[1]);
  cpu::MlpShape s;
  s.layers = L;
  s.widths = widths.data();
  s.acts = a.acts.data();
  dispatch_float(k.out.dtype(), [&]<class T>() {
    std::vector<const T*> w, b;
    for (int l = 0; l < L; ++l) {
      w.push_back(k.in[1 + 2 * l].data<T>());
      b.push_back(k.in[2 + 2 * l].data<T>());
    }
    cpu::mlp_fused<T>(k.in[0].data<T>(), k.in[0].shape()[0], s, w.data(), b.data(), k.out.data<T>());
  });
}

#if defined(ORBIT_WITH_CUDA)
void mlp_cuda(KernelCtx& k) {
  const auto& a = k.node.attr_as<MlpFusedAttr>();
  cuda::MlpDesc d;
  d.layers = a.layers();
  d.widths[0] = k.in[0].shape()[1];
  for (int l = 0; l < d.layers; ++l) {
    d.widths[l + 1] = k.in[1 + 2 * l].shape()[1];
    d.acts[l] = a.acts[l];
    d.w[l] = k.in[1 + 2 * l].raw();
    d.b[l] = k.in[2 + 2 * l].raw();
  }
  cuda::mlp_fused(k.out.dtype() == DType::f64 ? cuda::Elem::f64 : cuda::Elem::f32, k.in[0].raw(), k.in[0].shape()[0],
                  d, k.out.raw(), static_cast<cudaStream_t>(k.stream));
}
#endif

OpId g_mlp = 0;
std::once_flag g_once;

void register_mlp() {
  OpDef d;
  d.name = "mlp_fused";
  d.num_inputs = -1;
  d.infer = infer_mlp;
  d.vjp = vjp_mlp;
  d.kernels[static_cast<int>(Device::Kind::cpu)] = mlp_cpu;
#if defined(ORBIT_WITH_CUDA)
  d.kernels[static_cast<int>(Device::Kind::cuda)] = detail::cuda_kernel("mlp_fused", mlp_cuda);
#endif
  g_mlp = ops().add(std::move(d));
}

}  // namespace

OpId mlp_fused_op() {
  std::call_once(g_once, register_mlp);
  return g_mlp;
}

Var mlp_fused(Var x, const std::vector<Var>& w, const std::vector<Var>& b, const std::vector<MlpAct>& acts,
              const std::string& name) {
  ORBIT_CHECK(x.valid(), "mlp_fused: x is an empty Var");
  ORBIT_CHECK(w.size() == b.size() && w.size() == acts.size(), "mlp_fused: ", w.size(), " weights, ", b.size(),
              " biases and ", acts.size(), " activations (one of each per layer)");
  std::vector<Var> ins{x};
  for (size_t l = 0; l < w.size(); ++l) {
    ins.push_back(w[l]);
    ins.push_back(b[l]);
  }
  auto attr = std::make_shared<MlpFusedAttr>();
  attr->acts = acts;
  return x.graph()->add_op(mlp_fused_op(), ins, attr, name);
}

Var expand_mlp_fused(const MlpFusedAttr& a, const std::vector<Var>& inputs) {
  ORBIT_CHECK(inputs.size() == static_cast<size_t>(1 + 2 * a.layers()) && a.layers() > 0, "expand_mlp_fused: ",
              inputs.size(), " inputs for ", a.layers(), " layers");
  Var h = inputs[0];
  for (int l = 0; l < a.layers(); ++l) h = apply_mlp_act(a.acts[l], matmul(h, inputs[1 + 2 * l]) + inputs[2 + 2 * l]);
  return h;
}

}  // namespace orbit
