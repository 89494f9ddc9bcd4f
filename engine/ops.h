// The builder API: one function per primitive op, plus operators and small composites, so that a
// model reads like its equations. Every function checks shapes and dtypes when the node is built.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/graph.h"

namespace orbit {

// ---- unary elementwise ----
Var neg(Var x);
Var abs(Var x);
Var sign(Var x);
Var exp(Var x);
Var log(Var x);
Var log1p(Var x);
Var sqrt(Var x);
Var rsqrt(Var x);
Var square(Var x);
Var sin(Var x);
Var cos(Var x);
Var tanh(Var x);
Var erf(Var x);
Var sigmoid(Var x);
Var silu(Var x);
Var relu(Var x);
Var gelu(Var x);
Var softplus(Var x);
Var pow(Var x, double exponent);
Var clamp(Var x, double lo, double hi);

// ---- binary elementwise (numpy broadcasting; both operands of one dtype) ----
Var add(Var a, Var b);
Var sub(Var a, Var b);
Var mul(Var a, Var b);
Var div(Var a, Var b);
Var pow(Var a, Var b);
Var maximum(Var a, Var b);
Var minimum(Var a, Var b);
Var lt(Var a, Var b);  // comparisons give 1 or 0 in the operands' dtype
Var le(Var a, Var b);
Var gt(Var a, Var b);
Var ge(Var a, Var b);
Var eq(Var a, Var b);
Var ne(Var a, Var b);
Var where(Var cond, Var a, Var b);  // a where cond != 0

Var operator-(Var x);
Var operator+(Var a, Var b);
Var operator-(Var a, Var b);
Var operator*(Var a, Var b);
Var operator/(Var a, Var b);
Var operator+(Var a, double b);
Var operator-(Var a, double b);
Var operator*(Var a, double b);
Var operator/(Var a, double b);
Var operator+(double a, Var b);
Var operator-(double a, Var b);
Var operator*(double a, Var b);
Var operator/(double a, Var b);

// ---- reductions (empty axes: all axes) and products ----
Var sum(Var x, std::vector<int64_t> axes = {}, bool keepdims = false);
Var mean(Var x, std::vector<int64_t> axes = {}, bool keepdims = false);
Var max(Var x, std::vector<int64_t> axes = {}, bool keepdims = false);
Var logsumexp(Var x, std::vector<int64_t> axes = {}, bool keepdims = false);
Var softmax(Var x, int64_t axis = -1);
// [..., m, k] x [..., k, n] -> [..., m, n] with broadcast batch dims; trans_* transpose the last two.
Var matmul(Var a, Var b, bool trans_a = false, bool trans_b = false);

// ---- layout and indexing ----
Var reshape(Var x, std::vector<int64_t> shape);  // one entry may be -1
Var permute(Var x, std::vector<int64_t> perm);
Var transpose(Var x, int64_t axis0 = -2, int64_t axis1 = -1);
Var slice(Var x, int64_t axis, int64_t start, int64_t end);  // negative indices count from the end
Var slice(Var x, std::vector<int64_t> starts, std::vector<int64_t> ends);
Var pad(Var x, std::vector<int64_t> lo, std::vector<int64_t> hi, double value = 0);
Var concat(const std::vector<Var>& xs, int64_t axis = 0);
Var broadcast_to(Var x, const Shape& shape);
// out = x indexed by idx (a 1-D i32/i64 tensor) along axis; out.shape[axis] = len(idx).
Var gather(Var x, Var idx, int64_t axis = 0);
// out[..., s, ...] = sum of x[..., e, ...] over ids[e] == s along axis; out.shape[axis] = num_segments.
Var segment_sum(Var x, Var ids, int64_t num_segments, int64_t axis = 0, bool sorted = false);
Var segment_mean(Var x, Var ids, int64_t num_segments, int64_t axis = 0, bool sorted = false);
Var cast(Var x, DType to);
Var col(Var x, int64_t j);  // x[:, j] of a 2-D x, shape [n, 1]

// ---- randomness: fresh values on every run, identical on every device for one seed ----
Var random_normal(Graph& g, const Shape& shape, uint64_t seed, DType dtype = DType::f32);
Var random_uniform(Graph& g, const Shape& shape, uint64_t seed, DType dtype = DType::f32);

// ---- constants ----
Var full(Graph& g, double value, const Shape& shape, DType dtype = DType::f32);
Var zeros_like(Var x);
Var ones_like(Var x);
// Sums a broadcast result back to `shape` (the adjoint of broadcast_to); a no-op when equal.
Var sum_to_shape(Var x, const Shape& shape);

}  // namespace orbit
