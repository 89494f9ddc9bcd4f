// Type inference and VJP rules of layout, indexing, conversion and random ops. Structural ops come
// in adjoint pairs: slice <-> pad, permute <-> inverse permute, broadcast <-> sum, gather <-> segment_sum.
#include "engine/ops/register.h"

namespace orbit::detail {

namespace {
OpDef def(int n, InferFn infer, VjpFn vjp) {
  OpDef d;
  d.num_inputs = n;
  d.infer = std::move(infer);
  d.vjp = std::move(vjp);
  return d;
}

void check_per_axis(const InferCtx& c, size_t n, const char* what) {
  if (n != static_cast<size_t>(c.shape(0).rank()))
    c.fail(what, " has ", n, " entries for a rank-", c.shape(0).rank(), " input");
}

TypeInfo random_infer(const InferCtx& c) {
  auto& a = c.attr<RandomAttr>();
  if (!is_float(a.dtype)) c.fail("random tensors are f32 or f64, got ", dtype_name(a.dtype));
  return {a.shape, a.dtype};
}
}  // namespace

void define_layout_ops(OpRegistry& r) {
  define(r, Op::reshape, "reshape", def(1, [](const InferCtx& c) {
           auto& s = c.attr<ShapeAttr>().shape;
           if (s.numel() != c.shape(0).numel())
             c.fail("cannot reshape ", c.shape(0).numel(), " elements into ", s.str());
           return TypeInfo{s, c.dtype(0)};
         }, [](VjpCtx& c) { return std::vector<Var>{reshape(c.grad, c.in(0).shape().vec())}; }));

  define(r, Op::permute, "permute", def(1, [](const InferCtx& c) {
           auto& p = c.attr<PermuteAttr>().perm;
           check_per_axis(c, p.size(), "permutation");
           std::vector<int64_t> d(p.size());
           std::vector<bool> seen(p.size(), false);
           for (size_t i = 0; i < p.size(); ++i) {
             if (p[i] < 0 || p[i] >= static_cast<int64_t>(p.size()) || seen[p[i]]) c.fail("not a permutation");
             seen[p[i]] = true;
             d[i] = c.shape(0)[static_cast<int>(p[i])];
           }
           return TypeInfo{Shape(d), c.dtype(0)};
         }, [](VjpCtx& c) {
           auto& p = c.attr<PermuteAttr>().perm;
           std::vector<int64_t> inv(p.size());
           for (size_t i = 0; i < p.size(); ++i) inv[p[i]] = static_cast<int64_t>(i);
           return std::vector<Var>{permute(c.grad, inv)};
         }));

  define(r, Op::slice, "slice", def(1, [](const InferCtx& c) {
           auto& a = c.attr<SliceAttr>();
           check_per_axis(c, a.starts.size(), "slice starts");
           check_per_axis(c, a.ends.size(), "slice ends");
           std::vector<int64_t> d;
           for (int i = 0; i < c.shape(0).rank(); ++i) {
             if (a.starts[i] < 0 || a.starts[i] > a.ends[i] || a.ends[i] > c.shape(0)[i])
               c.fail("range [", a.starts[i], ", ", a.ends[i], ") of axis ", i, " is outside [0, ", c.shape(0)[i], "]");
             d.push_back(a.ends[i] - a.starts[i]);
           }
           return TypeInfo{Shape(d), c.dtype(0)};
         }, [](VjpCtx& c) {
           auto& a = c.attr<SliceAttr>();
           Shape s = c.in(0).shape();
           std::vector<int64_t> hi;
           for (int i = 0; i < s.rank(); ++i) hi.push_back(s[i] - a.ends[i]);
           return std::vector<Var>{pad(c.grad, a.starts, hi, 0.0)};
         }));

  define(r, Op::pad, "pad", def(1, [](const InferCtx& c) {
           auto& a = c.attr<PadAttr>();
           check_per_axis(c, a.lo.size(), "pad lo");
           check_per_axis(c, a.hi.size(), "pad hi");
           std::vector<int64_t> d;
           for (int i = 0; i < c.shape(0).rank(); ++i) {
             if (a.lo[i] < 0 || a.hi[i] < 0) c.fail("negative padding on axis ", i);
             d.push_back(c.shape(0)[i] + a.lo[i] + a.hi[i]);
           }
           return TypeInfo{Shape(d), c.dtype(0)};
         }, [](VjpCtx& c) {
           auto& a = c.attr<PadAttr>();
           Shape s = c.in(0).shape();
           std::vector<int64_t> e;
           for (int i = 0; i < s.rank(); ++i) e.push_back(a.lo[i] + s[i]);
           return std::vector<Var>{slice(c.grad, a.lo, e)};
         }));

  define(r, Op::concat, "concat", def(-1, [](const InferCtx& c) {
           int64_t ax = c.attr<AxisAttr>().axis;
           auto d = c.shape(0).vec();
           if (ax < 0 || ax >= static_cast<int64_t>(d.size())) c.fail("axis ", ax, " out of range");
           for (int i = 1; i < c.num_inputs(); ++i) {
             if (c.dtype(i) != c.dtype(0)) c.fail("inputs have different dtypes");
             if (c.shape(i).rank() != c.shape(0).rank()) c.fail("inputs have different ranks");
             for (int k = 0; k < c.shape(0).rank(); ++k)
               if (k != ax && c.shape(i)[k] != c.shape(0)[k]) c.fail("input ", i, " differs on axis ", k);
             d[ax] += c.shape(i)[static_cast<int>(ax)];
           }
           return TypeInfo{Shape(d), c.dtype(0)};
         }, [](VjpCtx& c) {
           int64_t ax = c.attr<AxisAttr>().axis, off = 0;
           std::vector<Var> gs;
           for (size_t i = 0; i < c.n().inputs.size(); ++i) {
             int64_t len = c.in(static_cast<int>(i)).shape()[static_cast<int>(ax)];
             gs.push_back(slice(c.grad, ax, off, off + len));
             off += len;
           }
           return gs;
         }));

  define(r, Op::broadcast_to, "broadcast_to", def(1, [](const InferCtx& c) {
           auto& s = c.attr<ShapeAttr>().shape;
           Shape out;
           if (!broadcast_shapes(c.shape(0), s, out) || out != s) c.fail("cannot broadcast to ", s.str());
           return TypeInfo{s, c.dtype(0)};
         }, [](VjpCtx& c) { return std::vector<Var>{sum_to_shape(c.grad, c.in(0).shape())}; }));

  define(r, Op::gather, "gather", def(2, [](const InferCtx& c) {
           require_index(c, 1);
           int64_t ax = c.attr<AxisAttr>().axis;
           auto d = c.shape(0).vec();
           if (ax < 0 || ax >= static_cast<int64_t>(d.size())) c.fail("axis ", ax, " out of range");
           d[ax] = c.shape(1)[0];
           return TypeInfo{Shape(d), c.dtype(0)};
         }, [](VjpCtx& c) {
           int64_t ax = c.attr<AxisAttr>().axis;
           int64_t n = c.in(0).shape()[static_cast<int>(ax)];
           return std::vector<Var>{segment_sum(c.grad, c.in(1), n, ax, false), Var()};
         }));

  auto segment_infer = [](const InferCtx& c) {
    require_index(c, 1);
    auto& a = c.attr<SegmentAttr>();
    auto d = c.shape(0).vec();
    if (a.axis < 0 || a.axis >= static_cast<int64_t>(d.size())) c.fail("axis ", a.axis, " out of range");
    if (c.shape(1)[0] != d[a.axis])
      c.fail(c.shape(1)[0], " segment ids for ", d[a.axis], " entries along axis ", a.axis);
    if (a.num_segments < 0) c.fail("negative number of segments");
    d[a.axis] = a.num_segments;
    return TypeInfo{Shape(d), c.dtype(0)};
  };
  define(r, Op::segment_sum, "segment_sum", def(2, segment_infer, [](VjpCtx& c) {
           return std::vector<Var>{gather(c.grad, c.in(1), c.attr<SegmentAttr>().axis), Var()};
         }));
  define(r, Op::segment_mean, "segment_mean", def(2, [segment_infer](const InferCtx& c) {
           require_float(c, 0);
           return segment_infer(c);
         }, [](VjpCtx& c) {
           auto& a = c.attr<SegmentAttr>();
           Var ids = c.in(1);
           Var ones = full(c.g, 1.0, ids.shape(), c.grad.dtype());
           Var count = segment_sum(ones, ids, a.num_segments, 0, a.sorted);
           Var inv = 1.0 / maximum(count, c.g.scalar(1.0, count.dtype()));
           std::vector<int64_t> bshape(c.grad.rank(), 1);
           bshape[a.axis] = a.num_segments;
           return std::vector<Var>{gather(c.grad * reshape(inv, bshape), ids, a.axis), Var()};
         }));

  define(r, Op::cast, "cast", def(1, [](const InferCtx& c) { return TypeInfo{c.shape(0), c.attr<CastAttr>().to}; },
                                  [](VjpCtx& c) {
                                    DType from = c.in(0).dtype();
                                    if (!is_float(from) || !is_float(c.grad.dtype())) return std::vector<Var>{Var()};
                                    return std::vector<Var>{cast(c.grad, from)};
                                  }));

  OpDef rn = def(0, random_infer, [](VjpCtx&) { return std::vector<Var>{}; });
  rn.random = true;
  define(r, Op::random_normal, "random_normal", rn);
  define(r, Op::random_uniform, "random_uniform", rn);
}

}  // namespace orbit::detail
