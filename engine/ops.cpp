#include "engine/ops.h"

#include <algorithm>

#include "engine/builtin_ops.h"
#include "engine/op_registry.h"

namespace orbit {

namespace {
Graph& graph_of(Var v, const char* fn) {
  ORBIT_CHECK(v.valid(), fn, ": called with an empty Var");
  return *v.graph();
}
Var unary(Op op, Var x) { return graph_of(x, "unary op").add_op(id(op), {x}); }
Var binary(Op op, Var a, Var b) { return graph_of(a, "binary op").add_op(id(op), {a, b}); }
Var scalar_like(Var x, double v) { return graph_of(x, "scalar").scalar(v, x.dtype()); }

std::vector<int64_t> normalize_axes(std::vector<int64_t> axes, int rank, const char* what) {
  if (axes.empty())
    for (int i = 0; i < rank; ++i) axes.push_back(i);
  for (auto& a : axes) a = normalize_axis(a, rank, what);
  std::sort(axes.begin(), axes.end());
  ORBIT_CHECK(std::adjacent_find(axes.begin(), axes.end()) == axes.end(), what, ": repeated axis");
  return axes;
}

Var reduce(Op op, const char* what, Var x, std::vector<int64_t> axes, bool keepdims) {
  Graph& g = graph_of(x, what);
  auto a = std::make_shared<ReduceAttr>();
  a->axes = normalize_axes(std::move(axes), x.rank(), what);
  a->keepdims = keepdims;
  return g.add_op(id(op), {x}, a);
}
}  // namespace

Var neg(Var x) { return unary(Op::neg, x); }
Var abs(Var x) { return unary(Op::abs, x); }
Var sign(Var x) { return unary(Op::sign, x); }
Var exp(Var x) { return unary(Op::exp, x); }
Var log(Var x) { return unary(Op::log, x); }
Var log1p(Var x) { return unary(Op::log1p, x); }
Var sqrt(Var x) { return unary(Op::sqrt, x); }
Var rsqrt(Var x) { return unary(Op::rsqrt, x); }
Var square(Var x) { return unary(Op::square, x); }
Var sin(Var x) { return unary(Op::sin, x); }
Var cos(Var x) { return unary(Op::cos, x); }
Var tanh(Var x) { return unary(Op::tanh, x); }
Var erf(Var x) { return unary(Op::erf, x); }
Var sigmoid(Var x) { return unary(Op::sigmoid, x); }
Var silu(Var x) { return unary(Op::silu, x); }
Var relu(Var x) { return unary(Op::relu, x); }
Var gelu(Var x) { return unary(Op::gelu, x); }
Var softplus(Var x) { return unary(Op::softplus, x); }

Var pow(Var x, double exponent) {
  auto a = std::make_shared<PowScalarAttr>();
  a->exponent = exponent;
  return graph_of(x, "pow").add_op(id(Op::pow_scalar), {x}, a);
}

Var clamp(Var x, double lo, double hi) {
  ORBIT_CHECK(lo <= hi, "clamp: lo ", lo, " > hi ", hi, " for '", x.name(), "'");
  auto a = std::make_shared<ClampAttr>();
  a->lo = lo;
  a->hi = hi;
  return graph_of(x, "clamp").add_op(id(Op::clamp), {x}, a);
}

Var add(Var a, Var b) { return binary(Op::add, a, b); }
Var sub(Var a, Var b) { return binary(Op::sub, a, b); }
Var mul(Var a, Var b) { return binary(Op::mul, a, b); }
Var div(Var a, Var b) { return binary(Op::div, a, b); }
Var pow(Var a, Var b) { return binary(Op::pow, a, b); }
Var maximum(Var a, Var b) { return binary(Op::maximum, a, b); }
Var minimum(Var a, Var b) { return binary(Op::minimum, a, b); }
Var lt(Var a, Var b) { return binary(Op::lt, a, b); }
Var le(Var a, Var b) { return binary(Op::le, a, b); }
Var gt(Var a, Var b) { return binary(Op::gt, a, b); }
Var ge(Var a, Var b) { return binary(Op::ge, a, b); }
Var eq(Var a, Var b) { return binary(Op::eq, a, b); }
Var ne(Var a, Var b) { return binary(Op::ne, a, b); }
Var where(Var c, Var a, Var b) { return graph_of(c, "where").add_op(id(Op::where), {c, a, b}); }

Var operator-(Var x) { return neg(x); }
Var operator+(Var a, Var b) { return add(a, b); }
Var operator-(Var a, Var b) { return sub(a, b); }
Var operator*(Var a, Var b) { return mul(a, b); }
Var operator/(Var a, Var b) { return div(a, b); }
Var operator+(Var a, double b) { return add(a, scalar_like(a, b)); }
Var operator-(Var a, double b) { return sub(a, scalar_like(a, b)); }
Var operator*(Var a, double b) { return mul(a, scalar_like(a, b)); }
Var operator/(Var a, double b) { return div(a, scalar_like(a, b)); }
Var operator+(double a, Var b) { return add(scalar_like(b, a), b); }
Var operator-(double a, Var b) { return sub(scalar_like(b, a), b); }
Var operator*(double a, Var b) { return mul(scalar_like(b, a), b); }
Var operator/(double a, Var b) { return div(scalar_like(b, a), b); }

Var sum(Var x, std::vector<int64_t> axes, bool keepdims) { return reduce(Op::reduce_sum, "sum", x, axes, keepdims); }
Var mean(Var x, std::vector<int64_t> axes, bool keepdims) { return reduce(Op::reduce_mean, "mean", x, axes, keepdims); }
Var max(Var x, std::vector<int64_t> axes, bool keepdims) { return reduce(Op::reduce_max, "max", x, axes, keepdims); }
Var logsumexp(Var x, std::vector<int64_t> axes, bool keepdims) {
  return reduce(Op::logsumexp, "logsumexp", x, axes, keepdims);
}

Var softmax(Var x, int64_t axis) {
  auto a = std::make_shared<AxisAttr>();
  a->axis = normalize_axis(axis, x.rank(), "softmax");
  return graph_of(x, "softmax").add_op(id(Op::softmax), {x}, a);
}

Var matmul(Var a, Var b, bool trans_a, bool trans_b) {
  auto at = std::make_shared<MatmulAttr>();
  at->trans_a = trans_a;
  at->trans_b = trans_b;
  return graph_of(a, "matmul").add_op(id(Op::matmul), {a, b}, at);
}

Var reshape(Var x, std::vector<int64_t> shape) {
  int64_t known = 1;
  int infer = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      ORBIT_CHECK(infer < 0, "reshape of '", x.name(), "': more than one -1 in the new shape");
      infer = static_cast<int>(i);
    } else {
      ORBIT_CHECK(shape[i] >= 0, "reshape of '", x.name(), "': negative dimension ", shape[i]);
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    ORBIT_CHECK(known > 0 && x.shape().numel() % known == 0, "reshape of '", x.name(), "' ", x.shape().str(),
                ": cannot infer the -1 dimension");
    shape[infer] = x.shape().numel() / known;
  }
  auto a = std::make_shared<ShapeAttr>();
  a->shape = Shape(shape);
  return graph_of(x, "reshape").add_op(id(Op::reshape), {x}, a);
}

Var permute(Var x, std::vector<int64_t> perm) {
  auto a = std::make_shared<PermuteAttr>();
  a->perm = std::move(perm);
  return graph_of(x, "permute").add_op(id(Op::permute), {x}, a);
}

Var transpose(Var x, int64_t a0, int64_t a1) {
  int r = x.rank();
  std::vector<int64_t> perm(r);
  for (int i = 0; i < r; ++i) perm[i] = i;
  std::swap(perm[normalize_axis(a0, r, "transpose")], perm[normalize_axis(a1, r, "transpose")]);
  return permute(x, perm);
}

Var slice(Var x, std::vector<int64_t> starts, std::vector<int64_t> ends) {
  auto a = std::make_shared<SliceAttr>();
  a->starts = std::move(starts);
  a->ends = std::move(ends);
  return graph_of(x, "slice").add_op(id(Op::slice), {x}, a);
}

Var slice(Var x, int64_t axis, int64_t start, int64_t end) {
  int ax = normalize_axis(axis, x.rank(), "slice");
  int64_t d = x.shape()[ax];
  if (start < 0) start += d;
  if (end < 0) end += d;
  std::vector<int64_t> s(x.rank(), 0), e = x.shape().vec();
  s[ax] = start;
  e[ax] = end;
  return slice(x, s, e);
}

Var pad(Var x, std::vector<int64_t> lo, std::vector<int64_t> hi, double value) {
  auto a = std::make_shared<PadAttr>();
  a->lo = std::move(lo);
  a->hi = std::move(hi);
  a->value = value;
  return graph_of(x, "pad").add_op(id(Op::pad), {x}, a);
}

Var concat(const std::vector<Var>& xs, int64_t axis) {
  ORBIT_CHECK(!xs.empty(), "concat of no tensors");
  auto a = std::make_shared<AxisAttr>();
  a->axis = normalize_axis(axis, xs[0].rank(), "concat");
  return graph_of(xs[0], "concat").add_op(id(Op::concat), xs, a);
}

Var broadcast_to(Var x, const Shape& shape) {
  auto a = std::make_shared<ShapeAttr>();
  a->shape = shape;
  return graph_of(x, "broadcast_to").add_op(id(Op::broadcast_to), {x}, a);
}

Var gather(Var x, Var idx, int64_t axis) {
  auto a = std::make_shared<AxisAttr>();
  a->axis = normalize_axis(axis, x.rank(), "gather");
  return graph_of(x, "gather").add_op(id(Op::gather), {x, idx}, a);
}

namespace {
Var segment(Op op, Var x, Var ids, int64_t n, int64_t axis, bool sorted) {
  auto a = std::make_shared<SegmentAttr>();
  a->num_segments = n;
  a->axis = normalize_axis(axis, x.rank(), "segment reduction");
  a->sorted = sorted;
  return graph_of(x, "segment reduction").add_op(id(op), {x, ids}, a);
}
}  // namespace

Var segment_sum(Var x, Var ids, int64_t n, int64_t axis, bool sorted) {
  return segment(Op::segment_sum, x, ids, n, axis, sorted);
}
Var segment_mean(Var x, Var ids, int64_t n, int64_t axis, bool sorted) {
  return segment(Op::segment_mean, x, ids, n, axis, sorted);
}

Var cast(Var x, DType to) {
  auto a = std::make_shared<CastAttr>();
  a->to = to;
  return graph_of(x, "cast").add_op(id(Op::cast), {x}, a);
}

Var col(Var x, int64_t j) {
  ORBIT_CHECK(x.rank() == 2, "col: '", x.name(), "' has shape ", x.shape().str(), ", expected 2-D");
  return slice(x, 1, j, j + 1);
}

namespace {
Var random(Op op, Graph& g, const Shape& shape, uint64_t seed, DType dtype) {
  auto a = std::make_shared<RandomAttr>();
  a->shape = shape;
  a->dtype = dtype;
  a->seed = seed;
  uint64_t stream = 0;  // each random node of a graph draws its own stream
  for (int i = 0; i < g.size(); ++i)
    if (is(g.node(i), Op::random_normal) || is(g.node(i), Op::random_uniform)) ++stream;
  a->stream = stream;
  return g.add_op(id(op), {}, a);
}
}  // namespace

Var random_normal(Graph& g, const Shape& shape, uint64_t seed, DType dtype) {
  return random(Op::random_normal, g, shape, seed, dtype);
}
Var random_uniform(Graph& g, const Shape& shape, uint64_t seed, DType dtype) {
  return random(Op::random_uniform, g, shape, seed, dtype);
}

Var full(Graph& g, double value, const Shape& shape, DType dtype) {
  Var s = g.scalar(value, dtype);
  return shape.rank() == 0 ? s : broadcast_to(s, shape);
}
Var zeros_like(Var x) { return full(*x.graph(), 0.0, x.shape(), x.dtype()); }
Var ones_like(Var x) { return full(*x.graph(), 1.0, x.shape(), x.dtype()); }

Var sum_to_shape(Var x, const Shape& shape) {
  if (x.shape() == shape) return x;
  int r = x.rank(), lead = r - shape.rank();
  ORBIT_CHECK(lead >= 0, "sum_to_shape: cannot reduce ", x.shape().str(), " to ", shape.str());
  std::vector<int64_t> axes;
  for (int i = 0; i < r; ++i) {
    if (i < lead) axes.push_back(i);
    else if (shape[i - lead] == 1 && x.shape()[i] != 1) axes.push_back(i);
    else
      ORBIT_CHECK(shape[i - lead] == x.shape()[i], "sum_to_shape: cannot reduce ", x.shape().str(), " to ",
                  shape.str());
  }
  Var s = axes.empty() ? x : sum(x, axes, true);
  return s.shape() == shape ? s : reshape(s, shape.vec());
}

}  // namespace orbit
