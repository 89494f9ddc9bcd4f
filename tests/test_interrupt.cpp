// Graceful Ctrl-C: util::StopOnSignal turns the first SIGINT / SIGTERM into a flag (the process lives,
// the default action returns for the next one, an inherited SIG_IGN is kept, the old handler comes
// back), and the long-running commands save their state and exit with 128 + signal when stopped.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "engine/error.h"
#include "engine/util/interrupt.h"
#include "models/diffusion/cfm.h"
#include "tests/cli_runner.h"

using namespace orbit;

namespace {
volatile sig_atomic_t g_custom_hits = 0;
void custom_handler(int) { g_custom_hits = g_custom_hits + 1; }

void (*handler_of(int sig))(int) {
  struct sigaction now;
  sigaction(sig, nullptr, &now);
  return now.sa_handler;
}
}  // namespace

TEST_SUITE("cpu") {
  TEST_CASE("interrupt: the first signal sets the flag, the second would kill, the old handler comes back") {
    struct sigaction custom{}, before{};
    custom.sa_handler = custom_handler;
    sigemptyset(&custom.sa_mask);
    sigaction(SIGINT, &custom, &before);
    {
      util::StopOnSignal stop("testing");
      CHECK_FALSE(stop.requested());
      CHECK(stop.signal() == 0);
      CHECK_THROWS_WITH_AS(util::StopOnSignal("again"), doctest::Contains("another guard is already active"), Error);
      raise(SIGINT);
      CHECK(stop.requested());
      CHECK(stop.signal() == SIGINT);
      CHECK((handler_of(SIGINT) == SIG_DFL));  // a second Ctrl-C terminates
      CHECK(g_custom_hits == 0);
    }
    CHECK((handler_of(SIGINT) == custom_handler));
    raise(SIGINT);
    CHECK(g_custom_hits == 1);
    {
      util::StopOnSignal stop("SIGTERM too");
      raise(SIGTERM);
      CHECK(stop.signal() == SIGTERM);
      CHECK(util::exit_status_for_signal(stop.signal()) == 143);
    }
    // An ignored SIGINT (a job started in the background of a script) stays ignored.
    signal(SIGINT, SIG_IGN);
    {
      util::StopOnSignal stop("ignored");
      raise(SIGINT);
      CHECK_FALSE(stop.requested());
    }
    CHECK((handler_of(SIGINT) == SIG_IGN));
    sigaction(SIGINT, &before, nullptr);
  }
}

#if defined(ORBIT_CLI_PATH)
namespace {
// Starts `orbit args...` with output to `log`, SIGINT at its default action (not inherited as ignored).
pid_t spawn_orbit(const std::vector<std::string>& args, const std::string& log) {
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    FILE* f = std::freopen(log.c_str(), "w", stdout);
    if (f == nullptr || dup2(STDOUT_FILENO, STDERR_FILENO) < 0) _exit(127);
    std::vector<char*> argv;
    std::string prog = ORBIT_CLI_PATH;
    argv.push_back(prog.data());
    std::vector<std::string> copy = args;
    for (auto& s : copy) argv.push_back(s.data());
    argv.push_back(nullptr);
    execv(prog.c_str(), argv.data());
    _exit(127);
  }
  return pid;
}

// Waits up to `seconds` for `ready`; false on timeout.
template <class F>
bool wait_for(F ready, double seconds) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < end) {
    if (ready()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

// The exit status of `pid` within `seconds` (-1: it did not exit; it is then killed).
int wait_exit(pid_t pid, double seconds) {
  int status = 0;
  if (!wait_for([&] { return waitpid(pid, &status, WNOHANG) == pid; }, seconds)) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1000 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

int lines_in(const std::string& path) {
  std::ifstream f(path);
  int n = 0;
  for (std::string line; std::getline(f, line);) ++n;
  return n;
}
}  // namespace

TEST_SUITE("cpu") {
  TEST_CASE("cli interrupt: Ctrl-C or --time-limit stops idem train / idem nll --flow with the state saved, and they continue") {
    namespace fs = std::filesystem;
    const std::string dir = orbit::testing::temp_path("orbit_cli_interrupt");
    fs::remove_all(dir);
    fs::create_directories(dir);
    const std::vector<std::string> small = {"--hidden", "8", "--layers", "2", "--K", "8", "--batch", "16",
                                            "--steps-per-epoch", "2", "--integration-steps", "4", "--eval-n", "20",
                                            "--quiet"};
    std::vector<std::string> args = {"idem", "train", "--system", "dw4", "--epochs", "1000000", "--out", dir + "/run"};
    args.insert(args.end(), small.begin(), small.end());
    pid_t pid = spawn_orbit(args, dir + "/train.log");
    REQUIRE(wait_for([&] { return lines_in(dir + "/run/metrics.jsonl") >= 2; }, 120));
    kill(pid, SIGINT);
    const int code = wait_exit(pid, 120);
    const std::string log = orbit::testing::read_file(dir + "/train.log");
    INFO(log);
    CHECK(code == 130);
    CHECK(log.find("interrupted: saving the checkpoint after this epoch") != std::string::npos);
    CHECK(log.find("stopped after epoch") != std::string::npos);
    const int done = lines_in(dir + "/run/metrics.jsonl");
    CHECK(done >= 2);
    // The checkpoint holds every logged epoch: resuming to one more epoch runs exactly one.
    auto r = orbit::testing::run_orbit("idem train --system dw4 --resume --json --quiet --epochs " + std::to_string(done + 1) +
                                       " --out " + dir + "/run");
    INFO(r.out);
    REQUIRE(r.code == 0);
    CHECK(r.out.find("\"epochs_done\": " + std::to_string(done + 1)) != std::string::npos);
    CHECK(lines_in(dir + "/run/metrics.jsonl") == done + 1);

    // idem nll --flow: Ctrl-C during the flow's training saves it at the step reached.
    const std::string flow = dir + "/flow.safetensors";
    pid = spawn_orbit({"idem", "nll", "--system", "dw4", "--samples", dir + "/run/samples.npy", "--steps", "100000000",
                       "--hidden", "8", "--ode-steps", "2", "--n", "5", "--importance-n", "5", "--quiet", "--flow", flow,
                       "--flow-every", "3"},
                      dir + "/nll.log");
    REQUIRE(wait_for([&] { return fs::exists(flow); }, 120));
    kill(pid, SIGINT);
    const int nll_code = wait_exit(pid, 120);
    const std::string nll_log = orbit::testing::read_file(dir + "/nll.log");
    INFO(nll_log);
    CHECK(nll_code == 130);
    CHECK(nll_log.find("stopped at training step") != std::string::npos);
    diffusion::CfmConfig c = diffusion::CfmConfig::preset("dw4", "quick");
    c.hidden = 8;
    c.steps = 100000000;
    c.ode_steps = 2;
    c.seed = 1;
    diffusion::Cfm cfm(c);
    cfm.load(flow);
    CHECK(cfm.steps_done() >= 3);
    CHECK(nll_log.find("stopped at training step " + std::to_string(cfm.steps_done()) + " of") != std::string::npos);

    // idem nll: Ctrl-C during the evaluation keeps its finished ODE batches (one row each here); the
    // same command continues from them to the uninterrupted run's NLL. --time-limit stops it the same way.
    const std::string evald = dir + "/evaluated.safetensors";
    std::vector<std::string> eval_args = {"idem", "nll", "--system", "dw4", "--samples", dir + "/run/samples.npy",
                                          "--steps", "3", "--hidden", "8", "--ode-steps", "60", "--ode-batch", "1",
                                          "--n", "60", "--importance-n", "2", "--flow", evald};
    auto batches = [&] {
      int k = 0;
      std::error_code ec;
      for (auto& e : fs::directory_iterator(evald + ".eval", ec)) k += e.path().extension() == ".safetensors";
      return k;
    };
    pid = spawn_orbit(eval_args, dir + "/eval.log");
    REQUIRE(wait_for([&] { return batches() >= 2; }, 120));
    kill(pid, SIGINT);
    const int eval_code = wait_exit(pid, 120);
    const std::string eval_log = orbit::testing::read_file(dir + "/eval.log");
    INFO(eval_log);
    CHECK(eval_code == 130);
    CHECK(eval_log.find("stopped during the evaluation; its finished ODE batches are in " + evald + ".eval") !=
          std::string::npos);
    const int kept = batches();
    CHECK(kept >= 2);
    CHECK(kept < 62);
    std::string eval_cmd;
    for (const auto& e : eval_args) eval_cmd += " " + e;
    auto timed_eval = orbit::testing::run_orbit(eval_cmd.substr(1) + " --eval-only --time-limit 0.001");
    CHECK(timed_eval.code == 75);
    CHECK(timed_eval.out.find("--time-limit reached during the evaluation") != std::string::npos);
    auto resumed = orbit::testing::run_orbit(eval_cmd.substr(1) + " --quiet");
    auto fresh = orbit::testing::run_orbit(eval_cmd.substr(1) + " --quiet --eval-cache none");
    INFO(resumed.out);
    REQUIRE(resumed.code == 0);
    REQUIRE(fresh.code == 0);
    auto nll_of = [](const std::string& out) { return out.substr(out.find("\"nll\": "), 30); };
    CHECK(nll_of(resumed.out) == nll_of(fresh.out));
    CHECK(resumed.out.find("\"cached_batches\": " + std::to_string(kept)) != std::string::npos);

    // --time-limit: the same stop without a signal, exit status 75 while work remains.
    std::string flags;
    for (const auto& f : small) flags += " " + f;
    auto t = orbit::testing::run_orbit("idem train --system dw4 --epochs 1000000 --time-limit 1 --out " + dir + "/timed" + flags);
    INFO(t.out);
    CHECK(t.code == 75);
    CHECK(t.out.find("--time-limit 1 s reached after epoch") != std::string::npos);
    const int timed = lines_in(dir + "/timed/metrics.jsonl");
    CHECK(timed >= 1);
    t = orbit::testing::run_orbit("idem train --system dw4 --resume --json --quiet --epochs " + std::to_string(timed + 1) +
                                  " --time-limit 1000 --out " + dir + "/timed");
    CHECK(t.code == 0);
    CHECK(t.out.find("\"epochs_done\": " + std::to_string(timed + 1)) != std::string::npos);
    const std::string nll = "idem nll --system dw4 --samples " + dir + "/run/samples.npy --steps 100000000 --hidden 8 "
                            "--ode-steps 2 --n 5 --importance-n 5 --quiet --time-limit 1";
    t = orbit::testing::run_orbit(nll + " --flow " + dir + "/timed_flow.safetensors");
    CHECK(t.code == 75);
    CHECK(t.out.find("--time-limit 1 s reached at training step") != std::string::npos);
    diffusion::Cfm timed_flow(c);
    timed_flow.load(dir + "/timed_flow.safetensors");
    CHECK(timed_flow.steps_done() >= 1);
    t = orbit::testing::run_orbit(nll);
    CHECK(t.code == 1);
    CHECK(t.out.find("--time-limit needs --flow") != std::string::npos);
    fs::remove_all(dir);
  }
}
#endif
