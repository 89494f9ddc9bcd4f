// The fused EGNN message-passing ops (engine/egnn_message.h): type inference, the forward's VJP (the
// fused egnn_message_vjp op, unpacked), the VJP op's own VJP by expansion, and the CPU / CUDA kernels
// (kernels/cpu/egnn_message.h, kernels/cuda/egnn_message.h).
#include "engine/egnn_message.h"

#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>

#include "engine/autodiff.h"
#include "engine/compile/passes.h"
#include "engine/op_registry.h"
#include "engine/ops.h"
#include "kernels/cpu/egnn_message.h"
#if defined(ORBIT_WITH_CUDA)
#include "engine/ops/cuda_kernel.h"
#include "kernels/cuda/egnn_message.h"
#include "kernels/cuda/runtime.h"
#endif

namespace orbit {

namespace {

using namespace egnn_msg;

struct Dims {
  int64_t B, n, d, H, E;
};

// Checks the forward inputs (the first a.num_inputs() of the context) and returns the dims.
Dims check_forward_inputs(const EgnnMessageAttr& a, const InferCtx& c) {
  if (a.edge_attr < 0) c.fail("edge_attr must be >= 0, got ", a.edge_attr);
  if (!(a.coord_clamp >= 0)) c.fail("coord_clamp must be >= 0, got ", a.coord_clamp);
  if (a.tanh && !(a.coords_range > 0)) c.fail("coords_range must be > 0, got ", a.coords_range);
  const DType dt = c.dtype(P);
  if (dt != DType::f32 && dt != DType::f64) c.fail("P must be f32 or f64, got ", dtype_name(dt));
  const char* names[] = {"P", "Q", "x", "w_r", "W2", "b2", "W3", "b3", "w4"};
  auto name_of = [&](int i) -> std::string {
    if (i < kFixed) return names[i];
    if (i == a_index(a)) return "a";
    if (i == wa_index(a)) return "W_a";
    if (i == watt_index(a)) return "w_att";
    return "b_att";
  };
  for (int i = 0; i < a.num_inputs(); ++i)
    if (c.dtype(i) != dt) c.fail("input ", i, " (", name_of(i), ") is ", dtype_name(c.dtype(i)), ", P is ", dtype_name(dt));
  const Shape& ps = c.shape(P);
  if (ps.rank() != 3 || ps[0] < 1 || ps[1] < 1 || ps[2] < 1) c.fail("P must be [B, n, H], got ", ps.str());
  const int64_t B = ps[0], n = ps[1], H = ps[2];
  if (c.shape(Q) != ps) c.fail("Q must be P's shape ", ps.str(), ", got ", c.shape(Q).str());
  const Shape& xs = c.shape(X);
  if (xs.rank() != 3 || xs[0] != B || xs[1] != n || xs[2] < 1) c.fail("x must be [", B, ", ", n, ", d], got ", xs.str());
  auto want = [&](int i, std::vector<int64_t> s) {
    if (c.shape(i) != Shape(s)) c.fail(name_of(i), " must be ", Shape(s).str(), ", got ", c.shape(i).str());
  };
  want(WR, {H});
  want(W2, {H, H});
  want(B2, {H});
  want(W3, {H, H});
  want(B3, {H});
  want(W4, {H});
  if (a.edge_attr > 0) {
    want(a_index(a), {B, n, n, a.edge_attr});
    want(wa_index(a), {a.edge_attr, H});
  }
  if (a.attention) {
    want(watt_index(a), {H});
    want(batt_index(a), {1});
  }
  return {B, n, xs[2], H, a.edge_attr};
}

TypeInfo infer_fwd(const InferCtx& c) {
  const auto& a = c.attr<EgnnMessageAttr>();
  if (c.num_inputs() != a.num_inputs())
    c.fail("expected ", a.num_inputs(), " inputs (P, Q, x, w_r, W2, b2, W3, b3, w4", a.edge_attr > 0 ? ", a, W_a" : "",
           a.attention ? ", w_att, b_att" : "", "), got ", c.num_inputs());
  Dims d = check_forward_inputs(a, c);
  return {Shape({d.B, d.n, d.H + d.d}), c.dtype(P)};
}

TypeInfo infer_vjp(const InferCtx& c) {
  const auto& a = c.attr<EgnnMessageVjpAttr>().fwd;
  if (c.num_inputs() != a.num_inputs() + 1)
    c.fail("expected ", a.num_inputs() + 1, " inputs (the forward's ", a.num_inputs(), ", then the cotangent), got ",
           c.num_inputs());
  Dims d = check_forward_inputs(a, c);
  const int gi = a.num_inputs();
  if (c.shape(gi) != Shape({d.B, d.n, d.H + d.d}) || c.dtype(gi) != c.dtype(P))
    c.fail("the cotangent must be [", d.B, ", ", d.n, ", ", d.H + d.d, "] ", dtype_name(c.dtype(P)), ", got ",
           c.shape(gi).str(), " ", dtype_name(c.dtype(gi)));
  int64_t total = 0;
  for (int i = 0; i < a.num_inputs(); ++i) total += c.shape(i).numel();
  return {Shape({total}), c.dtype(P)};
}

std::vector<Shape> shapes_of(const std::vector<Var>& v) {
  std::vector<Shape> s;
  for (auto& x : v) s.push_back(x.shape());
  return s;
}

Var add_vjp_node(const EgnnMessageAttr& a, std::vector<Var> ins_and_cot) {
  auto attr = std::make_shared<EgnnMessageVjpAttr>();
  attr->fwd = a;
  Graph* g = ins_and_cot[0].graph();
  return g->add_op(egnn_message_vjp_op(), std::move(ins_and_cot), attr);
}

// The forward's VJP: one fused node for every input's gradient, sliced apart.
std::vector<Var> vjp_fwd(VjpCtx& c) {
  const EgnnMessageAttr a = c.attr<EgnnMessageAttr>();  // a copy: building nodes may move the graph's storage
  std::vector<Var> ins;
  for (size_t i = 0; i < c.n().inputs.size(); ++i) ins.push_back(c.in(static_cast<int>(i)));
  std::vector<Var> all = ins;
  all.push_back(c.grad);
  Var flat = add_vjp_node(a, all);
  auto off = egnn_message_grad_offsets(shapes_of(ins));
  std::vector<Var> out;
  for (size_t i = 0; i < ins.size(); ++i) out.push_back(reshape(slice(flat, 0, off[i], off[i + 1]), ins[i].shape().vec()));
  return out;
}

// The VJP op as primitive ops: the forward expansion's VJP sweep, flattened and concatenated.
Var expand_vjp(const EgnnMessageAttr& a, const std::vector<Var>& ins) {
  std::vector<Var> fwd(ins.begin(), ins.end() - 1);
  Var G = ins.back();
  auto gs = vjp_by_expansion(*G.graph(), fwd, G, [a](const std::vector<Var>& v) { return expand_egnn_message(a, v); });
  std::vector<Var> parts;
  for (size_t k = 0; k < fwd.size(); ++k) {
    Var gk = k < gs.size() && gs[k].valid() ? gs[k] : zeros_like(fwd[k]);
    parts.push_back(reshape(gk, {fwd[k].shape().numel()}));
  }
  return concat(parts, 0);
}

std::vector<Var> vjp_vjp(VjpCtx& c) {
  const EgnnMessageAttr a = c.attr<EgnnMessageVjpAttr>().fwd;
  return vjp_by_expansion(c, [a](const std::vector<Var>& ins) { return expand_vjp(a, ins); });
}

// The kernels' problem shape (the CPU kernel's argument; the base of the CUDA descriptor).
scalar::EgnnMsgShape msg_shape(const EgnnMessageAttr& a, const KernelCtx& k) {
  scalar::EgnnMsgShape s;
  s.B = k.in[P].shape()[0];
  s.n = k.in[P].shape()[1];
  s.H = k.in[P].shape()[2];
  s.d = k.in[X].shape()[2];
  s.E = a.edge_attr;
  s.attention = a.attention;
  s.norm_diff = a.norm_diff;
  s.tanh = a.tanh;
  s.self_loops = a.self_loops;
  s.coords_range = a.coords_range;
  s.coord_clamp = a.coord_clamp;
  return s;
}

template <class T>
cpu::EgnnMsgIn<T> cpu_inputs(const EgnnMessageAttr& a, const KernelCtx& k) {
  cpu::EgnnMsgIn<T> in;
  in.P = k.in[P].data<T>();
  in.Q = k.in[Q].data<T>();
  in.x = k.in[X].data<T>();
  in.w_r = k.in[WR].data<T>();
  in.W2 = k.in[W2].data<T>();
  in.b2 = k.in[B2].data<T>();
  in.W3 = k.in[W3].data<T>();
  in.b3 = k.in[B3].data<T>();
  in.w4 = k.in[W4].data<T>();
  if (a.edge_attr > 0) {
    in.a = k.in[a_index(a)].data<T>();
    in.W_a = k.in[wa_index(a)].data<T>();
  }
  if (a.attention) {
    in.w_att = k.in[watt_index(a)].data<T>();
    in.b_att = k.in[batt_index(a)].data<T>();
  }
  return in;
}

void fwd_cpu(KernelCtx& k) {
  const auto& a = k.node.attr_as<EgnnMessageAttr>();
  const auto s = msg_shape(a, k);
  dispatch_float(k.out.dtype(), [&]<class T>() { cpu::egnn_message_forward<T>(s, cpu_inputs<T>(a, k), k.out.data<T>()); });
}

std::vector<int64_t> kernel_offsets(const EgnnMessageAttr& a, const KernelCtx& k) {
  std::vector<Shape> shapes;
  for (int i = 0; i < a.num_inputs(); ++i) shapes.push_back(k.in[i].shape());
  return egnn_message_grad_offsets(shapes);
}

void vjp_cpu(KernelCtx& k) {
  const auto& a = k.node.attr_as<EgnnMessageVjpAttr>().fwd;
  const auto s = msg_shape(a, k);
  const auto off = kernel_offsets(a, k);
  dispatch_float(k.out.dtype(), [&]<class T>() {
    T* o = k.out.data<T>();
    auto at = [&](int i) { return i >= 0 ? o + off[i] : nullptr; };
    cpu::EgnnMsgGrad<T> g;
    g.P = at(P), g.Q = at(Q), g.x = at(X), g.w_r = at(WR), g.W2 = at(W2), g.b2 = at(B2), g.W3 = at(W3), g.b3 = at(B3);
    g.w4 = at(W4), g.a = at(a_index(a)), g.W_a = at(wa_index(a)), g.w_att = at(watt_index(a)), g.b_att = at(batt_index(a));
    cpu::egnn_message_backward<T>(s, cpu_inputs<T>(a, k), k.in[a.num_inputs()].data<T>(), g);
  });
}

#if defined(ORBIT_WITH_CUDA)
cuda::EgnnMsgDesc cuda_desc(const EgnnMessageAttr& a, const KernelCtx& k) {
  cuda::EgnnMsgDesc d;
  static_cast<scalar::EgnnMsgShape&>(d) = msg_shape(a, k);
  for (int i = 0; i < kFixed; ++i) d.in[i] = k.in[i].raw();
  if (a.edge_attr > 0) {
    d.in[cuda::kEgnnA] = k.in[a_index(a)].raw();
    d.in[cuda::kEgnnWa] = k.in[wa_index(a)].raw();
  }
  if (a.attention) {
    d.in[cuda::kEgnnWatt] = k.in[watt_index(a)].raw();
    d.in[cuda::kEgnnBatt] = k.in[batt_index(a)].raw();
  }
  return d;
}

cuda::Elem elem_of(const Tensor& t) { return t.dtype() == DType::f64 ? cuda::Elem::f64 : cuda::Elem::f32; }

void fwd_cuda(KernelCtx& k) {
  const auto& a = k.node.attr_as<EgnnMessageAttr>();
  cuda::egnn_message_forward(elem_of(k.out), cuda_desc(a, k), k.out.raw(), static_cast<cudaStream_t>(k.stream));
}

void vjp_cuda(KernelCtx& k) {
  const auto& a = k.node.attr_as<EgnnMessageVjpAttr>().fwd;
  const auto off = kernel_offsets(a, k);
  const size_t es = k.out.dtype() == DType::f64 ? 8 : 4;
  char* o = static_cast<char*>(k.out.raw());
  void* g[cuda::kEgnnInputs] = {};
  for (int i = 0; i < kFixed; ++i) g[i] = o + off[i] * es;
  if (a.edge_attr > 0) {
    g[cuda::kEgnnA] = o + off[a_index(a)] * es;
    g[cuda::kEgnnWa] = o + off[wa_index(a)] * es;
  }
  if (a.attention) {
    g[cuda::kEgnnWatt] = o + off[watt_index(a)] * es;
    g[cuda::kEgnnBatt] = o + off[batt_index(a)] * es;
  }
  cuda::egnn_message_backward(elem_of(k.out), cuda_desc(a, k), k.in[a.num_inputs()].raw(), g,
                              static_cast<cudaStream_t>(k.stream));
}
#endif

OpId g_fwd = 0, g_vjp = 0;
std::once_flag g_once;

void register_ops() {
  {
    OpDef d;
    d.name = "egnn_message";
    d.num_inputs = -1;
    d.infer = infer_fwd;
    d.vjp = vjp_fwd;
    d.kernels[static_cast<int>(Device::Kind::cpu)] = fwd_cpu;
#if defined(ORBIT_WITH_CUDA)
    d.kernels[static_cast<int>(Device::Kind::cuda)] = detail::cuda_kernel("egnn_message", fwd_cuda);
#endif
    g_fwd = ops().add(std::move(d));
  }
  {
    OpDef d;
    d.name = "egnn_message_vjp";
    d.num_inputs = -1;
    d.infer = infer_vjp;
    d.vjp = vjp_vjp;
    d.kernels[static_cast<int>(Device::Kind::cpu)] = vjp_cpu;
#if defined(ORBIT_WITH_CUDA)
    d.kernels[static_cast<int>(Device::Kind::cuda)] = detail::cuda_kernel("egnn_message_vjp", vjp_cuda);
#endif
    g_vjp = ops().add(std::move(d));
  }
}

}  // namespace

OpId egnn_message_op() {
  std::call_once(g_once, register_ops);
  return g_fwd;
}

OpId egnn_message_vjp_op() {
  std::call_once(g_once, register_ops);
  return g_vjp;
}

bool egnn_cuda_vjp_expanded() {
  const char* e = std::getenv("ORBIT_EGNN_FUSED");
  return e != nullptr && std::string(e) == "forward";
}

bool expand_egnn_messages(Graph& graph, std::vector<NodeId>& outputs, Device device) {
  if (!device.is_cuda()) return false;
  const OpId f = egnn_message_op(), v = egnn_message_vjp_op();
  const bool vjp_expanded = egnn_cuda_vjp_expanded();
  auto wanted = [&](const Node& nd) {
    if (nd.kind != NodeKind::op) return false;
    if (nd.op == f) return !nd.attr_as<EgnnMessageAttr>().cuda_fused;
    if (nd.op == v) return vjp_expanded || !nd.attr_as<EgnnMessageVjpAttr>().fwd.cuda_fused;
    return false;
  };
  bool any = false;
  for (NodeId i = 0; i < graph.size() && !any; ++i) any = wanted(graph.node(i));
  if (!any) return false;
  Graph out;
  std::vector<NodeId> remap(static_cast<size_t>(graph.size()), -1);
  for (NodeId i = 0; i < graph.size(); ++i) {
    const Node& nd = graph.node(i);
    if (!wanted(nd)) {
      remap[i] = passes::copy_remapped(out, nd, remap);
      continue;
    }
    std::vector<Var> ins;
    for (NodeId in : nd.inputs) ins.push_back(out.var(remap[in]));
    Var y = nd.op == f ? expand_egnn_message(EgnnMessageAttr(nd.attr_as<EgnnMessageAttr>()), ins)
                       : expand_vjp(EgnnMessageAttr(nd.attr_as<EgnnMessageVjpAttr>().fwd), ins);
    remap[i] = y.id();
  }
  for (auto& o : outputs) o = remap[o];
  graph = std::move(out);
  return true;
}

std::vector<int64_t> egnn_message_grad_offsets(const std::vector<Shape>& input_shapes) {
  std::vector<int64_t> off{0};
  for (auto& s : input_shapes) off.push_back(off.back() + s.numel());
  return off;
}

Var egnn_message(Var P, Var Q, Var x, const EgnnMessageWeights& w, const EgnnMessageAttr& attr, const std::string& name) {
  ORBIT_CHECK(P.valid() && Q.valid() && x.valid(), "egnn_message: P, Q and x are required");
  for (auto [v, what] : {std::pair{w.w_r, "w_r"}, {w.W2, "W2"}, {w.b2, "b2"}, {w.W3, "W3"}, {w.b3, "b3"}, {w.w4, "w4"}})
    ORBIT_CHECK(v.valid(), "egnn_message: ", what, " is required");
  ORBIT_CHECK(w.a.valid() == (attr.edge_attr > 0) && w.W_a.valid() == (attr.edge_attr > 0), "egnn_message: ",
              attr.edge_attr > 0 ? "edge_attr > 0 needs a and W_a" : "a and W_a need edge_attr > 0");
  ORBIT_CHECK(w.w_att.valid() == attr.attention && w.b_att.valid() == attr.attention, "egnn_message: ",
              attr.attention ? "attention needs w_att and b_att" : "w_att and b_att need attention");
  std::vector<Var> ins{P, Q, x, w.w_r, w.W2, w.b2, w.W3, w.b3, w.w4};
  if (attr.edge_attr > 0) {
    Var a = w.a;
    ORBIT_CHECK(P.rank() == 3, "egnn_message: P must be [B, n, H], got ", P.shape().str());
    const int64_t B = P.shape()[0], n = P.shape()[1];
    const Shape full({B, n, n, attr.edge_attr});
    ORBIT_CHECK(a.rank() == 4 && a.shape()[3] == attr.edge_attr, "egnn_message: a must be [B, n, n, ", attr.edge_attr,
                "] (dims of 1 broadcast), got '", a.name(), "' ", a.shape().str());
    for (int k = 0; k < 3; ++k)
      ORBIT_CHECK(a.shape()[k] == full[k] || a.shape()[k] == 1, "egnn_message: a ", a.shape().str(),
                  " does not broadcast to ", full.str());
    if (a.shape() != full) a = broadcast_to(a, full);
    ins.push_back(a);
    ins.push_back(w.W_a);
  }
  if (attr.attention) {
    ins.push_back(w.w_att);
    ins.push_back(w.b_att);
  }
  return P.graph()->add_op(egnn_message_op(), ins, std::make_shared<EgnnMessageAttr>(attr), name);
}

Var egnn_message_magg(Var out, int64_t H) { return slice(out, 2, 0, H); }
Var egnn_message_xagg(Var out, int64_t H) { return slice(out, 2, H, out.shape()[2]); }

Var expand_egnn_message(const EgnnMessageAttr& a, const std::vector<Var>& in) {
  ORBIT_CHECK(static_cast<int>(in.size()) == a.num_inputs(), "expand_egnn_message: ", in.size(), " inputs, expected ",
              a.num_inputs());
  Graph& g = *in[P].graph();
  const int64_t B = in[P].shape()[0], n = in[P].shape()[1], H = in[P].shape()[2], d = in[X].shape()[2];
  const int64_t rows = B * n * n;
  const DType dt = in[P].dtype();
  Var xv = in[X];
  Var D = reshape(xv, {B, n, 1, d}) - reshape(xv, {B, 1, n, d});  // [B, n, n, d]
  Var r = sum(square(D), {-1}, true);                              // [B, n, n, 1]
  if (a.norm_diff) D = D / (sqrt(r + 1e-8) + 1.0);
  Var pre = reshape(in[P], {B, n, 1, H}) + reshape(in[Q], {B, 1, n, H}) + r * in[WR];
  if (a.edge_attr > 0) {
    Var av = in[a_index(a)], wa = in[wa_index(a)];
    pre = pre + (a.edge_attr == 1 ? av * reshape(wa, {H})
                                  : reshape(matmul(reshape(av, {rows, a.edge_attr}), wa), {B, n, n, H}));
  }
  // The dense path computes every pair and drops the diagonal (i = j) with a 0/1 mask.
  Var mk;
  if (!a.self_loops) {
    std::vector<double> mask(static_cast<size_t>(n * n), 1.0);
    for (int64_t i = 0; i < n; ++i) mask[static_cast<size_t>(i * n + i)] = 0.0;
    mk = g.constant(Tensor::from<double>({n * n}, mask).cast(dt).reshaped(Shape({1, n, n, 1})), "egnn_message/offdiag");
  }
  Var u1 = reshape(silu(pre), {rows, H});
  Var m = silu(matmul(u1, in[W2]) + in[B2]);
  if (a.attention) {
    // With attention the mask multiplies the gate ([rows, 1]) rather than the messages ([rows, H]): one
    // pass over [B, n, n, H] less each way. The coordinate MLP then sees zero messages on the diagonal,
    // where the zero difference x_i - x_i and the mask zero its update anyway, so the values are the same.
    Var gate = sigmoid(matmul(m, reshape(in[watt_index(a)], {H, 1})) + in[batt_index(a)]);
    if (mk.valid()) gate = reshape(reshape(gate, {B, n, n, 1}) * mk, {rows, 1});
    m = m * gate;
  }
  Var w = matmul(silu(matmul(m, in[W3]) + in[B3]), reshape(in[W4], {H, 1}));  // [rows, 1]
  if (a.tanh) w = tanh(w) * a.coords_range;
  Var t = D * reshape(w, {B, n, n, 1});
  if (a.coord_clamp > 0) t = clamp(t, -a.coord_clamp, a.coord_clamp);
  Var mm = reshape(m, {B, n, n, H});
  if (mk.valid()) {
    if (!a.attention) mm = mm * mk;
    t = t * mk;
  }
  return concat({sum(mm, {2}), sum(t, {2})}, -1);
}

}  // namespace orbit
