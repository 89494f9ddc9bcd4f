// The plotting library's layout and SVG output: nice ticks, histogram binning, and figures whose
// SVG is parsed back (balanced tags, the expected number of polyline points, bars and markers,
// labels present, non-finite values skipped and counted), subplots and saving.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/plot/plot.h"
#include "engine/plot/svg.h"

using namespace orbit;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// Checks that every element is closed in order; returns the number of elements.
int check_balanced(const std::string& svg) {
  std::vector<std::string> open;
  int elements = 0;
  size_t i = 0;
  while ((i = svg.find('<', i)) != std::string::npos) {
    size_t end = svg.find('>', i);
    REQUIRE(end != std::string::npos);
    std::string tag = svg.substr(i + 1, end - i - 1);
    i = end + 1;
    if (tag[0] == '?') continue;
    REQUIRE(tag.find('<') == std::string::npos);
    size_t quotes = 0;
    for (char c : tag) quotes += c == '"';
    REQUIRE(quotes % 2 == 0);
    if (tag[0] == '/') {
      REQUIRE(!open.empty());
      CHECK(open.back() == tag.substr(1));
      open.pop_back();
      continue;
    }
    ++elements;
    if (tag.back() == '/') continue;
    open.push_back(tag.substr(0, tag.find(' ')));
  }
  CHECK(open.empty());
  return elements;
}

int count(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t i = text.find(what); i != std::string::npos; i = text.find(what, i + 1)) ++n;
  return n;
}

// The number of points of each <polyline class="role">.
std::vector<int> polyline_points(const std::string& svg, const std::string& role) {
  std::vector<int> out;
  std::string head = "<polyline class=\"" + role + "\"";
  for (size_t i = svg.find(head); i != std::string::npos; i = svg.find(head, i + 1)) {
    size_t p = svg.find("points=\"", i) + 8, q = svg.find('"', p);
    std::istringstream pts(svg.substr(p, q - p));
    std::string pair;
    int n = 0;
    while (pts >> pair) {
      CHECK(pair.find(',') != std::string::npos);
      ++n;
    }
    out.push_back(n);
  }
  return out;
}

std::vector<plot::RectItem> rects(const plot::Scene& sc, const std::string& role) {
  std::vector<plot::RectItem> out;
  for (const auto& item : sc.items)
    if (item.role == role) out.push_back(std::get<plot::RectItem>(item.shape));
  return out;
}

std::string tmp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("orbit_plot_" + std::to_string(getpid()) + "_" + name)).string();
}

// step = m * 10^e with m in {1, 2, 5}.
bool is_125(double step) {
  double e = std::floor(std::log10(step) + 1e-9), m = step / std::pow(10.0, e);
  return std::fabs(m - 1) < 1e-6 || std::fabs(m - 2) < 1e-6 || std::fabs(m - 5) < 1e-6;
}

}  // namespace

TEST_SUITE("cpu") {

TEST_CASE("nice ticks are 1-2-5 steps that cover the data") {
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> u(-1, 1);
  for (int trial = 0; trial < 2000; ++trial) {
    double scale = std::pow(10.0, std::floor(u(rng) * 8));
    double a = u(rng) * scale, b = a + std::fabs(u(rng)) * scale + 1e-3 * scale;
    int max_ticks = 3 + trial % 8;
    std::vector<double> t = plot::nice_ticks(a, b, max_ticks);
    REQUIRE(t.size() >= 2);
    CHECK(static_cast<int>(t.size()) <= max_ticks);
    double step = t[1] - t[0];
    CHECK(is_125(plot::nice_step(a, b, max_ticks)));
    CHECK(std::fabs(step - plot::nice_step(a, b, max_ticks)) <= 1e-9 * step);
    for (size_t i = 0; i < t.size(); ++i) {
      double k = t[i] / step;
      CHECK(std::fabs(k - std::round(k)) < 1e-6);
      if (i > 0) CHECK(std::fabs(t[i] - t[i - 1] - step) <= 1e-6 * step);
    }
    CHECK(t.front() <= a + 1e-9 * step);
    CHECK(t.back() >= b - 1e-9 * step);
  }
}

TEST_CASE("linear and log scales with their labels") {
  plot::Scale s = plot::linear_scale(0.13, 0.97, 6, false);
  CHECK(s.ticks == std::vector<double>{0.0, 0.2, 0.4, 0.6, 0.8, 1.0});
  CHECK(s.labels == std::vector<std::string>{"0.0", "0.2", "0.4", "0.6", "0.8", "1.0"});
  CHECK(s.lo < 0);  // a margin beyond the first and last tick
  CHECK(s.hi > 1);
  CHECK(s.fraction(s.lo) == doctest::Approx(0));
  CHECK(s.fraction(s.hi) == doctest::Approx(1));

  plot::Scale fixed = plot::linear_scale(-1, 1, 5, true);
  CHECK(fixed.lo == -1);
  CHECK(fixed.hi == 1);
  CHECK(fixed.labels == std::vector<std::string>{"-1.0", "-0.5", "0.0", "0.5", "1.0"});

  plot::Scale flat = plot::linear_scale(3, 3, 6, false);  // a constant series still gets a range
  CHECK(flat.lo < 3);
  CHECK(flat.hi > 3);

  CHECK(plot::tick_labels({-0.2, 1e-17, 0.2}, 0.2) == std::vector<std::string>{"-0.2", "0.0", "0.2"});
  CHECK(plot::tick_labels({0, 2e6, 4e6}, 2e6) == std::vector<std::string>{"0", "2e6", "4e6"});
  CHECK(plot::tick_labels({1e-7, 2e-7, 3e-7}, 1e-7) == std::vector<std::string>{"1e-7", "2e-7", "3e-7"});
  CHECK(plot::tick_labels({0, 250, 500}, 250) == std::vector<std::string>{"0", "250", "500"});

  plot::Scale lg = plot::log_scale(0.013, 870, 10, false);
  CHECK(lg.log);
  CHECK(lg.labels == std::vector<std::string>{"0.01", "0.1", "1", "10", "100", "1000"});
  CHECK(lg.lo < 0.01);
  CHECK(lg.hi > 1000);
  plot::Scale wide = plot::log_scale(1e-30, 1e30, 5, false);
  CHECK(wide.ticks.size() <= 5);
  CHECK(wide.ticks.front() <= 1e-30);
  CHECK(wide.ticks.back() >= 1e30);
  CHECK(wide.labels.front().find('e') != std::string::npos);
  CHECK_THROWS_AS(plot::log_scale(0, 1, 5, false), Error);
}

TEST_CASE("histogram bins match a hand count") {
  std::vector<double> v = {0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4, kNaN, kInf, -kInf};
  plot::Histogram h = plot::histogram(v, 4);
  CHECK(h.edges == std::vector<double>{0, 1, 2, 3, 4});
  CHECK(h.counts == std::vector<int64_t>{2, 2, 2, 3});  // the maximum lands in the last bin
  CHECK(h.nonfinite == 3);
  CHECK(h.total() == 9);

  plot::Histogram r = plot::histogram(v, 2, std::pair{1.0, 3.0});
  CHECK(r.counts == std::vector<int64_t>{2, 3});
  CHECK(r.outside == 4);

  std::vector<double> d = h.density();
  double integral = 0;
  for (size_t i = 0; i < d.size(); ++i) integral += d[i] * (h.edges[i + 1] - h.edges[i]);
  CHECK(integral == doctest::Approx(1.0));

  // Random data against a naive count over the same edges (values on edges go right).
  std::mt19937 rng(3);
  std::normal_distribution<double> nd;
  std::vector<double> x(5000);
  for (double& xi : x) xi = std::round(nd(rng) * 20) / 10;  // many values exactly on edges
  plot::Histogram hx = plot::histogram(x, 17);
  for (size_t b = 0; b < hx.counts.size(); ++b) {
    int64_t n = 0;
    for (double xi : x)
      n += (xi >= hx.edges[b] && (xi < hx.edges[b + 1] || (b + 1 == hx.counts.size() && xi <= hx.edges[b + 1])));
    CHECK(hx.counts[b] == n);
  }
  CHECK(hx.total() == 5000);

  plot::Histogram one = plot::histogram(std::vector<double>{2, 2, 2}, 3);
  CHECK(one.edges.front() == 1.5);
  CHECK(one.edges.back() == 2.5);
  CHECK(one.total() == 3);
  CHECK(plot::histogram(std::vector<double>{kNaN}, 5).total() == 0);
  CHECK_THROWS_AS(plot::histogram(v, 0), Error);

  std::vector<double> px = {0, 1, 0, 1, kNaN}, py = {0, 0, 1, 1, 0};
  plot::Histogram2D g = plot::histogram2d(px, py, 2, 2);
  CHECK(g.counts == std::vector<int64_t>{1, 1, 1, 1});
  CHECK(g.nonfinite == 1);
}

TEST_CASE("svg of lines, scatter and histograms parses back") {
  std::vector<double> xs(50), ys(50);
  for (int i = 0; i < 50; ++i) {
    xs[i] = i;
    ys[i] = std::sin(i * 0.2);
  }
  ys[10] = kNaN;
  xs[30] = kInf;
  std::vector<double> sx = {1, 2, 3, 4, 5, 6, kNaN}, sy = {0, 1, 0, 1, 0, 1, 2};
  plot::Figure fig(640, 480);
  auto& ax = fig.axes("Waves & <points>", "time [s]", "amplitude");
  ax.line(xs, ys, "sine").scatter(sx, sy, "samples");
  CHECK(ax.skipped() == 3);
  std::string svg = fig.svg();
  check_balanced(svg);
  CHECK(svg.rfind("</svg>\n") == svg.size() - 7);
  CHECK(polyline_points(svg, "line") == std::vector<int>{10, 19, 19});  // broken at both non-finite points
  CHECK(count(svg, "<circle class=\"marker\"") == 6);
  CHECK(svg.find(">Waves &amp; &lt;points&gt;</text>") != std::string::npos);
  CHECK(svg.find(">time [s]</text>") != std::string::npos);
  CHECK(svg.find(">amplitude</text>") != std::string::npos);
  CHECK(svg.find(">sine</text>") != std::string::npos);
  CHECK(svg.find(">samples</text>") != std::string::npos);
  CHECK(svg.find(">skipped 3 non-finite</text>") != std::string::npos);
  CHECK(count(svg, "class=\"tick-label\"") >= 6);

  plot::Figure hf(500, 400);
  std::vector<double> v = {0, 1, 1, 2, 2, 2, 3, 3, 3, 3};
  auto& hax = hf.axes("counts", "value", "n");
  hax.histogram(v, 4, "a").histogram(std::vector<double>{0.5, 2.5}, 2, "b", {.density = true});
  std::string hs = hf.svg();
  check_balanced(hs);
  CHECK(count(hs, "<rect class=\"bar\"") == 6);
  CHECK(count(hs, "fill-opacity=\"0.5\"") >= 6);  // overlaid with transparency
  // Bar heights are proportional to the counts 1, 2, 3, 4 and share one baseline.
  std::vector<plot::RectItem> bars = rects(hf.scene(), "bar");
  REQUIRE(bars.size() == 6);
  for (int i = 0; i < 4; ++i) {
    CHECK(bars[i].box.height() == doctest::Approx(bars[0].box.height() * (i + 1)));
    CHECK(bars[i].box.y1 == doctest::Approx(bars[0].box.y1));
    if (i > 0) CHECK(bars[i].box.x0 == doctest::Approx(bars[i - 1].box.x1));
  }
}

TEST_CASE("log y axis, density map, legend and subplots") {
  plot::Figure fig(900, 600);
  fig.grid(2, 2);
  std::vector<double> x = {1, 2, 3, 4, 5}, y = {10, 1, 0, -1, 0.01};
  auto& lg = fig.axes("log", "x", "y");
  lg.line(x, y, "loss").log_y();
  CHECK(lg.skipped() == 2);  // 0 and -1 cannot be shown on a log axis
  auto& dn = fig.axes("density");
  std::vector<double> px, py;
  for (int i = 0; i < 100; ++i) {
    px.push_back(i % 10);
    py.push_back(i / 10 % 3);
  }
  dn.density(px, py, 10, {.bins_y = 3});
  fig.axes("empty");
  CHECK_THROWS_AS(fig.grid(1, 2), Error);  // three axes do not fit
  std::string svg = fig.svg();
  check_balanced(svg);
  CHECK(count(svg, "<rect class=\"frame\"") == 3);
  CHECK(count(svg, "<clipPath id=") == 3);
  CHECK(count(svg, "<rect class=\"cell\"") == 30);  // 10 x 3 cells, all occupied
  CHECK(svg.find(">1000</text>") == std::string::npos);
  CHECK(svg.find(">10</text>") != std::string::npos);
  CHECK(svg.find(">0.01</text>") != std::string::npos);
  CHECK(svg.find("skipped 2 non-finite or &lt;= 0") != std::string::npos);
  CHECK(count(svg, "class=\"legend\"") == 1);
  CHECK(polyline_points(svg, "line") == std::vector<int>{2});  // 10, 1 | 0.01 alone is not a line

  fig.axes("fourth");
  CHECK_THROWS_AS(fig.axes("fifth"), Error);  // the 2x2 grid is full

  plot::Figure tiny(40, 30);
  tiny.axes("too small", "x", "y").line(x, x);
  CHECK_THROWS_AS(tiny.svg(), Error);
  CHECK_THROWS_AS(plot::Figure(0, 10), Error);
  CHECK_THROWS_AS(tiny.axes().line(x, std::vector<double>{1, 2}), Error);
}

TEST_CASE("figure save picks the format by extension and writes atomically") {
  plot::Figure fig(320, 240);
  fig.axes("t").line(std::vector<double>{0, 1}, std::vector<double>{1, 0});
  std::string svg_path = tmp_path("save.svg"), png_path = tmp_path("save.PNG");
  fig.save(svg_path);
  fig.save(png_path);
  std::ifstream in(svg_path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(text == fig.svg());
  CHECK(std::filesystem::file_size(png_path) == fig.png().size());
  try {
    fig.save(tmp_path("save.jpg"));
    FAIL("saving a .jpg should throw");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("must end in .svg or .png") != std::string::npos);
  }
  CHECK_THROWS_AS(fig.save("/dev/null/x.svg"), Error);
  for (const auto& entry : std::filesystem::directory_iterator(std::filesystem::temp_directory_path()))
    CHECK(entry.path().string().find(tmp_path("save.svg.tmp")) == std::string::npos);  // no temp file left
  std::filesystem::remove(svg_path);
  std::filesystem::remove(png_path);
}

}  // TEST_SUITE
