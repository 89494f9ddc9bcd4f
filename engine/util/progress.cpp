// Progress bar; see progress.h.
#include "engine/util/progress.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "engine/error.h"

namespace orbit::util {

namespace {

std::string format_time(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  long long s = std::llround(seconds);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", s / 3600, s % 3600 / 60, s % 60);
  else
    std::snprintf(buf, sizeof buf, "%02lld:%02lld", s / 60, s % 60);
  return buf;
}

std::string format_rate(double rate) {
  char buf[32];
  if (!(rate > 0) || !std::isfinite(rate)) return "? it/s";
  if (rate >= 100)
    std::snprintf(buf, sizeof buf, "%.0f it/s", rate);
  else if (rate >= 1)
    std::snprintf(buf, sizeof buf, "%.1f it/s", rate);
  else
    std::snprintf(buf, sizeof buf, "%.2f s/it", 1 / rate);
  return buf;
}

double steady_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

Progress::Progress(int64_t total, std::string label) : Progress(total, std::move(label), Options{}) {}

Progress::Progress(int64_t total, std::string label, Options options)
    : total_(total), label_(std::move(label)), opt_(std::move(options)) {
  ORBIT_CHECK(opt_.min_interval >= 0 && opt_.log_every_percent >= 0 && opt_.log_every_seconds >= 0 && opt_.bar_width >= 0,
              "progress: negative min_interval, log_every_percent, log_every_seconds or bar_width");
  if (!opt_.out) opt_.out = stderr;
  if (!opt_.clock) opt_.clock = steady_seconds;
  terminal_ = opt_.terminal.value_or(isatty(fileno(opt_.out)) == 1);
  start_ = opt_.clock();
  last_draw_ = start_;
  step_ = opt_.initial;
  next_percent_ = opt_.log_every_percent;
}

Progress::~Progress() {
  try {
    finish();
  } catch (...) {
  }
}

std::string Progress::line(int64_t step, double now, const Metrics& metrics, bool final) const {
  const double elapsed = now - start_;
  const double rate = elapsed > 0 ? (step - opt_.initial) / elapsed : 0;
  std::string out = label_;
  char buf[96];
  if (total_ > 0) {
    double frac = std::clamp(double(step) / total_, 0.0, 1.0);
    int filled = static_cast<int>(frac * opt_.bar_width);
    std::snprintf(buf, sizeof buf, " %3d%% |", static_cast<int>(frac * 100));
    out += buf;
    out += std::string(filled, '#') + std::string(opt_.bar_width - filled, '.') + "| ";
    out += std::to_string(step) + "/" + std::to_string(total_);
  } else {
    out += " " + std::to_string(step);
  }
  out += " [" + format_time(elapsed);
  if (total_ > 0 && !final) out += "<" + format_time(rate > 0 ? (total_ - step) / rate : NAN);
  out += ", " + format_rate(rate) + "]";
  for (const auto& [name, value] : metrics) {
    std::snprintf(buf, sizeof buf, "=%.4g", value);
    out += " " + name + buf;
  }
  return out;
}

void Progress::emit(const std::string& text, bool in_place) {
  std::string s = text;
  if (in_place) {
    // Longer than the terminal, the line would wrap and '\r' could not take it back.
    winsize ws{};
    if (isatty(fileno(opt_.out)) == 1 && ioctl(fileno(opt_.out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1 &&
        s.size() >= ws.ws_col)
      s.resize(ws.ws_col - 1);
    s = "\r" + s + "\x1b[K";
  } else {
    s += "\n";
  }
  std::fputs(s.c_str(), opt_.out);
  std::fflush(opt_.out);
}

void Progress::update(int64_t step, const Metrics& metrics) {
  step_ = step;
  if (!metrics.empty()) metrics_ = metrics;
  if (opt_.quiet || finished_) return;
  double now = opt_.clock();
  if (terminal_) {
    bool last = total_ > 0 && step >= total_;
    if (!drawn_ || now - last_draw_ >= opt_.min_interval || last) {
      emit(line(step, now, metrics_), true);
      drawn_ = true;
      last_draw_ = now;
    }
    return;
  }
  const bool done = total_ > 0 && step >= total_;  // 100% is finish()'s line
  const int64_t percent = total_ > 0 ? step * 100 / total_ : 0;
  const bool by_percent = total_ > 0 && opt_.log_every_percent > 0 && percent >= next_percent_;
  const bool by_time = opt_.log_every_seconds > 0 && now - last_draw_ >= opt_.log_every_seconds;
  if (done || !(by_percent || by_time)) return;
  emit(line(step, now, metrics_), false);
  last_draw_ = now;
  if (by_percent) next_percent_ = static_cast<int>((percent / opt_.log_every_percent + 1) * opt_.log_every_percent);
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  if (opt_.quiet) return;
  std::string text = line(step_, opt_.clock(), metrics_, true);
  if (terminal_) {
    emit(text, true);
    std::fputs("\n", opt_.out);
    std::fflush(opt_.out);
  } else {
    emit(text, false);
  }
}

}  // namespace orbit::util
