// CPU kernels of the elementwise ops: the shared scalar functors over the CPU loops.
#include "engine/ops/register.h"
#include "engine/ops/strided.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/scalar/binary.h"
#include "kernels/scalar/unary.h"

namespace orbit::detail {

namespace {
using Dev = Device::Kind;

template <bool IntsToo, class MakeF>
Kernel unary(MakeF make) {
  return [make](KernelCtx& k) {
    auto f = make(k.node);
    auto run = [&]<class T>() { cpu::map_unary(k.in[0].data<T>(), k.out.data<T>(), k.out.numel(), f); };
    if constexpr (IntsToo) dispatch_all(k.out.dtype(), run);
    else dispatch_float(k.out.dtype(), run);
  };
}

template <bool IntsToo, class F>
Kernel unary_plain() {
  return unary<IntsToo>([](const Node&) { return F{}; });
}

template <bool IntsToo, class F>
Kernel binary() {
  return [](KernelCtx& k) {
    auto it = broadcast_plan(k.out.shape(), {k.in[0].shape(), k.in[1].shape()});
    auto run = [&]<class T>() { cpu::map_binary(k.in[0].data<T>(), k.in[1].data<T>(), k.out.data<T>(), it, F{}); };
    if constexpr (IntsToo) dispatch_all(k.out.dtype(), run);
    else dispatch_float(k.out.dtype(), run);
  };
}

void bind(OpRegistry& r, Op op, Kernel k) { r.mutable_get(id(op)).kernels[static_cast<int>(Dev::cpu)] = std::move(k); }
}  // namespace

void bind_cpu_elementwise(OpRegistry& r) {
  using namespace scalar;
  bind(r, Op::neg, unary_plain<true, Neg>());
  bind(r, Op::abs, unary_plain<true, Abs>());
  bind(r, Op::sign, unary_plain<true, Sign>());
  bind(r, Op::exp, unary_plain<false, Exp>());
  bind(r, Op::log, unary_plain<false, Log>());
  bind(r, Op::log1p, unary_plain<false, Log1p>());
  bind(r, Op::sqrt, unary_plain<false, Sqrt>());
  bind(r, Op::rsqrt, unary_plain<false, Rsqrt>());
  bind(r, Op::square, unary_plain<true, Square>());
  bind(r, Op::sin, unary_plain<false, Sin>());
  bind(r, Op::cos, unary_plain<false, Cos>());
  bind(r, Op::tanh, unary_plain<false, Tanh>());
  bind(r, Op::erf, unary_plain<false, Erf>());
  bind(r, Op::sigmoid, unary_plain<false, Sigmoid>());
  bind(r, Op::silu, unary_plain<false, Silu>());
  bind(r, Op::relu, unary_plain<true, Relu>());
  bind(r, Op::gelu, unary_plain<false, Gelu>());
  bind(r, Op::softplus, unary_plain<false, Softplus>());
  bind(r, Op::pow_scalar,
       unary<false>([](const Node& n) { return PowScalar{n.attr_as<PowScalarAttr>().exponent}; }));
  bind(r, Op::clamp, unary<true>([](const Node& n) {
         auto& a = n.attr_as<ClampAttr>();
         return Clamp{a.lo, a.hi};
       }));

  bind(r, Op::add, binary<true, Add>());
  bind(r, Op::sub, binary<true, Sub>());
  bind(r, Op::mul, binary<true, Mul>());
  bind(r, Op::div, binary<false, Div>());
  bind(r, Op::pow, binary<false, Pow>());
  bind(r, Op::maximum, binary<true, Maximum>());
  bind(r, Op::minimum, binary<true, Minimum>());
  bind(r, Op::lt, binary<true, Lt>());
  bind(r, Op::le, binary<true, Le>());
  bind(r, Op::gt, binary<true, Gt>());
  bind(r, Op::ge, binary<true, Ge>());
  bind(r, Op::eq, binary<true, Eq>());
  bind(r, Op::ne, binary<true, Ne>());
  bind(r, Op::where, [](KernelCtx& k) {
    auto it = broadcast_plan(k.out.shape(), {k.in[0].shape(), k.in[1].shape(), k.in[2].shape()});
    dispatch_all(k.out.dtype(), [&]<class T>() {
      cpu::map_ternary(k.in[0].data<T>(), k.in[1].data<T>(), k.in[2].data<T>(), k.out.data<T>(), it, scalar::Where{});
    });
  });
}

}  // namespace orbit::detail
