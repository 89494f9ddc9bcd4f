// orbit: the command line front end. `orbit help` lists the subcommands.
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "tools/commands.h"

namespace {
void usage() {
  std::printf(
      "orbit: a C++20/CUDA engine for symmetry-aware scientific machine learning\n\n"
      "usage: orbit <command> [options]\n\n"
      "commands:\n"
      "  info    the build (CUDA on/off, architectures, threads) and the devices this machine has\n"
      "  demo    fit a small tanh MLP to sin(x) and check its second derivative against autodiff\n"
      "          [--steps N] [--lr X (Adam, cosine decay)] [--device auto|cpu|cuda] [--seed S]\n"
      "  help    this text\n");
}
}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    usage();
    return 2;
  }
  std::string cmd = argv[1];
  std::vector<std::string> rest(argv + 2, argv + argc);
  try {
    if (cmd == "info") return orbit::cli::cmd_info(rest);
    if (cmd == "demo") return orbit::cli::cmd_demo(rest);
    if (cmd == "help" || cmd == "--help" || cmd == "-h") {
      usage();
      return 0;
    }
    std::fprintf(stderr, "orbit: unknown command '%s' (try 'orbit help')\n", cmd.c_str());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "orbit %s: error: %s\n", cmd.c_str(), e.what());
    return 1;
  }
}
