// Type inference and VJP rules of reductions, softmax and matrix products.
#include "engine/ops/register.h"

namespace orbit::detail {

namespace {

Shape reduced_shape(const Shape& in, const ReduceAttr& a, bool keepdims) {
  std::vector<int64_t> d;
  size_t k = 0;
  for (int i = 0; i < in.rank(); ++i) {
    bool red = k < a.axes.size() && a.axes[k] == i;
    if (red) ++k;
    if (!red) d.push_back(in[i]);
    else if (keepdims) d.push_back(1);
  }
  return Shape(d);
}

OpDef reduce_def(bool float_only, VjpFn vjp) {
  OpDef d;
  d.num_inputs = 1;
  d.infer = [float_only](const InferCtx& c) {
    if (float_only) require_float(c, 0);
    auto& a = c.attr<ReduceAttr>();
    for (auto ax : a.axes)
      if (ax < 0 || ax >= c.shape(0).rank()) c.fail("axis ", ax, " out of range");
    return TypeInfo{reduced_shape(c.shape(0), a, a.keepdims), c.dtype(0)};
  };
  d.vjp = std::move(vjp);
  return d;
}

// A reduced value (the gradient or the output) reshaped to keepdims form and broadcast over x.
Var expand_back(VjpCtx& c, Var v) {
  auto& a = c.attr<ReduceAttr>();
  Shape x = c.in(0).shape();
  Shape kept = reduced_shape(x, a, true);
  if (v.shape() != kept) v = reshape(v, kept.vec());
  return kept == x ? v : broadcast_to(v, x);
}

int64_t reduced_count(VjpCtx& c) {
  int64_t n = 1;
  for (auto ax : c.attr<ReduceAttr>().axes) n *= c.in(0).shape()[static_cast<int>(ax)];
  return n;
}

}  // namespace

void define_reduce_ops(OpRegistry& r) {
  define(r, Op::reduce_sum, "reduce_sum",
         reduce_def(false, [](VjpCtx& c) { return std::vector<Var>{expand_back(c, c.grad)}; }));
  define(r, Op::reduce_mean, "reduce_mean", reduce_def(true, [](VjpCtx& c) {
           int64_t n = reduced_count(c);
           return std::vector<Var>{expand_back(c, c.grad) * (n > 0 ? 1.0 / static_cast<double>(n) : 0.0)};
         }));
  define(r, Op::reduce_max, "reduce_max", reduce_def(false, [](VjpCtx& c) {
           // Ties share the gradient equally.
           auto& a = c.attr<ReduceAttr>();
           Var x = c.in(0);
           Var mask = eq(x, expand_back(c, c.out()));
           Var count = expand_back(c, sum(mask, a.axes, true));
           return std::vector<Var>{expand_back(c, c.grad) * mask / count};
         }));
  define(r, Op::logsumexp, "logsumexp", reduce_def(true, [](VjpCtx& c) {
           Var x = c.in(0);
           return std::vector<Var>{expand_back(c, c.grad) * exp(x - expand_back(c, c.out()))};
         }));

  OpDef sm;
  sm.num_inputs = 1;
  sm.infer = [](const InferCtx& c) {
    require_float(c, 0);
    auto ax = c.attr<AxisAttr>().axis;
    if (ax < 0 || ax >= c.shape(0).rank()) c.fail("axis ", ax, " out of range");
    return TypeInfo{c.shape(0), c.dtype(0)};
  };
  sm.vjp = [](VjpCtx& c) {
    Var y = c.out();
    int64_t ax = c.attr<AxisAttr>().axis;
    Var s = sum(c.grad * y, {ax}, true);
    return std::vector<Var>{y * (c.grad - broadcast_to(s, y.shape()))};
  };
  define(r, Op::softmax, "softmax", sm);

  OpDef mm;
  mm.num_inputs = 2;
  mm.infer = [](const InferCtx& c) {
    require_float(c, 0);
    require_float(c, 1);
    if (c.dtype(0) != c.dtype(1)) c.fail("operands have different dtypes");
    const Shape &a = c.shape(0), &b = c.shape(1);
    if (a.rank() < 2 || b.rank() < 2) c.fail("both operands need at least 2 dimensions");
    auto& at = c.attr<MatmulAttr>();
    int64_t m = at.trans_a ? a[a.rank() - 1] : a[a.rank() - 2];
    int64_t ka = at.trans_a ? a[a.rank() - 2] : a[a.rank() - 1];
    int64_t kb = at.trans_b ? b[b.rank() - 1] : b[b.rank() - 2];
    int64_t n = at.trans_b ? b[b.rank() - 2] : b[b.rank() - 1];
    if (ka != kb) c.fail("inner dimensions differ (", ka, " vs ", kb, ")");
    Shape ba(std::vector<int64_t>(a.begin(), a.end() - 2)), bb(std::vector<int64_t>(b.begin(), b.end() - 2)), bo;
    if (!broadcast_shapes(ba, bb, bo)) c.fail("batch dimensions do not broadcast");
    auto d = bo.vec();
    d.push_back(m);
    d.push_back(n);
    if (d.size() > Shape::kMaxRank) c.fail("result has more than ", Shape::kMaxRank, " dimensions");
    return TypeInfo{Shape(d), c.dtype(0)};
  };
  mm.vjp = [](VjpCtx& c) {
    auto& at = c.attr<MatmulAttr>();
    Var a = c.in(0), b = c.in(1), g = c.grad;
    Var da = at.trans_a ? matmul(b, g, at.trans_b, true) : matmul(g, b, false, !at.trans_b);
    Var db = at.trans_b ? matmul(g, a, true, at.trans_a) : matmul(a, g, !at.trans_a, false);
    return std::vector<Var>{sum_to_shape(da, a.shape()), sum_to_shape(db, b.shape())};
  };
  define(r, Op::matmul, "matmul", mm);
}

}  // namespace orbit::detail
