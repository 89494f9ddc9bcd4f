// Harness cases of the fused elementwise op (engine/fused.h): register programs written out by hand,
// with broadcast inputs, an immediate, attribute-carrying instructions, comparisons and where, and a
// register reused by the instruction that reads it, programs closed by a sum or mean over middle /
// leading axes or by a segment sum / mean by sorted ids, and programs opened by gathers (i32 and i64
// indices). Gradchecks go through the op's VJP (the program and its reduction expanded into
// primitive ops), to second order.
#include <algorithm>
#include <cmath>

#include "engine/fused.h"
#include "tests/harness/op_harness.h"

namespace orbit::testing {

namespace {

struct I {
  int code, dst, a, b, c;
  double p0, p1;
};

FusedAttr program(const Shape& shape, DType dt, std::vector<I> code, int slots, int out) {
  FusedAttr f;
  f.shape = shape;
  f.dtype = dt;
  for (const I& i : code) {
    f.code.insert(f.code.end(), {i.code, i.dst, i.a, i.b, i.c});
    f.params.insert(f.params.end(), {i.p0, i.p1});
  }
  f.slots = slots;
  f.out_slot = out;
  f.ops = "hand-written";
  return f;
}

double silu(double x) { return x / (1 + std::exp(-x)); }

}  // namespace

void add_fused_cases(std::vector<OpCase>& cs) {
  using namespace scalar;
  {  // silu(x) * b + exp(x), b broadcast along the rows; the last add writes the register it reads
    OpCase c;
    c.op = "fused";
    c.label = "fused silu(x) * b + exp(x), b broadcast";
    InputSpec x, b;
    x.shape = {3, 4};
    b.shape = {4};
    c.inputs = {x, b};
    c.build = [](Graph&, const std::vector<Var>& in) {
      auto a = program({3, 4}, in[0].dtype(),
                       {{f_load, 0, 0, 0, 0, 0, 0}, {f_load, 1, 1, 0, 0, 0, 0}, {f_silu, 2, 0, 0, 0, 0, 0},
                        {f_mul, 1, 2, 1, 0, 0, 0}, {f_exp, 2, 0, 0, 0, 0, 0}, {f_add, 1, 1, 2, 0, 0, 0}},
                       3, 1);
      return fused_elementwise(in, a);
    };
    c.ref = [](const std::vector<Nd>& in) {
      Nd o({3, 4});
      for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 4; ++j) {
          const double x = in[0].v[i * 4 + j];
          o.v[i * 4 + j] = silu(x) * in[1].v[j] + std::exp(x);
        }
      return o;
    };
    cs.push_back(c);
  }
  {  // where(x > 0.5, clamp(x, -1, 1), z^3) with z [3, 1] broadcast over [2, 3, 4]
    OpCase c;
    c.op = "fused";
    c.label = "fused where(x > 0.5, clamp(x), z^3), immediate, z broadcast";
    InputSpec x, z;
    x.shape = {2, 3, 4};
    x.avoid = {0.5, -1.0, 1.0};
    z.shape = {3, 1};
    c.inputs = {x, z};
    c.build = [](Graph&, const std::vector<Var>& in) {
      auto a = program({2, 3, 4}, in[0].dtype(),
                       {{f_load, 0, 0, 0, 0, 0, 0}, {f_imm, 1, 0, 0, 0, 0.5, 0}, {f_gt, 1, 0, 1, 0, 0, 0},
                        {f_clamp, 2, 0, 0, 0, -1.0, 1.0}, {f_load, 0, 1, 0, 0, 0, 0},
                        {f_pow_scalar, 0, 0, 0, 0, 3.0, 0}, {f_where, 0, 1, 2, 0, 0, 0}},
                       3, 0);
      return fused_elementwise(in, a);
    };
    c.ref = [](const std::vector<Nd>& in) {
      Nd o({2, 3, 4});
      for (int b = 0; b < 2; ++b)
        for (int i = 0; i < 3; ++i)
          for (int j = 0; j < 4; ++j) {
            const int k = (b * 3 + i) * 4 + j;
            const double x = in[0].v[k];
            o.v[k] = x > 0.5 ? std::min(1.0, std::max(-1.0, x)) : std::pow(in[1].v[i], 3);
          }
      return o;
    };
    cs.push_back(c);
  }
  for (int64_t red : {FusedAttr::sum, FusedAttr::mean}) {
    // sum (mean) over the middle axis of silu(x) * b, x [2, 5, 3], b [3]: the kept dims are not the
    // leading block, so the kernels run the permuted program.
    OpCase c;
    c.op = "fused";
    c.label = red == FusedAttr::sum ? "fused sum_j silu(x) * b, closed by a middle-axis sum"
                                    : "fused mean over axes 0 and 2 of silu(x) * b, keepdims";
    InputSpec x, b;
    x.shape = {2, 5, 3};
    b.shape = {3};
    c.inputs = {x, b};
    c.build = [red](Graph&, const std::vector<Var>& in) {
      auto a = program({2, 5, 3}, in[0].dtype(),
                       {{f_load, 0, 0, 0, 0, 0, 0}, {f_silu, 0, 0, 0, 0, 0, 0}, {f_load, 1, 1, 0, 0, 0, 0},
                        {f_mul, 0, 0, 1, 0, 0, 0}},
                       2, 0);
      a.reduce = red;
      a.reduce_axes = red == FusedAttr::sum ? std::vector<int64_t>{1} : std::vector<int64_t>{0, 2};
      a.keepdims = red == FusedAttr::mean;
      return fused_elementwise(in, a);
    };
    c.ref = [red](const std::vector<Nd>& in) {
      Nd o(red == FusedAttr::sum ? std::vector<int64_t>{2, 3} : std::vector<int64_t>{1, 5, 1});
      for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 5; ++j)
          for (int k = 0; k < 3; ++k) {
            const double v = silu(in[0].v[(i * 5 + j) * 3 + k]) * in[1].v[k];
            if (red == FusedAttr::sum) o.v[i * 3 + k] += v;
            else o.v[j] += v / 6.0;
          }
      return o;
    };
    cs.push_back(c);
  }
  for (bool i64 : {false, true}) {
    // silu(gather(p, recv, 0) + gather(q, send, 0)) * w, summed over the hidden axis when i64: a group
    // opened by two gathers (sparse message passing) and, in the second case, closed by a sum.
    OpCase c;
    c.op = "fused";
    c.label = i64 ? "fused sum_h silu(p[recv] + q[send]) * w, i64 gathers" : "fused silu(p[recv] + q[send]) * w, i32 gathers";
    c.inputs = {InputSpec::uniform({5, 3}), InputSpec::uniform({4, 3}), InputSpec::uniform({6, 3}),
                InputSpec::index({6}, 5, false, i64), InputSpec::index({6}, 4, false, i64)};  // p, q, w, recv, send
    c.build = [i64](Graph&, const std::vector<Var>& in) {
      auto a = program({6, 3}, in[0].dtype(),
                       {{f_load, 0, 0, 0, 0, 0, 0}, {f_load, 1, 1, 0, 0, 0, 0}, {f_add, 0, 0, 1, 0, 0, 0},
                        {f_silu, 0, 0, 0, 0, 0, 0}, {f_load, 1, 2, 0, 0, 0, 0}, {f_mul, 0, 0, 1, 0, 0, 0}},
                       2, 0);
      a.gathers = {0, 3, 0, 1, 4, 0};  // input 0 through index input 3, input 1 through 4, along axis 0
      a.index_bits = {i64 ? 64 : 32, i64 ? 64 : 32};
      if (i64) {
        a.reduce = FusedAttr::sum;
        a.reduce_axes = {1};
      }
      return fused_elementwise(in, a);
    };
    c.ref = [i64](const std::vector<Nd>& in) {
      Nd o(i64 ? std::vector<int64_t>{6} : std::vector<int64_t>{6, 3});
      for (int e = 0; e < 6; ++e)
        for (int h = 0; h < 3; ++h) {
          const auto r = static_cast<int>(in[3].v[e]), s = static_cast<int>(in[4].v[e]);
          const double v = silu(in[0].v[r * 3 + h] + in[1].v[s * 3 + h]) * in[2].v[e * 3 + h];
          if (i64) o.v[e] += v;
          else o.v[e * 3 + h] = v;
        }
      return o;
    };
    cs.push_back(c);
  }
  for (bool mean : {false, true}) {
    // silu(x) * b over [6, 3] closed by a segment sum (mean) by sorted ids into 4 rows.
    OpCase c;
    c.op = "fused";
    c.label = mean ? "fused segment_mean of silu(x) * b, sorted i64 ids" : "fused segment_sum of silu(x) * b, sorted i32 ids";
    c.inputs = {InputSpec::uniform({6, 3}), InputSpec::uniform({3}), InputSpec::index({6}, 4, /*sorted=*/true, mean)};
    c.build = [mean](Graph&, const std::vector<Var>& in) {
      auto a = program({6, 3}, in[0].dtype(),
                       {{f_load, 0, 0, 0, 0, 0, 0}, {f_silu, 0, 0, 0, 0, 0, 0}, {f_load, 1, 1, 0, 0, 0, 0},
                        {f_mul, 0, 0, 1, 0, 0, 0}},
                       2, 0);
      a.reduce = mean ? FusedAttr::mean : FusedAttr::sum;
      a.index_bits = {mean ? 64 : 32};
      a.segment_ids = 2;
      a.segment_axis = 0;
      a.num_segments = 4;
      return fused_elementwise(in, a);
    };
    c.ref = [mean](const std::vector<Nd>& in) {
      Nd o({4, 3});
      std::vector<int> count(4, 0);
      for (int e = 0; e < 6; ++e) {
        const auto s = static_cast<int>(in[2].v[e]);
        ++count[s];
        for (int h = 0; h < 3; ++h) o.v[s * 3 + h] += silu(in[0].v[e * 3 + h]) * in[1].v[h];
      }
      if (mean)
        for (int s = 0; s < 4; ++s)
          for (int h = 0; h < 3; ++h) o.v[s * 3 + h] /= std::max(1, count[s]);
      return o;
    };
    cs.push_back(c);
  }
}

}  // namespace orbit::testing
