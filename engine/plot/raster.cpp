// The rasteriser; see raster.h. Coverage of a pixel is measured at its centre (x + 0.5, y + 0.5);
// rectangles snap to whole pixels so that bars and heat-map cells tile without seams.
#include "engine/plot/raster.h"

#include <algorithm>
#include <cmath>

#include "engine/error.h"
#include "engine/plot/font.h"

namespace orbit::plot {

namespace {

// A pixel rectangle [x0, x1) x [y0, y1).
struct Region {
  int x0 = 0, y0 = 0, x1 = 0, y1 = 0;
  bool empty() const { return x0 >= x1 || y0 >= y1; }
  Region meet(const Region& o) const {
    return {std::max(x0, o.x0), std::max(y0, o.y0), std::min(x1, o.x1), std::min(y1, o.y1)};
  }
};

int lo_px(double v) { return static_cast<int>(std::max(-1e9, std::min(1e9, std::floor(v)))); }
int hi_px(double v) { return static_cast<int>(std::max(-1e9, std::min(1e9, std::ceil(v)))); }

class Canvas {
 public:
  Canvas(const Scene& sc) : img_{sc.width, sc.height, {}}, scene_(sc) {
    img_.rgb.resize(static_cast<size_t>(sc.width) * sc.height * 3);
    for (size_t i = 0; i < img_.rgb.size(); i += 3) {
      img_.rgb[i] = sc.background.r;
      img_.rgb[i + 1] = sc.background.g;
      img_.rgb[i + 2] = sc.background.b;
    }
  }

  Image take() { return std::move(img_); }

  void draw(const Item& item) {
    Region r{0, 0, img_.width, img_.height};
    if (item.clip >= 0) {
      const Box& b = scene_.clips.at(static_cast<size_t>(item.clip));
      // Pixels whose centres lie inside the clip box.
      r = r.meet({hi_px(b.x0 - 0.5), hi_px(b.y0 - 0.5), lo_px(b.x1 - 0.5) + 1, lo_px(b.y1 - 0.5) + 1});
    }
    clip_ = r;
    std::visit([this](const auto& shape) { draw(shape); }, item.shape);
  }

 private:
  void blend(int x, int y, Color c, double a) {
    if (a <= 0) return;
    a = std::min(a, 1.0);
    uint8_t* p = &img_.rgb[(static_cast<size_t>(y) * img_.width + x) * 3];
    auto mix = [a](uint8_t d, uint8_t s) { return static_cast<uint8_t>(std::lround(d + (s - d) * a)); };
    p[0] = mix(p[0], c.r);
    p[1] = mix(p[1], c.g);
    p[2] = mix(p[2], c.b);
  }

  void fill(double x0, double y0, double x1, double y1, Color c, double alpha) {
    if (!(x1 > x0 && y1 > y0)) return;
    int ix0 = static_cast<int>(std::lround(std::clamp(x0, -1e9, 1e9)));
    int iy0 = static_cast<int>(std::lround(std::clamp(y0, -1e9, 1e9)));
    int ix1 = std::max(ix0 + 1, static_cast<int>(std::lround(std::clamp(x1, -1e9, 1e9))));
    int iy1 = std::max(iy0 + 1, static_cast<int>(std::lround(std::clamp(y1, -1e9, 1e9))));
    Region r = clip_.meet({ix0, iy0, ix1, iy1});
    for (int y = r.y0; y < r.y1; ++y)
      for (int x = r.x0; x < r.x1; ++x) blend(x, y, c, alpha);
  }

  void draw(const RectItem& r) {
    const Box& b = r.box;
    if (r.filled) fill(b.x0, b.y0, b.x1, b.y1, r.fill, r.alpha);
    if (r.stroke_width > 0) {
      double h = r.stroke_width / 2;
      fill(b.x0 - h, b.y0 - h, b.x1 + h, b.y0 + h, r.stroke, 1);
      fill(b.x0 - h, b.y1 - h, b.x1 + h, b.y1 + h, r.stroke, 1);
      fill(b.x0 - h, b.y0 + h, b.x0 + h, b.y1 - h, r.stroke, 1);
      fill(b.x1 - h, b.y0 + h, b.x1 + h, b.y1 - h, r.stroke, 1);
    }
  }

  // Coverage is the largest over all segments (so joints are not drawn twice), then blended once.
  void draw(const PolylineItem& p) {
    if (p.points.empty()) return;
    const double hw = p.width / 2, reach = hw + 1;
    double bx0 = p.points[0].x, bx1 = bx0, by0 = p.points[0].y, by1 = by0;
    for (const Point& q : p.points) {
      bx0 = std::min(bx0, q.x), bx1 = std::max(bx1, q.x);
      by0 = std::min(by0, q.y), by1 = std::max(by1, q.y);
    }
    Region box = clip_.meet({lo_px(bx0 - reach), lo_px(by0 - reach), hi_px(bx1 + reach), hi_px(by1 + reach)});
    if (box.empty()) return;
    const int w = box.x1 - box.x0;
    std::vector<float> cover(static_cast<size_t>(w) * (box.y1 - box.y0), 0.0f);
    for (size_t i = 0; i + 1 < std::max<size_t>(p.points.size(), 2); ++i) {
      Point a = p.points[i], b = p.points[std::min(i + 1, p.points.size() - 1)];
      Region seg = box.meet({lo_px(std::min(a.x, b.x) - reach), lo_px(std::min(a.y, b.y) - reach),
                             hi_px(std::max(a.x, b.x) + reach), hi_px(std::max(a.y, b.y) + reach)});
      double dx = b.x - a.x, dy = b.y - a.y, len2 = dx * dx + dy * dy;
      for (int y = seg.y0; y < seg.y1; ++y)
        for (int x = seg.x0; x < seg.x1; ++x) {
          double px = x + 0.5 - a.x, py = y + 0.5 - a.y;
          double t = len2 > 0 ? std::clamp((px * dx + py * dy) / len2, 0.0, 1.0) : 0.0;
          double d = std::hypot(px - t * dx, py - t * dy);
          float c = static_cast<float>(std::clamp(hw + 0.5 - d, 0.0, 1.0));
          float& cell = cover[static_cast<size_t>(y - box.y0) * w + (x - box.x0)];
          cell = std::max(cell, c);
        }
    }
    for (int y = box.y0; y < box.y1; ++y)
      for (int x = box.x0; x < box.x1; ++x)
        blend(x, y, p.color, p.alpha * cover[static_cast<size_t>(y - box.y0) * w + (x - box.x0)]);
  }

  void draw(const CircleItem& c) {
    const double reach = c.radius + 1;
    Region r = clip_.meet({lo_px(c.center.x - reach), lo_px(c.center.y - reach), hi_px(c.center.x + reach),
                           hi_px(c.center.y + reach)});
    for (int y = r.y0; y < r.y1; ++y)
      for (int x = r.x0; x < r.x1; ++x) {
        double d = std::hypot(x + 0.5 - c.center.x, y + 0.5 - c.center.y);
        blend(x, y, c.fill, c.alpha * std::clamp(c.radius + 0.5 - d, 0.0, 1.0));
      }
  }

  void draw(const TextItem& t) {
    const int s = std::max(1, t.scale), adv = font::kAdvance * s;
    const int n = font::glyph_count(t.text);
    const int width = n > 0 ? n * adv - s : 0;
    const int shift = t.anchor == Anchor::start ? 0 : t.anchor == Anchor::middle ? width / 2 : width;
    const int ax = static_cast<int>(std::lround(t.at.x)), ay = static_cast<int>(std::lround(t.at.y));
    // Paints the s x s block at (u, v): u along the text from its start, v down from the baseline.
    auto block = [&](int u, int v) {
      u -= shift;
      int x0 = t.vertical ? ax + v : ax + u, y0 = t.vertical ? ay - u - s : ay + v;
      Region r = clip_.meet({x0, y0, x0 + s, y0 + s});
      for (int y = r.y0; y < r.y1; ++y)
        for (int x = r.x0; x < r.x1; ++x) blend(x, y, t.color, 1);
    };
    int i = 0;
    font::for_each_glyph(t.text, [&](char32_t ch) {
      const uint8_t* rows = font::glyph(ch);
      for (int row = 0; row < font::kRows; ++row)
        for (int col = 0; col < font::kGlyphWidth; ++col)
          if (rows[row] & (1u << (font::kGlyphWidth - 1 - col))) {
            int u = i * adv + col * s, v = (row - font::kAscent) * s;
            block(u, v);
            if (t.bold) block(u + 1, v);
          }
      ++i;
    });
  }

  Image img_;
  const Scene& scene_;
  Region clip_;
};

}  // namespace

Image rasterize(const Scene& scene) {
  ORBIT_CHECK(scene.width > 0 && scene.height > 0, "plot: cannot rasterise a ", scene.width, "x", scene.height,
              " scene");
  Canvas canvas(scene);
  for (const Item& item : scene.items) canvas.draw(item);
  return canvas.take();
}

}  // namespace orbit::plot
