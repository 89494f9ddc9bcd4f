// End to end on synthetic digits: the FC net learns (accuracy far above the 10% of chance) with and
// without the weight-sharing prox, the prox (forward-backward splitting on fc1 and fc2) leaves far
// fewer distinct weights, and the CNN learns the torus task. The Fashion-MNIST quick comparison is
// a slow test.
#include <doctest/doctest.h>

#include <algorithm>
#include <utility>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "models/sharing/trainer.h"

using namespace orbit;
using namespace orbit::sharing;

namespace {

// Small problems run fastest on one thread (and OpenMP threads spin on a busy machine); restores the
// previous count at scope exit.
struct OneThread {
#ifdef _OPENMP
  int before = omp_get_max_threads();
  OneThread() { omp_set_num_threads(1); }
  ~OneThread() { omp_set_num_threads(before); }
#endif
};

SharingConfig tiny(ModelKind m) {
  SharingConfig c = SharingConfig::preset("quick", m);
  c.data = DataSource::synthetic;
  c.channels = {1, 4};
  c.epochs = 5;
  c.batch = 50;
  c.lr = 0.5;
  c.ws_lr = {0.02, 0.005};
  c.train_size = 600;
  c.val_size = 200;
  c.test_size = 500;
  c.torus = false;
  return c;
}

// The circular CNN on torus-rolled digits.
SharingConfig tiny_torus_cnn(std::vector<int64_t> channels) {
  SharingConfig c = tiny(ModelKind::cnn);
  c.torus = true;
  c.channels = std::move(channels);
  c.lr = 1.0;
  return c;
}

PreparedData tiny_data(const SharingConfig& c) {
  RawData raw;
  raw.train = synthetic_images(1500, 11);
  raw.test = synthetic_images(600, 12);
  raw.description = "synthetic";
  return prepare_data(c, raw);
}

}  // namespace

TEST_SUITE("cpu") {
  TEST_CASE("sharing train: FC nets learn synthetic digits, the prox shares most of fc1's weights") {
    OneThread one;
    SharingConfig plain = tiny(ModelKind::fc), prox = tiny(ModelKind::fc_prox);
    PreparedData d = tiny_data(plain);
    SharingResult a = train_sharing(plain, d.train, d.val, d.test);
    SharingResult b = train_sharing(prox, d.train, d.val, d.test);
    MESSAGE("fc: test acc ", a.test_acc, ", fc1 distinct ", a.layers[0].distinct_fraction, "; fc-prox: test acc ",
            b.test_acc, ", fc1 distinct ", b.layers[0].distinct_fraction, ", fc2 distinct ",
            b.layers[2].distinct_fraction);
    CHECK(a.test_acc > 0.4);  // chance: 0.1
    CHECK(b.test_acc > 0.4);
    REQUIRE(a.layers[0].name == "fc1/w");
    REQUIRE(b.layers[2].name == "fc2/w");
    CHECK(a.layers[0].distinct_fraction > 0.9);  // plain SGD keeps (almost) every weight distinct
    CHECK(b.layers[0].distinct_fraction < 0.5 * a.layers[0].distinct_fraction);
    CHECK(b.layers[2].distinct_fraction < a.layers[2].distinct_fraction);
    CHECK(b.layers[0].R < a.layers[0].R);
    CHECK(b.prox_seconds > 0);
    CHECK(a.prox_seconds == 0);
    CHECK(b.history.size() == 5);
    CHECK(b.steps == 5 * 12);
  }

  TEST_CASE("sharing train: the circular CNN learns the torus task") {
    OneThread one;
    const SharingConfig c = tiny_torus_cnn({8, 16});
    PreparedData d = tiny_data(c);
    SharingResult r = train_sharing(c, d.train, d.val, d.test);
    MESSAGE("cnn on the torus: test acc ", r.test_acc);
    CHECK(r.test_acc > 0.3);
    CHECK(r.filters.shift_sharing == doctest::Approx(1.0).epsilon(1e-6));  // a convolution by construction
  }

  TEST_CASE("sharing train: shuffled pixels are one fixed map on every split, filters come back in image order") {
    OneThread one;
    SharingConfig plain = tiny_torus_cnn({4, 8});
    plain.epochs = 2;
    SharingConfig shuffled = plain;
    shuffled.shuffle_pixels = true;
    const PreparedData a = tiny_data(plain), b = tiny_data(shuffled);
    const int64_t P = 14 * 14;
    const std::vector<int64_t> perm = pixel_permutation(shuffled, P);
    std::vector<int64_t> sorted = perm;
    std::sort(sorted.begin(), sorted.end());
    for (int64_t k = 0; k < P; ++k) REQUIRE(sorted[static_cast<size_t>(k)] == k);
    int64_t moved = 0;
    for (int64_t k = 0; k < P; ++k) moved += perm[static_cast<size_t>(k)] != k;
    CHECK(moved > P / 2);
    // Every image of every split: input k = the unshuffled image's pixel perm[k]; labels unchanged.
    for (auto [x, y] : {std::pair{&a.train, &b.train}, std::pair{&a.val, &b.val}, std::pair{&a.test, &b.test}}) {
      REQUIRE(x->images.shape() == y->images.shape());
      CHECK(x->labels.to_vector() == y->labels.to_vector());
      const float* u = x->images.data<float>();
      const float* v = y->images.data<float>();
      int64_t wrong = 0;
      for (int64_t i = 0; i < x->size(); ++i)
        for (int64_t k = 0; k < P; ++k) wrong += v[i * P + k] != u[i * P + perm[static_cast<size_t>(k)]];
      CHECK(wrong == 0);
    }
    CHECK(b.description.find("pixels shuffled") != std::string::npos);
    // A CNN on shuffled inputs is a convolution in the shuffled order: put back in image order its
    // dense first layer is no longer one (the unshuffled CNN measures exactly 1).
    SharingResult r = train_sharing(shuffled, b.train, b.val, b.test);
    MESSAGE("cnn on shuffled pixels: test acc ", r.test_acc, ", shift sharing in image order ",
            r.filters.shift_sharing, ", locality ", r.filters.locality);
    CHECK(r.filters.shift_sharing < 0.5);
    // Bad maps are refused.
    CHECK_THROWS_WITH_AS(shuffle_pixels(a.test, std::vector<int64_t>(P, 0)), doctest::Contains("not a permutation"),
                         Error);
    CHECK_THROWS_WITH_AS(shuffle_pixels(a.test, std::vector<int64_t>(10, 0)), doctest::Contains("permutation of 10"),
                         Error);
  }
}

TEST_SUITE("slow") {
  TEST_CASE("sharing train: quick preset on torus Fashion-MNIST, fc-prox vs fc (when installed)") {
    SharingConfig base = SharingConfig::preset("quick", ModelKind::fc);
    base.data_path = find_fashion_mnist();
    if (base.data_path.empty()) {
      MESSAGE("skipped: dataset-fashion-mnist is not installed");
      return;
    }
    OneThread one;
    base.torus = true;
    base.epochs = 3;
    PreparedData d = prepare_data(base);
    SharingConfig prox = base;
    prox.model = ModelKind::fc_prox;
    SharingResult a = train_sharing(base, d.train, d.val, d.test), b = train_sharing(prox, d.train, d.val, d.test);
    MESSAGE("fc ", a.test_acc, " / fc-prox ", b.test_acc, "; fc1 distinct ", a.layers[0].distinct_fraction, " / ",
            b.layers[0].distinct_fraction, "; R(fc1) ", a.layers[0].R, " / ", b.layers[0].R);
    CHECK(a.test_acc > 0.3);
    CHECK(b.test_acc > 0.3);
    // at the paper's ws_lr, 3 epochs contract fc1 strongly but merge few weights exactly (docs/sharing.md)
    CHECK(b.layers[0].R < 0.5 * a.layers[0].R);
  }
}
