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
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < ax; ++i) outer *= s[i];
    for (int i = ax + 1; i < s.rank(); ++i) inner *= s[i];
    dispatch_float(k.out.dtype(), [&]<class T>() {
      cpu::softmax(k.in[0].data<T>(), k.out.data<T>(), outer, s[ax], inner);
    });
  });

  bind(r, Op::matmul, [](KernelCtx& k) {
    auto& at = k.node.attr_as<MatmulAttr>();
    const Shape &a = k.in[0].shape(), &b = k.in[1].shape(), &o = k.out.shape();
    int ro = o.rank();
    int64_t m = o[ro - 2], n = o[ro - 1];
    int64_t kk = at.trans_a ? a[a.rank() - 2] : a[a.rank() - 1];
    // Element offsets of each batch's matrices in a and b (broadcast batch dims repeat offsets).
    Shape batch(std::vector<int64_t>(o.begin(), o.end() - 2));
    Shape ba(std::vector<int64_t>(a.begin(), a.end() - 2)), bb(std::vector<int64_t>(b.begin(), b.end() - 2));
    int64_t nb = batch.numel();
    std::vector<int64_t> sa(Shape::kMaxRank), sb(Shape::kMaxRank);
    broadcast_strides(ba, batch, sa.data());
    broadcast_strides(bb, batch, sb.data());
    int64_t mat_a = a[a.rank() - 1] * a[a.rank() - 2], mat_b = b[b.rank() - 1] * b[b.rank() - 2];
    std::vector<int64_t> off_a(nb), off_b(nb);
    for (int64_t i = 0; i < nb; ++i) {
      int64_t rem = i, oa = 0, ob = 0;
      for (int d = batch.rank() - 1; d >= 0; --d) {
        int64_t q = rem / batch[d], idx = rem - q * batch[d];
        oa += idx * sa[d];
        ob += idx * sb[d];
        rem = q;
      }
      off_a[i] = oa * mat_a;
      off_b[i] = ob * mat_b;
    }
    dispatch_float(k.out.dtype(), [&]<class T>() {
      cpu::matmul(k.in[0].data<T>(), k.in[1].data<T>(), k.out.data<T>(), nb, off_a.data(), off_b.data(), m, n, kk,
                  at.trans_a, at.trans_b);
    });
  });
}

}  // namespace orbit::detail
