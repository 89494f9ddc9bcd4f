// `orbit prox` as a user meets it: the written array equals the library's prox, --stats prints JSON,
// and bad input (missing file, NaN, negative step, unknown algorithm) fails with a clear message.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>

#include "engine/io/npy.h"
#include "engine/orbit.h"
#include "models/sharing/prox.h"
#include "tests/cli_runner.h"

#if defined(ORBIT_CLI_PATH)
namespace {
using Run = orbit::testing::CliResult;
Run orbit_prox(const std::string& args) { return orbit::testing::run_orbit("prox " + args); }
std::string tmp(const std::string& name) { return orbit::testing::temp_path(name); }
}  // namespace

TEST_SUITE("cpu") {
  TEST_CASE("cli prox: writes the prox of the input and prints stats as JSON") {
    using namespace orbit;
    const std::string in = tmp("orbit_prox_w.npy"), out = tmp("orbit_prox_u.npy");
    std::vector<float> w;
    for (int i = 0; i < 24; ++i) w.push_back(std::sin(1.7f * float(i)));
    Tensor wt = Tensor::from<float>({4, 6}, w);
    write_npy(in, wt);
    auto r = orbit_prox("--in " + in + " --step 0.2 --l1 0.05 --algorithm imminent --out " + out + " --stats");
    INFO(r.out);
    REQUIRE(r.code == 0);
    CHECK(r.out.find("\"algorithm\": \"imminent\"") != std::string::npos);
    CHECK(r.out.find("\"d\": 24") != std::string::npos);
    CHECK(r.out.find("\"distinct\": ") != std::string::npos);
    CHECK(r.out.find("\"zeros\": ") != std::string::npos);
    CHECK(r.out.find("\"rounds\": ") != std::string::npos);
    Tensor u = read_npy(out);
    CHECK(u.shape() == wt.shape());
    CHECK(u.dtype() == DType::f32);
    sharing::ProxOptions o{0.05, 0, sharing::ProxAlgorithm::pava};
    CHECK(u.to_vector() == sharing::prox_weight_sharing(wt, 0.2, o).to_vector());
    auto quiet = orbit_prox("--in " + in + " --step 0.2 --out " + out);
    CHECK(quiet.code == 0);
    CHECK(quiet.out.empty());
    std::filesystem::remove(in);
    std::filesystem::remove(out);
  }

  TEST_CASE("cli prox: bad input fails with a message naming the problem") {
    using namespace orbit;
    const std::string nan_in = tmp("orbit_prox_nan.npy"), int_in = tmp("orbit_prox_int.npy"),
                      ok_in = tmp("orbit_prox_ok.npy"), out = tmp("orbit_prox_bad_out.npy");
    write_npy(nan_in, Tensor::from<double>({3}, {1.0, NAN, 2.0}));
    write_npy(int_in, Tensor::from<int32_t>({2}, {1, 2}));
    write_npy(ok_in, Tensor::from<double>({2}, {1.0, 2.0}));
    struct Bad {
      std::string args, says;
    } bad[] = {
        {"--in /nonexistent/w.npy --step 0.1 --out " + out, "no such file '/nonexistent/w.npy'"},
        {"--in " + nan_in + " --step 0.1 --out " + out, "weight 1 of 3 is nan"},
        {"--in " + ok_in + " --step -0.1 --out " + out, "--step must be >= 0"},
        {"--in " + ok_in + " --step 0.1 --algorithm quick --out " + out,
         "--algorithm must be pava, imminent or search"},
        {"--in " + ok_in + " --step 0.1 --rho 2 --out " + out, "--rho must be in [0, 1]"},
        {"--in " + ok_in + " --step 0.1 --l1 -1 --out " + out, "--l1 must be >= 0"},
        {"--in " + ok_in + " --step nan --out " + out, "--step expects a finite number"},
        {"--in " + int_in + " --step 0.1 --out " + out, "the prox needs f32 or f64"},
        {"--in " + ok_in + " --out " + out, "missing required option --step"},
    };
    for (auto& b : bad) {
      auto r = orbit_prox(b.args);
      INFO("orbit prox " << b.args << " -> " << r.out);
      CHECK(r.code == 1);
      CHECK(r.out.find(b.says) != std::string::npos);
    }
    CHECK(!std::filesystem::exists(out));
    for (auto& f : {nan_in, int_in, ok_in}) std::filesystem::remove(f);
  }
}
#endif  // ORBIT_CLI_PATH
