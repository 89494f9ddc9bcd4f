// Axis scales: the visible range, and tick positions at "nice" values (1, 2 or 5 times a power of
// ten on linear axes, powers of ten on log axes) with their labels.
#pragma once
#include <string>
#include <vector>

namespace orbit::plot {

struct Scale {
  double lo = 0, hi = 1;  // the visible range (lo > 0 on a log axis)
  bool log = false;
  std::vector<double> ticks;
  std::vector<std::string> labels;

  // Where v falls in the visible range: 0 at lo, 1 at hi (outside [0, 1] when v is outside it).
  double fraction(double v) const;
};

// The tick step for [lo, hi] (lo < hi): the smallest 1-2-5 step that needs at most max_ticks ticks
// from the last multiple of the step at or below lo to the first at or above hi.
double nice_step(double lo, double hi, int max_ticks);

// Ticks at multiples of nice_step(lo, hi, max_ticks) from at or below lo to at or above hi.
std::vector<double> nice_ticks(double lo, double hi, int max_ticks);

// A linear axis for data in [lo, hi] (any order, equal allowed, finite). fixed = false: the ticks
// cover the data and the range is the first to the last tick plus a 3% margin; fixed = true: the
// range is exactly [lo, hi] and the ticks are the nice values inside it.
Scale linear_scale(double lo, double hi, int max_ticks, bool fixed);

// A log10 axis for positive data in [lo, hi]; ticks at powers of ten (every k-th decade when there
// are more than max_ticks), covering the data unless fixed, as for linear_scale.
Scale log_scale(double lo, double hi, int max_ticks, bool fixed);

// Labels for ticks `step` apart: as many decimals as the step needs, or short scientific notation
// ("2e6", "1.5e-7") for very large or small numbers; never "-0".
std::vector<std::string> tick_labels(const std::vector<double>& ticks, double step);

}  // namespace orbit::plot
