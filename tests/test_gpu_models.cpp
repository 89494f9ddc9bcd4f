// The models on the GPU: Boltzmann energies and forces for particle counts and batch sizes beyond the
// op harness's cases (the pair kernel's lane groups at n = 2 .. 129, batches that do not fill a
// block), every EGNN / MC-EGNN variant on dense and sparse graphs (CUDA = CPU, and E(n) equivariance
// measured on the GPU itself), iDEM's EGNN_dynamics in f32 at DW4 / LJ13 sizes, MALA on DW4, and
// iDEM training and sampling on CUDA following the CPU run. Every case skips itself without a GPU
// (ORBIT_TEST_GPU_ON_CPU=1 runs them with the CPU standing in for it).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "engine/orbit.h"
#include "models/diffusion/cfm.h"
#include "models/diffusion/idem.h"
#include "models/systems/mcmc.h"
#include "models/systems/system.h"
#include "tests/harness/op_harness.h"
#include "tests/test_egnn_util.h"
#include "tests/test_temp.h"

using namespace orbit;
using namespace orbit::egnn_test;

namespace {

// ORBIT_TEST_GPU_ON_CPU=1: the CPU stands in for the GPU (a dry run of the tests' own logic).
Device gpu() { return testing::device_under_test(); }

double rel_diff(const Tensor& got, const Tensor& want) {
  return max_abs_diff(got, want) / std::max(1e-300, max_abs(want));
}

// Configurations spread enough that LJ energies stay moderate: a jittered cubic lattice of spacing 1.2.
Tensor lattice_configs(int64_t B, int n, int d, uint64_t seed) {
  auto noise = randn(static_cast<size_t>(B) * n * d, seed, 9);
  const int side = static_cast<int>(std::ceil(std::pow(n, 1.0 / d)));
  std::vector<double> v(noise.size());
  for (int64_t b = 0; b < B; ++b)
    for (int i = 0; i < n; ++i) {
      int rest = i;
      for (int k = 0; k < d; ++k) {
        const size_t at = (static_cast<size_t>(b) * n + i) * d + k;
        v[at] = 1.2 * (rest % side) + 0.15 * noise[at];
        rest /= side;
      }
    }
  return Tensor::from<double>({B, static_cast<int64_t>(n) * d}, v);
}

}  // namespace

TEST_SUITE("gpu") {
  TEST_CASE("gpu models: energies and forces on CUDA match the CPU for every system, many n and batch sizes") {
    GPU_OR_SKIP();
    // The ring-schedule pair kernel (the default up to n = 128) and the kernel visiting pairs from both ends.
    for (const char* ordered : {"0", "1"})
    for (const auto& name : systems::system_names()) {
      setenv("ORBIT_PAIR_CUDA_ORDERED", ordered, 1);
      INFO("ORBIT_PAIR_CUDA_ORDERED=" << ordered);
      systems::System base = systems::system_by_name(name);
      std::vector<int> ns = {base.n_particles};
      if (base.is_molecule()) ns = {2, 3, 4, 5, base.n_particles, 31, 33, 64, 65, 128, 129};
      for (int n : ns) {
        systems::System s = base;
        s.n_particles = n;
        for (int64_t B : {int64_t{1}, int64_t{5}, int64_t{257}}) {
          INFO(name << " n=" << n << " B=" << B);
          Tensor x = s.is_molecule() ? lattice_configs(B, n, s.dim, 3 + n)
                                     : Tensor::from<double>({B, s.flat_dim()}, randn(B * s.flat_dim(), 5, 1));
          if (!s.is_molecule())
            for (int64_t i = 0; i < x.numel(); ++i) x.data<double>()[i] *= 20;
          for (DType dt : {DType::f64, DType::f32}) {
            INFO("dtype " << std::string(dtype_name(dt)));
            Tensor xd = x.cast(dt);
            Tensor gc, gg;
            Tensor ec = systems::energies(s, xd, Device::cpu(), &gc);
            Tensor eg = systems::energies(s, xd, gpu(), &gg);
            const double tol = dt == DType::f64 ? 1e-11 : 2e-5 * std::sqrt(static_cast<double>(n));
            CHECK(rel_diff(eg, ec) <= tol);
            CHECK(rel_diff(gg, gc) <= tol);
          }
        }
      }
    }
    unsetenv("ORBIT_PAIR_CUDA_ORDERED");
  }

  TEST_CASE("gpu models: every EGNN / MC-EGNN variant on CUDA matches the CPU and is E(n)-equivariant there") {
    GPU_OR_SKIP();
    for (const auto& var : variants()) {
      for (GraphKind kind : {GraphKind::dense, GraphKind::sparse_full, GraphKind::sparse_ring}) {
        INFO(var.label << " graph " << static_cast<int>(kind));
        Inputs in = make_inputs(3, 5, 3, 21);
        auto store = std::make_shared<ParamStore>();
        auto cpu = run_variant(var, in, kind, store);
        auto cuda = run_variant(var, in, kind, store, 5, gpu());
        REQUIRE(cpu.size() == cuda.size());
        for (size_t i = 0; i < cpu.size(); ++i) CHECK(rel_diff(cuda[i], cpu[i]) <= 1e-11);
        // Rotate + reflect + translate the inputs on the GPU: x_out transforms, h_out does not move.
        auto Q = random_orthogonal(3, 31, true);
        auto shift = randn(3, 8, 8);
        Inputs r = in;
        r.x = transform(in.x, Q, shift);
        r.v = transform(in.v, Q, {});
        auto moved = run_variant(var, r, kind, store, 5, gpu());
        CHECK(rel_diff(moved[0], transform(cuda[0], Q, shift)) <= 1e-10);
        CHECK(rel_diff(moved[1], cuda[1]) <= 1e-10);
      }
    }
  }

  TEST_CASE("gpu models: iDEM's EGNN_dynamics in f32 on CUDA matches the CPU at DW4 and LJ13 sizes (dense and sparse)") {
    GPU_OR_SKIP();
    struct Size {
      int n, layers;
    };
    for (Size sz : {Size{4, 3}, Size{13, 5}}) {
      for (bool sparse : {false, true}) {
        INFO("n " << sz.n << (sparse ? " sparse" : " dense"));
        const int64_t B = 37, d = 3, n = sz.n;
        Graph g;
        Var t = g.input("t", {B, 1}, DType::f32), x = g.input("x", {B, n * d}, DType::f32);
        egnn::DynamicsConfig cfg;
        cfg.n_particles = static_cast<int>(n);
        cfg.dim = static_cast<int>(d);
        cfg.hidden = 64;
        cfg.layers = sz.layers;
        cfg.sparse = sparse;
        egnn::Dynamics dyn(g, "score", cfg, DType::f32);
        Var out = dyn(t, x);
        auto store = std::make_shared<ParamStore>();
        randomize(*store, dyn.params(), 3);
        CompileOptions o;
        o.params = store;
        std::vector<double> tv(B);
        for (int64_t b = 0; b < B; ++b) tv[b] = (b + 0.5) / B;
        Tensor tt = Tensor::from<double>({B, 1}, tv).cast(DType::f32);
        Tensor xx = Tensor::from<double>({B, n * d}, randn(B * n * d, 17, 2)).cast(DType::f32);
        Tensor want = compile(g, {out}, Device::cpu(), o).run({{"t", tt}, {"x", xx}})[0];
        Tensor got = compile(g, {out}, gpu(), o).run({{"t", tt}, {"x", xx}})[0].to(Device::cpu());
        REQUIRE(max_abs(want) > 1e-3);
        CHECK(rel_diff(got, want) <= 2e-4);
      }
    }
  }

  TEST_CASE("gpu models: MALA on DW4 on CUDA reproduces the reference energy") {
    GPU_OR_SKIP();
    systems::System s = systems::system_by_name("dw4");
    systems::McmcConfig c;
    c.chains = 512;
    c.burn_in = 500;
    c.steps = 2000;
    c.thin = 50;
    c.device = gpu();
    systems::McmcResult r = systems::run_mcmc(s, c);
    // The shipped test set: mean energy -22.45 (sd 1.90); long MCMC runs give -22.5 to -22.56.
    CHECK(r.mean_energy == doctest::Approx(-22.5).epsilon(0.015));
    CHECK(r.std_energy == doctest::Approx(1.90).epsilon(0.1));
    CHECK(r.rhat_groups < 1.1);
    for (double a : r.acceptance) CHECK(a > 0.3);
  }

  TEST_CASE("gpu models: iDEM training and sampling on CUDA follow the CPU run (f64, DW4, LJ13 and GMM-40)") {
    GPU_OR_SKIP();
    for (const char* system : {"dw4", "lj13", "gmm40"}) {
      INFO(system);
      diffusion::IdemConfig c = diffusion::IdemConfig::preset(system, "quick");
      c.hidden = 16;
      c.layers = 2;
      c.K = 64;
      c.batch = 32;
      c.steps_per_epoch = 3;
      c.epochs = 2;
      c.val_every = 1;
      c.init_samples = 64;
      c.new_samples = 32;
      c.integration_steps = 8;
      c.unroll = 4;
      c.eval_n = 20;
      c.dtype = DType::f64;
      auto losses = [&](Device dev, Tensor* buffer, Tensor* samples) {
        diffusion::IdemConfig cd = c;
        cd.device = dev;
        diffusion::Idem run(cd);
        std::vector<double> l;
        run.train([&](const diffusion::IdemEpoch& e) {
          l.push_back(e.loss);
          return true;
        });
        *buffer = run.buffer();
        *samples = run.sample(50, 7);
        return l;
      };
      Tensor bc, bg, sc, sg;
      auto lc = losses(Device::cpu(), &bc, &sc);
      auto lg = losses(gpu(), &bg, &sg);
      REQUIRE(lc.size() == lg.size());
      for (size_t i = 0; i < lc.size(); ++i) CHECK(lg[i] == doctest::Approx(lc[i]).epsilon(1e-8));
      CHECK(rel_diff(bg, bc) <= 1e-8);
      CHECK(rel_diff(sg, sc) <= 1e-6);
    }
  }

  TEST_CASE("gpu models: the flow-matching likelihood model on CUDA follows the CPU, and its checkpoint moves between them") {
    GPU_OR_SKIP();
    diffusion::CfmConfig c = diffusion::CfmConfig::preset("dw4", "quick");
    c.hidden = 16;
    c.layers = 2;
    c.steps = 10;
    c.batch = 32;
    c.ode_steps = 8;
    const Tensor train = systems::initial_configurations(systems::system_by_name("dw4"), 200, 3);
    const Tensor probe = systems::initial_configurations(systems::system_by_name("dw4"), 12, 9);
    auto run = [&](Device dev, std::vector<double>& losses, const std::string& save_to) {
      diffusion::CfmConfig cd = c;
      cd.device = dev;
      diffusion::Cfm cfm(cd);
      diffusion::Cfm::TrainHooks hooks;
      hooks.on_step = [&](int64_t, double loss) { losses.push_back(loss); };
      hooks.log_every = 1;
      cfm.train(train, hooks);
      if (!save_to.empty()) cfm.save(save_to);
      return cfm.nll(probe, 6).nll.to_vector();
    };
    std::vector<double> lc, lg;
    const std::string path = orbit::testing::test_temp("orbit_gpu_cfm.safetensors");
    const std::vector<double> nc = run(Device::cpu(), lc, ""), ng = run(gpu(), lg, path);
    // f32 on both devices: ten Adam steps apart only by rounding.
    REQUIRE(lc.size() == lg.size());
    for (size_t i = 0; i < lc.size(); ++i) CHECK(lg[i] == doctest::Approx(lc[i]).epsilon(1e-3));
    for (size_t i = 0; i < nc.size(); ++i) CHECK(ng[i] == doctest::Approx(nc[i]).epsilon(1e-3));
    // The flow trained on CUDA, loaded on the CPU: the same weights, so the same NLL to f32 evaluation rounding.
    diffusion::Cfm back(c);
    back.load(path);
    CHECK(back.steps_done() == 10);
    const std::vector<double> nb = back.nll(probe, 6).nll.to_vector();
    for (size_t i = 0; i < nb.size(); ++i) CHECK(nb[i] == doctest::Approx(ng[i]).epsilon(1e-4));
    // iDEM's adaptive integrator (the paper preset's) drives the CUDA program the same way.
    diffusion::CfmConfig ca = c;
    ca.ode_solver = "dopri5";
    ca.ode_tol = 1e-6;
    ca.device = gpu();
    diffusion::Cfm adaptive(ca);
    adaptive.load(path);
    const diffusion::CfmLikelihood la = adaptive.nll(probe, 6);
    CHECK(la.ode.nfe > 0);
    for (size_t i = 0; i < nb.size(); ++i) CHECK(la.nll.data<double>()[i] == doctest::Approx(nb[i]).epsilon(1e-4));
    std::filesystem::remove(path);
  }
}
