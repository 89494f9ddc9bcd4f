#include "kernels/cpu/egnn_message.h"

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <functional>
#include <vector>

#include "kernels/cpu/isa/egnn_rows.h"
#include "kernels/cpu/isa/fused_apply.h"
#include "kernels/cpu/isa/select.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/parallel.h"
#include "kernels/scalar/unary.h"

// The baseline variant of the per-row loops (x86-64-v3 / v4: kernels/cpu/isa/egnn_rows_x86v*.cpp).
#define ORBIT_ISA_NS isa_baseline
#include "kernels/cpu/isa/egnn_rows_body.inc"
#undef ORBIT_ISA_NS

namespace orbit::cpu {

namespace {

template <class T>
using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using MapM = Eigen::Map<Mat<T>>;
template <class T>
using CMapM = Eigen::Map<const Mat<T>>;
template <class T>
using Vec = Eigen::Matrix<T, Eigen::Dynamic, 1>;
template <class T>
using MapV = Eigen::Map<Vec<T>>;
template <class T>
using CMapV = Eigen::Map<const Vec<T>>;

// silu's derivative, as the unfused VJP computes it (def_elementwise.cpp), is applied per row by
// egnn_dsilu_rows (kernels/cpu/isa/egnn_rows_body.inc) from z and its sigmoid s (the forward's, kept).

// c [m, n] += op(a) op(b) through a [m, n] temporary (cpu::gemm overwrites).
template <class T>
void gemm_acc(const T* a, const T* b, T* c, int64_t m, int64_t n, int64_t k, bool ta, bool tb, std::vector<T>& tmp) {
  tmp.resize(static_cast<size_t>(m * n));
  gemm(a, b, tmp.data(), m, n, k, ta, tb);
  for (int64_t i = 0; i < m * n; ++i) c[i] += tmp[i];
}

// The fused kernel's per-ISA instruction loops (kernels/cpu/isa/fused_apply.h, picked by
// ORBIT_ISA_SELECT): the sigmoids vectorise at the CPU's full width (kernels/scalar/host_math.h), with
// the same bits as the scalar functors.
template <class T>
using ApplyFn = void (*)(const scalar::FusedInstr&, T*, const T*, const T*, const T*, int64_t);

// s = sigmoid(z), u = z s = silu(z) over m contiguous elements.
template <class T>
void silu_keep_n(ApplyFn<T> f, const T* z, T* s, T* u, int64_t m) {
  scalar::FusedInstr sig, mul;
  sig.code = scalar::f_sigmoid;
  mul.code = scalar::f_mul;
  f(sig, s, z, z, z, m);
  f(mul, u, z, s, z, m);
}

// Fixed chunks of whole graphs, independent of the thread count (the weight gradients are summed per
// chunk, then over the chunks in order: the same bits on any number of threads). Up to 64, at least 16
// when there are that many graphs (work for 16 threads); more than 16 only when every chunk still gets
// about a tile of edge rows. Each chunk costs a weight-gradient partial (33K floats at H 128, zeroed and
// reduced) and short products: with 64 chunks of two DW4 graphs (24 edge rows each) those overheads
// took 13% of the CPU training step.
int64_t num_chunks(int64_t B, int64_t edges, int64_t tile) {
  const int64_t by_size = (edges + tile - 1) / tile;
  return std::max<int64_t>(1, std::min<int64_t>({B, 64, std::max<int64_t>(16, by_size)}));
}

int64_t tile_rows(int64_t H, int64_t elem, int64_t per_recv) {
  const int64_t rows = std::clamp<int64_t>((int64_t(128) << 10) / (std::max<int64_t>(1, H) * elem), 32, 256);
  return std::max(rows, per_recv);
}

// A tile's buffers, one set per thread, kept between calls and only ever grown. At H 128 a tile holds
// 1.3 MB; allocated per chunk (64 per call), glibc returned the pages to the kernel at every free
// (brk trimming) and the page faults, TLB flushes and zero-filling took more than half of a DW4
// paper-preset training step. Every buffer is written before it is read, so none is cleared.
template <class T>
struct TileBuffers {
  std::vector<int64_t> recv, send;
  std::vector<T> D0, D, r, inv_s, sg, w0, w, PRE, U1, Z2, M0, M, Z3, U3, S1, S2, S3;
  std::vector<T> dw0, dg, dr, dD, B1, B2, A, tmp;  // the backward's
};

template <class T>
TileBuffers<T>& thread_tile_buffers() {
  thread_local TileBuffers<T> b;
  return b;
}

template <class V>
V& grown(V& v, int64_t n) {
  if (v.size() < static_cast<size_t>(n)) v.resize(static_cast<size_t>(n));
  return v;
}

// The per-edge forward of one tile of receivers [q0, q1) (q = b n + i), kept for the backward.
template <class T>
struct Tile {
  const EgnnMsgShape& s;
  const EgnnMsgIn<T>& in;
  int64_t cap = 0, R = 0;
  ApplyFn<T> apply = ORBIT_ISA_SELECT(active_isa(), fused_apply_chunk<T>);
  TileBuffers<T>& buf = thread_tile_buffers<T>();
  std::vector<int64_t>& recv = grown(buf.recv, cap);  // q of the receiver and of the sender of each row
  std::vector<int64_t>& send = grown(buf.send, cap);
  std::vector<T>& D0 = grown(buf.D0, cap * s.d);
  std::vector<T>& D = grown(buf.D, cap * s.d);
  std::vector<T>& r = grown(buf.r, cap);
  std::vector<T>& inv_s = grown(buf.inv_s, cap);
  std::vector<T>& sg = grown(buf.sg, cap);
  std::vector<T>& w0 = grown(buf.w0, cap);
  std::vector<T>& w = grown(buf.w, cap);
  std::vector<T>& PRE = grown(buf.PRE, cap * s.H);
  std::vector<T>& U1 = grown(buf.U1, cap * s.H);
  std::vector<T>& Z2 = grown(buf.Z2, cap * s.H);
  std::vector<T>& M0 = grown(buf.M0, cap * s.H);
  std::vector<T>& M = grown(buf.M, cap * s.H);
  std::vector<T>& Z3 = grown(buf.Z3, cap * s.H);
  std::vector<T>& U3 = grown(buf.U3, cap * s.H);
  std::vector<T>& S1 = grown(buf.S1, cap * s.H);
  std::vector<T>& S2 = grown(buf.S2, cap * s.H);
  std::vector<T>& S3 = grown(buf.S3, cap * s.H);

  Tile(const EgnnMsgShape& s_, const EgnnMsgIn<T>& in_, int64_t cap_) : s(s_), in(in_), cap(cap_) {}
  Tile(const Tile&) = delete;
  Tile& operator=(const Tile&) = delete;
  MapM<T> m(std::vector<T>& v) { return MapM<T>(v.data(), R, s.H); }

  void forward(int64_t q0, int64_t q1) {
    const int64_t n = s.n, d = s.d, H = s.H, E = s.E;
    R = 0;
    for (int64_t q = q0; q < q1; ++q) {
      const int64_t b = q / n, i = q - b * n;
      for (int64_t j = 0; j < n; ++j) {
        if (j == i && !s.self_loops) continue;
        const int64_t e = R++;
        const int64_t qj = b * n + j;
        recv[e] = q, send[e] = qj;
        const T* xi = in.x + q * d;
        const T* xj = in.x + qj * d;
        T* d0 = D0.data() + e * d;
        T rr = 0;
        for (int64_t k = 0; k < d; ++k) {
          d0[k] = xi[k] - xj[k];
          rr += d0[k] * d0[k];
        }
        r[e] = rr;
        T* dd = D.data() + e * d;
        if (s.norm_diff) {
          const T sc = std::sqrt(rr + T(1e-8)) + T(1);
          inv_s[e] = sc;  // the divisor itself (the unfused path divides)
          for (int64_t k = 0; k < d; ++k) dd[k] = d0[k] / sc;
        } else {
          for (int64_t k = 0; k < d; ++k) dd[k] = d0[k];
        }
      }
    }
    if (R == 0) return;
    // The first edge layer from the per-node products: P[i] + Q[j] + r w_r (+ a W_a), at the CPU's
    // vector width.
    ORBIT_ISA_SELECT(active_isa(), egnn_edge_pre<T>)(in.P, in.Q, recv.data(), send.data(), r.data(), in.w_r,
                                                     PRE.data(), R, H);
    if (E > 0) {
      for (int64_t e = 0; e < R; ++e) {
        const int64_t q = recv[e], b = q / n, j = send[e] - b * n;
        const T* a = in.a + (q * n + j) * E;
        T* pre = PRE.data() + e * H;
        for (int64_t k = 0; k < E; ++k) {
          const T ak = a[k];
          const T* wa = in.W_a + k * H;
          for (int64_t h = 0; h < H; ++h) pre[h] += ak * wa[h];
        }
      }
    }
    const int64_t n_el = R * H;
    silu_keep_n(apply, PRE.data(), S1.data(), U1.data(), n_el);
    // Z2 = U1 W2 + b2: the narrow-product kernel adds the bias in registers (the same bits as the
    // product, then the add); otherwise a second pass.
    if (!gemm_bias_relu(U1.data(), in.W2, in.b2, Z2.data(), R, H, H, false)) {
      gemm(U1.data(), in.W2, Z2.data(), R, H, H, false, false);
      for (int64_t e = 0; e < R; ++e)
        for (int64_t h = 0; h < H; ++h) Z2[e * H + h] += in.b2[h];
    }
    silu_keep_n(apply, Z2.data(), S2.data(), M0.data(), n_el);
    if (s.attention) {
      Vec<T> g = m(M0) * CMapV<T>(in.w_att, H);
      for (int64_t e = 0; e < R; ++e) sg[e] = scalar::Sigmoid{}(g[e] + in.b_att[0]);
      ORBIT_ISA_SELECT(active_isa(), egnn_scale_rows<T>)(M0.data(), sg.data(), M.data(), R, H);
    } else {
      std::copy(M0.begin(), M0.begin() + n_el, M.begin());
    }
    if (!gemm_bias_relu(M.data(), in.W3, in.b3, Z3.data(), R, H, H, false)) {
      gemm(M.data(), in.W3, Z3.data(), R, H, H, false, false);
      for (int64_t e = 0; e < R; ++e)
        for (int64_t h = 0; h < H; ++h) Z3[e * H + h] += in.b3[h];
    }
    silu_keep_n(apply, Z3.data(), S3.data(), U3.data(), n_el);
    MapV<T>(w0.data(), R).noalias() = m(U3) * CMapV<T>(in.w4, H);
    const T cr = static_cast<T>(s.coords_range);
    for (int64_t e = 0; e < R; ++e) w[e] = s.tanh ? scalar::Tanh{}(w0[e]) * cr : w0[e];
  }

  // t = D w (clamped): the coordinate update of row e, component k.
  T trans(int64_t e, int64_t k) const {
    T t = D[e * s.d + k] * w[e];
    if (s.coord_clamp > 0) {
      const T c = static_cast<T>(s.coord_clamp);
      t = std::min(std::max(t, -c), c);
    }
    return t;
  }
};

template <class T>
void for_chunks(const EgnnMsgShape& s, int64_t chunks, const std::function<void(int64_t, int64_t, int64_t)>& body) {
  const int64_t per = (s.B + chunks - 1) / chunks;
  parallel_for(chunks, 1, [&](int64_t c) {
    const int64_t b0 = c * per, b1 = std::min(s.B, b0 + per);
    if (b0 < b1) body(c, b0, b1);
  });
}

}  // namespace

template <class T>
void egnn_message_forward(const EgnnMsgShape& s, const EgnnMsgIn<T>& in, T* out) {
  const int64_t n = s.n, d = s.d, H = s.H, W = H + d;
  std::fill(out, out + s.B * n * W, T(0));
  const int64_t per_recv = s.self_loops ? n : n - 1;
  if (s.B == 0 || per_recv == 0) return;
  const int64_t cap = tile_rows(H, sizeof(T), per_recv);
  const int64_t recv_per_tile = std::max<int64_t>(1, cap / per_recv);
  for_chunks<T>(s, num_chunks(s.B, s.B * n * per_recv, cap), [&](int64_t, int64_t b0, int64_t b1) {
    Tile<T> t(s, in, recv_per_tile * per_recv);
    for (int64_t q0 = b0 * n; q0 < b1 * n; q0 += recv_per_tile) {
      const int64_t q1 = std::min(b1 * n, q0 + recv_per_tile);
      t.forward(q0, q1);
      for (int64_t e = 0; e < t.R; ++e) {
        T* o = out + t.recv[e] * W;
        const T* mrow = t.M.data() + e * H;
        for (int64_t h = 0; h < H; ++h) o[h] += mrow[h];
        for (int64_t k = 0; k < d; ++k) o[H + k] += t.trans(e, k);
      }
    }
  });
}

template <class T>
void egnn_message_backward(const EgnnMsgShape& s, const EgnnMsgIn<T>& in, const T* G, const EgnnMsgGrad<T>& g) {
  const int64_t n = s.n, d = s.d, H = s.H, E = s.E, W = H + d;
  // The weight gradients, packed: w_r, W2, b2, W3, b3, w4, W_a, w_att, b_att.
  const int64_t o_wr = 0, o_W2 = o_wr + H, o_b2 = o_W2 + H * H, o_W3 = o_b2 + H, o_b3 = o_W3 + H * H, o_w4 = o_b3 + H,
                o_Wa = o_w4 + H, o_watt = o_Wa + E * H, o_batt = o_watt + (s.attention ? H : 0),
                n_w = o_batt + (s.attention ? 1 : 0);
  // W2^T and W3^T, once per call: every tile's dM = dZ3 W3^T and dPRE = dZ2 W2^T then read them in
  // place (a tile has fewer rows than a transposed product needs to pay for its own copy: Eigen's
  // packing ran those products at 8-9% of the LJ13 step).
  std::vector<T> w2t(static_cast<size_t>(H * H)), w3t(static_cast<size_t>(H * H));
  for (int64_t i = 0; i < H; ++i)
    for (int64_t j = 0; j < H; ++j) {
      w2t[static_cast<size_t>(j * H + i)] = in.W2[i * H + j];
      w3t[static_cast<size_t>(j * H + i)] = in.W3[i * H + j];
    }
  std::fill(g.P, g.P + s.B * n * H, T(0));
  std::fill(g.Q, g.Q + s.B * n * H, T(0));
  std::fill(g.x, g.x + s.B * n * d, T(0));
  if (E > 0) std::fill(g.a, g.a + s.B * n * n * E, T(0));
  const int64_t per_recv = s.self_loops ? n : n - 1;
  const int64_t chunks = num_chunks(s.B, s.B * n * per_recv, tile_rows(H, sizeof(T), per_recv));
  // The chunks' weight-gradient partials (8 MB at H 128), kept by the calling thread between calls
  // (allocated afresh, they cost a page fault per 4 KB per call). The workers reach them through
  // `partials`: a lambda does not capture a thread_local, the name would mean the worker's own.
  thread_local std::vector<T> partial_store;
  grown(partial_store, chunks * n_w);
  T* const partials = partial_store.data();
  std::fill(partials, partials + chunks * n_w, T(0));
  if (s.B > 0 && per_recv > 0) {
    const int64_t cap = tile_rows(H, sizeof(T), per_recv);
    const int64_t recv_per_tile = std::max<int64_t>(1, cap / per_recv);
    for_chunks<T>(s, chunks, [&](int64_t c, int64_t b0, int64_t b1) {
      Tile<T> t(s, in, recv_per_tile * per_recv);
      T* pw = partials + c * n_w;
      TileBuffers<T>& bb = t.buf;
      std::vector<T>&tmp = bb.tmp, &dw0 = grown(bb.dw0, t.cap), &dg = grown(bb.dg, t.cap), &dr = grown(bb.dr, t.cap),
      &dD = grown(bb.dD, t.cap * d), &B1 = grown(bb.B1, t.cap * H), &B2 = grown(bb.B2, t.cap * H),
      &A = grown(bb.A, t.cap * std::max<int64_t>(E, 1));
      const T cr = static_cast<T>(s.coords_range), cl = static_cast<T>(s.coord_clamp);
      for (int64_t q0 = b0 * n; q0 < b1 * n; q0 += recv_per_tile) {
        const int64_t q1 = std::min(b1 * n, q0 + recv_per_tile);
        t.forward(q0, q1);
        const int64_t R = t.R;
        // The coordinate branch: dw0 per row, dD per row.
        for (int64_t e = 0; e < R; ++e) {
          const T* gx = G + t.recv[e] * W + H;
          T dw = 0;
          for (int64_t k = 0; k < d; ++k) {
            const T Dk = t.D[e * d + k];
            T dt = gx[k];
            if (s.coord_clamp > 0) {
              const T tk = Dk * t.w[e];
              if (!(tk > -cl && tk < cl)) dt = 0;
            }
            dw += dt * Dk;
            dD[e * d + k] = dt * t.w[e];
          }
          if (s.tanh) {
            const T th = scalar::Tanh{}(t.w0[e]);
            dw = dw * cr * (T(1) - th * th);
          }
          dw0[e] = dw;
        }
        MapM<T> U3 = t.m(t.U3), Z3 = t.m(t.Z3), Mm = t.m(t.M), M0 = t.m(t.M0), Z2 = t.m(t.Z2), U1 = t.m(t.U1),
                PRE = t.m(t.PRE);
        MapV<T> vdw0(dw0.data(), R);
        MapV<T>(pw + o_w4, H).noalias() += U3.transpose() * vdw0;
        MapM<T> dZ3(B1.data(), R, H), dM(B2.data(), R, H);
        const auto dsilu_rows = ORBIT_ISA_SELECT(active_isa(), egnn_dsilu_rows<T>);
        dsilu_rows(EgnnRowTerm::ra_v, nullptr, dw0.data(), nullptr, in.w4, Z3.data(), t.S3.data(), dZ3.data(), R, H);
        MapV<T>(pw + o_b3, H).noalias() += dZ3.colwise().sum().transpose();
        gemm_acc(Mm.data(), dZ3.data(), pw + o_W3, H, H, R, true, false, tmp);
        gemm(dZ3.data(), w3t.data(), dM.data(), R, H, H, false, false);
        for (int64_t e = 0; e < R; ++e) {
          const T* gm = G + t.recv[e] * W;
          for (int64_t h = 0; h < H; ++h) dM(e, h) += gm[h];
        }
        // dM -> dM0 (attention), then dZ2 into B1 (dZ3 is dead).
        MapM<T> dZ2(B1.data(), R, H);
        if (s.attention) {
          for (int64_t e = 0; e < R; ++e) {
            const T sgv = t.sg[e];
            dg[e] = dM.row(e).dot(M0.row(e)) * (sgv * (T(1) - sgv));
          }
          MapV<T> vdg(dg.data(), R);
          MapV<T>(pw + o_watt, H).noalias() += M0.transpose() * vdg;
          pw[o_batt] += vdg.sum();
          dsilu_rows(EgnnRowTerm::a_ra_plus_rb_v, dM.data(), t.sg.data(), dg.data(), in.w_att, Z2.data(), t.S2.data(),
                     dZ2.data(), R, H);
        } else {
          dsilu_rows(EgnnRowTerm::a, dM.data(), nullptr, nullptr, nullptr, Z2.data(), t.S2.data(), dZ2.data(), R, H);
        }
        MapV<T>(pw + o_b2, H).noalias() += dZ2.colwise().sum().transpose();
        gemm_acc(U1.data(), dZ2.data(), pw + o_W2, H, H, R, true, false, tmp);
        MapM<T> dPRE(B2.data(), R, H);  // dM is dead
        gemm(dZ2.data(), w2t.data(), dPRE.data(), R, H, H, false, false);
        dsilu_rows(EgnnRowTerm::a, dPRE.data(), nullptr, nullptr, nullptr, PRE.data(), t.S1.data(), dPRE.data(), R, H);
        // The first edge layer's inputs.
        MapV<T> vr(t.r.data(), R), vdr(dr.data(), R);
        MapV<T>(pw + o_wr, H).noalias() += dPRE.transpose() * vr;
        vdr.noalias() = dPRE * CMapV<T>(in.w_r, H);
        if (E > 0) {
          for (int64_t e = 0; e < R; ++e) {
            const int64_t b = t.recv[e] / n, i = t.recv[e] - b * n, j = t.send[e] - b * n;
            const int64_t off = ((b * n + i) * n + j) * E;
            for (int64_t k = 0; k < E; ++k) A[e * E + k] = in.a[off + k];
          }
          MapM<T> Am(A.data(), R, E);
          MapM<T>(pw + o_Wa, E, H).noalias() += Am.transpose() * dPRE;
          Mat<T> ga = dPRE * CMapM<T>(in.W_a, E, H).transpose();  // [R, E]
          for (int64_t e = 0; e < R; ++e) {
            const int64_t b = t.recv[e] / n, i = t.recv[e] - b * n, j = t.send[e] - b * n;
            T* dst = g.a + ((b * n + i) * n + j) * E;
            for (int64_t k = 0; k < E; ++k) dst[k] = ga(e, k);
          }
        }
        for (int64_t e = 0; e < R; ++e) {
          T* gp = g.P + t.recv[e] * H;
          T* gq = g.Q + t.send[e] * H;
          for (int64_t h = 0; h < H; ++h) {
            gp[h] += dPRE(e, h);
            gq[h] += dPRE(e, h);
          }
          // Positions: through D (normalised) and through r.
          const T* d0 = t.D0.data() + e * d;
          const T* dd = dD.data() + e * d;
          T drv = dr[e];
          T dD0[8];
          std::vector<T> big;
          T* dv = dD0;
          if (d > 8) {
            big.resize(static_cast<size_t>(d));
            dv = big.data();
          }
          if (s.norm_diff) {
            const T sc = t.inv_s[e];
            T dots = 0;
            for (int64_t k = 0; k < d; ++k) {
              dv[k] = dd[k] / sc;
              dots += dd[k] * d0[k];
            }
            const T ds = -dots / (sc * sc);
            drv += ds * (T(0.5) / std::sqrt(t.r[e] + T(1e-8)));
          } else {
            for (int64_t k = 0; k < d; ++k) dv[k] = dd[k];
          }
          T* gxi = g.x + t.recv[e] * d;
          T* gxj = g.x + t.send[e] * d;
          for (int64_t k = 0; k < d; ++k) {
            const T v = dv[k] + T(2) * drv * d0[k];
            gxi[k] += v;
            gxj[k] -= v;
          }
        }
      }
    });
  }
  // Reduce the chunks' partials in chunk order.
  std::vector<T> wsum(static_cast<size_t>(n_w), T(0));
  for (int64_t c = 0; c < chunks; ++c)
    for (int64_t k = 0; k < n_w; ++k) wsum[k] += partials[c * n_w + k];
  auto put = [&](T* dst, int64_t off, int64_t len) {
    if (dst) std::copy(wsum.begin() + off, wsum.begin() + off + len, dst);
  };
  put(g.w_r, o_wr, H);
  put(g.W2, o_W2, H * H);
  put(g.b2, o_b2, H);
  put(g.W3, o_W3, H * H);
  put(g.b3, o_b3, H);
  put(g.w4, o_w4, H);
  if (E > 0) put(g.W_a, o_Wa, E * H);
  if (s.attention) {
    put(g.w_att, o_watt, H);
    put(g.b_att, o_batt, 1);
  }
}

template void egnn_message_forward<float>(const EgnnMsgShape&, const EgnnMsgIn<float>&, float*);
template void egnn_message_forward<double>(const EgnnMsgShape&, const EgnnMsgIn<double>&, double*);
template void egnn_message_backward<float>(const EgnnMsgShape&, const EgnnMsgIn<float>&, const float*,
                                           const EgnnMsgGrad<float>&);
template void egnn_message_backward<double>(const EgnnMsgShape&, const EgnnMsgIn<double>&, const double*,
                                            const EgnnMsgGrad<double>&);

}  // namespace orbit::cpu
