// The image-grid plot of learned filters: layout, colours (diverging about each tile's median, or
// sequential), PNG/SVG output, and bad input.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "engine/plot/image_grid.h"
#include "engine/plot/raster.h"
#include "tests/test_io_util.h"

using namespace orbit;
using namespace orbit::plot;
using io_test::error_of;

TEST_SUITE("cpu") {
  TEST_CASE("image grid: tiles laid out in rows with diverging colours about the median") {
    ImagePanel p;
    p.title = "t";
    p.count = 3;
    p.h = 2;
    p.w = 3;
    p.cols = 2;
    // tile 0: median 1, one high value; tile 1: constant; tile 2: one low value
    p.values = {1, 1, 1, 1, 1, 3, 5, 5, 5, 5, 5, 5, 0, 2, 2, 2, 2, 2};
    ImageGridOptions o;
    o.pixel = 2;
    o.gap = 1;
    Scene s = image_grid_scene({p}, "", o);
    std::vector<RectItem> cells;
    for (auto& it : s.items)
      if (it.role == "cell") cells.push_back(std::get<RectItem>(it.shape));
    REQUIRE(cells.size() == 18);
    // tile 1 starts one gap right of tile 0's 3 columns of 2 pixels; tile 2 starts a new row
    CHECK(cells[6].box.x0 - cells[0].box.x0 == 7);
    CHECK(cells[12].box.x0 == cells[0].box.x0);
    CHECK(cells[12].box.y0 - cells[0].box.y0 == 5);
    CHECK(cells[0].box.width() == 2);
    const Color white{255, 255, 255};
    CHECK(cells[0].fill == white);
    CHECK(cells[5].fill == diverging_color(1));  // the high value: full red
    CHECK(cells[5].fill.r > cells[5].fill.b);
    CHECK(cells[8].fill == white);               // a constant tile is white
    CHECK(cells[12].fill == diverging_color(-1));
    CHECK(cells[12].fill.b > cells[12].fill.r);
    CHECK(diverging_color(0.5).r == 255 - (255 - 0xb2) / 2);
    // sequential: panel minimum and maximum get the colour map's ends
    o.colors = ImageGridOptions::Colors::sequential;
    Scene q = image_grid_scene({p}, "title", o);
    std::vector<Color> fills;
    for (auto& it : q.items)
      if (it.role == "cell") fills.push_back(std::get<RectItem>(it.shape).fill);
    CHECK(fills[12] == colormap(0));
    CHECK(fills[6] == colormap(1));
    CHECK(q.height > s.height);  // room for the title
  }

  TEST_CASE("image grid: PNG and SVG files, and bad input") {
    io_test::TempDir tmp;
    ImagePanel p{"filters", std::vector<float>(4 * 9, 0.5f), 4, 3, 3, 0};
    p.values[4] = 1;
    save_image_grid(tmp.file("g.png"), {p, p}, "two panels");
    save_image_grid(tmp.file("g.svg"), {p}, "");
    auto png = io_test::file_bytes(tmp.file("g.png"));
    REQUIRE(png.size() > 8);
    CHECK(png[1] == 'P');
    std::string svg;
    for (auto b : io_test::file_bytes(tmp.file("g.svg"))) svg += char(b);
    CHECK(svg.find("class=\"cell\"") != std::string::npos);
    CHECK(error_of([&] { save_image_grid(tmp.file("g.jpg"), {p}); }).find(".svg or .png") != std::string::npos);
    CHECK(error_of([&] { image_grid_scene({}); }).find("no panels") != std::string::npos);
    ImagePanel short_p = p;
    short_p.values.pop_back();
    CHECK(error_of([&] { image_grid_scene({short_p}); }).find("need 36") != std::string::npos);
    ImagePanel nan_p = p;
    nan_p.values[3] = std::nanf("");
    CHECK(error_of([&] { image_grid_scene({nan_p}); }).find("not finite") != std::string::npos);
    ImagePanel huge = p;
    huge.count = 100000;
    huge.h = huge.w = 100;
    CHECK(!error_of([&] { image_grid_scene({huge}); }).empty());
    ImageGridOptions o;
    o.pixel = 0;
    CHECK(error_of([&] { image_grid_scene({p}, "", o); }).find("pixel size") != std::string::npos);
  }
}
