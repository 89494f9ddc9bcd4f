// A progress bar for long runs, drawn on stderr:
//
//   training  42% |##########..............| 420/1000 [00:12<00:16, 35.2 it/s] loss=0.12
//
//   util::Progress bar(1000, "training");
//   for (int64_t step = 1; step <= 1000; ++step) { ...; bar.update(step, {{"loss", loss}}); }
//   bar.finish();
//
// On a terminal the line is redrawn in place at most every `min_interval` seconds (and always for
// the last step). When the output is not a terminal (a log file, a pipe) nothing is redrawn: one
// plain line is printed each time another `log_every_percent` percent of the steps is done, and
// also once `log_every_seconds` have passed since the last line (an hours-long run's log shows it is
// alive), so a log keeps a coarse record. quiet = true prints nothing at all, finish() included.
// A total of 0 or less means "unknown": the line shows the step count and rate only.
#pragma once
#include <cstdint>
#include <cstdio>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace orbit::util {

class Progress {
 public:
  using Metrics = std::vector<std::pair<std::string, double>>;

  struct Options {
    bool quiet = false;
    std::FILE* out = nullptr;             // nullptr: stderr
    std::optional<bool> terminal;         // default: isatty(out)
    std::function<double()> clock;        // seconds on a monotonic clock; default std::chrono::steady_clock
    double min_interval = 0.1;            // seconds between redraws on a terminal
    int log_every_percent = 10;           // not a terminal: a line per this many percent (0: none)
    double log_every_seconds = 300;       // not a terminal: and a line after this long without one (0: never)
    int bar_width = 24;
    int64_t initial = 0;                  // steps already done when the bar starts (a resumed run):
                                          // shown, but not counted in the rate
  };

  Progress(int64_t total, std::string label);
  Progress(int64_t total, std::string label, Options options);
  ~Progress();  // finish(), if not called yet
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // Reports that `step` steps (of total) are done; metrics, when given, replace the ones shown.
  void update(int64_t step, const Metrics& metrics = {});
  // Prints the final line (on a terminal it replaces the bar and ends with a newline). Idempotent.
  void finish();

  // The status line for `step` at time `now` (seconds on the clock), without control characters;
  // the final form shows the elapsed time without an estimate of the time left.
  std::string line(int64_t step, double now, const Metrics& metrics, bool final = false) const;

 private:
  void emit(const std::string& text, bool in_place);

  int64_t total_;
  std::string label_;
  Options opt_;
  bool terminal_ = false, finished_ = false, drawn_ = false;
  double start_ = 0, last_draw_ = 0;
  int64_t step_ = 0;
  int next_percent_ = 0;  // not a terminal: print when the percentage reaches this
  Metrics metrics_;
};

}  // namespace orbit::util
