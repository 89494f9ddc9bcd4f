// The CPU kernels of the fused EGNN message op (kernels/cpu/egnn_message.h) on several OpenMP threads:
// the same bits as on one thread (the work is split into fixed chunks of graphs whatever the thread
// count), with the per-thread buffers reused across calls of different shapes in between. The model
// tests run on the machine's default thread count; this one sets the counts itself, so a one-core
// runner still exercises the workers' paths.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include "kernels/cpu/egnn_message.h"

using namespace orbit;

namespace {

struct Problem {
  cpu::EgnnMsgShape s;
  std::vector<double> P, Q, x, w_r, W2, b2, W3, b3, w4, a, W_a, w_att, b_att, G;

  Problem(int64_t B, int64_t n, int64_t H, int64_t E, bool attention, uint64_t seed) {
    s.B = B, s.n = n, s.d = 3, s.H = H, s.E = E;
    s.attention = attention, s.norm_diff = true, s.tanh = true, s.coords_range = 15;
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> nd;
    auto fill = [&](std::vector<double>& v, int64_t size, double sd) {
      v.resize(static_cast<size_t>(size));
      for (auto& e : v) e = sd * nd(rng);
    };
    fill(P, B * n * H, 0.5), fill(Q, B * n * H, 0.5), fill(x, B * n * 3, 1.0), fill(w_r, H, 0.1);
    fill(W2, H * H, 0.1), fill(b2, H, 0.1), fill(W3, H * H, 0.1), fill(b3, H, 0.1), fill(w4, H, 0.1);
    fill(a, B * n * n * E, 1.0), fill(W_a, E * H, 0.1), fill(w_att, H, 0.1), fill(b_att, 1, 0.1);
    fill(G, B * n * (H + 3), 1.0);
  }
  cpu::EgnnMsgIn<double> in() const {
    cpu::EgnnMsgIn<double> i;
    i.P = P.data(), i.Q = Q.data(), i.x = x.data(), i.w_r = w_r.data(), i.W2 = W2.data(), i.b2 = b2.data();
    i.W3 = W3.data(), i.b3 = b3.data(), i.w4 = w4.data();
    if (s.E > 0) i.a = a.data(), i.W_a = W_a.data();
    if (s.attention) i.w_att = w_att.data(), i.b_att = b_att.data();
    return i;
  }
  // The forward output, then every input's gradient, concatenated.
  std::vector<double> run() const {
    const int64_t B = s.B, n = s.n, H = s.H, E = s.E;
    std::vector<double> out(static_cast<size_t>(B * n * (H + 3)));
    cpu::egnn_message_forward<double>(s, in(), out.data());
    std::vector<double> gP(P.size()), gQ(Q.size()), gx(x.size()), gwr(H), gW2(H * H), gb2(H), gW3(H * H), gb3(H),
        gw4(H), ga(static_cast<size_t>(B * n * n * E)), gWa(static_cast<size_t>(E * H)), gwatt(H), gbatt(1);
    cpu::EgnnMsgGrad<double> g;
    g.P = gP.data(), g.Q = gQ.data(), g.x = gx.data(), g.w_r = gwr.data(), g.W2 = gW2.data(), g.b2 = gb2.data();
    g.W3 = gW3.data(), g.b3 = gb3.data(), g.w4 = gw4.data();
    if (E > 0) g.a = ga.data(), g.W_a = gWa.data();
    if (s.attention) g.w_att = gwatt.data(), g.b_att = gbatt.data();
    cpu::egnn_message_backward<double>(s, in(), G.data(), g);
    for (auto* v : {&gP, &gQ, &gx, &gwr, &gW2, &gb2, &gW3, &gb3, &gw4, &ga, &gWa, &gwatt, &gbatt})
      out.insert(out.end(), v->begin(), v->end());
    return out;
  }
};

bool same_bits(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0;
}

}  // namespace

TEST_SUITE("cpu") {
  TEST_CASE("egnn_message kernels: the same bits on 1 and 3 OpenMP threads, buffers reused across shapes") {
#if !defined(_OPENMP)
    MESSAGE("built without OpenMP: one thread only");
#else
    const int saved = omp_get_max_threads();
    // B 70 > the 64 chunks (uneven chunks); H 128 (the paper's width: tiles of 256 rows); then a small
    // problem with edge attributes, then the first again, so each thread's buffers are reused at a
    // smaller and a larger size.
    const Problem big(70, 4, 128, 0, true, 1), small(9, 13, 16, 2, false, 2);
    omp_set_num_threads(1);
    const auto big1 = big.run(), small1 = small.run();
    omp_set_num_threads(3);
    const auto big3 = big.run(), small3 = small.run(), big3_again = big.run();
    omp_set_num_threads(saved);
    CHECK(same_bits(big1, big3));
    CHECK(same_bits(small1, small3));
    CHECK(same_bits(big1, big3_again));
#endif
  }
}
