// CPU kernels of the elementwise ops: the shared scalar functors over the CPU loops.
#include "engine/ops/register.h"
#include "engine/ops/strided.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/isa/fused_apply.h"
#include "kernels/cpu/isa/select.h"
#include "kernels/scalar/binary.h"
#include "kernels/scalar/fused.h"
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

// The floating-point unary ops whose functor is real work (exp, tanh, erf, sin, ...): the fused
// kernel's per-instruction-set loops (kernels/cpu/isa/fused_apply.h) with the op's fused opcode, so a
// lone op also runs at the CPU's vector width (this file is compiled for baseline x86-64 only). The
// loops call the same functor: the same bits as map_unary, which integers and other ops keep.
template <scalar::FusedCode Code>
Kernel unary_isa() {
  return [](KernelCtx& k) {
    auto run = [&]<class T>() {
      const auto apply = ORBIT_ISA_SELECT(cpu::active_isa(), fused_apply_chunk<T>);
      scalar::FusedInstr in;
      in.code = Code;
      const T* x = k.in[0].data<T>();
      T* y = k.out.data<T>();
      const int64_t n = k.out.numel();
      cpu::for_element_blocks(n, [&](int64_t b, int64_t e) { apply(in, y + b, x + b, x + b, x + b, e - b); });
    };
    dispatch_float(k.out.dtype(), run);
  };
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
  bind(r, Op::exp, unary_isa<f_exp>());
  bind(r, Op::log, unary_isa<f_log>());
  bind(r, Op::log1p, unary_isa<f_log1p>());
  bind(r, Op::sqrt, unary_isa<f_sqrt>());
  bind(r, Op::rsqrt, unary_isa<f_rsqrt>());
  bind(r, Op::square, unary_plain<true, Square>());
  bind(r, Op::sin, unary_isa<f_sin>());
  bind(r, Op::cos, unary_isa<f_cos>());
  bind(r, Op::tanh, unary_isa<f_tanh>());
  bind(r, Op::erf, unary_isa<f_erf>());
  bind(r, Op::sigmoid, unary_isa<f_sigmoid>());
  bind(r, Op::silu, unary_isa<f_silu>());
  bind(r, Op::relu, unary_plain<true, Relu>());
  bind(r, Op::gelu, unary_isa<f_gelu>());
  bind(r, Op::softplus, unary_isa<f_softplus>());
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
