// The progress bar with a fake clock: the status line (percent, bar, rate, elapsed, ETA, metrics),
// the redraw limit on a terminal, the coarse lines when not a terminal, and quiet mode.
#include <doctest/doctest.h>

#include <cstdio>
#include <string>

#include "engine/util/progress.h"

using orbit::util::Progress;

namespace {

// Everything written to f so far.
std::string contents(std::FILE* f) {
  std::fflush(f);
  std::string s;
  std::rewind(f);
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
  std::fseek(f, 0, SEEK_END);
  return s;
}

int count(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t i = text.find(what); i != std::string::npos; i = text.find(what, i + 1)) ++n;
  return n;
}

struct Fake {
  double t = 0;
  std::FILE* f = std::tmpfile();
  ~Fake() { std::fclose(f); }
  Progress::Options options(bool terminal) {
    Progress::Options o;
    o.out = f;
    o.terminal = terminal;
    o.clock = [this] { return t; };
    return o;
  }
};

}  // namespace

TEST_SUITE("cpu") {

TEST_CASE("progress line shows percent, bar, rate, elapsed, eta and metrics") {
  Fake fake;
  auto opt = fake.options(true);
  opt.bar_width = 10;
  Progress bar(100, "train", opt);
  CHECK(bar.line(50, 5.0, {{"loss", 0.12}, {"acc", 0.875}}) ==
        "train  50% |#####.....| 50/100 [00:05<00:05, 10.0 it/s] loss=0.12 acc=0.875");
  CHECK(bar.line(25, 100.0, {}) == "train  25% |##........| 25/100 [01:40<05:00, 4.00 s/it]");
  CHECK(bar.line(100, 3600.0 * 2 + 61, {}, true) == "train 100% |##########| 100/100 [2:01:01, 72.61 s/it]");
  CHECK(bar.line(0, 0.0, {}) == "train   0% |..........| 0/100 [00:00<?, ? it/s]");
  CHECK(bar.line(10, 0.01, {}).find("1000 it/s") != std::string::npos);

  fake.t = 5;
  bar.update(50, {{"loss", 0.12}});
  std::string out = contents(fake.f);
  CHECK(out == "\rtrain  50% |#####.....| 50/100 [00:05<00:05, 10.0 it/s] loss=0.12\x1b[K");
  fake.t = 10;
  bar.update(100);  // no metrics given: the last ones stay
  bar.finish();
  out = contents(fake.f);
  CHECK(out.substr(out.rfind('\r')) == "\rtrain 100% |##########| 100/100 [00:10, 10.0 it/s] loss=0.12\x1b[K\n");
  bar.finish();  // idempotent
  CHECK(contents(fake.f) == out);
}

TEST_CASE("progress redraws at most ten times a second on a terminal") {
  Fake fake;
  {
    Progress bar(1000, "run", fake.options(true));
    for (int step = 1; step <= 1000; ++step) {
      fake.t = step * 0.001;  // a second in all
      bar.update(step);
    }
  }  // the destructor finishes
  std::string out = contents(fake.f);
  int draws = count(out, "\r");
  CHECK(draws >= 10);
  CHECK(draws <= 13);  // the first update, one per 0.1 s, the last step and finish()
  CHECK(out.back() == '\n');
  CHECK(count(out, "\n") == 1);
}

TEST_CASE("progress prints coarse lines when not a terminal and nothing when quiet") {
  Fake fake;
  {
    Progress bar(200, "eval", fake.options(false));
    for (int step = 1; step <= 200; ++step) {
      fake.t = step;
      bar.update(step, {{"nll", 1.0 / step}});
    }
    bar.finish();
  }
  std::string out = contents(fake.f);
  CHECK(count(out, "\r") == 0);
  CHECK(count(out, "\x1b") == 0);
  CHECK(count(out, "\n") == 10);  // 10%, 20%, ..., 90% and the final line
  CHECK(out.find("eval  10% |") == 0);
  CHECK(out.find("eval 100% |") != std::string::npos);
  CHECK(out.find("[03:20, 1.0 it/s] nll=0.005\n") != std::string::npos);

  Fake quiet;
  auto opt = quiet.options(true);
  opt.quiet = true;
  {
    Progress bar(10, "quiet", opt);
    for (int step = 1; step <= 10; ++step) bar.update(step, {{"x", 1.0}});
    bar.finish();
  }
  CHECK(contents(quiet.f).empty());
}

TEST_CASE("progress not on a terminal also logs a line after log_every_seconds without one") {
  Fake fake;
  auto opt = fake.options(false);
  opt.log_every_percent = 0;
  opt.log_every_seconds = 300;
  {
    Progress bar(10, "flow", opt);
    for (int step = 1; step <= 10; ++step) {
      fake.t = 100.0 * step;
      bar.update(step);
    }
  }
  std::string out = contents(fake.f);
  CHECK(count(out, "\n") == 4);  // at 300, 600 and 900 s, then the final line
  CHECK(out.find("flow  30% |") == 0);
  CHECK(out.find("flow  60% |") != std::string::npos);
  CHECK(out.find("flow  90% |") != std::string::npos);
  // Percent and time together: a percent line restarts the clock; an unknown total logs by time only.
  Fake both;
  auto o2 = both.options(false);
  o2.log_every_seconds = 250;
  {
    Progress bar(10, "mix", o2);  // 10% per step, 100 s per step: every step is a percent line
    for (int step = 1; step <= 10; ++step) {
      both.t = 100.0 * step;
      bar.update(step);
    }
  }
  CHECK(count(contents(both.f), "\n") == 10);
  Fake unknown;
  auto o3 = unknown.options(false);
  o3.log_every_seconds = 60;
  {
    Progress bar(0, "sampling", o3);
    for (int step = 1; step <= 10; ++step) {
      unknown.t = 30.0 * step;
      bar.update(step);
    }
  }
  CHECK(count(contents(unknown.f), "\n") == 6);  // at 60, 120, ..., 300 s, then the final line
}

TEST_CASE("progress with an unknown total and with a resumed start") {
  Fake fake;
  Progress open_ended(0, "sampling", fake.options(true));
  CHECK(open_ended.line(300, 60.0, {}) == "sampling 300 [01:00, 5.0 it/s]");

  auto opt = fake.options(true);
  opt.initial = 500;  // steps done before this run: not part of the rate
  opt.bar_width = 4;
  Progress resumed(1000, "train", opt);
  CHECK(resumed.line(600, 50.0, {}) == "train  60% |##..| 600/1000 [00:50<03:20, 2.0 it/s]");
}

}  // TEST_SUITE
