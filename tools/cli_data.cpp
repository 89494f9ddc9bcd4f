// `orbit data nbody`: the charged N-body data set (train / val / test trajectories as .npz);
// `orbit data solar`: the synthetic Newtonian solar system (one trajectory as .npz).
#include <chrono>
#include <cstdio>
#include <filesystem>

#include "models/egnn/nbody.h"
#include "models/egnn/solar.h"
#include "tools/commands.h"

namespace orbit::cli {

namespace {
namespace fs = std::filesystem;

int run_nbody(const Args& a) {
  egnn::NBodyConfig cfg;
  cfg.n_particles = static_cast<int>(a.integer("particles", 2, 1000));
  cfg.steps = static_cast<int>(a.integer("steps", 2, 100000000));
  cfg.sample_every = static_cast<int>(a.integer("sample-every", 1, 100000000));
  cfg.dt = a.positive("dt");
  cfg.validate();
  const uint64_t seed = static_cast<uint64_t>(a.integer("seed", 0, 1LL << 62));
  const int64_t counts[3] = {a.integer("train", 1, 10000000), a.integer("val", 1, 10000000),
                             a.integer("test", 1, 10000000)};
  const char* names[3] = {"train", "val", "test"};
  const fs::path dir = a.str("out");
  fs::create_directories(dir);
  auto t0 = std::chrono::steady_clock::now();
  for (int s = 0; s < 3; ++s) {
    auto tr = egnn::simulate_charged(cfg, counts[s], seed, static_cast<uint64_t>(s));
    const fs::path p = dir / (std::string("nbody_") + names[s] + ".npz");
    egnn::save_trajectories(p.string(), cfg, tr);
    if (!a.flag("quiet"))
      std::printf("%s: %lld trajectories x %lld frames x %d particles -> %s\n", names[s], static_cast<long long>(tr.count),
                  static_cast<long long>(tr.frames), cfg.n_particles, p.string().c_str());
  }
  std::printf("charged N-body data (seed %llu, dt %g, %d steps, a frame every %d) in %.1f s\n",
              static_cast<unsigned long long>(seed), cfg.dt, cfg.steps, cfg.sample_every,
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return 0;
}

int run_solar(const Args& a) {
  egnn::SolarConfig cfg;
  cfg.seed = static_cast<uint64_t>(a.integer("seed", 0, 1LL << 62));
  cfg.horizon = a.integer("horizon", 1, 10000000);
  cfg.substeps = static_cast<int>(a.integer("substeps", 1, 1000));
  cfg.validate();
  const fs::path dir = a.str("out");
  fs::create_directories(dir);
  auto sys = egnn::simulate_solar(cfg);
  const fs::path p = dir / "solar.npz";
  egnn::save_solar(p.string(), cfg, sys);
  const double e0 = egnn::solar_energy(sys, 0), e1 = egnn::solar_energy(sys, sys.frames - 1);
  std::printf("synthetic solar system (Sun + 8 planets, seed %llu): %lld frames of %g min, relative energy drift %.2e -> %s\n",
              static_cast<unsigned long long>(cfg.seed), static_cast<long long>(sys.frames), cfg.frame_minutes,
              std::abs((e1 - e0) / e0), p.string().c_str());
  return 0;
}

}  // namespace

Command data_nbody_command() {
  return Command("data nbody", "generate the charged N-body data set (5 charged particles, leapfrog)",
                 {{"out", "output folder", "nbody_data"},
                  {"train", "training trajectories", "3000"},
                  {"val", "validation trajectories", "2000"},
                  {"test", "test trajectories", "2000"},
                  {"particles", "particles per system", "5"},
                  {"steps", "leapfrog steps per trajectory", "5000"},
                  {"sample-every", "steps between saved frames", "100"},
                  {"dt", "time step", "0.001"},
                  {"seed", "random seed", "43"},
                  {"quiet", "print only the summary", "", true}},
                 run_nbody, false);
}

Command data_solar_command() {
  return Command("data solar", "simulate the synthetic Newtonian solar system (Sun + 8 planets; a stand-in for JPL data)",
                 {{"out", "output folder", "solar_data"},
                  {"horizon", "frames between input and target", "1000"},
                  {"substeps", "leapfrog steps per 30-minute frame", "6"},
                  {"seed", "random seed of the orbital angles", "1"}},
                 run_solar, false);
}

}  // namespace orbit::cli
