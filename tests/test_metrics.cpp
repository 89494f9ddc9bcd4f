// Sample metrics (models/systems/metrics.h): 1-D W2 against direct formulas, the histogram TV on a
// hand-computed case, mode coverage, centring and pair distances, the JSON report, subsampling, the
// plots, and the x-W2 of the shipped DW4 / LJ13 references (test vs val) near the data README's floors.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "engine/io/json.h"
#include "engine/io/npy.h"
#include "engine/orbit.h"
#include "models/systems/metric_plots.h"
#include "models/systems/metrics.h"
#include "tests/test_temp.h"

namespace {
using namespace orbit;
using namespace orbit::systems;

std::vector<double> normals(int n, unsigned seed, double mean = 0, double sd = 1) {
  std::mt19937_64 g(seed);
  std::normal_distribution<double> N(mean, sd);
  std::vector<double> v(n);
  for (auto& x : v) x = N(g);
  return v;
}

ConfigSet read_fixture(const std::string& name) {
  Tensor t = read_npy(std::string(ORBIT_SOURCE_DIR) + "/tests/fixtures/systems/" + name);
  return ConfigSet{t.to_vector(), t.shape()[0], t.shape()[1]};
}

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST_SUITE("cpu") {
  TEST_CASE("metrics: 1-D W2 of equal-size sets is the RMS difference of the sorted values") {
    auto a = normals(257, 1), b = normals(257, 2, 0.3, 1.4);
    std::vector<double> sa = a, sb = b;
    std::sort(sa.begin(), sa.end());
    std::sort(sb.begin(), sb.end());
    double s = 0;
    for (size_t i = 0; i < sa.size(); ++i) s += (sa[i] - sb[i]) * (sa[i] - sb[i]);
    W2Result w = w2_1d(a, b);
    CHECK(w.w2_squared == doctest::Approx(s / 257).epsilon(1e-13));
    CHECK(w.w2 == doctest::Approx(std::sqrt(s / 257)).epsilon(1e-13));
    CHECK(w2_1d(b, a).w2_squared == doctest::Approx(w.w2_squared).epsilon(1e-14));  // symmetric
    // A shift by c moves every quantile by c.
    std::vector<double> shifted = a;
    for (auto& x : shifted) x += 2.5;
    CHECK(w2_1d(a, shifted).w2 == doctest::Approx(2.5).epsilon(1e-12));
    CHECK(w2_1d(a, a).w2 == 0.0);
    // In 1-D the exact OT (assignment) is the monotone matching: the two implementations agree.
    ConfigSet ca{a, 257, 1}, cb{b, 257, 1};
    CHECK(w2_exact(ca, cb).w2_squared == doctest::Approx(w.w2_squared).epsilon(1e-12));
  }

  TEST_CASE("metrics: 1-D W2 of unequal sizes follows the quantile functions") {
    // a = {0, 1}, b = {0, 1, 2}: quantiles differ by 1 on (1/3, 1/2] and on (2/3, 1]: W2^2 = 1/6 + 1/3.
    W2Result w = w2_1d(std::vector<double>{1, 0}, std::vector<double>{2, 0, 1});
    CHECK(w.w2_squared == doctest::Approx(0.5).epsilon(1e-15));
    CHECK(w.w2 == doctest::Approx(std::sqrt(0.5)).epsilon(1e-15));
    // Repeating every value of a m times and of b n times gives the same empirical measures as equal
    // sizes n * m, where the sorted formula applies.
    for (auto [n, m] : {std::pair{7, 3}, std::pair{10, 4}, std::pair{13, 29}, std::pair{1, 5}}) {
      auto a = normals(n, 10 + n), b = normals(m, 20 + m, 1.0, 0.5);
      std::vector<double> ra, rb;
      for (double x : a) ra.insert(ra.end(), m, x);
      for (double x : b) rb.insert(rb.end(), n, x);
      std::sort(ra.begin(), ra.end());
      std::sort(rb.begin(), rb.end());
      double s = 0;
      for (size_t i = 0; i < ra.size(); ++i) s += (ra[i] - rb[i]) * (ra[i] - rb[i]);
      INFO("n=" << n << " m=" << m);
      CHECK(w2_1d(a, b).w2_squared == doctest::Approx(s / ra.size()).epsilon(1e-12));
    }
    CHECK_THROWS_WITH_AS(w2_1d(std::vector<double>{}, std::vector<double>{1}), doctest::Contains("at least one value"),
                         Error);
    CHECK_THROWS_WITH_AS(w2_1d(std::vector<double>{1, NAN}, std::vector<double>{1}),
                         doctest::Contains("first set: value 1 of 2 is nan"), Error);
  }

  TEST_CASE("metrics: distance TV on a hand-computed histogram") {
    // Reference {0, 1, 2, 3, 4}, 4 bins: edges 0, 1, 2, 3, 4; counts 1, 1, 1, 2 (last bin closed).
    // Generated {0.5, 0.5, 3.5, 10}: 10 is outside and dropped; counts 2, 0, 0, 1 of 3.
    // TV = 0.5 (|1/5 - 2/3| + 1/5 + 1/5 + |2/5 - 1/3|) = 7/15.
    TotalVariation t = histogram_tv(std::vector<double>{0, 1, 2, 3, 4}, std::vector<double>{0.5, 0.5, 3.5, 10}, 4);
    REQUIRE(t.edges.size() == 5);
    CHECK(t.edges == std::vector<double>{0, 1, 2, 3, 4});
    CHECK(t.ref_counts == std::vector<int64_t>{1, 1, 1, 2});
    CHECK(t.gen_counts == std::vector<int64_t>{2, 0, 0, 1});
    CHECK(t.gen_outside == 1);
    CHECK(t.tv == doctest::Approx(7.0 / 15).epsilon(1e-15));
    // The same values give 0; disjoint in-range supports give 1; all generated outside gives 1.
    CHECK(histogram_tv(std::vector<double>{0, 1, 2, 3, 4}, std::vector<double>{4, 3, 2, 1, 0}, 4).tv == 0.0);
    CHECK(histogram_tv(std::vector<double>{0, 0, 4, 4}, std::vector<double>{2.5, 2.5}, 4).tv == doctest::Approx(1.0));
    TotalVariation out = histogram_tv(std::vector<double>{0, 1}, std::vector<double>{5, 6}, 4);
    CHECK(out.tv == 1.0);
    CHECK(out.gen_outside == 2);
    // A single distinct reference value gets numpy's [v - 0.5, v + 0.5].
    TotalVariation one = histogram_tv(std::vector<double>{2, 2}, std::vector<double>{1.7}, 2);  // bins [1.5, 2), [2, 2.5]
    CHECK(one.edges == std::vector<double>{1.5, 2, 2.5});
    CHECK(one.tv == doctest::Approx(1.0));
  }

  TEST_CASE("metrics: centring, pair distances and statistics") {
    // Two particles in 2-D at (1, 1) and (4, 5): distance 5; after centring (-1.5, -2), (1.5, 2).
    ConfigSet s{{1, 1, 4, 5, 0, 0, 0, 2}, 2, 4};
    remove_mean(s, 2, 2);
    CHECK(s.x == std::vector<double>{-1.5, -2, 1.5, 2, 0, -1, 0, 1});
    CHECK(pooled_pair_distances(s, 2, 2) == std::vector<double>{5, 2});
    ConfigSet tri{{0, 0, 0, 3, 0, 0, 0, 4, 0}, 1, 9};  // 3 particles in 3-D: distances 3, 4, 5
    auto d = pooled_pair_distances(tri, 3, 3);
    CHECK(d == std::vector<double>{3, 4, 5});
    Stats st = stats_of(std::vector<double>{1, 2, 3, 4});
    CHECK(st.mean == 2.5);
    CHECK(st.std == doctest::Approx(std::sqrt(1.25)));
    CHECK(st.min == 1);
    CHECK(st.max == 4);
    CHECK_THROWS_WITH_AS(remove_mean(s, 3, 2), doctest::Contains("not 3 particles x 2"), Error);
  }

  TEST_CASE("metrics: mode coverage assigns each sample to its nearest mean") {
    const std::vector<double> means = {0, 0, 10, 0, 0, 10, 10, 10};  // 4 modes in 2-D
    // 10 samples: 6 near mode 0, 3 near mode 1, 1 near mode 3, none near mode 2.
    ConfigSet s{{0.1, 0, -1, 1, 2, 2, 0, -3, 1, 1, 4.9, 4.9, 9, 1, 11, -1, 6, 0, 8, 9}, 10, 2};
    ModeCoverage c = mode_coverage(s, means, 2, 0.1);
    CHECK(c.counts == std::vector<int64_t>{6, 3, 0, 1});
    CHECK(c.modes == 4);
    CHECK(c.covered == 3);
    CHECK(c.fraction() == 0.75);
    CHECK(mode_coverage(s, means, 2, 0.2).covered == 2);   // 1 of 10 is below 20%
    CHECK(mode_coverage(s, means, 2, 0.3).covered == 2);   // 3 of 10 is exactly 30%: covered
    CHECK(mode_coverage(s, means, 2, 0.31).covered == 1);
    CHECK(mode_coverage(s, means, 2, 0.0).covered == 4);   // threshold 0 counts empty modes too
    // A sample exactly between two means goes to the lower index.
    ConfigSet tie{{5, 0}, 1, 2};
    CHECK(mode_coverage(tie, means, 2, 0.5).counts == std::vector<int64_t>{1, 0, 0, 0});
    CHECK_THROWS_WITH_AS(mode_coverage(s, means, 2, 1.5), doctest::Contains("must be in [0, 1]"), Error);
  }

  TEST_CASE("metrics: compute_metrics centres molecules, calls the energy and reports JSON") {
    // 3 particles in 2-D; the reference is the samples shuffled and translated per configuration, so
    // after centring every metric of the pair is zero.
    const int n = 50, flat = 6;
    auto base = normals(n * flat, 5);
    ConfigSet a{base, n, flat}, b{std::vector<double>(base.size()), n, flat};
    for (int r = 0; r < n; ++r) {
      const int src = (r * 7) % n;  // a permutation of the rows (7 and 50 are coprime)
      for (int k = 0; k < flat; ++k) b.x[r * flat + k] = base[src * flat + k] + (k % 2 ? -3.0 : 5.0) + r;
    }
    MetricsOptions o;
    o.system = "toy";
    o.n_particles = 3;
    o.dim = 2;
    o.molecule = true;
    int calls = 0;
    o.energy = [&calls](const ConfigSet& s) {
      ++calls;
      std::vector<double> e(s.n);
      for (int64_t r = 0; r < s.n; ++r) {
        double m0 = 0, m1 = 0;
        for (int p = 0; p < 3; ++p) m0 += s.x[r * 6 + 2 * p], m1 += s.x[r * 6 + 2 * p + 1];
        CHECK(std::fabs(m0) < 1e-12);  // the energy sees centred configurations
        CHECK(std::fabs(m1) < 1e-12);
        for (int k = 0; k < 6; ++k) e[r] += s.x[r * 6 + k] * s.x[r * 6 + k];
      }
      return e;
    };
    MetricsData data;
    SampleMetrics m = compute_metrics(a, b, o, &data);
    CHECK(calls == 2);
    CHECK(m.centred);
    CHECK(m.x_w2.w2 < 1e-6);
    CHECK(m.x_w2_certificate.certified);
    CHECK(m.energy_w2.w2 < 1e-9);
    CHECK(m.dist_w2.w2 < 1e-9);
    CHECK(m.dist_tv == 0.0);
    CHECK(m.energy_samples.mean == doctest::Approx(m.energy_reference.mean));
    CHECK(data.dist_samples.size() == static_cast<size_t>(n * 3));
    CHECK(data.energy_reference.size() == static_cast<size_t>(n));

    // Not centring (as for GMM) leaves the translation in x-W2.
    MetricsOptions raw = o;
    raw.molecule = false;
    raw.energy = nullptr;
    SampleMetrics mr = compute_metrics(a, b, raw);
    CHECK(mr.x_w2.w2 > 1.0);
    CHECK(!mr.has_distances);
    CHECK(!mr.has_energy);

    io::Json j = io::parse_json(m.to_json(), "metrics json");
    for (const char* key : {"x_w2", "x_w2_squared", "x_w2_certificate", "energy_w2", "energy_w2_squared",
                            "energy_samples", "energy_reference", "dist_w2", "dist_w2_squared", "dist_tv",
                            "dist_outside_fraction", "idem_names"})
      CHECK_MESSAGE(j.find(key) != nullptr, key);
    CHECK(j.find("idem_names")->find("energy_w2_squared")->text == "energy_w2");
    CHECK(j.find("x_w2_certificate")->find("certified")->boolean);
    CHECK(j.find("modes_samples") == nullptr);

    // A non-finite energy is left out and counted.
    MetricsOptions bad = o;
    bad.energy = [](const ConfigSet& s) {
      std::vector<double> e(s.n, 1.0);
      e[0] = INFINITY;
      return e;
    };
    SampleMetrics mb = compute_metrics(a, b, bad);
    CHECK(mb.energy_nonfinite_samples == 1);
    CHECK(mb.energy_nonfinite_reference == 1);
    CHECK(mb.energy_w2.w2 == 0.0);

    ConfigSet wrong{std::vector<double>(n * 4), n, 4};
    CHECK_THROWS_WITH_AS(compute_metrics(wrong, b, o), doctest::Contains("configurations have 6 values"), Error);
  }

  TEST_CASE("metrics: GMM mode coverage of mixture draws") {
    const std::vector<double> means = {-20, 0, 0, 20, 20, 0, 0, -20};
    std::mt19937_64 g(3);
    std::normal_distribution<double> N(0, 1.3);
    auto draw = [&](int n, int modes) {
      ConfigSet s{std::vector<double>(2 * n), n, 2};
      for (int i = 0; i < n; ++i) {
        int k = static_cast<int>(g() % modes);
        s.x[2 * i] = means[2 * k] + N(g);
        s.x[2 * i + 1] = means[2 * k + 1] + N(g);
      }
      return s;
    };
    MetricsOptions o;
    o.system = "gmm4";
    o.n_particles = 1;
    o.dim = 2;
    o.gmm_means = means;
    o.mode_min_fraction = 0.05;
    SampleMetrics full = compute_metrics(draw(400, 4), draw(400, 4), o);
    CHECK(full.has_modes);
    CHECK(full.modes_samples.covered == 4);
    CHECK(full.modes_reference.covered == 4);
    SampleMetrics half = compute_metrics(draw(400, 2), draw(400, 4), o);
    CHECK(half.modes_samples.covered == 2);
    CHECK(half.modes_samples.counts[2] == 0);
    CHECK(half.modes_samples.counts[3] == 0);
    CHECK(half.x_w2.w2 > 10);  // half the mass must travel about 28 units
    io::Json j = io::parse_json(half.to_json(), "gmm json");
    CHECK(j.find("modes_samples")->find("covered")->text == "2");
    CHECK(j.find("modes_samples")->find("counts")->items.size() == 4);
  }

  TEST_CASE("metrics: subsampling draws distinct rows, reproducibly") {
    auto r = subsample_rows(10000, 1000, 42, 0);
    REQUIRE(r.size() == 1000);
    CHECK(std::is_sorted(r.begin(), r.end()));
    CHECK(std::set<int64_t>(r.begin(), r.end()).size() == 1000);
    CHECK(r.front() >= 0);
    CHECK(r.back() < 10000);
    CHECK(r == subsample_rows(10000, 1000, 42, 0));
    CHECK(r != subsample_rows(10000, 1000, 43, 0));
    CHECK(r != subsample_rows(10000, 1000, 42, 1));
    // Roughly uniform: the mean index of 1000 draws from [0, 10000) is 5000 +- 91 (one sd).
    double mean = 0;
    for (auto i : r) mean += static_cast<double>(i) / 1000;
    CHECK(std::fabs(mean - 4999.5) < 400);
    auto all = subsample_rows(5, 5, 1, 0);
    CHECK(all == std::vector<int64_t>{0, 1, 2, 3, 4});
    CHECK_THROWS_WITH_AS(subsample_rows(5, 6, 1, 0), doctest::Contains("asked for 6 rows but only 5"), Error);
  }

  TEST_CASE("metrics: x-W2 of the DW4 and LJ13 references (test vs val) is near the README's floors") {
    // ../shared/data/README.md: three disjoint 1000 vs 1000 draws give DW4 1.80 / 1.77 / 1.77 and
    // LJ13 3.56 / 3.59 / 3.58; the first 1000 rows must fall in the same band.
    struct Case {
      const char* name;
      int p, d;
      double lo, hi;
    } cases[] = {{"dw4", 4, 2, 1.74, 1.84}, {"lj13", 13, 3, 3.52, 3.63}};
    for (auto& c : cases) {
      MetricsOptions o;
      o.system = c.name;
      o.n_particles = c.p;
      o.dim = c.d;
      o.molecule = true;
      SampleMetrics m = compute_metrics(read_fixture(std::string(c.name) + "_test_first1000.npy"),
                                        read_fixture(std::string(c.name) + "_val_first1000.npy"), o);
      MESSAGE(std::string(c.name) << " floor (first 1000 test vs first 1000 val): x_w2 " << m.x_w2.w2 << ", dist_w2^2 "
                     << m.dist_w2.w2_squared << ", dist_tv " << m.dist_tv << ", OT " << m.x_w2_seconds << " s");
      CHECK(m.x_w2_certificate.certified);
      CHECK(m.x_w2.w2 > c.lo);
      CHECK(m.x_w2.w2 < c.hi);
      // Two draws of one distribution: small distance-histogram differences.
      CHECK(m.dist_tv < 0.15);
      CHECK(m.dist_w2.w2 < 0.2);  // disjoint DW4 draws of 1000 give 0.02 to 0.13
      // Not centring the DW4 files inflates the distance (they are not mean-free).
      if (std::string(c.name) == "dw4") {
        MetricsOptions raw = o;
        raw.molecule = false;
        SampleMetrics r = compute_metrics(read_fixture("dw4_test_first1000.npy"), read_fixture("dw4_val_first1000.npy"),
                                          raw);
        CHECK(r.x_w2.w2 > m.x_w2.w2 + 0.1);
      }
    }
  }

  TEST_CASE("metric plots: energy and distance histograms as SVG and PNG") {
    MetricsData d;
    d.energy_samples = normals(500, 1, -22, 2);
    d.energy_reference = normals(500, 2, -22.4, 1.9);
    d.energy_samples[0] = 1e6;  // a far-out sample is counted off range, not plotted
    d.dist_samples = normals(3000, 3, 4, 1.3);
    d.dist_reference = normals(3000, 4, 4, 1.3);
    const std::string prefix = orbit::testing::test_temp("orbit_metric_plots_test");
    auto paths = write_metric_plots(prefix, "dw4", d);
    REQUIRE(paths.size() == 4);
    CHECK(paths[0] == prefix + "_energy.svg");
    CHECK(paths[3] == prefix + "_distances.png");
    const std::string svg = slurp(paths[0]);
    CHECK(svg.find("<svg") != std::string::npos);
    CHECK(svg.find("1 of 500 samples off range") != std::string::npos);
    CHECK(svg.find("reference") != std::string::npos);
    const std::string png = slurp(paths[1]);
    REQUIRE(png.size() > 8);
    CHECK(png.compare(0, 8, "\x89PNG\r\n\x1a\n") == 0);
    for (auto& p : paths) std::filesystem::remove(p);
    // Energies only (GMM): two files.
    MetricsData e;
    e.energy_samples = d.energy_reference;
    e.energy_reference = d.energy_reference;
    CHECK(write_metric_plots(prefix, "gmm40", e).size() == 2);
    std::filesystem::remove(prefix + "_energy.svg");
    std::filesystem::remove(prefix + "_energy.png");
    // With 2-D points (GMM-40 as compute_metrics fills them): also the scatter panels, the means
    // marked, a far-out sample counted.
    e.points_reference = {0, 0, 1, 1, -1, 2, 3, -2};
    e.points_samples = {0.5, 0.5, 40, 40};
    e.means = {0, 0, 2, 2};
    auto with_points = write_metric_plots(prefix, "gmm40", e);
    REQUIRE(with_points.size() == 4);
    CHECK(with_points[2] == prefix + "_samples.svg");
    const std::string scatter = slurp(with_points[2]);
    CHECK(scatter.find("samples (2), 1 off range") != std::string::npos);
    CHECK(scatter.find("means") != std::string::npos);
    for (auto& p : with_points) std::filesystem::remove(p);
    CHECK_THROWS_WITH_AS(write_metric_plots(prefix, "x", MetricsData{}), doctest::Contains("neither energies"), Error);
  }
}
