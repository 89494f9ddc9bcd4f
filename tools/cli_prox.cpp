// `orbit prox`: the weight-sharing proximal map prox_{tR} of the array in a .npy file, written to
// another .npy file; --stats prints what it did (distinct values, zeros, rounds/levels) as JSON.
// --device cuda runs it on the GPU (kernels/cuda/prox.cu); the default is the CPU.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include "engine/io/json.h"
#include "engine/io/npy.h"
#include "engine/orbit.h"
#include "models/sharing/prox.h"
#include "tools/commands.h"

namespace orbit::cli {

namespace {

int run_prox(const Args& args) {
  const std::string in = args.str("in"), out = args.str("out");
  const double step = args.real("step"), l1 = args.real("l1"), rho = args.real("rho");
  ORBIT_CHECK(step >= 0, "--step must be >= 0, got ", step);
  ORBIT_CHECK(l1 >= 0, "--l1 must be >= 0, got ", l1);
  ORBIT_CHECK(rho >= 0 && rho <= 1, "--rho must be in [0, 1], got ", rho);
  const std::string alg = args.str("algorithm");
  ORBIT_CHECK(alg == "pava" || alg == "imminent" || alg == "search",
              "--algorithm must be pava, imminent or search, got '", alg, "'");
  ORBIT_CHECK(std::filesystem::is_regular_file(in), "no such file '", in, "'");
  const Device dev = Device::parse(args.str("device"));

  Tensor w = read_npy(in);
  ORBIT_CHECK(w.dtype() == DType::f32 || w.dtype() == DType::f64, "'", in, "' holds ", dtype_name(w.dtype()),
              " values; the prox needs f32 or f64");
  sharing::ProxOptions opts{l1, rho, sharing::parse_algorithm(alg)};
  sharing::ProxStats stats;
  if (!dev.is_cpu()) w = w.to(dev);
  auto t0 = std::chrono::steady_clock::now();
  sharing::prox_weight_sharing_inplace(w, step, opts, &stats);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!dev.is_cpu()) w = w.to(Device::cpu());
  write_npy(out, w);

  if (args.flag("stats"))
    std::printf("{\"in\": %s, \"out\": %s, \"dtype\": \"%s\", \"d\": %lld, \"step\": %.17g, \"l1\": %.17g, "
                "\"rho\": %.17g, \"algorithm\": \"%s\", \"device\": \"%s\", \"distinct\": %lld, \"zeros\": %lld, "
                "\"blocks\": %lld, \"rounds\": %lld, \"depth\": %lld, \"seconds\": %.6f, \"solve_seconds\": %.6f}\n",
                io::json_quote(in).c_str(), io::json_quote(out).c_str(), dtype_name(w.dtype()),
                static_cast<long long>(stats.d), step, l1, rho, alg.c_str(), dev.str().c_str(),
                static_cast<long long>(stats.distinct), static_cast<long long>(stats.zeros), static_cast<long long>(stats.blocks),
                static_cast<long long>(stats.rounds), static_cast<long long>(stats.depth), seconds,
                stats.solve_seconds);
  return 0;
}

}  // namespace

Command prox_command() {
  return Command("prox", "weight-sharing prox of a .npy array: argmin_u 0.5 |u - w|^2 + t R(u)",
                 {{"in", "input .npy of f32/f64 weights (any shape, flattened)", "", false, true},
                  {"step", "t >= 0, the prox step (learning rate x regularization strength)", "", false, true},
                  {"l1", "soft threshold of the shared values", "0"},
                  {"rho", "in [0, 1]: move blocks by (1 - rho) of their drift", "0"},
                  {"algorithm", "pava, imminent or search", "search"},
                  {"device", "cpu, cuda, cuda:N or auto (the GPU when one is visible)", "cpu"},
                  {"out", "output .npy (same shape and dtype)", "", false, true},
                  {"stats", "print JSON: d, distinct values, zeros, blocks, rounds (search: levels), time", "",
                   true}},
                 run_prox, false);
}

}  // namespace orbit::cli
