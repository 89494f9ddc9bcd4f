// CUDA kernels of the elementwise ops (kernels/cuda/elementwise.cu over the shared scalar functors).
#include "engine/ops/cuda_common.cuh"

namespace orbit::detail {

void bind_cuda_elementwise(OpRegistry& r) {
  using namespace cuda_ops;
  using U = cuda::UnaryOp;
  const std::pair<Op, U> unary_ops[] = {
      {Op::neg, U::neg},         {Op::abs, U::abs},         {Op::sign, U::sign},       {Op::exp, U::exp},
      {Op::log, U::log},         {Op::log1p, U::log1p},     {Op::sqrt, U::sqrt},       {Op::rsqrt, U::rsqrt},
      {Op::square, U::square},   {Op::sin, U::sin},         {Op::cos, U::cos},         {Op::tanh, U::tanh},
      {Op::erf, U::erf},         {Op::sigmoid, U::sigmoid}, {Op::silu, U::silu},       {Op::relu, U::relu},
      {Op::gelu, U::gelu},       {Op::softplus, U::softplus}};
  for (auto [op, u] : unary_ops)
    bind(r, op, [u](KernelCtx& k) {
      cuda::unary(u, elem(k.out.dtype()), k.in[0].raw(), k.out.raw(), k.out.numel(), 0, 0, stream(k));
    });
  bind(r, Op::pow_scalar, [](KernelCtx& k) {
    double p = k.node.attr_as<PowScalarAttr>().exponent;
    cuda::unary(U::pow_scalar, elem(k.out.dtype()), k.in[0].raw(), k.out.raw(), k.out.numel(), p, 0, stream(k));
  });
  bind(r, Op::clamp, [](KernelCtx& k) {
    auto& a = k.node.attr_as<ClampAttr>();
    cuda::unary(U::clamp, elem(k.out.dtype()), k.in[0].raw(), k.out.raw(), k.out.numel(), a.lo, a.hi, stream(k));
  });

  using B = cuda::BinaryOp;
  const std::pair<Op, B> binary_ops[] = {
      {Op::add, B::add}, {Op::sub, B::sub},         {Op::mul, B::mul},         {Op::div, B::div}, {Op::pow, B::pow},
      {Op::maximum, B::maximum}, {Op::minimum, B::minimum}, {Op::lt, B::lt},   {Op::le, B::le},   {Op::gt, B::gt},
      {Op::ge, B::ge},   {Op::eq, B::eq},           {Op::ne, B::ne}};
  for (auto [op, b] : binary_ops)
    bind(r, op, [b](KernelCtx& k) {
      auto it = iter(broadcast_plan(k.out.shape(), {k.in[0].shape(), k.in[1].shape()}));
      cuda::binary(b, elem(k.out.dtype()), k.in[0].raw(), k.in[1].raw(), k.out.raw(), it, stream(k));
    });
  bind(r, Op::where, [](KernelCtx& k) {
    auto it = iter(broadcast_plan(k.out.shape(), {k.in[0].shape(), k.in[1].shape(), k.in[2].shape()}));
    cuda::where(elem(k.out.dtype()), k.in[0].raw(), k.in[1].raw(), k.in[2].raw(), k.out.raw(), it, stream(k));
  });
}

}  // namespace orbit::detail
