// End to end on synthetic digits: the FC net learns (accuracy far above the 10% of chance) with and
// without the weight-sharing prox, the prox (forward-backward splitting on fc1 and fc2) leaves far
// fewer distinct weights, and the CNN learns the torus task. The Fashion-MNIST quick comparison is
// a slow test.
#include <doctest/doctest.h>

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
    SharingConfig c = tiny(ModelKind::cnn);
    c.torus = true;
    c.channels = {8, 16};
    c.lr = 1.0;
    PreparedData d = tiny_data(c);
    SharingResult r = train_sharing(c, d.train, d.val, d.test);
    MESSAGE("cnn on the torus: test acc ", r.test_acc);
    CHECK(r.test_acc > 0.3);
    CHECK(r.filters.shift_sharing == doctest::Approx(1.0).epsilon(1e-6));  // a convolution by construction
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
