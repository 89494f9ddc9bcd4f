// Figure: subplot grid, rendering and saving; see figure.h.
#include "engine/plot/figure.h"

#include <algorithm>
#include <cctype>
#include <cmath>

#include "engine/error.h"
#include "engine/io/file_io.h"
#include "engine/plot/png.h"
#include "engine/plot/svg.h"

namespace orbit::plot {

Figure::Figure(int width, int height) : width_(width), height_(height) {
  ORBIT_CHECK(width >= 16 && width <= 16384 && height >= 16 && height <= 16384, "plot: figure size ", width, "x",
              height, " is outside 16..16384 pixels");
}

Axes& Figure::axes(std::string title, std::string xlabel, std::string ylabel) {
  ORBIT_CHECK(rows_ == 0 || static_cast<int>(axes_.size()) < rows_ * cols_, "plot: the ", rows_, "x", cols_,
              " grid is full; cannot add axes '", title, "'");
  axes_.push_back(std::make_unique<Axes>(std::move(title), std::move(xlabel), std::move(ylabel)));
  return *axes_.back();
}

Figure& Figure::grid(int rows, int cols) {
  ORBIT_CHECK(rows >= 1 && cols >= 1 && rows * cols <= 1024, "plot: bad subplot grid ", rows, "x", cols);
  ORBIT_CHECK(static_cast<int>(axes_.size()) <= rows * cols, "plot: a ", rows, "x", cols, " grid cannot hold the ",
              axes_.size(), " axes already added");
  rows_ = rows;
  cols_ = cols;
  return *this;
}

Figure& Figure::font_scale(int scale) {
  ORBIT_CHECK(scale >= 1 && scale <= 8, "plot: font scale ", scale, " is outside 1..8");
  font_scale_ = scale;
  return *this;
}

Scene Figure::scene() const {
  Scene sc;
  sc.width = width_;
  sc.height = height_;
  int n = static_cast<int>(axes_.size()), rows = rows_, cols = cols_;
  if (rows == 0) {
    cols = std::max(1, static_cast<int>(std::ceil(std::sqrt(double(n)))));
    rows = std::max(1, (n + cols - 1) / cols);
  }
  for (int i = 0; i < n; ++i) {
    int r = i / cols, c = i % cols;
    Box cell{double(c) * width_ / cols, double(r) * height_ / rows, double(c + 1) * width_ / cols,
             double(r + 1) * height_ / rows};
    axes_[i]->draw(sc, cell, font_scale_);
  }
  return sc;
}

std::string Figure::svg() const { return to_svg(scene()); }

Image Figure::image() const { return rasterize(scene()); }

std::vector<uint8_t> Figure::png() const { return encode_png(image()); }

void Figure::save(const std::string& path) const {
  std::string ext = path.size() >= 4 ? path.substr(path.size() - 4) : "";
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  ORBIT_CHECK(ext == ".svg" || ext == ".png", "plot: cannot save '", path,
              "': the file name must end in .svg or .png");
  std::vector<uint8_t> bytes;
  if (ext == ".svg") {
    std::string text = svg();
    bytes.assign(text.begin(), text.end());
  } else {
    bytes = png();
  }
  io::AtomicFile file(path, "plot");
  file.write(bytes.data(), bytes.size());
  file.commit();
}

}  // namespace orbit::plot
