// Graceful Ctrl-C for long runs: while a StopOnSignal is alive, the first SIGINT or SIGTERM does not
// kill the process; it sets a flag (stop_requested()) that the training loop polls, so the run ends
// after the current step or epoch with its checkpoint written. The handler then puts the default
// action back, so a second Ctrl-C quits at once.
//
//   util::StopOnSignal stop("saving the checkpoint after this epoch");
//   for (...) { ...; if (stop.requested()) { save(); return 130; } }
//
// One guard at a time (a second live guard is an error); the destructor restores the handlers it replaced.
#pragma once
#include <string>

namespace orbit::util {

class StopOnSignal {
 public:
  // `what` completes the message printed at the first signal: "orbit: interrupted: <what> (press
  // Ctrl-C again to quit at once)".
  explicit StopOnSignal(const std::string& what);
  ~StopOnSignal();
  StopOnSignal(const StopOnSignal&) = delete;
  StopOnSignal& operator=(const StopOnSignal&) = delete;

  bool requested() const;
  int signal() const;  // the signal received (0: none)
};

// The exit status of a command that stopped on `sig` after saving its work (128 + sig, as shells report).
inline int exit_status_for_signal(int sig) { return 128 + sig; }
// The exit status of a command that reached its --time-limit with its work saved and more to do:
// sysexits' EX_TEMPFAIL ("try again"), so a batch script can tell it from success and from failure.
constexpr int kExitUnfinished = 75;

}  // namespace orbit::util
