// CUDA kernels of layout, indexing, conversion and random ops. Index tensors are validated on the
// device; a bad index raises, at the program's next synchronisation (the end of run()), the same
// orbit::Error the CPU kernel throws.
#include "engine/ops/cuda_common.cuh"

namespace orbit::detail {

namespace {
using namespace cuda_ops;

// dst[dst_base + off0(i)] = src[src_base + off1(i)] over `it` (cpu::Strided from copy_plan).
void strided_copy(const KernelCtx& k, const Tensor& src, Tensor& dst, const cpu::Strided& it, int64_t dst_base,
                  int64_t src_base) {
  cuda::copy_strided(dtype_size(dst.dtype()), at(dst, dst_base), at(src, src_base), iter(it), stream(k));
}


int64_t as_int(unsigned long long w) { return static_cast<int64_t>(w); }
}  // namespace

void bind_cuda_layout(OpRegistry& r) {
  using namespace cuda_ops;
  bind(r, Op::reshape, [](KernelCtx& k) {
    if (k.out.nbytes())
      cuda::check(cudaMemcpyAsync(k.out.raw(), k.in[0].raw(), k.out.nbytes(), cudaMemcpyDeviceToDevice, stream(k)),
                  "cudaMemcpyAsync");
  });

  bind(r, Op::permute, [](KernelCtx& k) {
    auto& p = k.node.attr_as<PermuteAttr>().perm;
    auto si = k.in[0].shape().strides(), so = k.out.shape().strides();
    int64_t src[Shape::kMaxRank] = {};
    for (size_t i = 0; i < p.size(); ++i) src[i] = si[p[i]];
    strided_copy(k, k.in[0], k.out, copy_plan(k.out.shape(), so.data(), src), 0, 0);
  });

  bind(r, Op::slice, [](KernelCtx& k) {
    auto& a = k.node.attr_as<SliceAttr>();
    auto si = k.in[0].shape().strides(), so = k.out.shape().strides();
    int64_t base = 0;
    for (size_t i = 0; i < a.starts.size(); ++i) base += a.starts[i] * si[i];
    strided_copy(k, k.in[0], k.out, copy_plan(k.out.shape(), so.data(), si.data()), 0, base);
  });

  bind(r, Op::pad, [](KernelCtx& k) {
    auto& a = k.node.attr_as<PadAttr>();
    cuda::fill(elem(k.out.dtype()), k.out.raw(), k.out.numel(), a.value, stream(k));
    auto si = k.in[0].shape().strides(), so = k.out.shape().strides();
    int64_t base = 0;
    for (size_t i = 0; i < a.lo.size(); ++i) base += a.lo[i] * so[i];
    strided_copy(k, k.in[0], k.out, copy_plan(k.in[0].shape(), so.data(), si.data()), base, 0);
  });

  bind(r, Op::concat, [](KernelCtx& k) {
    int ax = static_cast<int>(k.node.attr_as<AxisAttr>().axis);
    auto so = k.out.shape().strides();
    int64_t off = 0;
    for (auto& in : k.in) {
      auto si = in.shape().strides();
      strided_copy(k, in, k.out, copy_plan(in.shape(), so.data(), si.data()), off * so[ax], 0);
      off += in.shape()[ax];
    }
  });

  bind(r, Op::broadcast_to, [](KernelCtx& k) {
    auto so = k.out.shape().strides();
    int64_t src[Shape::kMaxRank] = {};
    broadcast_strides(k.in[0].shape(), k.out.shape(), src);
    strided_copy(k, k.in[0], k.out, copy_plan(k.out.shape(), so.data(), src), 0, 0);
  });

  bind(r, Op::gather, [](KernelCtx& k) {
    int ax = static_cast<int>(k.node.attr_as<AxisAttr>().axis);
    int64_t outer, inner, len = k.in[0].shape()[ax], n = k.in[1].numel();
    split_at(k.in[0].shape(), ax, outer, inner);
    // The CPU's message (engine/ops/cpu_layout.cpp), from the position and id the device recorded.
    unsigned long long* flag = cuda::check_flag(stream(k), [name = k.node.name, len](const unsigned long long* w) {
      return detail::cat("gather at node '", name, "': index ", static_cast<double>(as_int(w[1])), " at position ",
                         as_int(w[0]), " is outside [0, ", len, ")");
    });
    cuda::validate_indices(elem(k.in[1].dtype()), k.in[1].raw(), n, len, false, flag, stream(k));
    cuda::gather(dtype_size(k.out.dtype()), elem(k.in[1].dtype()), k.in[0].raw(), k.in[1].raw(), k.out.raw(), outer,
                 len, n, inner, stream(k));
  });

  // ORBIT_SEGMENT_ATOMIC=1 switches segment reductions to atomicAdd scatters (not deterministic).
  auto segment = [](bool mean) {
    return [mean](KernelCtx& k) {
      auto& a = k.node.attr_as<SegmentAttr>();
      int ax = static_cast<int>(a.axis);
      int64_t outer, inner, n = k.in[1].numel();
      split_at(k.in[0].shape(), ax, outer, inner);
      const int64_t nseg = a.num_segments;
      unsigned long long* flag =
          cuda::check_flag(stream(k), [name = k.node.name, nseg](const unsigned long long* w) -> std::string {
            double v = static_cast<double>(as_int(w[1]));
            if (!(v >= 0 && v < nseg))
              return detail::cat("segment reduction at node '", name, "': segment id ", v, " at position ",
                                 as_int(w[0]), " is outside [0, ", nseg, ")");
            return detail::cat("segment reduction at node '", name, "': ids were promised sorted but id ", v,
                               " at position ", as_int(w[0]), " follows ", static_cast<double>(as_int(w[2])));
          });
      const cuda::Elem it = elem(k.in[1].dtype());
      cuda::validate_indices(it, k.in[1].raw(), n, nseg, a.sorted, flag, stream(k));
      const bool atomic = env_on("ORBIT_SEGMENT_ATOMIC");
      size_t ws = cuda::segment_workspace(it, n, nseg, a.sorted, mean, atomic);
      void* w = ws ? cuda::scratch(stream(k), ws) : nullptr;
      cuda::segment_reduce(elem(k.out.dtype()), it, k.in[0].raw(), k.in[1].raw(), k.out.raw(), outer, n, nseg, inner,
                           a.sorted, mean, atomic, w, ws, stream(k));
    };
  };
  bind(r, Op::segment_sum, segment(false));
  bind(r, Op::segment_mean, segment(true));

  bind(r, Op::cast, [](KernelCtx& k) {
    cuda::cast(elem(k.in[0].dtype()), elem(k.out.dtype()), k.in[0].raw(), k.out.raw(), k.out.numel(), stream(k));
  });

  auto random = [](bool normal) {
    return [normal](KernelCtx& k) {
      auto& a = k.node.attr_as<RandomAttr>();
      cuda::random_fill(elem(k.out.dtype()), k.out.raw(), k.out.numel(), a.seed, a.stream, k.run_index, k.run_index_dev, normal,
                        stream(k));
    };
  };
  bind(r, Op::random_normal, random(true));
  bind(r, Op::random_uniform, random(false));
}

}  // namespace orbit::detail
