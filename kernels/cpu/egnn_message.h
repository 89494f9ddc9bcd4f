// CPU kernels of the fused EGNN message-passing op (engine/egnn_message.h). The edges of a tile of
// receivers (consecutive (b, i), all their senders j) are the rows of [R, H] buffers that stay in cache;
// the H x H products are Eigen GEMMs over the tile. Parallel over fixed chunks of whole graphs (batch
// entries): a chunk owns its graphs' node gradients, its weight-gradient partial is reduced in chunk
// order afterwards, so results do not depend on the thread count. f32 and f64; silu only.
#pragma once
#include <cstdint>

#include "kernels/scalar/egnn_message_shape.h"

namespace orbit::cpu {

using scalar::EgnnMsgShape;

template <class T>
struct EgnnMsgIn {
  const T *P = nullptr, *Q = nullptr, *x = nullptr, *w_r = nullptr, *W2 = nullptr, *b2 = nullptr, *W3 = nullptr,
          *b3 = nullptr, *w4 = nullptr;
  const T *a = nullptr, *W_a = nullptr;        // E > 0: a [B, n, n, E], W_a [E, H]
  const T *w_att = nullptr, *b_att = nullptr;  // attention
};

// Gradients of every input (same layouts; absent inputs' pointers may be null). Every one is written
// (overwritten, not accumulated).
template <class T>
struct EgnnMsgGrad {
  T *P = nullptr, *Q = nullptr, *x = nullptr, *w_r = nullptr, *W2 = nullptr, *b2 = nullptr, *W3 = nullptr,
    *b3 = nullptr, *w4 = nullptr, *a = nullptr, *W_a = nullptr, *w_att = nullptr, *b_att = nullptr;
};

// out [B, n, H + d]: sum_j m_ij, then sum_j t_ij.
template <class T>
void egnn_message_forward(const EgnnMsgShape& s, const EgnnMsgIn<T>& in, T* out);
// G [B, n, H + d]: the cotangent of out.
template <class T>
void egnn_message_backward(const EgnnMsgShape& s, const EgnnMsgIn<T>& in, const T* G, const EgnnMsgGrad<T>& g);

extern template void egnn_message_forward<float>(const EgnnMsgShape&, const EgnnMsgIn<float>&, float*);
extern template void egnn_message_forward<double>(const EgnnMsgShape&, const EgnnMsgIn<double>&, double*);
extern template void egnn_message_backward<float>(const EgnnMsgShape&, const EgnnMsgIn<float>&, const float*,
                                                  const EgnnMsgGrad<float>&);
extern template void egnn_message_backward<double>(const EgnnMsgShape&, const EgnnMsgIn<double>&, const double*,
                                                   const EgnnMsgGrad<double>&);

}  // namespace orbit::cpu
