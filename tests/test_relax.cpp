// systems::relax_outliers: rows far above the batch's energies are brought under the threshold by
// capped descent, the others come back bit for bit, molecules stay mean-free; bad input is refused.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "engine/error.h"
#include "engine/io/npy.h"
#include "models/systems/relax.h"
#include "models/systems/system.h"

using namespace orbit;

namespace {
Tensor reference_rows(const char* file, int64_t n) {
  Tensor all = read_npy(std::string(ORBIT_SOURCE_DIR) + "/tests/fixtures/systems/" + file).cast(DType::f64);
  std::vector<double> v = all.to_vector();
  const int64_t flat = all.shape()[1];
  v.resize(static_cast<size_t>(n * flat));
  return Tensor::from(Shape({n, flat}), v);
}
}  // namespace

TEST_SUITE("cpu") {
  TEST_CASE("relax: an overlapping LJ13 sample is relaxed, the others are untouched") {
    const systems::System s = systems::system_by_name("lj13");
    Tensor x = reference_rows("lj13_test_first1000.npy", 64);
    std::vector<double> v = x.to_vector();
    // Row 5: particle 1 put almost on particle 0 (E ~ 1e9); row 9: two particles close (E ~ 1e4).
    for (int d = 0; d < 3; ++d) v[5 * 39 + 3 + d] = v[5 * 39 + d] + 0.01 * (d + 1);
    for (int d = 0; d < 3; ++d) v[9 * 39 + 6 + d] = v[9 * 39 + 9 + d] + 0.2 * (d == 0);
    for (int r : {5, 9}) {  // keep the rows mean-free
      for (int d = 0; d < 3; ++d) {
        double c = 0;
        for (int p = 0; p < 13; ++p) c += v[r * 39 + p * 3 + d];
        for (int p = 0; p < 13; ++p) v[r * 39 + p * 3 + d] -= c / 13;
      }
    }
    Tensor bad = Tensor::from(Shape({64, 39}), v);
    std::vector<double> e0 = systems::energies(s, bad).to_vector();
    CHECK(e0[5] > 1e8);
    CHECK(e0[9] > 100);
    systems::RelaxReport rep;
    systems::RelaxOptions strict;
    strict.mad_factor = 20;  // only the two broken rows
    Tensor out = systems::relax_outliers(s, bad, strict, &rep);
    CHECK(rep.outliers == 2);
    CHECK(rep.relaxed == 2);
    CHECK(rep.iterations > 0);
    std::vector<double> e1 = systems::energies(s, out).to_vector(), o = out.to_vector();
    CHECK(e1[5] <= rep.target);
    CHECK(e1[9] <= rep.target);
    CHECK(rep.target < rep.threshold);
    CHECK(rep.threshold < 100);  // median (about -43) + 20 MAD: far below the two broken rows
    // The default (1 MAD) also moves the hotter rows of the batch, each down to the median, and only them.
    systems::RelaxReport rep1;
    std::vector<double> o1 = systems::relax_outliers(s, bad, {}, &rep1).to_vector();
    std::vector<double> e2 = systems::energies(s, Tensor::from(Shape({64, 39}), o1)).to_vector();
    CHECK(rep1.outliers > 2);
    CHECK(rep1.relaxed == rep1.outliers);
    for (int r = 0; r < 64; ++r) {
      if (e0[r] > rep1.threshold) CHECK(e2[r] <= rep1.target);
      else for (int k = 0; k < 39; ++k) REQUIRE(o1[r * 39 + k] == v[r * 39 + k]);
    }
    for (int r = 0; r < 64; ++r) {
      if (r == 5 || r == 9) continue;
      for (int k = 0; k < 39; ++k) REQUIRE(o[r * 39 + k] == v[r * 39 + k]);
    }
    for (int r : {5, 9})
      for (int d = 0; d < 3; ++d) {
        double c = 0;
        for (int p = 0; p < 13; ++p) c += o[r * 39 + p * 3 + d];
        CHECK(std::abs(c) < 1e-10);
      }
  }

  TEST_CASE("relax: nothing to do for a clean batch, bad input is refused") {
    const systems::System s = systems::system_by_name("dw4");
    Tensor x = reference_rows("dw4_test_first1000.npy", 100);
    systems::RelaxReport rep;
    systems::RelaxOptions strict;
    strict.mad_factor = 20;
    Tensor out = systems::relax_outliers(s, x, strict, &rep);
    CHECK(rep.outliers == 0);
    CHECK(out.to_vector() == x.to_vector());
    std::vector<double> v = x.to_vector();
    v[7] = NAN;
    CHECK_THROWS_AS(systems::relax_outliers(s, Tensor::from(Shape({100, 8}), v)), Error);
    CHECK_THROWS_AS(systems::relax_outliers(s, Tensor::from(Shape({10, 7}), std::vector<double>(70, 0.0))), Error);
    systems::RelaxOptions o;
    o.mad_factor = 0;
    CHECK_THROWS_WITH_AS(systems::relax_outliers(s, x, o), doctest::Contains("mad_factor"), Error);
  }
}
