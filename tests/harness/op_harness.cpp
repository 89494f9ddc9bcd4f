#include "tests/harness/op_harness.h"

#include "models/diffusion/dem_target.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <numeric>
#include <random>
#include <set>

namespace orbit::testing {

namespace {

struct Drawn {
  std::vector<Nd> nd;          // f64 values (indices as doubles)
  std::vector<Tensor> tensors; // in the case's dtypes
};

Nd draw_values(const InputSpec& s, std::mt19937_64& rng) {
  Nd x(s.shape);
  int64_t n = x.numel();
  std::uniform_real_distribution<double> u(0, 1);
  if (s.kind == InputSpec::Kind::index) {
    std::uniform_int_distribution<int64_t> pick(0, s.index_range - 1);
    for (auto& v : x.v) v = static_cast<double>(pick(rng));
    if (s.sorted) std::sort(x.v.begin(), x.v.end());
    return x;
  }
  if (s.kind == InputSpec::Kind::mask) {
    for (auto& v : x.v) v = u(rng) < 0.5 ? 0.0 : 1.0;
    return x;
  }
  if (s.distinct) {
    std::vector<int64_t> perm(n);
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), rng);
    for (int64_t i = 0; i < n; ++i)
      x.v[i] = s.lo + (s.hi - s.lo) * (static_cast<double>(perm[i]) + s.grid_offset) / static_cast<double>(n);
    return x;
  }
  for (auto& v : x.v) {
    for (int tries = 0;; ++tries) {
      v = s.lo + (s.hi - s.lo) * u(rng);
      if (s.integer) v = std::round(v);
      bool ok = std::abs(v) >= s.min_abs;
      for (double a : s.avoid) ok = ok && std::abs(v - a) >= 0.05;
      if (ok) break;
      REQUIRE_MESSAGE(tries < 1000, "input spec cannot be satisfied");
    }
  }
  return x;
}

Tensor to_tensor(const Nd& x, DType dt) {
  Tensor t = Tensor::empty(Shape(x.shape), dt);
  dispatch_all(dt, [&]<class T>() {
    T* p = t.data<T>();
    for (int64_t i = 0; i < x.numel(); ++i) p[i] = static_cast<T>(x.v[i]);
  });
  return t;
}

Nd to_nd(const Tensor& t) {
  Nd x(t.shape().vec());
  x.v = t.to_vector();
  return x;
}

DType input_dtype(const OpCase& c, const InputSpec& s, DType real) {
  if (s.kind == InputSpec::Kind::index) return s.int64 ? DType::i64 : DType::i32;
  return c.int_dtype == DType::f64 ? real : c.int_dtype;
}

Drawn draw(const OpCase& c, DType real, uint64_t seed) {
  std::mt19937_64 rng(seed ^ std::hash<std::string>{}(c.label));
  Drawn d;
  for (auto& s : c.inputs) {
    InputSpec spec = s;
    if (is_int(input_dtype(c, s, real)) && s.kind == InputSpec::Kind::real) spec.integer = true;
    d.nd.push_back(draw_values(spec, rng));
    d.tensors.push_back(to_tensor(d.nd.back(), input_dtype(c, s, real)));
  }
  return d;
}

std::vector<Var> make_inputs(Graph& g, const OpCase& c, DType real) {
  std::vector<Var> vs;
  for (size_t i = 0; i < c.inputs.size(); ++i)
    vs.push_back(g.input("in" + std::to_string(i), Shape(c.inputs[i].shape), input_dtype(c, c.inputs[i], real)));
  return vs;
}

Feeds feeds_of(const std::vector<Tensor>& ts) {
  Feeds f;
  for (size_t i = 0; i < ts.size(); ++i) f.push_back({"in" + std::to_string(i), ts[i]});
  return f;
}

bool differentiable(const InputSpec& s) { return s.kind == InputSpec::Kind::real; }

double sum_product(const Tensor& a, const Nd& w) {
  double s = 0;
  for (int64_t i = 0; i < a.numel(); ++i) s += a.at(i) * w.v[i];
  return s;
}

// |analytic - numeric| <= atol + rtol |numeric|, element by element; returns the worst ratio.
double compare(const std::string& what, const std::vector<double>& analytic, const std::vector<double>& numeric,
               double atol, double rtol) {
  REQUIRE(analytic.size() == numeric.size());
  double worst = 0;
  for (size_t i = 0; i < analytic.size(); ++i) {
    double err = std::abs(analytic[i] - numeric[i]), tol = atol + rtol * std::abs(numeric[i]);
    worst = std::max(worst, err / tol);
    if (!(err <= tol)) {
      FAIL_CHECK(what << ": element " << i << " is " << analytic[i] << ", expected " << numeric[i] << " (|diff| "
                      << err << " > tolerance " << tol << ")");
      break;
    }
  }
  return worst;
}

constexpr double kEps = 1e-6;   // central-difference step in f64
constexpr double kAtol = 1e-6, kRtol = 1e-6;

// Central differences of a scalar function over every element of the chosen feeds.
std::vector<double> numeric_grad(Program& p, Feeds feeds, size_t which, const std::function<double(std::vector<Tensor>&)>& f) {
  Tensor base = feeds[which].second.clone();
  std::vector<double> g(base.numel());
  for (int64_t i = 0; i < base.numel(); ++i) {
    double x0 = base.data<double>()[i];
    Tensor plus = base.clone(), minus = base.clone();
    plus.data<double>()[i] = x0 + kEps;
    minus.data<double>()[i] = x0 - kEps;
    feeds[which].second = plus;
    auto op = p.run(feeds);
    double fp = f(op);
    feeds[which].second = minus;
    auto om = p.run(feeds);
    double fm = f(om);
    g[i] = (fp - fm) / (2 * kEps);
  }
  feeds[which].second = base;
  return g;
}

}  // namespace

double check_forward(const OpCase& c, DType dtype, uint64_t seed, Device dev) {
  INFO("op case '" << c.label << "' forward in " << std::string(dtype_name(dtype)) << " on " << dev.str());
  Drawn d = draw(c, dtype, seed);
  Graph g;
  Var out = c.build(g, make_inputs(g, c, dtype));
  Program p = compile(g, {out}, dev);
  Tensor got = p.run(feeds_of(d.tensors))[0];
  Nd want = c.ref(d.nd);
  REQUIRE_MESSAGE(got.shape() == Shape(want.shape), "shape " << got.shape().str() << " vs reference "
                                                             << Shape(want.shape).str());
  if (is_int(got.dtype())) {
    std::vector<double> w = want.v;
    for (auto& v : w) v = std::trunc(v);
    return compare(c.label, got.to_vector(), w, 0, 0);
  }
  // f64: a few ulps of the value (plus what the reduction length adds); f32: single precision.
  return dtype == DType::f64 ? compare(c.label, got.to_vector(), want.v, 1e-13, 1e-12)
                             : compare(c.label, got.to_vector(), want.v, 2e-6, 2e-5);
}

namespace {
// The graph both gradient checks start from: the case's op, a cotangent input w, loss = sum(out * w),
// and the inputs that are differentiated (with their feed positions).
struct GradSetup {
  Graph g;
  std::vector<Var> ins, wrt;
  std::vector<size_t> which;
  Var out, w, loss;
  Feeds feeds;  // the drawn inputs, then w
};

std::unique_ptr<GradSetup> grad_setup(const OpCase& c, uint64_t seed, std::mt19937_64& rng) {
  auto s = std::make_unique<GradSetup>();
  Drawn d = draw(c, DType::f64, seed);
  s->ins = make_inputs(s->g, c, DType::f64);
  s->out = c.build(s->g, s->ins);
  s->w = s->g.input("w", s->out.shape(), DType::f64);
  s->loss = sum(s->out * s->w);
  for (size_t i = 0; i < s->ins.size(); ++i)
    if (differentiable(c.inputs[i])) {
      s->wrt.push_back(s->ins[i]);
      s->which.push_back(i);
    }
  s->feeds = feeds_of(d.tensors);
  InputSpec ws;
  ws.shape = s->out.shape().vec();
  s->feeds.push_back({"w", to_tensor(draw_values(ws, rng), DType::f64)});
  return s;
}

// Compares the analytic gradients `got` of scalar program `forward` with central differences over
// the feeds at positions `slots`.
double compare_with_numeric(const std::string& what, Program& forward, const Feeds& feeds,
                            const std::vector<size_t>& slots, const std::vector<Tensor>& got) {
  double worst = 0;
  for (size_t k = 0; k < slots.size(); ++k) {
    auto num = numeric_grad(forward, feeds, slots[k], [](std::vector<Tensor>& o) { return o[0].item(); });
    worst = std::max(worst, compare(what + " wrt feed " + feeds[slots[k]].first, got[k].to_vector(), num, kAtol, kRtol));
  }
  return worst;
}
}  // namespace

double check_gradient(const OpCase& c, uint64_t seed, Device dev) {
  INFO("op case '" << c.label << "' gradcheck on " << dev.str());
  std::mt19937_64 rng(seed + 17);
  auto s = grad_setup(c, seed, rng);
  Program analytic = compile(s->g, grad(s->loss, s->wrt), dev);
  Program forward = compile(s->g, {s->loss}, dev);
  return compare_with_numeric(c.label + ": d loss", forward, s->feeds, s->which, analytic.run(s->feeds));
}

double check_second_order(const OpCase& c, uint64_t seed, Device dev) {
  INFO("op case '" << c.label << "' second order on " << dev.str());
  std::mt19937_64 rng(seed + 29);
  auto s = grad_setup(c, seed, rng);
  auto g1 = grad(s->loss, s->wrt);
  // H = sum_k <g1_k, v_k>: a scalar function of the inputs and of w, built from the VJP graph.
  Var h;
  for (size_t k = 0; k < g1.size(); ++k) {
    Var v = s->g.input("v" + std::to_string(k), g1[k].shape(), DType::f64);
    InputSpec vs;
    vs.shape = g1[k].shape().vec();
    s->feeds.push_back({"v" + std::to_string(k), to_tensor(draw_values(vs, rng), DType::f64)});
    Var term = sum(g1[k] * v);
    h = h.valid() ? h + term : term;
  }
  std::vector<Var> wrt2 = s->wrt;
  wrt2.push_back(s->w);
  Program analytic = compile(s->g, grad(h, wrt2), dev);
  Program forward = compile(s->g, {h}, dev);
  std::vector<size_t> slots = s->which;
  slots.push_back(c.inputs.size());  // the feed index of w
  return compare_with_numeric(c.label + ": d2", forward, s->feeds, slots, analytic.run(s->feeds));
}

// ---- CPU-vs-CUDA agreement ----

bool gpu_dry_run() {
  const char* e = std::getenv("ORBIT_TEST_GPU_ON_CPU");
  return e && std::string(e) == "1";
}

Device device_under_test() { return gpu_dry_run() ? Device::cpu() : Device::cuda(); }

bool skip_without_gpu() {
  if (cuda_device_count() > 0 || gpu_dry_run()) return false;
  MESSAGE("skipped: " << (cuda_built() ? "this CUDA build sees no GPU (no device or no driver)"
                                       : "this build has no CUDA backend"));
  return true;
}

double accumulation_length(const Graph& g, NodeId id) {
  const Node& n = g.node(id);
  if (n.kind != NodeKind::op) return 1;
  auto in_shape = [&](int i) { return g.node(n.inputs[i]).shape; };
  const std::string& op = ops().get(n.op).name;
  if (op == "reduce_sum" || op == "reduce_mean" || op == "reduce_max" || op == "logsumexp") {
    double out = std::max<int64_t>(1, n.shape.numel());
    return std::max(1.0, static_cast<double>(in_shape(0).numel()) / out);
  }
  if (op == "softmax") return static_cast<double>(in_shape(0)[static_cast<int>(n.attr_as<AxisAttr>().axis)]);
  if (op == "matmul") {
    Shape a = in_shape(0);
    return static_cast<double>(n.attr_as<MatmulAttr>().trans_a ? a[a.rank() - 2] : a[a.rank() - 1]);
  }
  if (op == "segment_sum" || op == "segment_mean") return static_cast<double>(in_shape(1).numel());
  if (op == "mlp_fused") {  // the layers' sums, chained: bound by their total length
    double k = 0;
    for (size_t i = 1; i < n.inputs.size(); i += 2) k += static_cast<double>(in_shape(static_cast<int>(i))[0]);
    return k;
  }
  if (op == "egnn_message" || op == "egnn_message_vjp") {  // sums over n senders of H-term chains
    const Shape p = in_shape(0);
    return static_cast<double>(p[1] * 3 * p[2]);
  }
  // The Monte-Carlo sum over K noised copies (a weighted average: its terms are the output's scale).
  if (op == "dem_score_target") return static_cast<double>(std::max<int64_t>(1, n.attr_as<diffusion::DemTargetAttr>().K));
  return 1;
}

double term_scale(const Graph& g, NodeId id, const Feeds& feeds) {
  const Node& n = g.node(id);
  if (n.kind != NodeKind::op) return 0;
  const std::string& op = ops().get(n.op).name;
  const bool sums = op == "reduce_sum" || op == "reduce_mean" || op == "logsumexp" || op == "segment_sum" ||
                    op == "segment_mean";
  if (!sums) return 0;
  const Node& in = g.node(n.inputs[0]);  // the summed operand (segment ops: data first)
  for (const auto& [name, t] : feeds) {
    if (name != in.name || !is_float(t.dtype())) continue;
    double m = 0;
    for (double v : t.to_vector())
      if (std::isfinite(v)) m = std::max(m, std::abs(v));
    return m;
  }
  return 0;
}

double compare_devices(const std::string& what, const Tensor& gpu, const Tensor& cpu, double length, bool exact,
                       double terms) {
  REQUIRE_MESSAGE(gpu.device() == device_under_test(), what << ": the CUDA result is on " << gpu.device().str());
  REQUIRE_MESSAGE(cpu.device().is_cpu(), what << ": the reference is on " << cpu.device().str());
  REQUIRE_MESSAGE((gpu.shape() == cpu.shape() && gpu.dtype() == cpu.dtype()),
                  what << ": CUDA gives " << gpu.shape().str() << " " << dtype_name(gpu.dtype()) << ", CPU "
                       << cpu.shape().str() << " " << dtype_name(cpu.dtype()));
  std::vector<double> a = gpu.to_vector(), b = cpu.to_vector();
  double scale = 0;
  for (double v : b)
    if (std::isfinite(v)) scale = std::max(scale, std::abs(v));
  // A sum that cancels is exact only to the rounding of its terms, not of its (small) result.
  scale = std::max(scale, terms);
  const bool f32 = cpu.dtype() == DType::f32;
  const double ulps = f32 ? 16 : 8, eps = f32 ? 1.1920928955078125e-07 : 2.220446049250313e-16;
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] == b[i] || (std::isnan(a[i]) && std::isnan(b[i]))) continue;
    double err = std::abs(a[i] - b[i]);
    double tol = exact || !std::isfinite(b[i]) ? 0 : ulps * eps * (std::abs(b[i]) + scale * (1 + std::sqrt(length)));
    worst = std::max(worst, tol > 0 ? err / tol : HUGE_VAL);
    if (!(err <= tol)) {
      FAIL_CHECK(what << ": element " << i << " of " << a.size() << " is " << a[i] << " on CUDA and " << b[i]
                      << " on the CPU (|diff| " << err << ", tolerance " << tol << (exact ? ", exact op" : "")
                      << ")");
      break;
    }
  }
  return worst;
}

namespace {
// Ops whose CUDA kernels compute exactly what the CPU computes (no library math, no reordering).
bool exact_on_cuda(const std::string& op) {
  static const std::set<std::string> exact = {
      "neg",   "abs",     "sign",    "square", "relu",    "clamp",  "add",          "sub",    "mul",
      "div",   "maximum", "minimum", "lt",     "le",      "gt",     "ge",           "eq",     "ne",
      "where", "reshape", "permute", "slice",  "pad",     "concat", "broadcast_to", "gather", "segment_sum",
      "segment_mean", "cast"};
  return exact.count(op) != 0;
}
}  // namespace

double check_agreement(const OpCase& c, DType dtype, uint64_t seed) {
  INFO("op case '" << c.label << "' CPU vs CUDA in " << std::string(dtype_name(dtype)));
  Drawn d = draw(c, dtype, seed);
  Graph g;
  Var out = c.build(g, make_inputs(g, c, dtype));
  Program cpu = compile(g, {out}, Device::cpu());
  Program gpu = compile(g, {out}, device_under_test());
  const Feeds feeds = feeds_of(d.tensors);
  Tensor want = cpu.run(feeds)[0];
  Tensor got = gpu.run(feeds)[0];
  return compare_devices(c.label + " (" + dtype_name(out.dtype()) + ")", got, want, accumulation_length(g, out.id()),
                         is_int(out.dtype()) || exact_on_cuda(c.op), term_scale(g, out.id(), feeds));
}

double check_gradient_agreement(const OpCase& c, uint64_t seed, bool second_order) {
  INFO("op case '" << c.label << "' " << (second_order ? "second-order" : "gradient") << " program, CPU vs CUDA");
  Drawn d = draw(c, DType::f64, seed);
  Graph g;
  auto ins = make_inputs(g, c, DType::f64);
  Var out = c.build(g, ins);
  Var w = g.input("w", out.shape(), DType::f64);
  std::vector<Var> wrt;
  for (size_t i = 0; i < ins.size(); ++i)
    if (differentiable(c.inputs[i])) wrt.push_back(ins[i]);
  std::mt19937_64 rng(seed + 41);
  Feeds feeds = feeds_of(d.tensors);
  InputSpec ws;
  ws.shape = out.shape().vec();
  feeds.push_back({"w", to_tensor(draw_values(ws, rng), DType::f64)});
  std::vector<Var> outs = grad(sum(out * w), wrt);
  if (second_order) {
    Var h;
    for (size_t k = 0; k < outs.size(); ++k) {
      Var v = g.input("v" + std::to_string(k), outs[k].shape(), DType::f64);
      InputSpec vs;
      vs.shape = outs[k].shape().vec();
      feeds.push_back({"v" + std::to_string(k), to_tensor(draw_values(vs, rng), DType::f64)});
      Var term = sum(outs[k] * v);
      h = h.valid() ? h + term : term;
    }
    std::vector<Var> wrt2 = wrt;
    wrt2.push_back(w);
    outs = grad(h, wrt2);
  }
  double length = 1;  // gradient graphs chain several accumulations: bound them by the inputs' sizes
  for (auto& t : d.tensors) length += static_cast<double>(t.numel());
  Program cpu = compile(g, outs, Device::cpu());
  Program gpu = compile(g, outs, device_under_test());
  auto want = cpu.run(feeds), got = gpu.run(feeds);
  double worst = 0;
  for (size_t k = 0; k < outs.size(); ++k)
    worst = std::max(worst, compare_devices(c.label + ": gradient output " + std::to_string(k), got[k], want[k],
                                            length, false));
  return worst;
}

}  // namespace orbit::testing
