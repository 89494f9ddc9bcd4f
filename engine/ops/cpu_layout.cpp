// CPU kernels of layout, indexing, conversion and random ops.
#include <cstring>

#include "engine/ops/register.h"
#include "engine/ops/strided.h"
#include "kernels/cpu/layout.h"
#include "kernels/cpu/random.h"

namespace orbit::detail {

namespace {
void bind(OpRegistry& r, Op op, Kernel k) { r.mutable_get(id(op)).kernels[0] = std::move(k); }

void strided_copy(const Tensor& src, Tensor& dst, const cpu::Strided& it, int64_t dst_base, int64_t src_base) {
  dispatch_bytes(dst.dtype(), [&]<class U>() {
    cpu::copy_strided(static_cast<U*>(dst.raw()) + dst_base, static_cast<const U*>(src.raw()) + src_base, it);
  });
}

void fill(Tensor& t, double v) {
  dispatch_all(t.dtype(), [&]<class T>() {
    T* p = t.data<T>();
    cpu::parallel_for(t.numel(), 1 << 16, [&](int64_t i) { p[i] = static_cast<T>(v); });
  });
}

}  // namespace

void bind_cpu_layout(OpRegistry& r) {
  bind(r, Op::reshape, [](KernelCtx& k) {
    if (k.out.nbytes()) std::memcpy(k.out.raw(), k.in[0].raw(), k.out.nbytes());
  });

  bind(r, Op::permute, [](KernelCtx& k) {
    auto& p = k.node.attr_as<PermuteAttr>().perm;
    auto si = k.in[0].shape().strides(), so = k.out.shape().strides();
    int64_t src[Shape::kMaxRank];
    for (size_t i = 0; i < p.size(); ++i) src[i] = si[p[i]];
    strided_copy(k.in[0], k.out, copy_plan(k.out.shape(), so.data(), src), 0, 0);
  });

  bind(r, Op::slice, [](KernelCtx& k) {
    auto& a = k.node.attr_as<SliceAttr>();
    auto si = k.in[0].shape().strides(), so = k.out.shape().strides();
    int64_t base = 0;
    for (size_t i = 0; i < a.starts.size(); ++i) base += a.starts[i] * si[i];
    strided_copy(k.in[0], k.out, copy_plan(k.out.shape(), so.data(), si.data()), 0, base);
  });

  bind(r, Op::pad, [](KernelCtx& k) {
    auto& a = k.node.attr_as<PadAttr>();
    fill(k.out, a.value);
    auto si = k.in[0].shape().strides(), so = k.out.shape().strides();
    int64_t base = 0;
    for (size_t i = 0; i < a.lo.size(); ++i) base += a.lo[i] * so[i];
    strided_copy(k.in[0], k.out, copy_plan(k.in[0].shape(), so.data(), si.data()), base, 0);
  });

  bind(r, Op::concat, [](KernelCtx& k) {
    int ax = static_cast<int>(k.node.attr_as<AxisAttr>().axis);
    auto so = k.out.shape().strides();
    int64_t off = 0;
    for (auto& in : k.in) {
      auto si = in.shape().strides();
      strided_copy(in, k.out, copy_plan(in.shape(), so.data(), si.data()), off * so[ax], 0);
      off += in.shape()[ax];
    }
  });

  bind(r, Op::broadcast_to, [](KernelCtx& k) {
    auto so = k.out.shape().strides();
    int64_t src[Shape::kMaxRank];
    broadcast_strides(k.in[0].shape(), k.out.shape(), src);
    strided_copy(k.in[0], k.out, copy_plan(k.out.shape(), so.data(), src), 0, 0);
  });

  bind(r, Op::gather, [](KernelCtx& k) {
    int ax = static_cast<int>(k.node.attr_as<AxisAttr>().axis);
    int64_t outer, inner, len = k.in[0].shape()[ax], n = k.in[1].numel();
    split_at(k.in[0].shape(), ax, outer, inner);
    int64_t bad = dispatch_bytes(k.out.dtype(), [&]<class U>() {
      return dispatch_int(k.in[1].dtype(), [&]<class I>() {
        return cpu::gather(static_cast<const U*>(k.in[0].raw()), k.in[1].data<I>(), static_cast<U*>(k.out.raw()),
                           outer, len, n, inner);
      });
    });
    ORBIT_CHECK(bad < 0, "gather at node '", k.node.name, "': index ", k.in[1].at(bad), " at position ", bad,
                " is outside [0, ", len, ")");
  });

  auto segment = [](bool mean) {
    return [mean](KernelCtx& k) {
      auto& a = k.node.attr_as<SegmentAttr>();
      int ax = static_cast<int>(a.axis);
      int64_t outer, inner, n = k.in[1].numel();
      split_at(k.in[0].shape(), ax, outer, inner);
      int64_t bad = dispatch_all(k.out.dtype(), [&]<class T>() {
        return dispatch_int(k.in[1].dtype(), [&]<class I>() {
          return cpu::segment_reduce(k.in[0].data<T>(), k.in[1].data<I>(), k.out.data<T>(), outer, n,
                                     a.num_segments, inner, a.sorted, mean);
        });
      });
      if (bad >= 0) {
        double v = k.in[1].at(bad);
        ORBIT_CHECK(v >= 0 && v < a.num_segments, "segment reduction at node '", k.node.name, "': segment id ", v,
                    " at position ", bad, " is outside [0, ", a.num_segments, ")");
        throw Error(detail::cat("segment reduction at node '", k.node.name, "': ids were promised sorted but id ",
                                v, " at position ", bad, " follows ", k.in[1].at(bad - 1)));
      }
    };
  };
  bind(r, Op::segment_sum, segment(false));
  bind(r, Op::segment_mean, segment(true));

  bind(r, Op::cast, [](KernelCtx& k) {
    dispatch_all(k.in[0].dtype(), [&]<class S>() {
      dispatch_all(k.out.dtype(), [&]<class D>() {
        const S* s = k.in[0].data<S>();
        D* d = k.out.data<D>();
        cpu::parallel_for(k.out.numel(), 1 << 16, [&](int64_t i) { d[i] = static_cast<D>(s[i]); });
      });
    });
  });

  auto random = [](bool normal) {
    return [normal](KernelCtx& k) {
      auto& a = k.node.attr_as<RandomAttr>();
      dispatch_float(k.out.dtype(), [&]<class T>() {
        cpu::random_fill(k.out.data<T>(), k.out.numel(), a.seed, a.stream, k.run_index, normal);
      });
    };
  };
  bind(r, Op::random_normal, random(true));
  bind(r, Op::random_uniform, random(false));
}

}  // namespace orbit::detail
