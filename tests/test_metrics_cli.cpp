// `orbit metrics` as a user meets it: the JSON on the DW4 and GMM-40 references (energies from
// systems::energies), --out and --plots files, and bad input (missing file, wrong shape or dtype, NaN,
// --n larger than the files, unknown system) failing with a message that names the file and problem.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "engine/io/json.h"
#include "engine/io/npy.h"
#include "engine/orbit.h"
#include "models/systems/system.h"
#include "tests/cli_runner.h"

#if defined(ORBIT_CLI_PATH)
namespace {
using namespace orbit;
using Run = orbit::testing::CliResult;
Run orbit_metrics(const std::string& args) { return orbit::testing::run_orbit("metrics " + args); }
std::string tmp(const std::string& name) { return orbit::testing::temp_path(name); }
std::string fixture(const std::string& name) {
  return std::string(ORBIT_SOURCE_DIR) + "/tests/fixtures/systems/" + name;
}
double number(const io::Json& j, const char* key) {
  const io::Json* v = j.find(key);
  REQUIRE_MESSAGE(v != nullptr, key);
  return std::stod(v->text);
}
// The last line of the output: the JSON the command printed.
io::Json last_json(const std::string& out) {
  std::string s = out;
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return io::parse_json(s.substr(s.rfind('\n') == std::string::npos ? 0 : s.rfind('\n') + 1), "orbit metrics output");
}
std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}
}  // namespace

TEST_SUITE("cpu") {
  TEST_CASE("cli metrics: DW4 test vs val references, with --out and --plots") {
    const std::string out = tmp("orbit_metrics_dw4.json"), prefix = tmp("orbit_metrics_dw4");
    auto r = orbit_metrics("--system dw4 --samples " + fixture("dw4_test_first1000.npy") + " --reference " +
                           fixture("dw4_val_first1000.npy") + " --n 1000 --seed 3 --out " + out + " --plots " + prefix);
    INFO(r.out);
    REQUIRE(r.code == 0);
    io::Json j = last_json(r.out);
    CHECK(j.find("system")->text == "dw4");
    CHECK(number(j, "n_samples") == 1000);
    CHECK(j.find("centred")->boolean);
    // All 1000 rows of each file are used, so x_w2 is the fixture pair's floor whatever the seed.
    const double w2 = number(j, "x_w2");
    CHECK(w2 > 1.74);
    CHECK(w2 < 1.84);
    CHECK(number(j, "x_w2_squared") == doctest::Approx(w2 * w2).epsilon(1e-8));
    CHECK(j.find("x_w2_certificate")->find("certified")->boolean);
    // Energies from the DW4 energy: the README's mean of the test split is -22.45 (sd 1.90).
    const double e_ref = std::stod(j.find("energy_reference")->find("mean")->text);
    const double e_gen = std::stod(j.find("energy_samples")->find("mean")->text);
    CHECK(std::fabs(e_ref + 22.45) < 0.3);
    CHECK(std::fabs(e_gen + 22.45) < 0.3);
    CHECK(std::stod(j.find("energy_reference")->find("std")->text) == doctest::Approx(1.90).epsilon(0.1));
    CHECK(number(j, "energy_w2_squared") == doctest::Approx(std::pow(number(j, "energy_w2"), 2)).epsilon(1e-8));
    CHECK(number(j, "energy_w2") < 0.5);
    CHECK(number(j, "dist_tv") < 0.15);
    CHECK(number(j, "dist_w2") < 0.2);  // disjoint DW4 draws of 1000 give 0.02 to 0.13
    CHECK(j.find("modes_samples") == nullptr);
    CHECK(j.find("plots")->items.size() == 4);
    // --out holds the same JSON.
    io::Json f = io::parse_json(slurp(out), "--out file");
    CHECK(number(f, "x_w2") == w2);
    for (const char* ext : {"_energy.svg", "_energy.png", "_distances.svg", "_distances.png"}) {
      CHECK_MESSAGE(std::filesystem::file_size(prefix + ext) > 100, ext);
      std::filesystem::remove(prefix + ext);
    }
    std::filesystem::remove(out);

    // A subsample: 300 of each; reproducible for one seed.
    const std::string args = "--system dw4 --samples " + fixture("dw4_test_first1000.npy") + " --reference " +
                             fixture("dw4_val_first1000.npy") + " --n 300 --seed 9";
    auto a = orbit_metrics(args), b = orbit_metrics(args);
    REQUIRE(a.code == 0);
    io::Json ja = last_json(a.out), jb = last_json(b.out);
    CHECK(number(ja, "n_samples") == 300);
    CHECK(number(ja, "x_w2") == number(jb, "x_w2"));
    CHECK(number(ja, "x_w2") > w2);  // fewer samples: a larger finite-sample floor
  }

  TEST_CASE("cli metrics: GMM-40 exact draws cover every mode, half the modes cover half") {
    const auto sys = systems::system_by_name("gmm40");
    const int K = sys.gmm_components();
    REQUIRE(K == 40);
    std::mt19937_64 g(5);
    std::normal_distribution<double> N(0, sys.gmm_std);
    auto draw = [&](int n, int modes) {
      std::vector<double> x(2 * n);
      for (int i = 0; i < n; ++i) {
        int k = static_cast<int>(g() % modes);
        x[2 * i] = sys.gmm_means[2 * k] + N(g);
        x[2 * i + 1] = sys.gmm_means[2 * k + 1] + N(g);
      }
      return Tensor::from<double>(Shape({n, 2}), x);
    };
    const std::string s_all = tmp("orbit_metrics_gmm_all.npy"), s_half = tmp("orbit_metrics_gmm_half.npy"),
                      ref = tmp("orbit_metrics_gmm_ref.npy");
    write_npy(s_all, draw(1000, 40));
    write_npy(s_half, draw(1000, 20));
    write_npy(ref, draw(1000, 40));
    auto full = orbit_metrics("--system gmm40 --samples " + s_all + " --reference " + ref);
    INFO(full.out);
    REQUIRE(full.code == 0);
    io::Json jf = last_json(full.out);
    CHECK(number(*jf.find("modes_samples"), "covered") == 40);
    CHECK(number(*jf.find("modes_reference"), "covered") == 40);
    CHECK(jf.find("dist_w2") == nullptr);  // GMM has no pair distances
    CHECK(!jf.find("centred")->boolean);
    // The exact GMM-40 finite-sample floor is about 4.2 (iDEM's blog: 4.16 +- 0.60).
    CHECK(number(jf, "x_w2") > 2.5);
    CHECK(number(jf, "x_w2") < 6.5);
    auto half = orbit_metrics("--system gmm40 --samples " + s_half + " --reference " + ref + " --plots " +
                              tmp("orbit_metrics_gmm"));
    REQUIRE(half.code == 0);
    io::Json jh = last_json(half.out);
    // Drawn from modes 0..19 only. GMM-40 has near-coincident means (8 are within 1.6 of another,
    // with std 1.31), and nearest-mean assignment splits a mode's samples with such a twin; so a mode
    // is covered only if it is within 10 (7.6 std) of a drawn mode, and every drawn mode with no other
    // mean within 4 (its ~50 samples stay its own) is covered.
    auto dist = [&](int a, int b) {
      return std::hypot(sys.gmm_means[2 * a] - sys.gmm_means[2 * b], sys.gmm_means[2 * a + 1] - sys.gmm_means[2 * b + 1]);
    };
    const io::Json* counts = jh.find("modes_samples")->find("counts");
    REQUIRE(counts->items.size() == 40);
    int covered = 0, isolated_drawn = 0, near_drawn = 0;
    for (int k = 0; k < 40; ++k) {
      double to_drawn = 1e9, to_other = 1e9;
      for (int j = 0; j < 40; ++j)
        if (j != k) to_other = std::min(to_other, dist(k, j));
      for (int j = 0; j < 20; ++j) to_drawn = std::min(to_drawn, j == k ? 0.0 : dist(k, j));
      const bool is_covered = std::stod(counts->items[k].text) >= 5;  // 0.005 of 1000
      covered += is_covered;
      near_drawn += to_drawn < 10;
      INFO("mode " << k << " count " << counts->items[k].text << " to drawn " << to_drawn << " to other " << to_other);
      if (to_drawn >= 10) CHECK(counts->items[k].text == "0");
      if (k < 20 && to_other > 4) {
        ++isolated_drawn;
        CHECK(is_covered);
      }
    }
    MESSAGE("gmm40 half: covered " << covered << ", isolated drawn modes " << isolated_drawn << ", modes near drawn "
                                   << near_drawn);
    CHECK(number(*jh.find("modes_samples"), "covered") == covered);
    CHECK(covered >= isolated_drawn);
    CHECK(covered <= near_drawn);
    CHECK(covered < 30);
    CHECK(number(jh, "x_w2") > 3 * number(jf, "x_w2"));
    CHECK(jh.find("plots")->items.size() == 4);  // energy and the 2-D scatter panels
    CHECK(std::filesystem::exists(tmp("orbit_metrics_gmm_samples.png")));
    for (auto& p : {s_all, s_half, ref, tmp("orbit_metrics_gmm_energy.svg"), tmp("orbit_metrics_gmm_energy.png"),
                    tmp("orbit_metrics_gmm_samples.svg"), tmp("orbit_metrics_gmm_samples.png")})
      std::filesystem::remove(p);
  }

  TEST_CASE("cli metrics: bad input fails with a message naming the file and the problem") {
    const std::string ok = fixture("dw4_test_first1000.npy");
    const std::string shape7 = tmp("orbit_metrics_shape7.npy"), nan = tmp("orbit_metrics_nan.npy"),
                      ints = tmp("orbit_metrics_int.npy"), flat = tmp("orbit_metrics_1d.npy"),
                      text = tmp("orbit_metrics_text.npy"), small = tmp("orbit_metrics_small.npy"),
                      out = tmp("orbit_metrics_bad_out.json");
    write_npy(shape7, Tensor::from<float>(Shape({3, 7}), std::vector<float>(21, 1.0f)));
    std::vector<float> v(40, 0.5f);
    v[19] = NAN;
    write_npy(nan, Tensor::from<float>(Shape({5, 8}), v));
    write_npy(ints, Tensor::from<int32_t>(Shape({2, 8}), std::vector<int32_t>(16, 1)));
    write_npy(flat, Tensor::from<float>(Shape({8}), std::vector<float>(8, 1.0f)));
    write_npy(small, Tensor::from<float>(Shape({20, 8}), std::vector<float>(160, 0.25f)));
    std::ofstream(text) << "not a numpy file\n";
    struct Bad {
      std::string args, says;
    } bad[] = {
        {"--system dw4 --samples /nonexistent/s.npy --reference " + ok,
         "samples file '/nonexistent/s.npy' does not exist"},
        {"--system dw4 --samples " + ok + " --reference /nonexistent/r.npy",
         "reference file '/nonexistent/r.npy' does not exist"},
        {"--system dw4 --samples " + shape7 + " --reference " + ok,
         "samples file '" + shape7 + "' has shape [3, 7]; dw4 configurations are [N, 8]"},
        {"--system lj13 --samples " + ok + " --reference " + ok, "has shape [1000, 8]; lj13 configurations are [N, 39]"},
        {"--system dw4 --samples " + ok + " --reference " + flat, "reference file '" + flat + "' has shape [8]"},
        {"--system dw4 --samples " + nan + " --reference " + ok,
         "samples file '" + nan + "' has a non-finite value (nan) in row 2, column 3"},
        {"--system dw4 --samples " + ints + " --reference " + ok, "holds i32 values; configurations must be float32"},
        {"--system dw4 --samples " + text + " --reference " + ok,
         "samples file '" + text + "' is not a readable .npy file"},
        {"--system dw4 --samples " + small + " --reference " + ok + " --n 50",
         "--n 50 is larger than the 20 configurations in samples file '" + small + "'"},
        {"--system dw4 --samples " + ok + " --reference " + ok + " --n 1001 --out " + out,
         "--n 1001 is larger than the 1000 configurations in samples file"},
        {"--system dw4 --samples " + ok + " --reference " + ok + " --n 0", "--n must be in [1, 10000], got 0"},
        {"--system dw5 --samples " + ok + " --reference " + ok, "unknown system 'dw5'"},
        {"--system dw4 --samples " + ok, "missing required option --reference"},
        {"--system gmm40 --samples " + ok + " --reference " + ok + " --mode-min-fraction 2",
         "--mode-min-fraction must be in [0, 1]"},
    };
    for (auto& b : bad) {
      auto r = orbit_metrics(b.args);
      INFO("orbit metrics " << b.args << " -> " << r.out);
      CHECK(r.code == 1);
      CHECK(r.out.find(b.says) != std::string::npos);
    }
    CHECK(!std::filesystem::exists(out));
    for (auto& f : {shape7, nan, ints, flat, text, small}) std::filesystem::remove(f);
  }
}
#endif  // ORBIT_CLI_PATH
