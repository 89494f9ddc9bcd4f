// The tensor-core kernels' own CUDA source, run on the CPU by the CUDA emulator (tests/harness/cuda_emu.h):
// every thread a fiber, warp collectives and the TF32 MMA modelled. The outputs must equal the host
// replays of the kernels' data movement (tests/mlp_tc_model.h, tests/egnn_tc_model.h) bit for bit (the
// same operations in the same order) and the f64 definitions to f32 accuracy. The replays were written
// from the kernels by hand; this runs the kernels themselves, so a transcription slip in either shows.
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
#include "mlp_tc_model.h"

#define ORBIT_CUDA_EMU 1
#include "tests/harness/cuda_emu.h"
// the kernels' source, compiled against the emulator
#include "kernels/cuda/egnn_message_kernels.cuh"
#include "kernels/cuda/egnn_message_tc_bwd_kernel.cuh"
#include "kernels/cuda/egnn_message_tc_kernel.cuh"
#include "kernels/cuda/mlp_fused_tc_kernel.cuh"
#include "kernels/cuda/pair_potential_kernels.cuh"

using namespace orbit;
using emu::GuardedArray;
using testing::kH100Smem;

namespace {

template <class V>
void copy_in(GuardedArray<float>& dst, const V& src) {
  REQUIRE(dst.size() == src.size());
  if (!src.empty()) std::memcpy(dst.data(), src.data(), src.size() * sizeof(float));
}

// Output buffers a kernel writes, for running it in both scheduling orders.
struct Outputs {
  std::vector<std::pair<void*, size_t>> spans;  // pointer, bytes
  template <class T>
  Outputs& add(T* p, size_t count) {
    spans.push_back({static_cast<void*>(p), count * sizeof(T)});
    return *this;
  }
  std::vector<unsigned char> snapshot() const {
    std::vector<unsigned char> all;
    for (auto [p, n] : spans) all.insert(all.end(), static_cast<unsigned char*>(p), static_cast<unsigned char*>(p) + n);
    return all;
  }
  void poison() const {
    for (auto [p, n] : spans) std::memset(p, 0xff, n);  // NaN for floats
  }
};

// Runs the kernel with the threads (and blocks) scheduled in reverse, then in order, its outputs
// poisoned before each run: the two must agree bit for bit, or the kernel reads something another
// thread writes without a barrier in between (emu::Order).
void launch_both_orders(unsigned grid, unsigned threads, size_t smem, const std::function<void()>& k, const Outputs& out) {
  out.poison();
  emu::launch(grid, threads, smem, k, emu::Order::reverse);
  const auto reversed = out.snapshot();
  out.poison();
  emu::launch(grid, threads, smem, k, emu::Order::forward);
  CHECK_MESSAGE(out.snapshot() == reversed, "the outputs depend on the order the threads run in: a race");
}

std::string launch_error(unsigned grid, unsigned threads, size_t smem, const std::function<void()>& k) {
  try {
    emu::launch(grid, threads, smem, k);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

// Small kernels for the emulator's own checks.
__global__ void shuffle_kernel(float* out) {
  const int lane = threadIdx.x & 31;
  float v = static_cast<float>(threadIdx.x);
  v += __shfl_xor_sync(0xffffffffu, v, 1);
  v += __shfl_xor_sync(0xffffffffu, v, 2);
  out[threadIdx.x + blockIdx.x * blockDim.x] = v + 1000.f * __shfl_sync(0xffffffffu, static_cast<float>(lane), 31 - lane);
}

__global__ void smem_kernel(float* out) {
  ORBIT_DYNAMIC_SMEM(float, s);
  const int t = threadIdx.x;
  out[blockIdx.x * 2 * blockDim.x + t] = s[t];  // never written in this block: NaN
  s[t] = static_cast<float>(t + 100 * blockIdx.x);
  __syncthreads();
  out[blockIdx.x * 2 * blockDim.x + blockDim.x + t] = s[blockDim.x - 1 - t];  // another warp's value
}

// Lane l reads what lane l + 1 wrote, with no __syncwarp in between: a race.
__global__ void racy_kernel(float* out) {
  ORBIT_DYNAMIC_SMEM(float, s);
  const int t = threadIdx.x;
  s[t] = static_cast<float>(t);
  out[t] = s[(t + 1) % 32];
}

__global__ void skips_syncwarp_kernel() {
  if ((threadIdx.x & 31) != 5) __syncwarp();
}

__global__ void divergent_kernel() {
  if ((threadIdx.x & 31) < 16) __syncwarp();
  else (void)__shfl_xor_sync(0xffffffffu, 1.f, 1);
}

__global__ void untf32_mma_kernel() {
  float d[4] = {0, 0, 0, 0};
  const uint32_t a[4] = {0x3f800001u, 0, 0, 0}, b[2] = {0, 0};  // 1 + 2^-23: not a TF32 value
  cuda::mma_tf32(d, a, b);
}

}  // namespace

TEST_CASE("cuda emulator: shuffles, shared memory, barriers; hangs and divergence become errors") {
  {
    GuardedArray<float> out(2 * 64);
    emu::launch(2, 64, 0, [&] { shuffle_kernel(out.data()); });
    for (int b = 0; b < 2; ++b)
      for (int t = 0; t < 64; ++t) {
        const int quad = t & ~3, lane = t & 31;
        CHECK(out[b * 64 + t] == float(4 * quad + 6) + 1000.f * float(31 - lane));
      }
  }
  {
    GuardedArray<float> out(2 * 2 * 96);
    emu::launch(2, 96, 96 * sizeof(float), [&] { smem_kernel(out.data()); });
    for (int b = 0; b < 2; ++b)
      for (int t = 0; t < 96; ++t) {
        CHECK(std::isnan(out[b * 192 + t]));
        CHECK(out[b * 192 + 96 + t] == float(95 - t + 100 * b));
      }
  }
  const std::string hang = launch_error(1, 64, 0, [] { skips_syncwarp_kernel(); });
  CHECK(hang.find("deadlock") != std::string::npos);
  CHECK(hang.find("__syncwarp") != std::string::npos);
  const std::string div = launch_error(1, 32, 0, [] { divergent_kernel(); });
  CHECK(div.find("divergent") != std::string::npos);
  const std::string mma = launch_error(1, 32, 0, [] { untf32_mma_kernel(); });
  CHECK(mma.find("not a TF32 value") != std::string::npos);
  CHECK(launch_error(1, 48, 0, [] {}).find("whole warps") != std::string::npos);
  // The two scheduling orders expose the race (each order alone runs without complaint).
  GuardedArray<float> racy(32);
  emu::launch(1, 32, 32 * sizeof(float), [&] { racy_kernel(racy.data()); }, emu::Order::forward);
  const float lane0_forward = racy[0];
  emu::launch(1, 32, 32 * sizeof(float), [&] { racy_kernel(racy.data()); }, emu::Order::reverse);
  CHECK(std::isnan(lane0_forward));  // lane 1 had not written yet
  CHECK(racy[0] == 1.f);
}

TEST_CASE("cuda emulator: the fused MLP's tensor-core kernel = its replay, bit for bit, and the f64 net") {
  std::mt19937 rng(5);
  std::normal_distribution<float> nd(0.f, 1.f);
  using scalar::MlpAct;
  struct Net {
    std::vector<int> widths;
    std::vector<MlpAct> acts;
  };
  // The benchmark's net (ReLU, identity last), odd widths (padding columns and rows), the 128-wide
  // variant (16-row tiles), and an input width that is not a multiple of 4 (scalar loads).
  const std::vector<Net> nets = {
      {{32, 64, 64, 64, 64, 16}, {MlpAct::relu, MlpAct::relu, MlpAct::relu, MlpAct::relu, MlpAct::identity}},
      {{3, 20, 7, 33, 1}, {MlpAct::tanh, MlpAct::silu, MlpAct::softplus, MlpAct::sigmoid}},
      {{128, 100, 5}, {MlpAct::gelu, MlpAct::tanh}},
      {{12, 24, 8}, {MlpAct::tanh, MlpAct::identity}}};
  for (const Net& net : nets) {
    const auto& widths = net.widths;
    const int layers = static_cast<int>(widths.size()) - 1;
    scalar::MlpTcPlan plan;
    REQUIRE(scalar::plan_mlp_tc(widths.data(), layers, kH100Smem, plan));
    std::vector<std::vector<float>> W(layers), b(layers);
    std::vector<GuardedArray<float>*> Wg, bg;
    std::vector<const void*> wp, bp;
    for (int l = 0; l < layers; ++l) {
      const float s = 1.5f / std::sqrt(static_cast<float>(widths[l]));
      for (int i = 0; i < widths[l] * widths[l + 1]; ++i) W[l].push_back(s * nd(rng));
      for (int i = 0; i < widths[l + 1]; ++i) b[l].push_back(0.1f * nd(rng));
      Wg.push_back(new GuardedArray<float>(W[l].size()));
      bg.push_back(new GuardedArray<float>(b[l].size()));
      copy_in(*Wg.back(), W[l]);
      copy_in(*bg.back(), b[l]);
      wp.push_back(Wg.back()->data());
      bp.push_back(bg.back()->data());
    }
    const auto params = cuda::mlp_tc::mlp_tc_params(plan, widths.data(), net.acts.data(), wp.data(), bp.data());
    const int RW = plan.rows_per_warp;
    // 2 CTAs of 3 warps: 6 warps share 2 RW + 5 rows (three tiles, the last partial), and 7 RW + 1
    // rows (eight tiles: every warp loops once more through the grid-stride loop); then x one float
    // past a 16-byte boundary (the kernel's scalar loads instead of float4).
    struct Run {
      int64_t n;
      int x_offset;
    };
    for (const Run run : {Run{2 * RW + 5, 0}, Run{7 * RW + 1, 0}, Run{RW + 3, 1}}) {
      const int64_t n = run.n;
      std::vector<float> x(static_cast<size_t>(n) * widths[0]);
      for (auto& v : x) v = nd(rng);
      GuardedArray<float> xbuf(x.size() + run.x_offset), y(static_cast<size_t>(n) * widths.back());
      float* const xp = xbuf.data() + run.x_offset;
      std::memcpy(xp, x.data(), x.size() * sizeof(float));
      launch_both_orders(2, 3 * 32, plan.smem_bytes, [&] {
        switch (plan.wmax) {
          case 32: cuda::mlp_tc::mlp_tc_kernel<32>(params, xp, y.data(), n); break;
          case 64: cuda::mlp_tc::mlp_tc_kernel<64>(params, xp, y.data(), n); break;
          default: cuda::mlp_tc::mlp_tc_kernel<128>(params, xp, y.data(), n); break;
        }
      }, Outputs().add(y.data(), y.size()));
      const int NL = widths.back();
      size_t mismatches = 0;
      for (int64_t row0 = 0; row0 < n; row0 += RW) {
        const int rows = static_cast<int>(std::min<int64_t>(RW, n - row0));
        const std::vector<float> xt(x.begin() + row0 * widths[0], x.begin() + (row0 + rows) * widths[0]);
        const auto want = testing::replay_warp(plan, widths, W, b, xt, rows, testing::Split::three_tf32, net.acts);
        for (size_t k = 0; k < want.size(); ++k)
          if (std::memcmp(&want[k], &y[static_cast<size_t>(row0) * NL + k], 4) != 0) ++mismatches;
      }
      const std::vector<float> yv(y.data(), y.data() + y.size());
      const auto exact = testing::reference(widths, W, b, x, static_cast<int>(n), net.acts);
      const double e = testing::max_err(yv, exact);
      const double ef = testing::max_err(testing::fp32_gemm(widths, W, b, x, static_cast<int>(n), net.acts), exact);
      INFO("widths " << widths[0] << ".." << widths.back() << ", n " << n << ": error " << e << " (FP32 GEMM " << ef << ")");
      CHECK(mismatches == 0);
      CHECK(e <= std::max(4 * ef, 1e-6));
    }
    for (auto* p : Wg) delete p;
    for (auto* p : bg) delete p;
  }
}

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
    const std::vector<const std::vector<float>*> host = {&L.P, &L.Q, &L.x, &L.w_r, &L.W2, &L.b2, &L.W3,
                                                         &L.b3, &L.w4, &L.a, &L.W_a, &L.w_att, &L.b_att};
    std::vector<std::unique_ptr<GuardedArray<float>>> dev;
    std::vector<const void*> in(scalar::kEgnnInputs, nullptr);
    for (int k = 0; k < scalar::kEgnnInputs; ++k) {
      const bool absent = (k == scalar::kEgnnA || k == scalar::kEgnnWa) ? c.E == 0
                          : (k == scalar::kEgnnWatt || k == scalar::kEgnnBatt) ? !L.attr.attention
                                                                               : false;
      if (absent) continue;
      dev.push_back(std::make_unique<GuardedArray<float>>(host[k]->size()));
      copy_in(*dev.back(), *host[k]);
      in[k] = dev.back()->data();
    }
    scalar::EgnnMsgShape shape;
    shape.B = c.B, shape.n = c.n, shape.d = c.d, shape.H = c.H, shape.E = c.E;
    shape.attention = L.attr.attention, shape.norm_diff = L.attr.norm_diff, shape.tanh = L.attr.tanh;
    shape.self_loops = L.attr.self_loops, shape.coords_range = L.attr.coords_range;
    shape.coord_clamp = L.attr.coord_clamp;
    const auto args = cuda::egnn_tc::egnn_tc_args(plan, shape, in.data());
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

namespace {

// The FP32/FP64 EGNN message kernels (forward, backward, the partials' reduction) under the emulator
// against the CPU kernel (itself checked by the op harness's gradchecks).
template <class T>
void check_egnn_message_kernels(const testing::egnn_tc::Layer& L, double tol) {
  const int B = L.B, n = L.n, d = L.d, H = L.H, E = L.E;
  const auto& A = L.attr;
  auto conv = [](const std::vector<float>& v) { return std::vector<T>(v.begin(), v.end()); };
  const std::vector<std::vector<T>> host = {conv(L.P),  conv(L.Q),  conv(L.x),  conv(L.w_r), conv(L.W2),
                                            conv(L.b2), conv(L.W3), conv(L.b3), conv(L.w4),  conv(L.a),
                                            conv(L.W_a), conv(L.w_att), conv(L.b_att)};
  std::vector<std::unique_ptr<GuardedArray<T>>> dev;
  std::vector<const T*> in(scalar::kEgnnInputs, nullptr);
  for (int k = 0; k < scalar::kEgnnInputs; ++k) {
    if ((k == scalar::kEgnnA || k == scalar::kEgnnWa) && E == 0) continue;
    if ((k == scalar::kEgnnWatt || k == scalar::kEgnnBatt) && !A.attention) continue;
    dev.push_back(std::make_unique<GuardedArray<T>>(host[k].size()));
    std::memcpy(dev.back()->data(), host[k].data(), host[k].size() * sizeof(T));
    in[k] = dev.back()->data();
  }
  scalar::EgnnMsgShape shape;
  shape.B = B, shape.n = n, shape.d = d, shape.H = H, shape.E = E;
  shape.attention = A.attention, shape.norm_diff = A.norm_diff, shape.tanh = A.tanh, shape.self_loops = A.self_loops;
  shape.coords_range = A.coords_range, shape.coord_clamp = A.coord_clamp;
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
  for (int k = 0; k < scalar::kEgnnInputs; ++k) cg[k].assign(host[k].size(), T(NAN));
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
    const std::vector<const std::vector<float>*> host = {&L.P, &L.Q, &L.x, &L.w_r, &L.W2, &L.b2, &L.W3,
                                                         &L.b3, &L.w4, &L.a, &L.W_a, &L.w_att, &L.b_att};
    std::vector<std::unique_ptr<GuardedArray<float>>> dev;
    std::vector<const void*> in(scalar::kEgnnInputs, nullptr);
    for (int k = 0; k < scalar::kEgnnInputs; ++k) {
      if ((k == scalar::kEgnnA || k == scalar::kEgnnWa) && c.E == 0) continue;
      if ((k == scalar::kEgnnWatt || k == scalar::kEgnnBatt) && !A.attention) continue;
      dev.push_back(std::make_unique<GuardedArray<float>>(host[k]->size()));
      copy_in(*dev.back(), *host[k]);
      in[k] = dev.back()->data();
    }
    scalar::EgnnMsgShape shape;
    shape.B = c.B, shape.n = c.n, shape.d = c.d, shape.H = c.H, shape.E = c.E;
    shape.attention = A.attention, shape.norm_diff = A.norm_diff, shape.tanh = A.tanh, shape.self_loops = A.self_loops;
    shape.coords_range = A.coords_range, shape.coord_clamp = A.coord_clamp;
    const auto args = cuda::egnn_tc::egnn_tc_args(plan, shape, in.data());

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
    for (int k = 0; k < scalar::kEgnnInputs; ++k) cg[k].assign(host[k]->size(), NAN);
    cpu::EgnnMsgIn<float> cin{L.P.data(),  L.Q.data(),  L.x.data(),  L.w_r.data(), L.W2.data(),
                              L.b2.data(), L.W3.data(), L.b3.data(), L.w4.data(),
                              c.E > 0 ? L.a.data() : nullptr,   c.E > 0 ? L.W_a.data() : nullptr,
                              A.attention ? L.w_att.data() : nullptr, A.attention ? L.b_att.data() : nullptr};
    cpu::EgnnMsgGrad<float> cgr{cg[0].data(), cg[1].data(), cg[2].data(), cg[3].data(), cg[4].data(), cg[5].data(),
                                cg[6].data(), cg[7].data(), cg[8].data(),
                                c.E > 0 ? cg[scalar::kEgnnA].data() : nullptr, c.E > 0 ? cg[scalar::kEgnnWa].data() : nullptr,
                                A.attention ? cg[scalar::kEgnnWatt].data() : nullptr,
                                A.attention ? cg[scalar::kEgnnBatt].data() : nullptr};
    cpu::egnn_message_backward<float>(shape, cin, G.data(), cgr);
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
