// The fused EGNN message op's CUDA kernels run from their source on the CPU by the emulator: the
// tensor-core forward (equal to its host replay, tests/egnn_tc_model.h, bit for bit), the FP32/FP64
// forward and backward, and the tensor-core backward with its sender pass and partial reduction
// (against the CPU kernel); each in both scheduling orders.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "egnn_tc_model.h"
#include "kernels/cpu/egnn_message.h"

#define ORBIT_CUDA_EMU 1
#include "tests/harness/emu_run.h"
#include "kernels/cuda/egnn_message_kernels.cuh"
#include "kernels/cuda/egnn_message_tc_bwd_kernel.cuh"
#include "kernels/cuda/egnn_message_tc_kernel.cuh"

using namespace orbit;
using emu::GuardedArray;
using testing::copy_in;
using testing::kH100Smem;
using testing::launch_both_orders;
using testing::Outputs;

namespace {

// A layer's inputs as guarded "device" arrays of T (the absent ones, without edge attributes or
// attention, stay null) and the op's shape, as every kernel test here launches them.
template <class T>
struct DeviceLayer {
  std::vector<std::unique_ptr<GuardedArray<T>>> arrays;
  std::vector<const T*> in;
  std::vector<const void*> in_void;
  std::vector<size_t> sizes;  // of every input, present or not
  scalar::EgnnMsgShape shape;

  explicit DeviceLayer(const testing::egnn_tc::Layer& L)
      : in(scalar::kEgnnInputs, nullptr), in_void(scalar::kEgnnInputs, nullptr) {
    const auto& A = L.attr;
    const std::vector<const std::vector<float>*> host = {&L.P,  &L.Q, &L.x,   &L.w_r, &L.W2,  &L.b2,   &L.W3,
                                                         &L.b3, &L.w4, &L.a, &L.W_a, &L.w_att, &L.b_att};
    for (int k = 0; k < scalar::kEgnnInputs; ++k) {
      sizes.push_back(host[k]->size());
      if ((k == scalar::kEgnnA || k == scalar::kEgnnWa) && L.E == 0) continue;
      if ((k == scalar::kEgnnWatt || k == scalar::kEgnnBatt) && !A.attention) continue;
      arrays.push_back(std::make_unique<GuardedArray<T>>(host[k]->size()));
      copy_in(*arrays.back(), std::vector<T>(host[k]->begin(), host[k]->end()));
      in[k] = arrays.back()->data();
      in_void[k] = in[k];
    }
    shape.B = L.B, shape.n = L.n, shape.d = L.d, shape.H = L.H, shape.E = L.E;
    shape.attention = A.attention, shape.norm_diff = A.norm_diff, shape.tanh = A.tanh, shape.self_loops = A.self_loops;
    shape.coords_range = A.coords_range, shape.coord_clamp = A.coord_clamp;
  }
};

// The FP32/FP64 EGNN message kernels (forward, backward, the partials' reduction) under the emulator
// against the CPU kernel (itself checked by the op harness's gradchecks).
template <class T>
void check_egnn_message_kernels(const testing::egnn_tc::Layer& L, double tol) {
  const int B = L.B, n = L.n, d = L.d, H = L.H, E = L.E;
  const auto& A = L.attr;
  const DeviceLayer<T> dl(L);
  const std::vector<const T*>& in = dl.in;
  const scalar::EgnnMsgShape& shape = dl.shape;
  const cuda::egnn_msg::Shape s{B, n, d, H, E, A.attention, A.norm_diff, A.tanh, A.self_loops, A.coords_range,
                                A.coord_clamp};
  const cuda::egnn_msg::Ptrs<T> p{in[0], in[1], in[2], in[3], in[4], in[5], in[6], in[7], in[8],
                                  in[scalar::kEgnnA], in[scalar::kEgnnWa], in[scalar::kEgnnWatt], in[scalar::kEgnnBatt]};
  cpu::EgnnMsgIn<T> cin{in[0], in[1], in[2], in[3], in[4], in[5], in[6], in[7], in[8],
                        in[scalar::kEgnnA], in[scalar::kEgnnWa], in[scalar::kEgnnWatt], in[scalar::kEgnnBatt]};
  const int nt = cuda::egnn_msg::threads_for(s);
  const size_t W = static_cast<size_t>(H + d), nodes = static_cast<size_t>(B) * n;

  GuardedArray<T> out(nodes * W);
  launch_both_orders(static_cast<unsigned>(nodes), nt, 3 * nt * sizeof(T), [&] { cuda::egnn_msg::forward_kernel<T>(s, p, out.data()); },
                     Outputs().add(out.data(), out.size()));
  std::vector<T> want(nodes * W);
  cpu::egnn_message_forward<T>(shape, cin, want.data());
  auto rel = [](const T* got, const std::vector<T>& ref) {
    double scale = 0, err = 0;
    for (size_t k = 0; k < ref.size(); ++k) {
      scale = std::max(scale, std::abs(double(ref[k])));
      err = std::max(err, std::abs(double(got[k]) - double(ref[k])));
      if (std::isnan(double(got[k]))) return double(INFINITY);
    }
    return err / std::max(scale, 1e-300);
  };
  const double ef = rel(out.data(), want);

  // The backward for a random cotangent.
  std::mt19937_64 rng(7);
  std::normal_distribution<double> nd(0, 1);
  std::vector<T> G(nodes * W);
  for (auto& v : G) v = T(nd(rng));
  GuardedArray<T> Gd(G.size());
  std::memcpy(Gd.data(), G.data(), G.size() * sizeof(T));
  const cuda::egnn_msg::WOff o(s);
  GuardedArray<T> gP(nodes * H), gQ(nodes * H), gx(nodes * d), ga(std::max<size_t>(1, nodes * n * E)),
      part(static_cast<size_t>(B) * o.n + o.n);
  launch_both_orders(static_cast<unsigned>(B), nt, 5 * nt * sizeof(T), [&] {
    cuda::egnn_msg::backward_kernel<T>(s, p, Gd.data(), gP.data(), gQ.data(), gx.data(), E > 0 ? ga.data() : nullptr,
                                       part.data());
  }, Outputs().add(gP.data(), gP.size()).add(gQ.data(), gQ.size()).add(gx.data(), gx.size()).add(ga.data(), ga.size())
         .add(part.data(), static_cast<size_t>(B) * o.n));
  T* wsum = part.data() + static_cast<size_t>(B) * o.n;
  emu::launch(2, 64, 0, [&] { cuda::egnn_msg::reduce_partials<T>(part.data(), B, o.n, wsum); });

  std::vector<std::vector<T>> cg(scalar::kEgnnInputs);
  for (int k = 0; k < scalar::kEgnnInputs; ++k) cg[k].assign(dl.sizes[k], T(NAN));
  cpu::EgnnMsgGrad<T> grad{cg[0].data(), cg[1].data(), cg[2].data(), cg[3].data(), cg[4].data(), cg[5].data(),
                           cg[6].data(), cg[7].data(), cg[8].data(),
                           E > 0 ? cg[scalar::kEgnnA].data() : nullptr, E > 0 ? cg[scalar::kEgnnWa].data() : nullptr,
                           A.attention ? cg[scalar::kEgnnWatt].data() : nullptr,
                           A.attention ? cg[scalar::kEgnnBatt].data() : nullptr};
  cpu::egnn_message_backward<T>(shape, cin, G.data(), grad);
  struct Piece {
    const char* name;
    const T* got;
    int slot;
  };
  std::vector<Piece> pieces = {{"P", gP.data(), 0},         {"Q", gQ.data(), 1},         {"x", gx.data(), 2},
                               {"w_r", wsum + o.wr, 3},     {"W2", wsum + o.W2, 4},      {"b2", wsum + o.b2, 5},
                               {"W3", wsum + o.W3, 6},      {"b3", wsum + o.b3, 7},      {"w4", wsum + o.w4, 8}};
  if (E > 0) {
    pieces.push_back({"a", ga.data(), scalar::kEgnnA});
    pieces.push_back({"W_a", wsum + o.Wa, scalar::kEgnnWa});
  }
  if (A.attention) {
    pieces.push_back({"w_att", wsum + o.watt, scalar::kEgnnWatt});
    pieces.push_back({"b_att", wsum + o.batt, scalar::kEgnnBatt});
  }
  INFO("B " << B << " n " << n << " d " << d << " H " << H << " E " << E << " (" << sizeof(T) * 8
            << "-bit): forward error " << ef);
  CHECK(ef <= tol);
  for (const Piece& pc : pieces) {
    const double e = rel(pc.got, cg[pc.slot]);
    const std::string name = pc.name;
    INFO("gradient of " << name << ": error " << e);
    CHECK(e <= tol);
  }
}

}  // namespace

TEST_SUITE("cpu") {
TEST_CASE("cuda emulator: the EGNN message tensor-core forward = its replay, bit for bit, and the f64 op") {
  namespace et = testing::egnn_tc;
  struct Case {
    int B, n, d, H, E;
    bool idem;
  };
  // iDEM's options at DW4 and LJ13 shapes, n = 37 (three sender tiles, the last partial) with self
  // loops, a clamp and two edge attributes, and the 128-wide variant.
  for (const Case& c : {Case{3, 4, 2, 32, 1, true}, Case{2, 13, 3, 64, 1, true}, Case{1, 37, 3, 32, 2, false},
                        Case{1, 5, 3, 128, 0, true}}) {
    const et::Layer L = et::make_layer(c.B, c.n, c.d, c.H, c.E, c.idem, 300 + c.n + c.H);
    scalar::EgnnTcPlan plan;
    REQUIRE(scalar::plan_egnn_tc(c.H, c.d, c.E, kH100Smem, plan));
    const DeviceLayer<float> dl(L);
    const auto args = cuda::egnn_tc::egnn_tc_args(plan, dl.shape, dl.in_void.data());
    GuardedArray<float> out(size_t(c.B) * c.n * (c.H + c.d));
    // 2 CTAs of 2 warps: every warp takes several receivers through the grid-stride loop.
    launch_both_orders(2, 64, plan.smem_bytes, [&] {
      switch (plan.H) {
        case 32: cuda::egnn_tc::egnn_tc_forward<32>(args, out.data()); break;
        case 64: cuda::egnn_tc::egnn_tc_forward<64>(args, out.data()); break;
        default: cuda::egnn_tc::egnn_tc_forward<128>(args, out.data()); break;
      }
    }, Outputs().add(out.data(), out.size()));
    const std::vector<float> got(out.data(), out.data() + out.size());
    const auto replayed = et::replay(L, plan);
    size_t mismatches = 0;
    for (size_t k = 0; k < got.size(); ++k)
      if (std::memcmp(&got[k], &replayed[k], 4) != 0) ++mismatches;
    const auto [em, ex] = et::rel_errors(got, et::reference(L), c.H, c.d);
    INFO("B " << c.B << " n " << c.n << " H " << c.H << " E " << c.E << ": " << mismatches << " of " << got.size()
              << " values differ from the replay; message error " << em << ", coordinate error " << ex);
    CHECK(mismatches == 0);
    CHECK(em < 1e-6);
    CHECK(ex < 4e-6);
  }
}

TEST_CASE("cuda emulator: the EGNN message FP32/FP64 kernels (forward, backward) = the CPU kernel") {
  namespace et = testing::egnn_tc;
  struct Case {
    int B, n, d, H, E;
    bool idem;
  };
  // iDEM's options; self loops, a clamp and two attributes; H 48 (idle threads past H in every block).
  for (const Case& c : {Case{2, 4, 2, 32, 1, true}, Case{2, 5, 3, 48, 2, false}, Case{1, 6, 3, 32, 0, true}}) {
    const et::Layer L = et::make_layer(c.B, c.n, c.d, c.H, c.E, c.idem, 500 + c.n + c.H);
    check_egnn_message_kernels<double>(L, 1e-12);
    check_egnn_message_kernels<float>(L, 2e-5);
  }
}

TEST_CASE("cuda emulator: the EGNN message tensor-core backward (+ sender sums, partials, products) = the CPU kernel") {
  namespace et = testing::egnn_tc;
  struct Case {
    int B, n, d, H, E;
    bool idem;
  };
  // iDEM's options (attention, norm_diff, tanh, E = 1) at DW4 / LJ13-like shapes; self loops with a
  // clamp and two attributes over two sender tiles; H 64 and 128.
  for (const Case& c : {Case{3, 4, 2, 32, 1, true}, Case{1, 13, 3, 64, 1, true}, Case{1, 19, 3, 32, 2, false},
                        Case{1, 5, 3, 128, 0, true}}) {
    const et::Layer L = et::make_layer(c.B, c.n, c.d, c.H, c.E, c.idem, 700 + c.n + c.H);
    const auto& A = L.attr;
    scalar::EgnnTcPlan plan;
    REQUIRE(scalar::plan_egnn_tc(c.H, c.d, c.E, kH100Smem, plan, true));
    const DeviceLayer<float> dl(L);
    const auto args = cuda::egnn_tc::egnn_tc_args(plan, dl.shape, dl.in_void.data());

    const int64_t nodes = int64_t(c.B) * c.n, deg = A.self_loops ? c.n : c.n - 1, edges = nodes * deg;
    const int64_t H = c.H, d = c.d, W = H + d;
    const int64_t pw = scalar::egnn_tc_bwd_cols(c.H, c.E) - H;
    const unsigned grid = 2, warps = 2;
    std::mt19937_64 rng(9);
    std::normal_distribution<float> nd(0.f, 1.f);
    std::vector<float> G(nodes * W);
    for (auto& v : G) v = nd(rng);
    GuardedArray<float> Gd(G.size()), U1(edges * H), M(edges * H), DZ2(edges * H), DZ3(edges * H), DPRE(edges * H),
        V(edges * d), Z2(grid * warps * 16 * H), gP(nodes * H), gQ(nodes * H), gx(nodes * d),
        ga(std::max<int64_t>(1, nodes * c.n * c.E)), part(nodes * pw + pw);
    copy_in(Gd, G);
    for (auto* a : {&gQ, &part})
      for (size_t k = 0; k < a->size(); ++k) (*a)[k] = NAN;  // every entry must be written
    cuda::egnn_tc::EgnnTcBwdOut o{};
    o.G = Gd.data(), o.U1 = U1.data(), o.M = M.data(), o.DZ2 = DZ2.data(), o.DZ3 = DZ3.data(), o.DPRE = DPRE.data();
    o.V = V.data(), o.Z2 = Z2.data(), o.gP = gP.data(), o.gx = gx.data(), o.ga = c.E > 0 ? ga.data() : nullptr;
    o.part = part.data();
    launch_both_orders(grid, 32 * warps, plan.smem_bytes, [&] {
      switch (plan.H) {
        case 32: cuda::egnn_tc::egnn_tc_backward<32>(args, o); break;
        case 64: cuda::egnn_tc::egnn_tc_backward<64>(args, o); break;
        default: cuda::egnn_tc::egnn_tc_backward<128>(args, o); break;
      }
    }, Outputs().add(U1.data(), U1.size()).add(M.data(), M.size()).add(DZ2.data(), DZ2.size())
           .add(DZ3.data(), DZ3.size()).add(DPRE.data(), DPRE.size()).add(V.data(), V.size())
           .add(gP.data(), gP.size()).add(gx.data(), gx.size()).add(c.E > 0 ? ga.data() : nullptr, c.E > 0 ? ga.size() : 0)
           .add(part.data(), nodes * pw));
    emu::launch(3, 64, 0, [&] {
      cuda::egnn_tc::egnn_tc_senders<float>(c.B, c.n, c.H, c.d, A.self_loops, DPRE.data(), V.data(), gQ.data(), gx.data());
    });
    float* wsum = part.data() + nodes * pw;
    emu::launch(2, 64, 0, [&] { cuda::egnn_msg::reduce_partials<float>(part.data(), nodes, pw, wsum); });
    // The two products cuBLAS forms on the device, here in f64.
    auto product = [&](const GuardedArray<float>& X, const GuardedArray<float>& Y) {
      std::vector<float> r(H * H);
      for (int64_t a = 0; a < H; ++a)
        for (int64_t bb = 0; bb < H; ++bb) {
          double s = 0;
          for (int64_t e = 0; e < edges; ++e) s += double(X.data()[e * H + a]) * Y.data()[e * H + bb];
          r[a * H + bb] = static_cast<float>(s);
        }
      return r;
    };
    const std::vector<float> dW2 = product(U1, DZ2), dW3 = product(M, DZ3);

    std::vector<std::vector<float>> cg(scalar::kEgnnInputs);
    for (int k = 0; k < scalar::kEgnnInputs; ++k) cg[k].assign(dl.sizes[k], NAN);
    cpu::EgnnMsgIn<float> cin{L.P.data(),  L.Q.data(),  L.x.data(),  L.w_r.data(), L.W2.data(),
                              L.b2.data(), L.W3.data(), L.b3.data(), L.w4.data(),
                              c.E > 0 ? L.a.data() : nullptr,   c.E > 0 ? L.W_a.data() : nullptr,
                              A.attention ? L.w_att.data() : nullptr, A.attention ? L.b_att.data() : nullptr};
    cpu::EgnnMsgGrad<float> cgr{cg[0].data(), cg[1].data(), cg[2].data(), cg[3].data(), cg[4].data(), cg[5].data(),
                                cg[6].data(), cg[7].data(), cg[8].data(),
                                c.E > 0 ? cg[scalar::kEgnnA].data() : nullptr, c.E > 0 ? cg[scalar::kEgnnWa].data() : nullptr,
                                A.attention ? cg[scalar::kEgnnWatt].data() : nullptr,
                                A.attention ? cg[scalar::kEgnnBatt].data() : nullptr};
    cpu::egnn_message_backward<float>(dl.shape, cin, G.data(), cgr);
    struct Piece {
      std::string name;
      const float* got;
      int slot;
    };
    std::vector<Piece> pieces = {{"P", gP.data(), 0},      {"Q", gQ.data(), 1},        {"x", gx.data(), 2},
                                 {"w_r", wsum, 3},         {"W2", dW2.data(), 4},      {"b2", wsum + H, 5},
                                 {"W3", dW3.data(), 6},    {"b3", wsum + 2 * H, 7},    {"w4", wsum + 3 * H, 8}};
    if (c.E > 0) {
      pieces.push_back({"a", ga.data(), scalar::kEgnnA});
      pieces.push_back({"W_a", wsum + 5 * H, scalar::kEgnnWa});
    }
    if (A.attention) {
      pieces.push_back({"w_att", wsum + 4 * H, scalar::kEgnnWatt});
      pieces.push_back({"b_att", wsum + (5 + c.E) * H, scalar::kEgnnBatt});
    }
    for (const Piece& pc : pieces) {
      const auto& want = cg[pc.slot];
      double scale = 0, err = 0;
      bool finite = true;
      for (size_t k = 0; k < want.size(); ++k) {
        scale = std::max(scale, std::abs(double(want[k])));
        err = std::max(err, std::abs(double(pc.got[k]) - want[k]));
        finite = finite && std::isfinite(pc.got[k]);
      }
      INFO("B " << c.B << " n " << c.n << " H " << c.H << " E " << c.E << ": the gradient of " << pc.name
                << ", relative error " << err / scale);
      CHECK(finite);
      CHECK(err <= 2e-5 * scale);
    }
  }
}

}
