// Nice tick values and axis ranges; see ticks.h.
#include "engine/plot/ticks.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <utility>

#include "engine/error.h"

namespace orbit::plot {

namespace {

constexpr double kEps = 1e-9;     // relative slack when deciding whether a value sits on a tick
constexpr double kMargin = 0.03;  // share of the tick span added on each side of an automatic range

// 10^e: exact for |e| <= 22 (and the nearest double to 10^-e's reciprocal), libm beyond.
double pow10i(int e) {
  if (std::abs(e) > 22) return std::pow(10.0, e);
  double p = 1;
  for (int i = 0; i < std::abs(e); ++i) p *= 10;
  return e < 0 ? 1 / p : p;
}

// A step m * 10^e with m in {1, 2, 5}.
struct Step {
  int m = 1, e = 0;
  double value() const { return m * pow10i(e); }
  // k steps, computed so that decimal ticks come out as the nearest double (0.3, not 0.30000000000000004).
  double times(double k) const { return e >= 0 ? k * m * pow10i(e) : k * m / pow10i(-e); }
};

Step choose_step(double lo, double hi, int max_ticks) {
  ORBIT_CHECK(std::isfinite(lo) && std::isfinite(hi) && lo < hi, "plot: bad axis range [", lo, ", ", hi, "]");
  max_ticks = std::max(max_ticks, 2);
  int e0 = static_cast<int>(std::floor(std::log10((hi - lo) / max_ticks))) - 1;
  Step s;
  for (int e = e0; e < e0 + 6; ++e)
    for (int m : {1, 2, 5}) {
      s = Step{m, e};
      double step = s.value();
      double count = std::ceil(hi / step - kEps) - std::floor(lo / step + kEps) + 1;
      if (count <= max_ticks) return s;
    }
  return s;
}

std::string compact_exponent(std::string s) {
  size_t e = s.find('e');
  if (e == std::string::npos) return s;
  std::string mant = s.substr(0, e), exp = s.substr(e + 1);
  bool neg = !exp.empty() && exp[0] == '-';
  if (!exp.empty() && (exp[0] == '-' || exp[0] == '+')) exp.erase(0, 1);
  exp.erase(0, std::min(exp.find_first_not_of('0'), exp.size() - 1));
  return mant + "e" + (neg ? "-" : "") + exp;
}

std::string decade_label(int k) {
  char buf[32];
  if (k >= -4 && k <= 5)
    std::snprintf(buf, sizeof buf, "%.*f", std::max(0, -k), pow10i(k));
  else
    std::snprintf(buf, sizeof buf, "1e%d", k);
  return buf;
}

}  // namespace

double Scale::fraction(double v) const {
  if (log) return (std::log10(v) - std::log10(lo)) / (std::log10(hi) - std::log10(lo));
  return (v - lo) / (hi - lo);
}

double nice_step(double lo, double hi, int max_ticks) { return choose_step(lo, hi, max_ticks).value(); }

std::vector<double> nice_ticks(double lo, double hi, int max_ticks) {
  Step s = choose_step(lo, hi, max_ticks);
  double step = s.value();
  double k0 = std::floor(lo / step + kEps), k1 = std::ceil(hi / step - kEps);
  std::vector<double> ticks;
  for (double k = k0; k <= k1; ++k) ticks.push_back(s.times(k));
  return ticks;
}

std::vector<std::string> tick_labels(const std::vector<double>& ticks, double step) {
  double maxabs = 0;
  for (double t : ticks) maxabs = std::max(maxabs, std::fabs(t));
  int e = static_cast<int>(std::floor(std::log10(step) + kEps));
  std::vector<std::string> labels(ticks.size());
  char buf[64];
  if (maxabs >= 1e6 || e < -5) {
    for (int p = 1; p <= 15; ++p) {
      for (size_t i = 0; i < ticks.size(); ++i) {
        double v = std::fabs(ticks[i]) < step * kEps ? 0.0 : ticks[i];
        std::snprintf(buf, sizeof buf, "%.*g", p, v);
        labels[i] = compact_exponent(buf);
      }
      bool distinct = true;
      for (size_t i = 1; i < labels.size(); ++i) distinct = distinct && labels[i] != labels[i - 1];
      if (distinct) break;
    }
    return labels;
  }
  int decimals = std::max(0, -e);
  for (size_t i = 0; i < ticks.size(); ++i) {
    double v = std::fabs(ticks[i]) < step * kEps ? 0.0 : ticks[i];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    labels[i] = buf;
    if (labels[i].find_first_of("123456789") == std::string::npos && labels[i][0] == '-') labels[i].erase(0, 1);
  }
  return labels;
}

Scale linear_scale(double lo, double hi, int max_ticks, bool fixed) {
  if (lo > hi) std::swap(lo, hi);
  if (lo == hi) {
    double d = lo != 0 ? std::fabs(lo) * 0.1 : 1.0;
    lo -= d;
    hi += d;
  }
  Scale s;
  double step = nice_step(lo, hi, max_ticks);
  if (fixed) {
    Step st = choose_step(lo, hi, max_ticks);
    for (double k = std::ceil(lo / step - kEps); k <= std::floor(hi / step + kEps); ++k) s.ticks.push_back(st.times(k));
    s.lo = lo;
    s.hi = hi;
  } else {
    s.ticks = nice_ticks(lo, hi, max_ticks);
    double span = s.ticks.back() - s.ticks.front();
    s.lo = s.ticks.front() - kMargin * span;
    s.hi = s.ticks.back() + kMargin * span;
  }
  s.labels = tick_labels(s.ticks, step);
  return s;
}

Scale log_scale(double lo, double hi, int max_ticks, bool fixed) {
  ORBIT_CHECK(lo > 0 && hi > 0 && std::isfinite(lo) && std::isfinite(hi), "plot: log axis range [", lo, ", ",
              hi, "] must be positive and finite");
  if (lo > hi) std::swap(lo, hi);
  if (hi / lo < 1 + 1e-12) {
    lo /= std::sqrt(10.0);
    hi *= std::sqrt(10.0);
  }
  max_ticks = std::max(max_ticks, 2);
  double l0 = std::log10(lo), l1 = std::log10(hi);
  Scale s;
  s.log = true;
  std::vector<int> decades;
  if (fixed) {
    int k0 = static_cast<int>(std::ceil(l0 - kEps)), k1 = static_cast<int>(std::floor(l1 + kEps));
    int ds = 1;
    while (k1 >= k0 && (k1 - k0) / ds + 1 > max_ticks) ++ds;
    for (int k = k0; k <= k1; k += ds) decades.push_back(k);
    s.lo = lo;
    s.hi = hi;
  } else {
    int k0 = static_cast<int>(std::floor(l0 + kEps)), k1 = static_cast<int>(std::ceil(l1 - kEps));
    if (k1 == k0) ++k1;
    // Decades at multiples of ds: a range across 10^0 always keeps three ticks (-ds, 0, ds).
    int ds = 1, a = k0, b = k1;
    for (; ds <= 700; ++ds) {
      a = static_cast<int>(std::floor(double(k0) / ds)) * ds;
      b = static_cast<int>(std::ceil(double(k1) / ds)) * ds;
      if ((b - a) / ds + 1 <= std::max(max_ticks, 3)) break;
    }
    for (int k = a; k <= b; k += ds) decades.push_back(k);
    double m = kMargin * (b - a);
    s.lo = std::pow(10.0, a - m);
    s.hi = std::pow(10.0, b + m);
  }
  for (int k : decades) {
    s.ticks.push_back(pow10i(k));
    s.labels.push_back(decade_label(k));
  }
  return s;
}

}  // namespace orbit::plot
