// CUDA kernels of reductions, softmax and matrix products.
#include <vector>

#include "engine/ops/cuda_common.cuh"

namespace orbit::detail {

namespace {
using namespace cuda_ops;

// The CPU's kept/reduced decomposition (engine/ops/cpu_reduce.cpp), as two CUDA descriptors.
void reduce_plan(const Shape& in, const std::vector<int64_t>& axes, cuda::Iter& kept, cuda::Iter& reduced) {
  auto s = in.strides();
  size_t k = 0;
  for (int i = 0; i < in.rank(); ++i) {
    bool red = k < axes.size() && axes[k] == i;
    if (red) ++k;
    cuda::Iter& t = red ? reduced : kept;
    t.shape[t.rank] = in[i];
    t.stride[0][t.rank] = s[i];
    ++t.rank;
  }
}

template <cuda::ReduceOp Op>
void reduce_kernel(KernelCtx& k) {
  cuda::Iter kept, reduced;
  reduce_plan(k.in[0].shape(), k.node.attr_as<ReduceAttr>().axes, kept, reduced);
  const cuda::Elem t = elem(k.out.dtype());
  size_t ws = cuda::reduce_workspace(Op, t, kept, reduced);
  void* w = ws ? cuda::scratch(stream(k), ws) : nullptr;
  cuda::reduce(Op, t, k.in[0].raw(), k.out.raw(), kept, reduced, w, stream(k));
}
}  // namespace

void bind_cuda_reduce(OpRegistry& r) {
  using namespace cuda_ops;
  bind(r, Op::reduce_sum, reduce_kernel<cuda::ReduceOp::sum>);
  bind(r, Op::reduce_mean, reduce_kernel<cuda::ReduceOp::mean>);
  bind(r, Op::reduce_max, reduce_kernel<cuda::ReduceOp::max>);
  bind(r, Op::logsumexp, reduce_kernel<cuda::ReduceOp::logsumexp>);

  bind(r, Op::softmax, [](KernelCtx& k) {
    const Shape& s = k.in[0].shape();
    int ax = static_cast<int>(k.node.attr_as<AxisAttr>().axis);
    int64_t outer, inner;
    split_at(s, ax, outer, inner);
    cuda::softmax(elem(k.out.dtype()), k.in[0].raw(), k.out.raw(), outer, s[ax], inner, stream(k));
  });

  bind(r, Op::matmul, [](KernelCtx& k) {
    auto& at = k.node.attr_as<MatmulAttr>();
    MatmulPlan p = matmul_plan(k.in[0].shape(), k.in[1].shape(), k.out.shape(), at.trans_a);
    const int64_t m = p.m, n = p.n, kk = p.k;
    cuda::Iter it;
    it.rank = p.batch.rank();
    for (int d = 0; d < p.batch.rank(); ++d) {
      it.shape[d] = p.batch[d];
      it.stride[0][d] = p.stride_a[d];
      it.stride[1][d] = p.stride_b[d];
    }
    size_t ws = cuda::matmul_workspace(it);
    void* w = ws ? cuda::scratch(stream(k), ws) : nullptr;
    cuda::matmul(elem(k.out.dtype()), k.in[0].raw(), k.in[1].raw(), k.out.raw(), it, m, n, kk, at.trans_a, at.trans_b,
                 w, stream(k));
  });
}

}  // namespace orbit::detail
