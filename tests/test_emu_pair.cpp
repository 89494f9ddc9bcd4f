// The CUDA pair-potential kernels (kernels/cuda/pair_potential_kernels.cuh: the ring schedule and the
// ordered one) run from their CUDA source on the CPU by the emulator, against the f64 energies and
// forces; the same in both scheduling orders.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/scalar/pair_potential.h"

#define ORBIT_CUDA_EMU 1
#include "tests/harness/emu_run.h"
#include "kernels/cuda/pair_potential_kernels.cuh"

using namespace orbit;
using emu::GuardedArray;
using testing::copy_in;
using testing::launch_both_orders;
using testing::Outputs;

namespace {

// One configuration batch through a pair kernel under the emulator, as launch_pair (kernels/cuda/
// systems.cu) would pick it: G lanes per configuration, the ring kernel for n <= 4 G.
template <class T, int DIM>
void emulate_pair(const scalar::PairParams& p, const std::vector<T>& x, int64_t batch, bool ring, std::vector<T>& e,
                  std::vector<T>& g) {
  int G = 1;
  while (G < p.n && G < 32) G *= 2;
  const int per_warp = 32 / G, slots = (p.n + G - 1) / G;
  GuardedArray<T> xg(x.size()), eg(static_cast<size_t>(batch)), gg(x.size());
  std::memcpy(xg.data(), x.data(), x.size() * sizeof(T));
  const int warps = 2;
  const size_t per_warp_bytes = static_cast<size_t>(per_warp) * p.n * (ring ? 8 : DIM) * sizeof(T);
  const int64_t nd = int64_t(p.n) * DIM;
  launch_both_orders(2, 32 * warps, warps * per_warp_bytes, [&] {
    if (!ring) {
      cuda::pair::pair_kernel_ordered<T, DIM>(p, xg.data(), batch, eg.data(), 1, gg.data(), nd, G);
    } else if (slots <= 1) {
      cuda::pair::pair_kernel_ring<T, DIM, 1>(p, xg.data(), batch, eg.data(), 1, gg.data(), nd, G);
    } else if (slots == 2) {
      cuda::pair::pair_kernel_ring<T, DIM, 2>(p, xg.data(), batch, eg.data(), 1, gg.data(), nd, G);
    } else {
      REQUIRE(slots <= 4);
      cuda::pair::pair_kernel_ring<T, DIM, 4>(p, xg.data(), batch, eg.data(), 1, gg.data(), nd, G);
    }
  }, Outputs().add(eg.data(), eg.size()).add(gg.data(), gg.size()));
  e.assign(eg.data(), eg.data() + batch);
  g.assign(gg.data(), gg.data() + gg.size());
}

template <class T, int DIM>
void check_pair_kernels(const scalar::PairParams& p, double tol, uint64_t seed) {
  std::mt19937_64 rng(seed);
  const int n = p.n;
  // 2 CTAs x 2 warps x (32 / G) configurations, twice over, plus one: the grid-stride loop, a partial
  // last warp, and groups without a configuration.
  int G = 1;
  while (G < n && G < 32) G *= 2;
  const int64_t batch = 2 * 2 * 2 * (32 / G) + 1;
  // Particles on a jittered cubic lattice of spacing 1.1 (no overlaps: LJ terms stay moderate).
  std::uniform_real_distribution<double> jitter(-0.15, 0.15);
  const int side = static_cast<int>(std::ceil(std::pow(double(n), 1.0 / DIM)));
  std::vector<T> x(static_cast<size_t>(batch) * n * DIM);
  for (int64_t b = 0; b < batch; ++b)
    for (int i = 0; i < n; ++i) {
      int rest = i;
      for (int k = 0; k < DIM; ++k) {
        x[(b * n + i) * DIM + k] = T(1.1 * (rest % side) + jitter(rng));
        rest /= side;
      }
    }
  std::vector<double> e_ref(batch), g_ref(x.size());
  for (int64_t b = 0; b < batch; ++b) {
    std::vector<double> xb(x.begin() + b * n * DIM, x.begin() + (b + 1) * n * DIM);
    e_ref[b] = scalar::pair_energy_grad<double>(p, xb.data(), g_ref.data() + b * n * DIM);
  }
  double e_scale = 0, g_scale = 0;
  for (double v : e_ref) e_scale = std::max(e_scale, std::abs(v));
  for (double v : g_ref) g_scale = std::max(g_scale, std::abs(v));
  for (const bool ring : {false, true}) {
    if (ring && n > 4 * G) continue;  // the ring kernel's limit (n <= 128): launch_pair runs the ordered one
    std::vector<T> e, g;
    emulate_pair<T, DIM>(p, x, batch, ring, e, g);
    double ee = 0, eg = 0;
    for (int64_t b = 0; b < batch; ++b) ee = std::max(ee, std::abs(double(e[b]) - e_ref[b]));
    for (size_t k = 0; k < g.size(); ++k) eg = std::max(eg, std::abs(double(g[k]) - g_ref[k]));
    const std::string kernel = ring ? "ring" : "ordered";
    INFO(kernel << " kernel, n " << n << ", dim " << DIM << ", " << sizeof(T) * 8
                                     << "-bit: energy error " << ee / e_scale << ", gradient error " << eg / g_scale);
    CHECK(ee <= tol * e_scale);  // NaN fails too: every configuration and coordinate was written
    CHECK(eg <= tol * g_scale);
  }
}

}  // namespace

TEST_SUITE("cpu") {
TEST_CASE("cuda emulator: the pair-potential kernels (ring and ordered) = the f64 energy and forces") {
  scalar::PairParams lj;
  lj.kind = scalar::PairKind::lennard_jones;
  lj.scale = 2, lj.oscillator = 1, lj.softening = 1e-6;
  scalar::PairParams dw;
  dw.kind = scalar::PairKind::double_well;
  dw.a = 0.9, dw.b = -4, dw.d0 = 4;
  dw.dim = 2;
  for (int n : {4, 5, 13, 33, 55, 100, 128, 129}) {
    lj.n = n, lj.dim = 3;
    check_pair_kernels<float, 3>(lj, 2e-5, n);
    check_pair_kernels<double, 3>(lj, 1e-12, n);
  }
  for (int n : {2, 4, 7}) {
    dw.n = n;
    check_pair_kernels<float, 2>(dw, 2e-5, 10 + n);
    check_pair_kernels<double, 2>(dw, 1e-12, 10 + n);
  }
}
}
