#include "engine/plot/image_grid.h"

#include <algorithm>
#include <cctype>
#include <cmath>

#include "engine/error.h"
#include "engine/io/file_io.h"
#include "engine/plot/font.h"
#include "engine/plot/png.h"
#include "engine/plot/raster.h"
#include "engine/plot/svg.h"

namespace orbit::plot {

Color diverging_color(double t) {
  if (!std::isfinite(t)) t = 0;
  t = std::clamp(t, -1.0, 1.0);
  // white at 0, towards 0x2166ac (blue) below and 0xb2182b (red) above
  const Color end = t < 0 ? Color::hex(0x2166ac) : Color::hex(0xb2182b);
  const double f = std::abs(t);
  auto mix = [f](uint8_t to) { return static_cast<uint8_t>(std::lround(255 + (double(to) - 255) * f)); };
  return {mix(end.r), mix(end.g), mix(end.b)};
}

namespace {

struct Layout {
  int64_t cols = 0, rows = 0;
  double width = 0, height = 0;  // of the panel including its title
};

}  // namespace

Scene image_grid_scene(const std::vector<ImagePanel>& panels, const std::string& title, const ImageGridOptions& opts) {
  ORBIT_CHECK(!panels.empty(), "image grid: no panels");
  ORBIT_CHECK(opts.pixel >= 1 && opts.pixel <= 64, "image grid: pixel size ", opts.pixel, " is outside 1..64");
  ORBIT_CHECK(opts.gap >= 0 && opts.gap <= 64, "image grid: gap ", opts.gap, " is outside 0..64");
  ORBIT_CHECK(opts.font_scale >= 1 && opts.font_scale <= 8, "image grid: font scale ", opts.font_scale,
              " is outside 1..8");
  const double line = (font::kRows + 4) * opts.font_scale;
  const double margin = 8;
  std::vector<Layout> lay;
  double total_w = margin, total_h = 0;
  for (const ImagePanel& p : panels) {
    ORBIT_CHECK(p.count >= 1 && p.h >= 1 && p.w >= 1 && p.count <= 100000 && p.h <= 4096 && p.w <= 4096,
                "image grid: panel '", p.title, "' has ", p.count, " tiles of ", p.h, "x", p.w);
    ORBIT_CHECK(int64_t(p.values.size()) == p.count * p.h * p.w, "image grid: panel '", p.title, "' holds ",
                p.values.size(), " values, ", p.count, " tiles of ", p.h, "x", p.w, " need ", p.count * p.h * p.w);
    for (size_t i = 0; i < p.values.size(); ++i)
      ORBIT_CHECK(std::isfinite(p.values[i]), "image grid: panel '", p.title, "' value ", i, " is not finite");
    Layout l;
    l.cols = p.cols > 0 ? std::min(p.cols, p.count)
                        : std::max<int64_t>(1, int64_t(std::ceil(std::sqrt(double(p.count)))));
    l.rows = (p.count + l.cols - 1) / l.cols;
    l.width = double(l.cols) * double(p.w * opts.pixel + opts.gap) - opts.gap;
    l.width = std::max(l.width, font::text_width(p.title, opts.font_scale));
    l.height = line + double(l.rows) * double(p.h * opts.pixel + opts.gap) - opts.gap;
    ORBIT_CHECK(l.width <= 16384 && l.height <= 16384, "image grid: panel '", p.title, "' would be ", l.width, "x",
                l.height, " pixels");
    total_w += l.width + margin;
    total_h = std::max(total_h, l.height);
    lay.push_back(l);
  }
  const double top = margin + (title.empty() ? 0 : line);
  total_w = std::max(total_w, 2 * margin + font::text_width(title, opts.font_scale));
  Scene s;
  s.width = int(std::ceil(total_w));
  s.height = int(std::ceil(top + total_h + margin));
  ORBIT_CHECK(s.width <= 16384 && s.height <= 16384, "image grid: the picture would be ", s.width, "x", s.height,
              " pixels (at most 16384 a side)");
  if (!title.empty())
    s.add(TextItem{{margin, margin + font::kAscent * opts.font_scale}, title, opts.font_scale, Color::hex(0x222222),
                   Anchor::start, false, true},
          "title");
  double x0 = margin;
  for (size_t k = 0; k < panels.size(); ++k) {
    const ImagePanel& p = panels[k];
    const Layout& l = lay[k];
    s.add(TextItem{{x0, top + font::kAscent * opts.font_scale}, p.title, opts.font_scale, Color::hex(0x222222)},
          "panel-title");
    float lo = *std::min_element(p.values.begin(), p.values.end());
    float hi = *std::max_element(p.values.begin(), p.values.end());
    const int64_t n = p.h * p.w;
    std::vector<float> tile(static_cast<size_t>(n));
    for (int64_t t = 0; t < p.count; ++t) {
      const float* v = p.values.data() + t * n;
      double center = 0, scale = 1;
      if (opts.colors == ImageGridOptions::Colors::diverging) {
        if (opts.center_median) {
          tile.assign(v, v + n);
          std::nth_element(tile.begin(), tile.begin() + n / 2, tile.end());
          center = tile[n / 2];
        }
        double dev = 0;
        for (int64_t i = 0; i < n; ++i) dev = std::max(dev, std::abs(double(v[i]) - center));
        scale = dev > 0 ? dev : 1;
      }
      const double tx = x0 + double(t % l.cols) * double(p.w * opts.pixel + opts.gap);
      const double ty = top + line + double(t / l.cols) * double(p.h * opts.pixel + opts.gap);
      for (int64_t y = 0; y < p.h; ++y)
        for (int64_t x = 0; x < p.w; ++x) {
          const double val = v[y * p.w + x];
          Color c = opts.colors == ImageGridOptions::Colors::diverging
                        ? diverging_color((val - center) / scale)
                        : colormap(hi > lo ? (val - lo) / (double(hi) - lo) : 0.5);
          RectItem r;
          r.box = {tx + double(x * opts.pixel), ty + double(y * opts.pixel), tx + double((x + 1) * opts.pixel),
                   ty + double((y + 1) * opts.pixel)};
          r.fill = c;
          s.add(r, "cell");
        }
    }
    x0 += l.width + margin;
  }
  return s;
}

void save_image_grid(const std::string& path, const std::vector<ImagePanel>& panels, const std::string& title,
                     const ImageGridOptions& opts) {
  std::string ext = path.size() >= 4 ? path.substr(path.size() - 4) : "";
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  ORBIT_CHECK(ext == ".svg" || ext == ".png", "image grid: cannot save '", path,
              "': the file name must end in .svg or .png");
  Scene s = image_grid_scene(panels, title, opts);
  std::vector<uint8_t> bytes;
  if (ext == ".svg") {
    std::string text = to_svg(s);
    bytes.assign(text.begin(), text.end());
  } else {
    bytes = encode_png(rasterize(s));
  }
  io::AtomicFile file(path, "image grid");
  file.write(bytes.data(), bytes.size());
  file.commit();
}

}  // namespace orbit::plot
