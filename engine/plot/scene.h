// The display list a figure lays itself out into, in pixels (origin top left, y down). The SVG writer
// and the rasteriser both draw from it, so the two outputs show the same picture.
#pragma once
#include <string>
#include <variant>
#include <vector>

#include "engine/plot/color.h"

namespace orbit::plot {

struct Point {
  double x = 0, y = 0;
};

struct Box {
  double x0 = 0, y0 = 0, x1 = 0, y1 = 0;
  double width() const { return x1 - x0; }
  double height() const { return y1 - y0; }
};

struct PolylineItem {
  std::vector<Point> points;
  Color color{};
  double width = 1;
  double alpha = 1;
};

// A rectangle, filled and/or outlined (the outline is centred on the edges).
struct RectItem {
  Box box;
  bool filled = true;
  Color fill{};
  double alpha = 1;
  double stroke_width = 0;  // 0: no outline
  Color stroke{};
};

struct CircleItem {
  Point center;
  double radius = 1;
  Color fill{};
  double alpha = 1;
};

enum class Anchor { start, middle, end };

// Text in the built-in font: `at` is on the baseline; `vertical` text reads bottom to top.
struct TextItem {
  Point at;
  std::string text;
  int scale = 1;
  Color color{};
  Anchor anchor = Anchor::start;
  bool vertical = false;
  bool bold = false;
};

struct Item {
  std::variant<PolylineItem, RectItem, CircleItem, TextItem> shape;
  std::string role;  // what the item shows ("bar", "marker", "line", ...): the SVG class attribute
  int clip = -1;     // index into Scene::clips, or -1
};

struct Scene {
  int width = 0, height = 0;
  Color background = Color::hex(0xffffff);
  std::vector<Box> clips;
  std::vector<Item> items;

  template <class Shape>
  void add(Shape shape, std::string role, int clip = -1) {
    items.push_back(Item{std::move(shape), std::move(role), clip});
  }
};

}  // namespace orbit::plot
