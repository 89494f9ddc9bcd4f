// The exact assignment solver: against brute force over all permutations on small matrices (real,
// integer and tied costs), its optimality certificate (and that the certificate rejects a worse
// matching), its errors, and 1000 x 1000 Euclidean problems (certified; SciPy's optimal costs of the
// committed DW4 / LJ13 fixture pairs). "assignment export" writes instances for the SciPy ctest.
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "engine/io/json.h"
#include "engine/io/npy.h"
#include "engine/orbit.h"
#include "models/systems/assignment.h"
#include "models/systems/metrics.h"

namespace {
using namespace orbit;
using namespace orbit::systems;

double brute_force_min(const std::vector<double>& c, int n) {
  std::vector<int> p(n);
  std::iota(p.begin(), p.end(), 0);
  double best = INFINITY;
  do {
    double s = 0;
    for (int i = 0; i < n; ++i) s += c[i * n + p[i]];
    best = std::min(best, s);
  } while (std::next_permutation(p.begin(), p.end()));
  return best;
}

void check_against_brute_force(const std::vector<double>& c, int n, const std::string& what) {
  Assignment a = solve_assignment(c, n);
  INFO(what << " n=" << n);
  REQUIRE(a.col_for_row.size() == static_cast<size_t>(n));
  CHECK(a.certificate.is_permutation);
  CHECK(a.certificate.certified);
  double own = 0;
  for (int i = 0; i < n; ++i) own += c[i * n + a.col_for_row[i]];
  CHECK(own == doctest::Approx(a.cost).epsilon(1e-14));
  const double best = brute_force_min(c, n);
  CHECK(std::fabs(a.cost - best) <= 1e-12 * std::max(1.0, std::fabs(best)));
  CHECK(a.certificate.gap_bound <= 1e-9 * std::max(1.0, std::fabs(best)));
}

ConfigSet read_fixture(const std::string& name) {
  Tensor t = read_npy(std::string(ORBIT_SOURCE_DIR) + "/tests/fixtures/systems/" + name);
  ConfigSet s;
  s.n = t.shape()[0];
  s.flat_dim = t.shape()[1];
  s.x = t.to_vector();
  return s;
}

// Seeded Gaussian point sets, [n, d] row-major.
std::vector<double> gaussian_points(int n, int d, unsigned seed, double scale = 1, bool integer = false) {
  std::mt19937_64 g(seed);
  std::normal_distribution<double> N(0, scale);
  std::vector<double> x(static_cast<size_t>(n) * d);
  for (auto& v : x) v = integer ? std::round(N(g)) : N(g);
  return x;
}

double scipy_fixture_cost(const std::string& system) {
  std::ifstream f(std::string(ORBIT_SOURCE_DIR) + "/tests/fixtures/systems/assignment_scipy.json");
  REQUIRE(f.good());
  std::stringstream ss;
  ss << f.rdbuf();
  io::Json j = io::parse_json(ss.str(), "assignment_scipy.json");
  const io::Json* cost = j.find("cost");
  REQUIRE(cost != nullptr);
  const io::Json* v = cost->find(system);
  REQUIRE(v != nullptr);
  return std::stod(v->text);
}

}  // namespace

TEST_SUITE("cpu") {
  TEST_CASE("assignment: equals brute force over all permutations on random real costs (n <= 8)") {
    std::mt19937_64 g(11);
    std::uniform_real_distribution<double> U(-5, 5);
    for (int n = 1; n <= 8; ++n) {
      const int cases = n <= 6 ? 200 : (n == 7 ? 40 : 10);
      for (int rep = 0; rep < cases; ++rep) {
        std::vector<double> c(static_cast<size_t>(n) * n);
        for (auto& v : c) v = U(g);
        check_against_brute_force(c, n, "real costs rep " + std::to_string(rep));
      }
    }
  }

  TEST_CASE("assignment: equals brute force on integer costs with many ties, constant and structured matrices") {
    std::mt19937_64 g(12);
    for (int n = 1; n <= 8; ++n) {
      const int cases = n <= 6 ? 200 : (n == 7 ? 40 : 10);
      for (int rep = 0; rep < cases; ++rep) {
        std::vector<double> c(static_cast<size_t>(n) * n);
        const int range = 1 + rep % 4;  // values in {0..range}: heavy ties
        for (auto& v : c) v = static_cast<double>(g() % (range + 1)) - (rep % 3 == 0 ? range / 2 : 0);
        check_against_brute_force(c, n, "integer costs rep " + std::to_string(rep));
      }
      std::vector<double> constant(static_cast<size_t>(n) * n, 3.0);
      check_against_brute_force(constant, n, "constant");
      std::vector<double> rank1(static_cast<size_t>(n) * n), anti(static_cast<size_t>(n) * n);
      for (int i = 0; i < n; ++i)
        for (int j = 0; j < n; ++j) {
          rank1[i * n + j] = double(i + 1) * double(j + 1);  // optimum pairs large with small
          anti[i * n + j] = i == j ? 10.0 : double((i + 2 * j) % n);
        }
      check_against_brute_force(rank1, n, "rank one");
      check_against_brute_force(anti, n, "diagonal penalised");
    }
  }

  TEST_CASE("assignment: squared Euclidean costs of small point sets equal brute force") {
    for (int n = 2; n <= 7; ++n)
      for (unsigned seed = 0; seed < 30; ++seed) {
        auto a = gaussian_points(n, 3, 100 + seed, 1.0, seed % 2 == 1);
        auto b = gaussian_points(n, 3, 200 + seed, 1.0, seed % 2 == 1);
        check_against_brute_force(squared_distance_matrix(a, b, n, n, 3), n, "points seed " + std::to_string(seed));
      }
  }

  TEST_CASE("assignment: the certificate rejects a matching that is not optimal") {
    std::mt19937_64 g(13);
    std::uniform_real_distribution<double> U(0, 1);
    const int n = 6;
    std::vector<double> c(n * n);
    for (auto& v : c) v = U(g);
    Assignment a = solve_assignment(c, n);
    REQUIRE(a.certificate.certified);
    // Swapping the columns of two rows changes the cost; for a random matrix it gets strictly worse,
    // and with the same duals complementary slackness fails.
    std::vector<int32_t> worse = a.col_for_row;
    std::swap(worse[0], worse[1]);
    double worse_cost = 0;
    for (int i = 0; i < n; ++i) worse_cost += c[i * n + worse[i]];
    REQUIRE(worse_cost > a.cost);
    auto cert = check_assignment(c, n, worse, a.u, a.v);
    CHECK(cert.is_permutation);
    CHECK(!cert.certified);
    CHECK(cert.max_matched_slack > 1e-6);
    CHECK(cert.gap_bound >= worse_cost - a.cost - 1e-12);
    // Infeasible duals: raise one u above every reduced cost of its row.
    std::vector<double> u = a.u;
    u[2] += 0.5;
    auto bad_dual = check_assignment(c, n, a.col_for_row, u, a.v);
    CHECK(!bad_dual.certified);
    CHECK(bad_dual.min_reduced_cost < -0.4);
    // A repeated column is not a permutation.
    std::vector<int32_t> dup = a.col_for_row;
    dup[3] = dup[4];
    auto not_perm = check_assignment(c, n, dup, a.u, a.v);
    CHECK(!not_perm.is_permutation);
    CHECK(!not_perm.certified);
  }

  TEST_CASE("assignment: bad input fails with a message naming the problem") {
    std::vector<double> c(6, 1.0);
    CHECK_THROWS_WITH_AS(solve_assignment(c, 2, 3), doctest::Contains("2 x 3; only square problems"), Error);
    CHECK_THROWS_WITH_AS(solve_assignment(c, 3), doctest::Contains("has 6 entries, expected n * n = 9"), Error);
    CHECK_THROWS_WITH_AS(solve_assignment(std::vector<double>{}, 0), doctest::Contains("at least one row"), Error);
    std::vector<double> nan = {1, 2, NAN, 4};
    CHECK_THROWS_WITH_AS(solve_assignment(nan, 2), doctest::Contains("cost entry (1, 0) is nan"), Error);
    std::vector<double> inf = {1, INFINITY, 3, 4};
    CHECK_THROWS_WITH_AS(solve_assignment(inf, 2), doctest::Contains("costs must be finite"), Error);
    ConfigSet a{std::vector<double>(6, 0.0), 3, 2}, b{std::vector<double>(8, 0.0), 4, 2};
    CHECK_THROWS_WITH_AS(w2_exact(a, b), doctest::Contains("equal-size sets only, got 3 and 4"), Error);
  }

  TEST_CASE("assignment: 1000 x 1000 Euclidean problems are solved with a certificate") {
    for (int d : {2, 8, 39}) {
      auto a = gaussian_points(1000, d, 7 + d), b = gaussian_points(1000, d, 70 + d, 1.2);
      auto c = squared_distance_matrix(a, b, 1000, 1000, d);
      auto t0 = std::chrono::steady_clock::now();
      Assignment s = solve_assignment(c, 1000);
      double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      MESSAGE("assignment 1000 x 1000, d = " << d << ": " << sec << " s, mean cost " << s.cost / 1000
                                             << ", gap bound " << s.certificate.gap_bound);
      CHECK(s.certificate.certified);
      CHECK(s.certificate.gap_bound < 1e-8);
      // Strictly better than the identity matching of these unrelated sets.
      double identity = 0;
      for (int i = 0; i < 1000; ++i) identity += c[i * 1000 + i];
      CHECK(s.cost < identity);
    }
  }

  TEST_CASE("assignment: DW4 and LJ13 fixture pairs match SciPy's optimal cost") {
    for (auto [name, p, d] : {std::tuple{"dw4", 4, 2}, std::tuple{"lj13", 13, 3}}) {
      ConfigSet a = read_fixture(std::string(name) + "_test_first1000.npy");
      ConfigSet b = read_fixture(std::string(name) + "_val_first1000.npy");
      remove_mean(a, p, d);
      remove_mean(b, p, d);
      Assignment s;
      W2Result w = w2_exact(a, b, &s);
      const double scipy = scipy_fixture_cost(name);
      INFO(name << ": orbit " << s.cost << " scipy " << scipy);
      CHECK(s.certificate.certified);
      CHECK(std::fabs(s.cost - scipy) <= 1e-11 * scipy);
      CHECK(w.w2 == doctest::Approx(std::sqrt(scipy / 1000)).epsilon(1e-12));
    }
  }

  // Writes point sets, orbit's matchings and metrics for tests/scripts/check_assignment_scipy.py (the
  // ctest assignment_matches_scipy) into ORBIT_ASSIGNMENT_EXPORT_DIR, or into a temporary folder that
  // is removed again; either way the solves must be certified and the files must read back.
  TEST_CASE("assignment export: instances and fixture metrics for the SciPy check") {
    const char* dir_env = std::getenv("ORBIT_ASSIGNMENT_EXPORT_DIR");
    const bool keep = dir_env && *dir_env;
    const std::string dir = keep ? std::string(dir_env)
                                 : (std::filesystem::temp_directory_path() /
                                    ("orbit_assignment_export_" + std::to_string(::getpid())))
                                       .string();
    std::filesystem::create_directories(dir);
    struct Inst {
      std::string name;
      int n, d;
      double scale;
      bool integer;
    } insts[] = {{"gauss_1000_d8", 1000, 8, 1.0, false},  {"gauss_1000_d39", 1000, 39, 1.0, false},
                 {"gauss_500_d2", 500, 2, 3.0, false},    {"integer_400_d3", 400, 3, 1.5, true},
                 {"integer_300_d1", 300, 1, 2.0, true},   {"gauss_37_d5", 37, 5, 1.0, false}};
    std::ostringstream js;
    js << "{\"instances\": [";
    unsigned seed = 1;
    for (size_t k = 0; k < std::size(insts); ++k) {
      auto& in = insts[k];
      auto a = gaussian_points(in.n, in.d, seed++, in.scale, in.integer);
      auto b = gaussian_points(in.n, in.d, seed++, in.scale * 1.1, in.integer);
      Assignment s = solve_assignment(squared_distance_matrix(a, b, in.n, in.n, in.d), in.n);
      REQUIRE(s.certificate.certified);
      write_npy(dir + "/" + in.name + "_a.npy", Tensor::from<double>(Shape({in.n, in.d}), a));
      write_npy(dir + "/" + in.name + "_b.npy", Tensor::from<double>(Shape({in.n, in.d}), b));
      std::vector<int64_t> cols(s.col_for_row.begin(), s.col_for_row.end());
      write_npy(dir + "/" + in.name + "_cols.npy", Tensor::from<int64_t>(Shape({in.n}), cols));
      Tensor back = read_npy(dir + "/" + in.name + "_cols.npy");
      std::vector<double> expect(cols.begin(), cols.end());
      CHECK(back.to_vector() == expect);
      CHECK(read_npy(dir + "/" + in.name + "_a.npy").to_vector() == a);
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.17g", s.cost);
      js << (k ? ", " : "") << "{\"name\": \"" << in.name << "\", \"cost\": " << buf << "}";
    }
    js << "], \"fixtures\": {";
    bool first = true;
    for (auto [name, p, d] : {std::tuple{"dw4", 4, 2}, std::tuple{"lj13", 13, 3}}) {
      MetricsOptions o;
      o.system = name;
      o.n_particles = p;
      o.dim = d;
      o.molecule = true;
      SampleMetrics m = compute_metrics(read_fixture(std::string(name) + "_test_first1000.npy"),
                                        read_fixture(std::string(name) + "_val_first1000.npy"), o);
      char buf[256];
      std::snprintf(buf, sizeof buf, "{\"x_w2\": %.17g, \"dist_w2_squared\": %.17g, \"dist_tv\": %.17g}",
                    m.x_w2.w2, m.dist_w2.w2_squared, m.dist_tv);
      js << (first ? "" : ", ") << "\"" << name << "\": " << buf;
      first = false;
    }
    js << "}}\n";
    {
      std::ofstream f(dir + "/results.json");
      f << js.str();
      REQUIRE(f.good());
    }
    io::Json parsed = io::parse_json(js.str(), "results.json");
    CHECK(parsed.find("instances")->items.size() == std::size(insts));
    CHECK(parsed.find("fixtures")->find("lj13")->find("x_w2") != nullptr);
    if (keep)
      MESSAGE("wrote " << std::size(insts) << " assignment instances to " << dir);
    else
      std::filesystem::remove_all(dir);
  }
}
