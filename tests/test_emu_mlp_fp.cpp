// The fused MLP's FP32 / FP64 tile kernel (kernels/cuda/mlp_fused_kernel.cuh) run from its CUDA source on
// the CPU by the emulator, streaming and resident: equal bit for bit to the same network computed on the
// host with one FMA per term in k order and the activation applied to acc + b (what the kernel promises),
// in f32 and f64, for every activation, odd widths, partial tiles and misaligned inputs.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#define ORBIT_CUDA_EMU 1
#include "tests/harness/emu_run.h"
#include "kernels/cuda/mlp_fused_kernel.cuh"

using namespace orbit;
using emu::GuardedArray;
using scalar::MlpAct;
using testing::launch_both_orders;
using testing::Outputs;

namespace {

// The network with T sums in k order, one FMA per term, then act(acc + b).
template <class T>
std::vector<T> fma_net(const std::vector<int>& widths, const std::vector<std::vector<T>>& W,
                       const std::vector<std::vector<T>>& b, const std::vector<T>& x, int64_t rows,
                       const std::vector<MlpAct>& acts) {
  std::vector<T> h = x;
  for (size_t l = 0; l + 1 < widths.size(); ++l) {
    const int K = widths[l], N = widths[l + 1];
    std::vector<T> o(static_cast<size_t>(rows) * N);
    for (int64_t r = 0; r < rows; ++r)
      for (int n = 0; n < N; ++n) {
        T s = T(0);
        for (int k = 0; k < K; ++k) s = std::fma(h[static_cast<size_t>(r) * K + k], W[l][k * N + n], s);
        o[static_cast<size_t>(r) * N + n] = scalar::mlp_act(acts[l], s + b[l][n]);
      }
    h = std::move(o);
  }
  return h;
}

struct Net {
  std::vector<int> widths;
  std::vector<MlpAct> acts;
};

// Runs the kernel variant launch_tile (kernels/cuda/mlp_fused.cu) picks for T and the widest layer, in
// streaming mode (one CTA per tile) or resident mode (two persistent CTAs looping over the tiles).
template <class T, int TM, int WMAX>
void check_net(const Net& net, bool resident, std::mt19937& rng) {
  constexpr int NT = TM * WMAX / 64;
  const auto& widths = net.widths;
  const int layers = static_cast<int>(widths.size()) - 1;
  std::normal_distribution<double> nd(0.0, 1.0);
  std::vector<std::vector<T>> W(layers), b(layers);
  std::vector<GuardedArray<T>*> guarded;
  cuda::mlp_fp::MlpParams p{};
  p.layers = layers;
  for (int l = 0; l <= layers; ++l) p.widths[l] = widths[l];
  for (int l = 0; l < layers; ++l) {
    const double s = 1.5 / std::sqrt(static_cast<double>(widths[l]));
    for (int i = 0; i < widths[l] * widths[l + 1]; ++i) W[l].push_back(static_cast<T>(s * nd(rng)));
    for (int i = 0; i < widths[l + 1]; ++i) b[l].push_back(static_cast<T>(0.1 * nd(rng)));
    for (auto* v : {&W[l], &b[l]}) {
      guarded.push_back(new GuardedArray<T>(v->size()));
      testing::copy_in(*guarded.back(), *v);
    }
    p.acts[l] = net.acts[l];
    p.w[l] = guarded[guarded.size() - 2]->data();
    p.b[l] = guarded.back()->data();
  }
  const size_t h_elems = size_t(WMAX) * (TM + 4);
  const size_t smem = resident ? (h_elems + cuda::mlp_fp::plan_resident_weights(p)) * sizeof(T)
                               : (h_elems + size_t(WMAX) * WMAX + WMAX) * sizeof(T);
  struct Run {
    int64_t n;
    int x_offset;
  };
  // Three tiles (the last partial), then x one element past a 16-byte boundary (the scalar loads).
  for (const Run run : {Run{2 * TM + 5, 0}, Run{TM / 2 + 3, 1}}) {
    const int64_t n = run.n;
    std::vector<T> x(static_cast<size_t>(n) * widths[0]);
    for (auto& v : x) v = static_cast<T>(nd(rng));
    GuardedArray<T> xbuf(x.size() + run.x_offset), y(static_cast<size_t>(n) * widths.back());
    T* const xp = xbuf.data() + run.x_offset;
    std::memcpy(xp, x.data(), x.size() * sizeof(T));
    const int64_t tiles = (n + TM - 1) / TM;
    const unsigned grid = resident ? 2u : static_cast<unsigned>(tiles);
    launch_both_orders(grid, NT, smem, [&] {
      if (resident) cuda::mlp_fp::mlp_tile_kernel<T, TM, WMAX, NT, 1, true>(p, xp, y.data(), n);
      else cuda::mlp_fp::mlp_tile_kernel<T, TM, WMAX, NT, 1, false>(p, xp, y.data(), n);
    }, Outputs().add(y.data(), y.size()));
    const auto want = fma_net(widths, W, b, x, n, net.acts);
    size_t mismatches = 0;
    for (size_t k = 0; k < want.size(); ++k)
      if (std::memcmp(&want[k], &y[k], sizeof(T)) != 0) ++mismatches;
    INFO(sizeof(T) * 8 << "-bit, widths " << widths[0] << ".." << widths.back() << ", WMAX " << WMAX << ", n " << n
                       << (resident ? ", resident" : ", streaming") << ", x offset " << run.x_offset);
    CHECK(mismatches == 0);
  }
  for (auto* g : guarded) delete g;
}

}  // namespace

TEST_SUITE("cpu") {
TEST_CASE("cuda emulator: the fused MLP's FP32 / FP64 tile kernel = FMAs in k order, bit for bit") {
  std::mt19937 rng(11);
  // The benchmark's net, odd widths with every activation (W rows of odd length: the scalar staging),
  // a 32-wide one, and 128-wide layers.
  const Net bench{{32, 64, 64, 64, 64, 16}, {MlpAct::relu, MlpAct::relu, MlpAct::relu, MlpAct::relu, MlpAct::identity}};
  const Net odd{{3, 20, 7, 33, 1}, {MlpAct::tanh, MlpAct::silu, MlpAct::softplus, MlpAct::sigmoid}};
  const Net narrow{{12, 24, 8}, {MlpAct::gelu, MlpAct::identity}};
  const Net wide{{128, 100, 5}, {MlpAct::gelu, MlpAct::relu}};
  for (bool resident : {false, true}) {
    check_net<float, 128, 64>(bench, resident, rng);
    check_net<float, 128, 64>(odd, resident, rng);
    check_net<float, 128, 32>(narrow, resident, rng);
    check_net<float, 128, 128>(wide, resident, rng);
    check_net<double, 128, 64>(odd, resident, rng);
    check_net<double, 64, 128>(wide, resident, rng);
  }
}
}
