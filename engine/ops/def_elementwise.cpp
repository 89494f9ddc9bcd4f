// Type inference and VJP rules of the elementwise ops. Every VJP is written in primitive ops that
// themselves have VJPs, so derivatives of any order follow.
#include <cmath>

#include "engine/ops/register.h"

namespace orbit::detail {

namespace {

constexpr double kPi = 3.14159265358979323846;

TypeInfo same_as_input(const InferCtx& c) { return {c.shape(0), c.dtype(0)}; }

TypeInfo float_unary(const InferCtx& c) {
  require_float(c, 0);
  return same_as_input(c);
}

TypeInfo broadcast_infer(const InferCtx& c, bool float_only) {
  Shape out = c.shape(0);
  for (int i = 0; i < c.num_inputs(); ++i) {
    if (c.dtype(i) != c.dtype(0))
      c.fail("operands have different dtypes (", dtype_name(c.dtype(0)), " and ", dtype_name(c.dtype(i)),
             "); cast one of them");
    if (!broadcast_shapes(out, c.shape(i), out)) c.fail("shapes do not broadcast");
  }
  if (float_only) require_float(c, 0);
  return {out, c.dtype(0)};
}

OpDef unary_def(InferFn infer, VjpFn vjp) {
  OpDef d;
  d.num_inputs = 1;
  d.infer = std::move(infer);
  d.vjp = std::move(vjp);
  d.elementwise = true;
  return d;
}

OpDef binary_def(bool float_only, VjpFn vjp, int arity = 2) {
  OpDef d;
  d.num_inputs = arity;
  d.infer = [float_only](const InferCtx& c) { return broadcast_infer(c, float_only); };
  d.vjp = std::move(vjp);
  d.elementwise = true;
  return d;
}

OpDef zero_grad_def(OpDef d) {
  d.vjp = nullptr;
  d.zero_grad = true;
  return d;
}

// Gradients of a broadcasting op, summed back to each operand's shape.
std::vector<Var> reduce_back(VjpCtx& c, std::vector<Var> gs) {
  for (size_t i = 0; i < gs.size(); ++i)
    if (gs[i].valid()) gs[i] = sum_to_shape(gs[i], c.in(static_cast<int>(i)).shape());
  return gs;
}

}  // namespace

void define_elementwise_ops(OpRegistry& r) {
  auto any = [](const InferCtx& c) { return same_as_input(c); };
  define(r, Op::neg, "neg", unary_def(any, [](VjpCtx& c) { return std::vector<Var>{-c.grad}; }));
  define(r, Op::abs, "abs", unary_def(any, [](VjpCtx& c) { return std::vector<Var>{c.grad * sign(c.in(0))}; }));
  define(r, Op::sign, "sign", zero_grad_def(unary_def(any, nullptr)));
  define(r, Op::exp, "exp", unary_def(float_unary, [](VjpCtx& c) { return std::vector<Var>{c.grad * c.out()}; }));
  define(r, Op::log, "log", unary_def(float_unary, [](VjpCtx& c) { return std::vector<Var>{c.grad / c.in(0)}; }));
  define(r, Op::log1p, "log1p",
         unary_def(float_unary, [](VjpCtx& c) { return std::vector<Var>{c.grad / (c.in(0) + 1.0)}; }));
  define(r, Op::sqrt, "sqrt",
         unary_def(float_unary, [](VjpCtx& c) { return std::vector<Var>{(c.grad * 0.5) / c.out()}; }));
  define(r, Op::rsqrt, "rsqrt", unary_def(float_unary, [](VjpCtx& c) {
           Var y = c.out();
           return std::vector<Var>{c.grad * (-0.5) * (y * y * y)};
         }));
  define(r, Op::square, "square",
         unary_def(any, [](VjpCtx& c) { return std::vector<Var>{c.grad * (c.in(0) * 2.0)}; }));
  define(r, Op::sin, "sin", unary_def(float_unary, [](VjpCtx& c) { return std::vector<Var>{c.grad * cos(c.in(0))}; }));
  define(r, Op::cos, "cos", unary_def(float_unary, [](VjpCtx& c) { return std::vector<Var>{-(c.grad * sin(c.in(0)))}; }));
  define(r, Op::tanh, "tanh", unary_def(float_unary, [](VjpCtx& c) {
           Var y = c.out();
           return std::vector<Var>{c.grad * (1.0 - y * y)};
         }));
  define(r, Op::erf, "erf", unary_def(float_unary, [](VjpCtx& c) {
           Var x = c.in(0);
           return std::vector<Var>{c.grad * (exp(-(x * x)) * (2.0 / std::sqrt(kPi)))};
         }));
  define(r, Op::sigmoid, "sigmoid", unary_def(float_unary, [](VjpCtx& c) {
           Var y = c.out();
           return std::vector<Var>{c.grad * (y * (1.0 - y))};
         }));
  define(r, Op::silu, "silu", unary_def(float_unary, [](VjpCtx& c) {
           Var x = c.in(0), s = sigmoid(x);
           return std::vector<Var>{c.grad * (s * (1.0 + x * (1.0 - s)))};
         }));
  define(r, Op::relu, "relu", unary_def(any, [](VjpCtx& c) {
           Var x = c.in(0);
           return std::vector<Var>{c.grad * gt(x, c.g.scalar(0, x.dtype()))};
         }));
  define(r, Op::gelu, "gelu", unary_def(float_unary, [](VjpCtx& c) {
           Var x = c.in(0);
           Var cdf = (1.0 + erf(x * (1.0 / std::sqrt(2.0)))) * 0.5;
           Var pdf = exp(square(x) * -0.5) * (1.0 / std::sqrt(2.0 * kPi));
           return std::vector<Var>{c.grad * (cdf + x * pdf)};
         }));
  define(r, Op::softplus, "softplus",
         unary_def(float_unary, [](VjpCtx& c) { return std::vector<Var>{c.grad * sigmoid(c.in(0))}; }));
  define(r, Op::pow_scalar, "pow_scalar", unary_def(float_unary, [](VjpCtx& c) {
           double p = c.attr<PowScalarAttr>().exponent;
           Var x = c.in(0);
           if (p == 0) return std::vector<Var>{zeros_like(x)};
           if (p == 1) return std::vector<Var>{c.grad};
           if (p == 2) return std::vector<Var>{c.grad * (x * 2.0)};
           return std::vector<Var>{c.grad * (pow(x, p - 1) * p)};
         }));
  define(r, Op::clamp, "clamp", unary_def(any, [](VjpCtx& c) {
           auto& a = c.attr<ClampAttr>();
           Var x = c.in(0);
           Var inside = gt(x, c.g.scalar(a.lo, x.dtype())) * lt(x, c.g.scalar(a.hi, x.dtype()));
           return std::vector<Var>{c.grad * inside};
         }));

  define(r, Op::add, "add", binary_def(false, [](VjpCtx& c) { return reduce_back(c, {c.grad, c.grad}); }));
  define(r, Op::sub, "sub", binary_def(false, [](VjpCtx& c) { return reduce_back(c, {c.grad, -c.grad}); }));
  define(r, Op::mul, "mul",
         binary_def(false, [](VjpCtx& c) { return reduce_back(c, {c.grad * c.in(1), c.grad * c.in(0)}); }));
  define(r, Op::div, "div", binary_def(true, [](VjpCtx& c) {
           Var b = c.in(1);
           return reduce_back(c, {c.grad / b, -(c.grad * c.out() / b)});
         }));
  define(r, Op::pow, "pow", binary_def(true, [](VjpCtx& c) {
           Var a = c.in(0), b = c.in(1);
           return reduce_back(c, {c.grad * (b * pow(a, b - 1.0)), c.grad * (c.out() * log(a))});
         }));
  define(r, Op::maximum, "maximum", binary_def(false, [](VjpCtx& c) {
           Var a = c.in(0), b = c.in(1);
           return reduce_back(c, {c.grad * ge(a, b), c.grad * lt(a, b)});
         }));
  define(r, Op::minimum, "minimum", binary_def(false, [](VjpCtx& c) {
           Var a = c.in(0), b = c.in(1);
           return reduce_back(c, {c.grad * le(a, b), c.grad * gt(a, b)});
         }));
  define(r, Op::lt, "lt", zero_grad_def(binary_def(false, nullptr)));
  define(r, Op::le, "le", zero_grad_def(binary_def(false, nullptr)));
  define(r, Op::gt, "gt", zero_grad_def(binary_def(false, nullptr)));
  define(r, Op::ge, "ge", zero_grad_def(binary_def(false, nullptr)));
  define(r, Op::eq, "eq", zero_grad_def(binary_def(false, nullptr)));
  define(r, Op::ne, "ne", zero_grad_def(binary_def(false, nullptr)));
  define(r, Op::where, "where", binary_def(false, [](VjpCtx& c) {
           Var cond = c.in(0), z = c.g.scalar(0, c.grad.dtype());
           return reduce_back(c, {Var(), where(cond, c.grad, z), where(cond, z, c.grad)});
         }, 3));
}

}  // namespace orbit::detail
