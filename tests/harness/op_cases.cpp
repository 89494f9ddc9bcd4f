// The op cases of the harness: every primitive op at least once, with shapes that exercise
// broadcasting, several axes and index dtypes. Random ops and cast have dedicated tests
// (tests/test_random_cast.cpp) because a naive reference cannot describe them.
#include <cmath>

#include "tests/harness/op_harness.h"

namespace orbit::testing {

void add_system_cases(std::vector<OpCase>& cs);  // op_cases_systems.cpp
void add_fused_cases(std::vector<OpCase>& cs);   // op_cases_fused.cpp
void add_mlp_fused_cases(std::vector<OpCase>& cs);  // op_cases_mlp_fused.cpp
void add_egnn_message_cases(std::vector<OpCase>& cs);  // op_cases_egnn_message.cpp

namespace {

using K = InputSpec::Kind;
using Ins = std::vector<Var>;
using Refs = std::vector<Nd>;

InputSpec real(std::vector<int64_t> shape, double lo = -1.5, double hi = 1.5) {
  return InputSpec::uniform(std::move(shape), lo, hi);
}
InputSpec nonzero(std::vector<int64_t> shape, double min_abs = 0.1) {
  InputSpec s = real(std::move(shape));
  s.min_abs = min_abs;
  return s;
}
InputSpec distinct(std::vector<int64_t> shape, double offset = 0.5) {
  InputSpec s = real(std::move(shape));
  s.distinct = true;
  s.grid_offset = offset;
  return s;
}
InputSpec index(std::vector<int64_t> shape, int64_t range, bool sorted = false, bool i64 = false) {
  return InputSpec::index(std::move(shape), range, sorted, i64);
}
InputSpec mask(std::vector<int64_t> shape) {
  InputSpec s;
  s.shape = std::move(shape);
  s.kind = K::mask;
  return s;
}

std::vector<int64_t> ids_of(const Nd& x) {
  std::vector<int64_t> r;
  for (double v : x.v) r.push_back(static_cast<int64_t>(v));
  return r;
}

std::vector<OpCase> build_cases() {
  std::vector<OpCase> cs;
  auto unary = [&](std::string op, std::function<Var(Var)> f, std::function<double(double)> r, InputSpec s,
                   std::string label = "", bool grad = true) {
    OpCase c;
    c.op = op;
    c.label = label.empty() ? op : label;
    c.inputs = {s};
    c.build = [f](Graph&, const Ins& in) { return f(in[0]); };
    c.ref = [r](const Refs& x) { return map1(x[0], r); };
    c.grad = grad;
    cs.push_back(c);
  };
  const std::vector<int64_t> s34{3, 4};
  unary("neg", [](Var x) { return -x; }, [](double x) { return -x; }, real(s34));
  unary("abs", [](Var x) { return abs(x); }, [](double x) { return std::abs(x); }, nonzero(s34));
  unary("sign", [](Var x) { return sign(x); }, [](double x) { return double((x > 0) - (x < 0)); }, nonzero(s34), "",
        false);
  unary("exp", [](Var x) { return exp(x); }, [](double x) { return std::exp(x); }, real(s34));
  unary("log", [](Var x) { return log(x); }, [](double x) { return std::log(x); }, real(s34, 0.3, 2.5));
  unary("log1p", [](Var x) { return log1p(x); }, [](double x) { return std::log1p(x); }, real(s34, -0.6, 2));
  unary("sqrt", [](Var x) { return sqrt(x); }, [](double x) { return std::sqrt(x); }, real(s34, 0.3, 2.5));
  unary("rsqrt", [](Var x) { return rsqrt(x); }, [](double x) { return 1 / std::sqrt(x); }, real(s34, 0.3, 2.5));
  unary("square", [](Var x) { return square(x); }, [](double x) { return x * x; }, real(s34));
  unary("sin", [](Var x) { return sin(x); }, [](double x) { return std::sin(x); }, real(s34, -3, 3));
  unary("cos", [](Var x) { return cos(x); }, [](double x) { return std::cos(x); }, real(s34, -3, 3));
  unary("tanh", [](Var x) { return tanh(x); }, [](double x) { return std::tanh(x); }, real(s34, -2, 2));
  unary("erf", [](Var x) { return erf(x); }, [](double x) { return std::erf(x); }, real(s34, -2, 2));
  unary("sigmoid", [](Var x) { return sigmoid(x); }, [](double x) { return 1 / (1 + std::exp(-x)); }, real(s34, -5, 5));
  unary("silu", [](Var x) { return silu(x); }, [](double x) { return x / (1 + std::exp(-x)); }, real(s34, -4, 4));
  unary("relu", [](Var x) { return relu(x); }, [](double x) { return x > 0 ? x : 0; }, nonzero(s34));
  unary("gelu", [](Var x) { return gelu(x); }, [](double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); },
        real(s34, -3, 3));
  unary("softplus", [](Var x) { return softplus(x); }, [](double x) { return std::log1p(std::exp(x)); },
        real(s34, -5, 5));
  unary("pow_scalar", [](Var x) { return pow(x, 3.0); }, [](double x) { return x * x * x; }, real(s34), "pow_scalar^3");
  unary("pow_scalar", [](Var x) { return pow(x, 2.5); }, [](double x) { return std::pow(x, 2.5); }, real(s34, 0.3, 2),
        "pow_scalar^2.5");
  unary("pow_scalar", [](Var x) { return pow(x, -1.5); }, [](double x) { return std::pow(x, -1.5); },
        real(s34, 0.4, 2), "pow_scalar^-1.5");
  {
    InputSpec s = real(s34);
    s.avoid = {-0.5, 0.7};
    unary("clamp", [](Var x) { return clamp(x, -0.5, 0.7); }, [](double x) { return std::min(std::max(x, -0.5), 0.7); },
          s);
  }
  // A large input takes the multithreaded paths.
  unary("exp", [](Var x) { return exp(x); }, [](double x) { return std::exp(x); }, real({257, 300}), "exp large",
        false);

  auto binary = [&](std::string op, std::function<Var(Var, Var)> f, std::function<double(double, double)> r,
                    InputSpec a, InputSpec b, std::string label, bool grad = true, DType int_dtype = DType::f64) {
    OpCase c;
    c.op = op;
    c.label = label;
    c.inputs = {a, b};
    c.build = [f](Graph&, const Ins& in) { return f(in[0], in[1]); };
    c.ref = [r](const Refs& x) { return mapn({&x[0], &x[1]}, [r](const std::vector<double>& v) { return r(v[0], v[1]); }); };
    c.grad = grad;
    c.int_dtype = int_dtype;
    if (is_int(int_dtype)) c.f32 = false;
    cs.push_back(c);
  };
  auto add_f = [](Var a, Var b) { return a + b; };
  auto add_r = [](double a, double b) { return a + b; };
  binary("add", add_f, add_r, real({2, 3, 4}), real({3, 1}), "add broadcast");
  binary("add", add_f, add_r, real({3, 4}), real({}), "add scalar");
  binary("add", add_f, add_r, real({3, 4}), real({3, 4}), "add i32", false, DType::i32);
  binary("add", add_f, add_r, real({129, 517}), real({517}), "add large", false);
  binary("sub", [](Var a, Var b) { return a - b; }, [](double a, double b) { return a - b; }, real({4}),
         real({2, 3, 4}), "sub broadcast");
  binary("mul", [](Var a, Var b) { return a * b; }, [](double a, double b) { return a * b; }, real({2, 1, 4}),
         real({3, 1}), "mul broadcast both");
  binary("mul", [](Var a, Var b) { return a * b; }, [](double a, double b) { return a * b; }, real({3, 4}),
         real({3, 4}), "mul i64", false, DType::i64);
  binary("div", [](Var a, Var b) { return a / b; }, [](double a, double b) { return a / b; }, real({2, 3}),
         real({3}, 0.5, 2), "div broadcast");
  binary("pow", [](Var a, Var b) { return pow(a, b); }, [](double a, double b) { return std::pow(a, b); },
         real({3, 4}, 0.4, 2), real({4}, -1.5, 1.5), "pow broadcast");
  binary("maximum", [](Var a, Var b) { return maximum(a, b); }, [](double a, double b) { return std::max(a, b); },
         distinct({3, 4}, 0.25), distinct({3, 4}, 0.75), "maximum");
  binary("minimum", [](Var a, Var b) { return minimum(a, b); }, [](double a, double b) { return std::min(a, b); },
         distinct({3, 4}, 0.25), distinct({3, 4}, 0.75), "minimum");
  binary("maximum", [](Var a, Var b) { return maximum(a, b); }, [](double a, double b) { return std::max(a, b); },
         real({3, 4}, -5, 5), real({4}, -5, 5), "maximum i32", false, DType::i32);
  auto cmp = [&](std::string op, std::function<Var(Var, Var)> f, std::function<bool(double, double)> r) {
    auto rr = [r](double a, double b) { return r(a, b) ? 1.0 : 0.0; };
    binary(op, f, rr, real({3, 4}, -3, 3), real({4}, -3, 3), op, false);
    binary(op, f, rr, real({3, 4}, -3, 3), real({4}, -3, 3), op + " i32", false, DType::i32);
  };
  cmp("lt", [](Var a, Var b) { return lt(a, b); }, [](double a, double b) { return a < b; });
  cmp("le", [](Var a, Var b) { return le(a, b); }, [](double a, double b) { return a <= b; });
  cmp("gt", [](Var a, Var b) { return gt(a, b); }, [](double a, double b) { return a > b; });
  cmp("ge", [](Var a, Var b) { return ge(a, b); }, [](double a, double b) { return a >= b; });
  cmp("eq", [](Var a, Var b) { return eq(a, b); }, [](double a, double b) { return a == b; });
  cmp("ne", [](Var a, Var b) { return ne(a, b); }, [](double a, double b) { return a != b; });
  {
    OpCase c;
    c.op = "where";
    c.label = "where broadcast";
    c.inputs = {mask({3, 4}), real({3, 4}), real({4})};
    c.build = [](Graph&, const Ins& in) { return where(in[0], in[1], in[2]); };
    c.ref = [](const Refs& x) {
      return mapn({&x[0], &x[1], &x[2]}, [](const std::vector<double>& v) { return v[0] != 0 ? v[1] : v[2]; });
    };
    cs.push_back(c);
  }

  auto reduction = [&](std::string op, std::string label, std::function<Var(Var)> f, std::function<Nd(const Nd&)> r,
                       InputSpec s, bool grad = true) {
    OpCase c;
    c.op = op;
    c.label = label;
    c.inputs = {s};
    c.build = [f](Graph&, const Ins& in) { return f(in[0]); };
    c.ref = [r](const Refs& x) { return r(x[0]); };
    c.grad = grad;
    cs.push_back(c);
  };
  using R = RefReduce;
  reduction("reduce_sum", "sum axis 1", [](Var x) { return sum(x, {1}); },
            [](const Nd& x) { return reduce_ref(x, {1}, false, R::sum); }, real({2, 3, 4}));
  reduction("reduce_sum", "sum all", [](Var x) { return sum(x); }, [](const Nd& x) { return reduce_ref(x, {}, false, R::sum); },
            real({2, 3, 4}));
  reduction("reduce_sum", "sum axes 0,2 keepdims", [](Var x) { return sum(x, {0, 2}, true); },
            [](const Nd& x) { return reduce_ref(x, {0, 2}, true, R::sum); }, real({2, 3, 4}));
  reduction("reduce_sum", "sum large axis 0", [](Var x) { return sum(x, {0}); },
            [](const Nd& x) { return reduce_ref(x, {0}, false, R::sum); }, real({300, 257}), false);
  reduction("reduce_mean", "mean axis 0", [](Var x) { return mean(x, {0}); },
            [](const Nd& x) { return reduce_ref(x, {0}, false, R::mean); }, real({2, 3, 4}));
  reduction("reduce_mean", "mean axes -1 keepdims", [](Var x) { return mean(x, {-1}, true); },
            [](const Nd& x) { return reduce_ref(x, {2}, true, R::mean); }, real({2, 3, 4}));
  reduction("reduce_max", "max axis -1", [](Var x) { return max(x, {-1}); },
            [](const Nd& x) { return reduce_ref(x, {2}, false, R::max); }, distinct({2, 3, 4}));
  reduction("reduce_max", "max axes 0,1 keepdims", [](Var x) { return max(x, {0, 1}, true); },
            [](const Nd& x) { return reduce_ref(x, {0, 1}, true, R::max); }, distinct({2, 3, 4}));
  reduction("logsumexp", "logsumexp axis 1", [](Var x) { return logsumexp(x, {1}); },
            [](const Nd& x) { return reduce_ref(x, {1}, false, R::logsumexp); }, real({2, 3, 4}, -3, 3));
  reduction("logsumexp", "logsumexp all", [](Var x) { return logsumexp(x); },
            [](const Nd& x) { return reduce_ref(x, {}, false, R::logsumexp); }, real({3, 4}, -3, 3));
  reduction("softmax", "softmax axis 1", [](Var x) { return softmax(x, 1); },
            [](const Nd& x) { return softmax_ref(x, 1); }, real({2, 3, 4}, -3, 3));
  reduction("softmax", "softmax axis -1", [](Var x) { return softmax(x); },
            [](const Nd& x) { return softmax_ref(x, 2); }, real({2, 3, 4}, -3, 3));

  auto mm = [&](std::string label, std::vector<int64_t> a, std::vector<int64_t> b, bool ta, bool tb, bool grad = true) {
    OpCase c;
    c.op = "matmul";
    c.label = label;
    c.inputs = {real(a), real(b)};
    c.build = [ta, tb](Graph&, const Ins& in) { return matmul(in[0], in[1], ta, tb); };
    c.ref = [ta, tb](const Refs& x) { return matmul_ref(x[0], x[1], ta, tb); };
    c.grad = grad;
    cs.push_back(c);
  };
  mm("matmul", {3, 4}, {4, 5}, false, false);
  mm("matmul trans_a", {4, 3}, {4, 5}, true, false);
  mm("matmul trans_b", {3, 4}, {5, 4}, false, true);
  mm("matmul trans_a trans_b", {4, 3}, {5, 4}, true, true);
  mm("matmul batched", {2, 3, 4}, {2, 4, 2}, false, false);
  mm("matmul broadcast batch", {2, 1, 3, 4}, {3, 4, 2}, false, false);
  mm("matmul shared weight", {2, 3, 4}, {4, 5}, false, false);
  mm("matmul large", {67, 129}, {129, 33}, false, false, false);

  auto layout = [&](std::string op, std::string label, std::vector<InputSpec> ins,
                    std::function<Var(Graph&, const Ins&)> f, std::function<Nd(const Refs&)> r, bool f32 = true) {
    OpCase c;
    c.op = op;
    c.label = label;
    c.inputs = std::move(ins);
    c.build = std::move(f);
    c.ref = std::move(r);
    c.f32 = f32;
    cs.push_back(c);
  };
  layout("reshape", "reshape", {real({2, 3, 4})}, [](Graph&, const Ins& in) { return reshape(in[0], {4, -1}); },
         [](const Refs& x) {
           Nd r = x[0];
           r.shape = {4, 6};
           return r;
         });
  layout("permute", "permute 2,0,1", {real({2, 3, 4})}, [](Graph&, const Ins& in) { return permute(in[0], {2, 0, 1}); },
         [](const Refs& x) {
           return index_map(x[0], {4, 2, 3}, [](const std::vector<int64_t>& o, std::vector<int64_t>& s) {
             s = {o[1], o[2], o[0]};
             return true;
           });
         });
  layout("slice", "slice axis 1", {real({2, 5, 3})}, [](Graph&, const Ins& in) { return slice(in[0], 1, 1, -1); },
         [](const Refs& x) {
           return index_map(x[0], {2, 3, 3}, [](const std::vector<int64_t>& o, std::vector<int64_t>& s) {
             s = {o[0], o[1] + 1, o[2]};
             return true;
           });
         });
  layout("slice", "slice all axes", {real({4, 5})}, [](Graph&, const Ins& in) { return slice(in[0], {1, 2}, {3, 5}); },
         [](const Refs& x) {
           return index_map(x[0], {2, 3}, [](const std::vector<int64_t>& o, std::vector<int64_t>& s) {
             s = {o[0] + 1, o[1] + 2};
             return true;
           });
         });
  layout("pad", "pad", {real({2, 3})}, [](Graph&, const Ins& in) { return pad(in[0], {1, 0}, {2, 1}, 0.5); },
         [](const Refs& x) {
           return index_map(
               x[0], {5, 4},
               [](const std::vector<int64_t>& o, std::vector<int64_t>& s) {
                 s = {o[0] - 1, o[1]};
                 return s[0] >= 0 && s[0] < 2 && s[1] < 3;
               },
               0.5);
         });
  layout("concat", "concat axis 1", {real({2, 1, 3}), real({2, 2, 3}), real({2, 3, 3})},
         [](Graph&, const Ins& in) { return concat({in[0], in[1], in[2]}, 1); },
         [](const Refs& x) {
           Nd r({2, 6, 3});
           for (int64_t i = 0; i < r.numel(); ++i) {
             auto o = r.unflat(i);
             int64_t j = o[1];
             int which = j < 1 ? 0 : (j < 3 ? 1 : 2);
             int64_t off = which == 0 ? 0 : (which == 1 ? 1 : 3);
             r.v[i] = x[which].at({o[0], j - off, o[2]});
           }
           return r;
         });
  layout("broadcast_to", "broadcast_to", {real({3, 1})},
         [](Graph&, const Ins& in) { return broadcast_to(in[0], Shape{2, 3, 4}); },
         [](const Refs& x) {
           Nd out({2, 3, 4});
           return mapn({&x[0], &out}, [](const std::vector<double>& v) { return v[0]; });
         });
  layout("gather", "gather axis 0 i32", {real({5, 3}), index({7}, 5)},
         [](Graph&, const Ins& in) { return gather(in[0], in[1], 0); },
         [](const Refs& x) {
           auto ids = ids_of(x[1]);
           return index_map(x[0], {7, 3}, [ids](const std::vector<int64_t>& o, std::vector<int64_t>& s) {
             s = {ids[o[0]], o[1]};
             return true;
           });
         });
  layout("gather", "gather axis 1 i64", {real({2, 4, 3}), index({5}, 4, false, true)},
         [](Graph&, const Ins& in) { return gather(in[0], in[1], 1); },
         [](const Refs& x) {
           auto ids = ids_of(x[1]);
           return index_map(x[0], {2, 5, 3}, [ids](const std::vector<int64_t>& o, std::vector<int64_t>& s) {
             s = {o[0], ids[o[1]], o[2]};
             return true;
           });
         });
  auto seg = [&](std::string op, std::string label, std::vector<int64_t> xs, int axis, int64_t nseg, bool sorted,
                 bool mean, bool i64) {
    layout(op, label, {real(xs), index({xs[axis]}, nseg - 1, sorted, i64)},  // the last segment stays empty
           [=](Graph&, const Ins& in) {
             return mean ? segment_mean(in[0], in[1], nseg, axis, sorted) : segment_sum(in[0], in[1], nseg, axis, sorted);
           },
           [=](const Refs& x) { return segment_ref(x[0], ids_of(x[1]), nseg, axis, mean); });
  };
  seg("segment_sum", "segment_sum unsorted", {7, 3}, 0, 5, false, false, false);
  seg("segment_sum", "segment_sum sorted i64", {7, 3}, 0, 5, true, false, true);
  seg("segment_sum", "segment_sum axis 1", {2, 6, 2}, 1, 4, false, false, false);
  seg("segment_mean", "segment_mean unsorted", {7, 3}, 0, 5, false, true, false);
  seg("segment_mean", "segment_mean sorted axis 1", {2, 6, 2}, 1, 4, true, true, true);
  add_system_cases(cs);  // the custom energy ops of models/systems
  add_fused_cases(cs);   // the fusion pass's op
  add_mlp_fused_cases(cs);  // the MLP pass's op
  add_egnn_message_cases(cs);  // the dense EGNN layer's fused message passing
  return cs;
}

}  // namespace

const std::vector<OpCase>& op_cases() {
  static const std::vector<OpCase> cases = build_cases();
  return cases;
}

}  // namespace orbit::testing
