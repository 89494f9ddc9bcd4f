// Axes layout: ranges and ticks from the data, the plot box inside the figure cell, and the scene
// items for grid, series, frame, ticks, labels, legend and the skipped-values note.
#include <algorithm>
#include <cmath>
#include <limits>

#include "engine/error.h"
#include "engine/plot/axes.h"
#include "engine/plot/font.h"
#include "engine/plot/ticks.h"

namespace orbit::plot {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr Color kText = Color::hex(0x222222);
constexpr Color kGrid = Color::hex(0xe8e8e8);
constexpr Color kFrame = Color::hex(0x444444);
constexpr Color kNote = Color::hex(0x888888);
constexpr Color kWhite = Color::hex(0xffffff);

struct Extent {
  double lo = kInf, hi = -kInf;
  void add(double v) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  bool empty() const { return lo > hi; }
};

// The centre of the pixel column/row containing v: 1-pixel lines there are sharp.
double snap(double v) { return std::floor(v) + 0.5; }

std::vector<double> bar_heights(const Series& s) {
  if (s.density_norm) return s.hist.density();
  return {s.hist.counts.begin(), s.hist.counts.end()};
}

double widest(const std::vector<std::string>& labels, int scale) {
  double w = 0;
  for (const auto& l : labels) w = std::max(w, font::text_width(l, scale));
  return w;
}

// Chooses among the scales with 2 to 12 ticks: neighbouring ticks at least `gap(scale)` pixels
// apart on an axis `length` pixels long, the data filling as much of the range as possible (within
// 0.15 of the best), then the tick count nearest (by ratio) one per `per_tick` pixels.
template <class Make, class Gap>
Scale fit_scale(Make make, Gap gap, double length, double per_tick, double data_lo, double data_hi) {
  std::vector<Scale> ok;
  std::vector<double> cover;
  for (int n = 12; n >= 2; --n) {
    Scale s = make(n);
    if (s.ticks.size() >= 2 && length * std::fabs(s.fraction(s.ticks[1]) - s.fraction(s.ticks[0])) < gap(s)) continue;
    ok.push_back(s);
    cover.push_back(data_lo < data_hi ? std::fabs(s.fraction(data_hi) - s.fraction(data_lo)) : 1.0);
  }
  if (ok.empty()) return make(2);
  double best = *std::max_element(cover.begin(), cover.end());
  double target = std::clamp(length / per_tick, 3.0, 11.0);
  size_t pick = 0;
  double dist = 1e300;
  for (size_t i = 0; i < ok.size(); ++i) {
    double d = std::fabs(std::log(double(std::max<size_t>(ok[i].ticks.size(), 1)) / target));
    if (cover[i] >= best - 0.15 && d < dist) {
      dist = d;
      pick = i;
    }
  }
  return ok[pick];
}

}  // namespace

void Axes::draw(Scene& sc, const Box& cell, int fs) const {
  const double s = fs, asc = font::kAscent * s, lh = font::kRows * s, pad = 6 * s, tick = 4 * s;
  ORBIT_CHECK(!log_y_ || !ylim_ || ylim_->first > 0, "plot: axes '", title_, "' has a log y axis but ylim starts at ",
              ylim_->first);

  // Data extents.
  Extent ex, ey;
  for (const Series& sr : series_) {
    switch (sr.kind) {
      case Series::Kind::line:
      case Series::Kind::scatter:
        for (size_t i = 0; i < sr.xs.size(); ++i)
          if (drawable(sr, i)) {
            ex.add(sr.xs[i]);
            ey.add(sr.ys[i]);
          }
        break;
      case Series::Kind::histogram:
        ex.add(sr.hist.edges.front());
        ex.add(sr.hist.edges.back());
        for (double v : bar_heights(sr))
          if (!log_y_ || v > 0) ey.add(v);
        if (!log_y_) ey.add(0);
        break;
      case Series::Kind::density:
        ex.add(sr.grid.xedges.front());
        ex.add(sr.grid.xedges.back());
        for (double v : {sr.grid.yedges.front(), sr.grid.yedges.back()})
          if (!log_y_ || v > 0) ey.add(v);
        break;
    }
  }
  if (ex.empty()) ex = {0, 1};
  if (ey.empty()) ey = log_y_ ? Extent{1, 10} : Extent{0, 1};

  // Vertical layout first: it does not depend on the tick labels.
  double top = std::round(cell.y0 + pad + (title_.empty() ? 0 : lh + 4 * s));
  double bottom = std::round(cell.y1 - pad - (xlabel_.empty() ? 0 : lh + 5 * s) - lh - tick - 2 * s);
  ORBIT_CHECK(bottom - top >= 8, "plot: axes '", title_, "' has no room to draw in a ", cell.width(), "x",
              cell.height(), " pixel cell; make the figure larger or use fewer subplots");

  auto make_y = [&](int n) {
    if (ylim_) return log_y_ ? log_scale(ylim_->first, ylim_->second, n, true)
                             : linear_scale(ylim_->first, ylim_->second, n, true);
    return log_y_ ? log_scale(ey.lo, ey.hi, n, false) : linear_scale(ey.lo, ey.hi, n, false);
  };
  Scale ys = fit_scale(make_y, [&](const Scale&) { return 3 * lh; }, bottom - top, 50 * s, ey.lo, ey.hi);

  double left = std::round(cell.x0 + pad + (ylabel_.empty() ? 0 : lh + 4 * s) + widest(ys.labels, fs) + tick + 3 * s);
  double right = std::round(cell.x1 - pad - 10 * s);
  ORBIT_CHECK(right - left >= 8, "plot: axes '", title_, "' has no room to draw in a ", cell.width(), "x",
              cell.height(), " pixel cell; make the figure larger or use fewer subplots");
  auto make_x = [&](int n) {
    return xlim_ ? linear_scale(xlim_->first, xlim_->second, n, true) : linear_scale(ex.lo, ex.hi, n, false);
  };
  Scale xs = fit_scale(make_x, [&](const Scale& sc2) { return std::max(widest(sc2.labels, fs) + 12 * s, 40 * s); },
                       right - left, 70 * s, ex.lo, ex.hi);

  const double L = snap(left), R = snap(right), T = snap(top), B = snap(bottom);
  auto X = [&](double v) { return L + xs.fraction(v) * (R - L); };
  auto Y = [&](double v) { return B - ys.fraction(v) * (B - T); };

  // Grid.
  for (double t : xs.ticks) sc.add(PolylineItem{{{snap(X(t)), T}, {snap(X(t)), B}}, kGrid, 1}, "grid");
  for (double t : ys.ticks) sc.add(PolylineItem{{{L, snap(Y(t))}, {R, snap(Y(t))}}, kGrid, 1}, "grid");

  // Series, clipped to the plot box.
  sc.clips.push_back(Box{L, T, R, B});
  const int clip = static_cast<int>(sc.clips.size()) - 1;
  for (const Series& sr : series_) {
    switch (sr.kind) {
      case Series::Kind::density: {
        int64_t most = *std::max_element(sr.grid.counts.begin(), sr.grid.counts.end());
        for (int iy = 0; iy < sr.grid.ny; ++iy)
          for (int ix = 0; ix < sr.grid.nx; ++ix) {
            int64_t c = sr.grid.counts[static_cast<size_t>(iy) * sr.grid.nx + ix];
            double y0 = sr.grid.yedges[iy], y1 = sr.grid.yedges[iy + 1];
            if (c == 0 || (log_y_ && y0 <= 0)) continue;
            double t = sr.log_color ? std::log1p(double(c)) / std::log1p(double(most)) : double(c) / most;
            Box cellbox{X(sr.grid.xedges[ix]), Y(y1), X(sr.grid.xedges[ix + 1]), Y(y0)};
            sc.add(RectItem{cellbox, true, colormap(t), 1, 0, {}},
                   "cell", clip);
          }
        break;
      }
      case Series::Kind::histogram: {
        std::vector<double> h = bar_heights(sr);
        const auto& e = sr.hist.edges;
        auto top_of = [&](double v) { return v > 0 ? Y(v) : Y(log_y_ ? ys.lo : 0.0); };
        double base = top_of(0);
        for (size_t i = 0; i < h.size(); ++i)
          if (h[i] > 0)
            sc.add(RectItem{{X(e[i]), top_of(h[i]), X(e[i + 1]), base}, true, sr.color, sr.alpha, 0, {}}, "bar", clip);
        PolylineItem edge{{{X(e.front()), base}}, sr.color, 1};
        for (size_t i = 0; i < h.size(); ++i) {
          edge.points.push_back({X(e[i]), top_of(h[i])});
          edge.points.push_back({X(e[i + 1]), top_of(h[i])});
        }
        edge.points.push_back({X(e.back()), base});
        sc.add(std::move(edge), "hist-edge", clip);
        break;
      }
      case Series::Kind::line: {
        PolylineItem run{{}, sr.color, sr.size};
        auto flush = [&] {
          if (run.points.size() >= 2) sc.add(run, "line", clip);
          run.points.clear();
        };
        for (size_t i = 0; i < sr.xs.size(); ++i) {
          if (drawable(sr, i))
            run.points.push_back({X(sr.xs[i]), Y(sr.ys[i])});
          else
            flush();
        }
        flush();
        break;
      }
      case Series::Kind::scatter:
        for (size_t i = 0; i < sr.xs.size(); ++i)
          if (drawable(sr, i))
            sc.add(CircleItem{{X(sr.xs[i]), Y(sr.ys[i])}, sr.size, sr.color, sr.alpha}, "marker", clip);
        break;
    }
  }

  // Frame, ticks and their labels.
  sc.add(RectItem{{L, T, R, B}, false, {}, 1, 1, kFrame}, "frame");
  for (size_t i = 0; i < xs.ticks.size(); ++i) {
    double px = snap(X(xs.ticks[i]));
    sc.add(PolylineItem{{{px, B}, {px, B + tick}}, kFrame, 1}, "tick");
    sc.add(TextItem{{px, std::round(B + tick + 2 * s + asc)}, xs.labels[i], fs, kText, Anchor::middle}, "tick-label");
  }
  for (size_t i = 0; i < ys.ticks.size(); ++i) {
    double py = snap(Y(ys.ticks[i]));
    sc.add(PolylineItem{{{L - tick, py}, {L, py}}, kFrame, 1}, "tick");
    sc.add(TextItem{{L - tick - 3 * s, std::round(py + asc / 2)}, ys.labels[i], fs, kText, Anchor::end}, "tick-label");
  }

  // Title and axis labels.
  if (!title_.empty())
    sc.add(TextItem{{(L + R) / 2, std::round(cell.y0 + pad + asc)}, title_, fs, kText, Anchor::middle, false, true},
           "title");
  if (!xlabel_.empty())
    sc.add(TextItem{{(L + R) / 2, std::round(cell.y1 - pad - 2 * s)}, xlabel_, fs, kText, Anchor::middle}, "xlabel");
  if (!ylabel_.empty())
    sc.add(TextItem{{std::round(cell.x0 + pad + asc), (T + B) / 2}, ylabel_, fs, kText, Anchor::middle, true},
           "ylabel");

  // The note on skipped values, bottom left inside the plot.
  int64_t n_skipped = skipped();
  if (n_skipped > 0) {
    std::string note = "skipped " + std::to_string(n_skipped) + (log_y_ ? " non-finite or <= 0" : " non-finite");
    sc.add(TextItem{{L + 4 * s, B - 4 * s}, note, fs, kNote, Anchor::start}, "note");
  }

  // Legend, in the corner of the plot that hides the fewest data.
  std::vector<const Series*> entries;
  for (const Series& sr : series_)
    if (!sr.label.empty() && sr.kind != Series::Kind::density) entries.push_back(&sr);
  if (!legend_ || entries.empty()) return;
  const double row = lh + 4 * s, sample = 20 * s;
  std::vector<std::string> names;
  for (const Series* e : entries) names.push_back(e->label);
  const double w = 18 * s + sample + widest(names, fs), h = entries.size() * row + 6 * s;
  auto hidden = [&](const Box& b) {
    int64_t n = 0;
    auto inside = [&](double x, double y) { return x >= b.x0 && x <= b.x1 && y >= b.y0 && y <= b.y1; };
    for (const Series& sr : series_) {
      if (sr.kind == Series::Kind::line || sr.kind == Series::Kind::scatter) {
        for (size_t i = 0; i < sr.xs.size(); ++i) n += drawable(sr, i) && inside(X(sr.xs[i]), Y(sr.ys[i]));
      } else if (sr.kind == Series::Kind::histogram) {
        std::vector<double> hh = bar_heights(sr);
        for (size_t i = 0; i < hh.size(); ++i) {
          double x0 = X(sr.hist.edges[i]), x1 = X(sr.hist.edges[i + 1]);
          if (hh[i] > 0 && x1 >= b.x0 && x0 <= b.x1 && Y(hh[i]) <= b.y1) n += 100;
        }
      }
    }
    return n;
  };
  const double m = 6 * s;
  std::vector<Box> corners = {{R - m - w, T + m, R - m, T + m + h},
                              {L + m, T + m, L + m + w, T + m + h},
                              {R - m - w, B - m - h, R - m, B - m}};
  if (n_skipped == 0) corners.push_back({L + m, B - m - h, L + m + w, B - m});
  Box box = corners[0];
  int64_t best = hidden(box);
  for (size_t i = 1; i < corners.size() && best > 0; ++i) {
    int64_t n = hidden(corners[i]);
    if (n < best) {
      best = n;
      box = corners[i];
    }
  }
  box = {std::round(box.x0) + 0.5, std::round(box.y0) + 0.5, std::round(box.x1) + 0.5, std::round(box.y1) + 0.5};
  sc.add(RectItem{box, true, kWhite, 0.85, 1, Color::hex(0xbbbbbb)}, "legend");
  for (size_t k = 0; k < entries.size(); ++k) {
    const Series& sr = *entries[k];
    double yc = std::round(box.y0 + 3 * s + row * k + row / 2), x0 = box.x0 + 6 * s;
    switch (sr.kind) {
      case Series::Kind::line:
        sc.add(PolylineItem{{{x0, yc}, {x0 + sample, yc}}, sr.color, sr.size}, "legend-sample");
        break;
      case Series::Kind::scatter:
        sc.add(CircleItem{{x0 + sample / 2, yc}, std::max(sr.size, 2.5 * s), sr.color, sr.alpha}, "legend-sample");
        break;
      default:
        sc.add(RectItem{{x0 + 2 * s, yc - 4 * s, x0 + sample - 2 * s, yc + 4 * s}, true, sr.color, sr.alpha, 1,
                        sr.color},
               "legend-sample");
        break;
    }
    sc.add(TextItem{{x0 + sample + 6 * s, yc + std::round(asc / 2)}, sr.label, fs, kText, Anchor::start},
           "legend-label");
  }
}

}  // namespace orbit::plot
