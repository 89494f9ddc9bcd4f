// `orbit data nbody|solar` and `orbit egnn train|eval` end to end on a tiny problem, and their
// errors for bad flags and corrupted data files.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/cli_runner.h"

#if defined(ORBIT_CLI_PATH)
using orbit::testing::json_number;
using orbit::testing::read_file;
using orbit::testing::run_orbit;
using orbit::testing::temp_path;

TEST_SUITE("cpu") {
  TEST_CASE("cli egnn: data nbody, train on it, eval the checkpoint (same test MSE), and corrupted files") {
    const std::string data = temp_path("orbit_egnn_cli_data"), out = temp_path("orbit_egnn_cli_out");
    std::filesystem::remove_all(data);
    std::filesystem::remove_all(out);
    auto r = run_orbit("data nbody --out " + data + " --train 40 --val 20 --test 20 --steps 1000 --quiet");
    REQUIRE_MESSAGE(r.code == 0, r.out);
    CHECK(std::filesystem::exists(data + "/nbody_test.npz"));
    const std::string common = " --data " + data +
                               " --train-samples 40 --val-samples 20 --test-samples 20 --frame-in 3 --frame-out 6"
                               " --batch 10 --hidden 8 --layers 2 --eval-every 1 --threads 1 --quiet";
    r = run_orbit("egnn train --task nbody --channels 2 --epochs 3 --out " + out + common);
    REQUIRE_MESSAGE(r.code == 0, r.out);
    CHECK(r.out.find("test MSE") != std::string::npos);
    const std::string res = read_file(out + "/results.json");
    const double test = json_number(res, "test");
    CHECK(test > 0);
    CHECK(json_number(res, "linear_baseline_test") > 0);
    CHECK(std::filesystem::exists(out + "/best.safetensors"));
    CHECK(std::filesystem::exists(out + "/metrics.jsonl"));
    CHECK(std::filesystem::exists(out + "/egnn.png"));
    r = run_orbit("egnn eval --checkpoint " + out + "/best.safetensors --threads 1 --out " + out);
    REQUIRE_MESSAGE(r.code == 0, r.out);
    const double again = json_number(read_file(out + "/eval.json"), "test");
    CHECK(again == doctest::Approx(test).epsilon(1e-6));

    // The dense and sparse graphs train the same model: one epoch gives the same validation error.
    auto one = [&](const std::string& graph) {
      auto rr = run_orbit("egnn train --task nbody --epochs 1 --graph " + graph + " --out " + out + "_" + graph + common);
      REQUIRE_MESSAGE(rr.code == 0, rr.out);
      return json_number(read_file(out + "_" + graph + "/results.json"), "best_val");
    };
    CHECK(one("dense") == doctest::Approx(one("sparse")).epsilon(1e-4));

    {
      std::ofstream f(data + "/nbody_val.npz", std::ios::binary | std::ios::trunc);
      f << "not an npz file at all";
    }
    r = run_orbit("egnn train --task nbody --epochs 1 --out " + out + common);
    CHECK(r.code == 1);
    CHECK(r.out.find("nbody_val.npz") != std::string::npos);
    std::filesystem::remove_all(data);
    for (auto s : {"", "_dense", "_sparse"}) std::filesystem::remove_all(out + s);
  }

  TEST_CASE("cli egnn: bad flags give errors naming the problem") {
    auto r = run_orbit("egnn train --task qm9");
    CHECK(r.code == 1);
    CHECK(r.out.find("unknown task 'qm9'") != std::string::npos);
    r = run_orbit("egnn train --channels 0");
    CHECK(r.code != 0);
    CHECK(r.out.find("channels") != std::string::npos);
    r = run_orbit("egnn train --graph ring");
    CHECK(r.code == 1);
    CHECK(r.out.find("--graph must be dense or sparse") != std::string::npos);
    r = run_orbit("egnn train --preset huge");
    CHECK(r.code == 1);
    CHECK(r.out.find("unknown preset 'huge'") != std::string::npos);
    r = run_orbit("egnn eval");
    CHECK(r.code == 1);
    CHECK(r.out.find("--checkpoint is required") != std::string::npos);
    r = run_orbit("egnn eval --checkpoint " + temp_path("orbit_no_such_checkpoint.safetensors"));
    CHECK(r.code == 1);
    r = run_orbit("data nbody --steps 1050 --out " + temp_path("orbit_bad_nbody"));
    CHECK(r.code == 1);
    CHECK(r.out.find("multiple of sample_every") != std::string::npos);
    r = run_orbit("egnn train --task nbody --frame-in 45 --frame-out 60 --train-samples 2 --val-samples 2 --test-samples 2");
    CHECK(r.code == 1);
    CHECK(r.out.find("saved frames") != std::string::npos);
  }

  TEST_CASE("cli data solar: writes the synthetic system") {
    const std::string dir = temp_path("orbit_solar_cli");
    std::filesystem::remove_all(dir);
    auto r = run_orbit("data solar --out " + dir + " --horizon 10");
    REQUIRE_MESSAGE(r.code == 0, r.out);
    CHECK(r.out.find("relative energy drift") != std::string::npos);
    CHECK(std::filesystem::exists(dir + "/solar.npz"));
    std::filesystem::remove_all(dir);
  }
}

TEST_SUITE("slow") {
  TEST_CASE("cli egnn: the solar-system task trains (one epoch) and beats standing still") {
    const std::string out = temp_path("orbit_egnn_solar");
    std::filesystem::remove_all(out);
    auto r = run_orbit("egnn train --task solar --epochs 1 --hidden 16 --layers 2 --lr 1e-3 --threads 1 --quiet --out " + out);
    REQUIRE_MESSAGE(r.code == 0, r.out);
    CHECK(r.out.find("relative MSE") != std::string::npos);
    // Predicting no motion has relative MSE 1.
    CHECK(json_number(read_file(out + "/results.json"), "test") < 1.0);
    std::filesystem::remove_all(out);
  }
}
#endif
