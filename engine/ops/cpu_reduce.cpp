// CPU kernels of reductions, softmax and matrix products.
#include <vector>

#include "engine/ops/register.h"
#include "engine/ops/strided.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/reduce.h"

namespace orbit::detail {

namespace {
void bind(OpRegistry& r, Op op, Kernel k) { r.mutable_get(id(op)).kernels[0] = std::move(k); }

cpu::ReducePlan reduce_plan(const Shape& in, const std::vector<int64_t>& axes) {
  cpu::ReducePlan p;
  auto s = in.strides();
  size_t k = 0;
  for (int i = 0; i < in.rank(); ++i) {
    bool red = k < axes.size() && axes[k] == i;
    if (red) ++k;
    cpu::Strided& t = red ? p.reduced : p.kept;
    t.shape[t.rank] = in[i];
    t.stride[0][t.rank] = s[i];
    ++t.rank;
  }
  return p;
}

Kernel reduce_kernel(cpu::ReduceKind kind, bool ints_too) {
  return [kind, ints_too](KernelCtx& k) {
    auto p = reduce_plan(k.in[0].shape(), k.node.attr_as<ReduceAttr>().axes);
    auto run = [&]<class T>() { cpu::reduce(k.in[0].data<T>(), k.out.data<T>(), p, kind); };
    if (ints_too) dispatch_all(k.out.dtype(), run);
    else dispatch_float(k.out.dtype(), run);
  };
}
}  // namespace

void bind_cpu_reduce(OpRegistry& r) {
  bind(r, Op::reduce_sum, reduce_kernel(cpu::ReduceKind::sum, true));
  bind(r, Op::reduce_mean, reduce_kernel(cpu::ReduceKind::mean, false));
  bind(r, Op::reduce_max, reduce_kernel(cpu::ReduceKind::max, true));
  bind(r, Op::logsumexp, reduce_kernel(cpu::ReduceKind::logsumexp, false));

  bind(r, Op::softmax, [](KernelCtx& k) {
    const Shape& s = k.in[0].shape();
    int ax = static_cast<int>(k.node.attr_as<AxisAttr>().axis);
    int64_t outer, inner;
    split_at(s, ax, outer, inner);
    dispatch_float(k.out.dtype(), [&]<class T>() {
      cpu::softmax(k.in[0].data<T>(), k.out.data<T>(), outer, s[ax], inner);
    });
  });

  bind(r, Op::matmul, [](KernelCtx& k) {
    auto& at = k.node.attr_as<MatmulAttr>();
    MatmulPlan p = matmul_plan(k.in[0].shape(), k.in[1].shape(), k.out.shape(), at.trans_a);
    // Element offsets of each batch's matrices in a and b (broadcast batch dims repeat offsets).
    const int64_t nb = p.batch.numel();
    std::vector<int64_t> off_a(nb), off_b(nb);
    for (int64_t i = 0; i < nb; ++i) {
      int64_t rem = i, oa = 0, ob = 0;
      for (int d = p.batch.rank() - 1; d >= 0; --d) {
        int64_t q = rem / p.batch[d], idx = rem - q * p.batch[d];
        oa += idx * p.stride_a[d];
        ob += idx * p.stride_b[d];
        rem = q;
      }
      off_a[i] = oa;
      off_b[i] = ob;
    }
    dispatch_float(k.out.dtype(), [&]<class T>() {
      cpu::matmul(k.in[0].data<T>(), k.in[1].data<T>(), k.out.data<T>(), nb, off_a.data(), off_b.data(), p.m, p.n,
                  p.k, at.trans_a, at.trans_b);
    });
  });
}

}  // namespace orbit::detail
