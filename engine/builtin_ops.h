// The primitive op set. Built-in ops are registered in this order, so Op values are their OpIds;
// custom ops get ids after Op::kCount.
#pragma once
#include "engine/graph.h"

namespace orbit {

enum class Op : OpId {
  // unary elementwise
  neg, abs, sign, exp, log, log1p, sqrt, rsqrt, square, sin, cos, tanh, erf, sigmoid, silu, relu, gelu,
  softplus, pow_scalar, clamp,
  // binary / ternary elementwise with numpy broadcasting
  add, sub, mul, div, pow, maximum, minimum, lt, le, gt, ge, eq, ne, where,
  // reductions and products
  reduce_sum, reduce_mean, reduce_max, logsumexp, softmax, matmul,
  // layout, indexing, conversion, randomness
  reshape, permute, slice, pad, concat, broadcast_to, gather, segment_sum, segment_mean, cast,
  random_normal, random_uniform,
  kCount
};

constexpr OpId id(Op o) { return static_cast<OpId>(o); }
inline bool is(const Node& n, Op o) { return n.kind == NodeKind::op && n.op == id(o); }

class OpRegistry;
namespace detail {
// Registration of the built-in ops (called once by ops()).
void define_elementwise_ops(OpRegistry& r);
void define_reduce_ops(OpRegistry& r);
void define_layout_ops(OpRegistry& r);
void bind_cpu_elementwise(OpRegistry& r);
void bind_cpu_reduce(OpRegistry& r);
void bind_cpu_layout(OpRegistry& r);
// CUDA kernels (engine/ops/cuda_*.cu), in CUDA builds only.
void bind_cuda_elementwise(OpRegistry& r);
void bind_cuda_reduce(OpRegistry& r);
void bind_cuda_layout(OpRegistry& r);
}  // namespace detail

}  // namespace orbit
