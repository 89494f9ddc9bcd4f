#include "engine/util/interrupt.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>

#include "engine/error.h"

namespace orbit::util {

namespace {
// Signal handlers may only touch lock-free atomics and call async-signal-safe functions (write, signal).
std::atomic<int> g_signal{0};
std::atomic<bool> g_active{false};
char g_message[512];
size_t g_message_len = 0;
struct sigaction g_old_int, g_old_term;

void on_signal(int sig) {
  int expected = 0;
  if (g_signal.compare_exchange_strong(expected, sig)) {
    ssize_t r = ::write(STDERR_FILENO, g_message, g_message_len);
    (void)r;
  }
  // The next signal of this kind takes its default action (terminates).
  struct sigaction dfl;
  std::memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  sigaction(sig, &dfl, nullptr);
}
}  // namespace

StopOnSignal::StopOnSignal(const std::string& what) {
  bool expected = false;
  ORBIT_CHECK(g_active.compare_exchange_strong(expected, true), "StopOnSignal: another guard is already active");
  const std::string msg = "\norbit: interrupted: " + what + " (press Ctrl-C again to quit at once)\n";
  g_message_len = std::min(msg.size(), sizeof g_message);
  std::memcpy(g_message, msg.data(), g_message_len);
  g_signal.store(0);
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;  // reads and writes in progress continue
  // A signal the process inherited as ignored (a job started with nohup or in the background of a
  // script) stays ignored: such a run is not meant to be stopped by the terminal's Ctrl-C.
  sigaction(SIGINT, nullptr, &g_old_int);
  sigaction(SIGTERM, nullptr, &g_old_term);
  if (g_old_int.sa_handler != SIG_IGN) sigaction(SIGINT, &sa, nullptr);
  if (g_old_term.sa_handler != SIG_IGN) sigaction(SIGTERM, &sa, nullptr);
}

StopOnSignal::~StopOnSignal() {
  sigaction(SIGINT, &g_old_int, nullptr);
  sigaction(SIGTERM, &g_old_term, nullptr);
  g_active.store(false);
}

bool StopOnSignal::requested() const { return g_signal.load() != 0; }
int StopOnSignal::signal() const { return g_signal.load(); }

}  // namespace orbit::util
