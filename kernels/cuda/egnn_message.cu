// The fused EGNN message-passing op on CUDA (kernels/cuda/egnn_message.h): shapes, launches, the weight
// gradients' reduction. The kernels: kernels/cuda/egnn_message_kernels.cuh. NOT YET RUN ON A GPU
// (written and compiled on a machine without one; the CUDA emulator runs them in the host tests).
#include <algorithm>
#include <cstdint>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/egnn_message.h"
#include "kernels/cuda/egnn_message_kernels.cuh"
#include "kernels/cuda/runtime.h"

namespace orbit::cuda {
namespace {

using egnn_msg::Ptrs;
using egnn_msg::Shape;
using egnn_msg::WOff;

Shape to_shape(const EgnnMsgDesc& d) {
  if (d.H > kEgnnMaxHidden) throw CudaFailure("egnn_message: hidden width > 1024 is not supported on CUDA");
  if (d.d > d.H && d.d > 32) throw CudaFailure("egnn_message: more coordinates than threads");
  if (d.B * d.n > 0x7fffffffLL || d.n * d.n * d.E * d.B > (int64_t(1) << 40))
    throw CudaFailure("egnn_message: too many nodes for one launch");
  return {static_cast<int>(d.B), static_cast<int>(d.n), static_cast<int>(d.d), static_cast<int>(d.H),
          static_cast<int>(d.E), d.attention, d.norm_diff, d.tanh, d.self_loops, d.coords_range, d.coord_clamp};
}

template <class T>
Ptrs<T> ptrs(const EgnnMsgDesc& d) {
  auto c = [&](int k) { return static_cast<const T*>(d.in[k]); };
  return {c(0), c(1), c(2), c(3), c(4), c(5), c(6), c(7), c(8), c(kEgnnA), c(kEgnnWa), c(kEgnnWatt), c(kEgnnBatt)};
}

template <class T>
void forward_t(const EgnnMsgDesc& d, void* out, cudaStream_t st) {
  const Shape s = to_shape(d);
  if (s.B * s.n == 0) return;
  const int nt = egnn_msg::threads_for(s);
  egnn_msg::forward_kernel<T><<<static_cast<unsigned>(s.B * s.n), nt, 3 * nt * sizeof(T), st>>>(s, ptrs<T>(d), static_cast<T*>(out));
  check_launch("egnn_message forward_kernel");
}

template <class T>
void backward_t(const EgnnMsgDesc& d, const void* G, void* const* g, cudaStream_t st) {
  const Shape s = to_shape(d);
  const WOff o(s);
  if (s.B == 0) return;
  const int nt = egnn_msg::threads_for(s);
  T* part = static_cast<T*>(scratch(st, static_cast<size_t>(s.B * o.n + o.n) * sizeof(T)));
  T* wsum = part + s.B * o.n;
  egnn_msg::backward_kernel<T><<<static_cast<unsigned>(s.B), nt, 5 * nt * sizeof(T), st>>>(
      s, ptrs<T>(d), static_cast<const T*>(G), static_cast<T*>(g[0]), static_cast<T*>(g[1]), static_cast<T*>(g[2]),
      static_cast<T*>(g[kEgnnA]), part);
  check_launch("egnn_message backward_kernel");
  egnn_msg::reduce_partials<T><<<grid_for(o.n), kBlock, 0, st>>>(part, s.B, o.n, wsum);
  check_launch("egnn_message reduce_partials");
  auto put = [&](int slot, int64_t off, int64_t len) {
    if (g[slot] && len > 0)
      check(cudaMemcpyAsync(g[slot], wsum + off, static_cast<size_t>(len) * sizeof(T), cudaMemcpyDeviceToDevice, st),
            "cudaMemcpyAsync (egnn_message weight gradients)");
  };
  const int64_t H = s.H;
  put(3, o.wr, H);
  put(4, o.W2, H * H);
  put(5, o.b2, H);
  put(6, o.W3, H * H);
  put(7, o.b3, H);
  put(8, o.w4, H);
  if (s.E > 0) put(kEgnnWa, o.Wa, s.E * H);
  if (s.attention) {
    put(kEgnnWatt, o.watt, H);
    put(kEgnnBatt, o.batt, 1);
  }
}

}  // namespace

void egnn_message_forward(Elem t, const EgnnMsgDesc& d, void* out, cudaStream_t s) {
  if (t == Elem::f64) forward_t<double>(d, out, s);
  else if (!egnn_message_forward_tc(d, static_cast<float*>(out), s)) forward_t<float>(d, out, s);
}

void egnn_message_backward(Elem t, const EgnnMsgDesc& d, const void* G, void* const* grads, cudaStream_t s) {
  if (t == Elem::f64) backward_t<double>(d, G, grads, s);
  else if (!egnn_message_backward_tc(d, static_cast<const float*>(G), grads, s)) backward_t<float>(d, G, grads, s);
}

}  // namespace orbit::cuda
