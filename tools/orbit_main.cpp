// orbit: the command line front end. `orbit help` lists the subcommands; `orbit CMD --help` their options.
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "tools/commands.h"

namespace orbit::cli {
const std::vector<Command>& commands() {
  static const std::vector<Command> all = {info_command(),       demo_command(),       inspect_command(),
                                             prox_command(),       pinn_train_command(), pinn_study_command(),
                                             metrics_command(),    energy_command(),     mcmc_command(),
                                             idem_train_command(), idem_sample_command(), idem_eval_command(), idem_nll_command(),
                                             egnn_train_command(), egnn_eval_command(), data_nbody_command(), data_solar_command(),
                                             sharing_train_command()};
  return all;
}
}  // namespace orbit::cli

namespace {
void usage(std::FILE* to) {
  std::fprintf(to, "orbit: a C++20/CUDA engine for symmetry-aware scientific machine learning\n\n"
                   "usage: orbit <command> [options]     (orbit <command> --help for its options)\n\ncommands:\n");
  for (auto& c : orbit::cli::commands()) std::fprintf(to, "  %-12s %s\n", c.name().c_str(), c.summary().c_str());
  std::fprintf(to, "  %-12s %s\n", "help", "this text");
}
}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  std::string cmd = argv[1];
  if (cmd == "help" || cmd == "--help" || cmd == "-h") {
    usage(stdout);
    return 0;
  }
  // Two-word commands ("pinn train") take precedence over one-word ones.
  int used = 2;
  if (argc >= 3) {
    std::string two = cmd + " " + argv[2];
    for (auto& c : orbit::cli::commands())
      if (c.name() == two) {
        cmd = two;
        used = 3;
      }
  }
  std::vector<std::string> rest(argv + used, argv + argc);
  for (auto& c : orbit::cli::commands()) {
    if (c.name() != cmd) continue;
    try {
      return c.main(rest);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "orbit %s: error: %s\n", cmd.c_str(), e.what());
      return 1;
    }
  }
  std::fprintf(stderr, "orbit: unknown command '%s' (try 'orbit help')\n", cmd.c_str());
  return 2;
}
