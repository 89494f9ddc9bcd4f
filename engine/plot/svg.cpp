// Scene to SVG text; see svg.h.
#include "engine/plot/svg.h"

#include <cstdio>
#include <sstream>

#include "engine/io/json.h"

namespace orbit::plot {

namespace {

std::string num(double v) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  std::string s = buf;
  while (s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  if (s == "-0") s = "0";
  return s;
}

// Text as XML character data: markup characters escaped, control characters (and, in text that
// is not valid UTF-8, every non-ASCII byte) replaced by '?'.
std::string xml_text(const std::string& s) {
  bool utf8 = io::valid_utf8(s);
  std::string out;
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (ch == '&') out += "&amp;";
    else if (ch == '<') out += "&lt;";
    else if (ch == '>') out += "&gt;";
    else if (ch == '"') out += "&quot;";
    else if (c < 0x20 || c == 0x7f || (c >= 0x80 && !utf8)) out += '?';
    else out += ch;
  }
  return out;
}

std::string opacity(const char* attr, double alpha) {
  return alpha < 1 ? std::string(" ") + attr + "=\"" + num(alpha) + "\"" : std::string();
}

struct Writer {
  std::ostringstream& os;
  const Item& item;

  void head(const char* tag) {
    os << '<' << tag << " class=\"" << xml_text(item.role) << '"';
    if (item.clip >= 0) os << " clip-path=\"url(#clip" << item.clip << ")\"";
  }
  void operator()(const PolylineItem& p) {
    head("polyline");
    os << " points=\"";
    for (size_t i = 0; i < p.points.size(); ++i)
      os << (i ? " " : "") << num(p.points[i].x) << ',' << num(p.points[i].y);
    os << "\" fill=\"none\" stroke=\"" << p.color.svg() << "\" stroke-width=\"" << num(p.width)
       << "\" stroke-linejoin=\"round\" stroke-linecap=\"round\"" << opacity("stroke-opacity", p.alpha) << "/>\n";
  }
  void operator()(const RectItem& r) {
    head("rect");
    os << " x=\"" << num(r.box.x0) << "\" y=\"" << num(r.box.y0) << "\" width=\"" << num(r.box.width())
       << "\" height=\"" << num(r.box.height()) << '"';
    if (r.filled)
      os << " fill=\"" << r.fill.svg() << '"' << opacity("fill-opacity", r.alpha);
    else
      os << " fill=\"none\"";
    if (r.stroke_width > 0) os << " stroke=\"" << r.stroke.svg() << "\" stroke-width=\"" << num(r.stroke_width) << '"';
    os << "/>\n";
  }
  void operator()(const CircleItem& c) {
    head("circle");
    os << " cx=\"" << num(c.center.x) << "\" cy=\"" << num(c.center.y) << "\" r=\"" << num(c.radius) << "\" fill=\""
       << c.fill.svg() << '"' << opacity("fill-opacity", c.alpha) << "/>\n";
  }
  void operator()(const TextItem& t) {
    static const char* kAnchor[] = {"start", "middle", "end"};
    head("text");
    // Monospace at 10px per scale step advances about 6px per glyph, as the bitmap font does.
    os << " x=\"" << num(t.at.x) << "\" y=\"" << num(t.at.y)
       << "\" font-family=\"DejaVu Sans Mono,Menlo,Consolas,monospace\" font-size=\"" << 10 * t.scale
       << "\" fill=\"" << t.color.svg() << "\" text-anchor=\"" << kAnchor[static_cast<int>(t.anchor)] << '"';
    if (t.bold) os << " font-weight=\"bold\"";
    if (t.vertical) os << " transform=\"rotate(-90 " << num(t.at.x) << ' ' << num(t.at.y) << ")\"";
    os << '>' << xml_text(t.text) << "</text>\n";
  }
};

}  // namespace

std::string to_svg(const Scene& scene) {
  std::ostringstream os;
  os << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
     << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << scene.width << "\" height=\"" << scene.height
     << "\" viewBox=\"0 0 " << scene.width << ' ' << scene.height << "\">\n";
  if (!scene.clips.empty()) {
    os << "<defs>\n";
    for (size_t i = 0; i < scene.clips.size(); ++i) {
      const Box& b = scene.clips[i];
      os << "<clipPath id=\"clip" << i << "\"><rect x=\"" << num(b.x0) << "\" y=\"" << num(b.y0) << "\" width=\""
         << num(b.width()) << "\" height=\"" << num(b.height()) << "\"/></clipPath>\n";
    }
    os << "</defs>\n";
  }
  os << "<rect class=\"background\" x=\"0\" y=\"0\" width=\"" << scene.width << "\" height=\"" << scene.height
     << "\" fill=\"" << scene.background.svg() << "\"/>\n";
  for (const Item& item : scene.items) std::visit(Writer{os, item}, item.shape);
  os << "</svg>\n";
  return os.str();
}

}  // namespace orbit::plot
