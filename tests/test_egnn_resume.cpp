// `orbit egnn train --resume DIR`: a run stopped after 2 epochs and resumed for 2 more equals a
// straight 4-epoch run bit for bit (weights, Adam state, best weights, metrics.jsonl but for the wall
// times, results.json's numbers, the test predictions), also after a kill between logging an epoch and
// checkpointing it; and the errors for a missing / corrupt checkpoint and a changed option.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <vector>

#include "engine/io/safetensors.h"
#include "tests/cli_runner.h"

#if defined(ORBIT_CLI_PATH)
using orbit::testing::run_orbit;
using orbit::testing::json_number;
using orbit::testing::read_file;
using orbit::testing::temp_path;

namespace {
// metrics.jsonl without the wall-clock field.
std::string without_seconds(const std::string& log) {
  return std::regex_replace(log, std::regex("\"seconds\": ?[-0-9.eE+]+,? ?"), "");
}
// Every tensor of two safetensors files is equal exactly; the metadata too except the wall-clock keys.
void check_same_safetensors(const std::string& a, const std::string& b) {
  std::map<std::string, orbit::Tensor> ta, tb;
  std::map<std::string, std::string> ma, mb;
  orbit::read_safetensors(a, ta, ma);
  orbit::read_safetensors(b, tb, mb);
  REQUIRE(ta.size() == tb.size());
  for (auto& [k, v] : ta) {
    INFO(a << " tensor " << k);
    REQUIRE(tb.count(k) == 1);
    CHECK(v.shape() == tb.at(k).shape());
    CHECK(v.to_vector() == tb.at(k).to_vector());
  }
  for (const char* k : {"seconds", "history", "log_bytes"}) ma.erase(k), mb.erase(k);
  CHECK(ma == mb);
}
}  // namespace

TEST_SUITE("cpu") {
  TEST_CASE("cli egnn train --resume: 2 epochs + 2 resumed equal 4 straight bit for bit") {
    const std::string data = temp_path("orbit_egnn_resume_data"), a = temp_path("orbit_egnn_resume_a"),
                      b = temp_path("orbit_egnn_resume_b");
    for (auto& p : {data, a, b}) std::filesystem::remove_all(p);
    auto r = run_orbit("data nbody --out " + data + " --train 20 --val 10 --test 10 --steps 1000 --quiet");
    REQUIRE_MESSAGE(r.code == 0, r.out);
    const std::string common = " --data " + data +
                               " --train-samples 20 --val-samples 10 --test-samples 10 --frame-in 3 --frame-out 6"
                               " --batch 10 --hidden 8 --layers 2 --lr 1e-3 --eval-every 1 --threads 1 --quiet";
    r = run_orbit("egnn train --task nbody --channels 2 --epochs 4 --out " + a + common);
    REQUIRE_MESSAGE(r.code == 0, r.out);
    r = run_orbit("egnn train --task nbody --channels 2 --epochs 2 --out " + b + common);
    REQUIRE_MESSAGE(r.code == 0, r.out);
    REQUIRE(std::filesystem::exists(b + "/checkpoint.safetensors"));
    // A kill after epoch 3's line was logged but before its checkpoint: the line is dropped on resume.
    { std::ofstream(b + "/metrics.jsonl", std::ios::app) << "{\"epoch\":3,\"train_loss\":1}\n"; }
    r = run_orbit("egnn train --resume " + b + " --epochs 4 --threads 1 --quiet");
    REQUIRE_MESSAGE(r.code == 0, r.out);

    check_same_safetensors(a + "/checkpoint.safetensors", b + "/checkpoint.safetensors");
    check_same_safetensors(a + "/best.safetensors", b + "/best.safetensors");
    CHECK(read_file(a + "/test_prediction.npy") == read_file(b + "/test_prediction.npy"));
    const std::string la = read_file(a + "/metrics.jsonl"), lb = read_file(b + "/metrics.jsonl");
    CHECK(std::count(la.begin(), la.end(), '\n') == 4);
    CHECK(without_seconds(la) == without_seconds(lb));
    const std::string ra = read_file(a + "/results.json"), rb = read_file(b + "/results.json");
    for (const char* k : {"test", "best_val", "best_epoch", "epochs_run"}) CHECK(json_number(ra, k) == json_number(rb, k));
    CHECK(json_number(rb, "epochs_run") == 4);
    // --time-limit ends a run after the epoch that passes it (exit status 75, checkpoint written); the
    // resumed run ends where the straight one did, bit for bit.
    const std::string c = temp_path("orbit_egnn_resume_c");
    std::filesystem::remove_all(c);
    r = run_orbit("egnn train --task nbody --channels 2 --epochs 4 --time-limit 1e-9 --out " + c + common);
    CHECK_MESSAGE(r.code == 75, r.out);
    CHECK_MESSAGE(r.out.find("--time-limit reached after epoch 1 of 4") != std::string::npos, r.out);
    CHECK_FALSE(std::filesystem::exists(c + "/results.json"));
    r = run_orbit("egnn train --resume " + c + " --threads 1 --quiet --time-limit 1000");
    REQUIRE_MESSAGE(r.code == 0, r.out);
    check_same_safetensors(a + "/checkpoint.safetensors", c + "/checkpoint.safetensors");
    std::filesystem::remove_all(c);

    // Resuming a finished run trains nothing and reports the same.
    r = run_orbit("egnn train --resume " + b + " --threads 1 --quiet");
    REQUIRE_MESSAGE(r.code == 0, r.out);
    CHECK(json_number(read_file(b + "/results.json"), "test") == json_number(ra, "test"));
    check_same_safetensors(a + "/checkpoint.safetensors", b + "/checkpoint.safetensors");

    // Errors: a changed option (named), --out elsewhere, an empty folder, a corrupt checkpoint.
    r = run_orbit("egnn train --resume " + b + " --epochs 5 --lr 2e-3 --quiet");
    CHECK(r.code == 1);
    CHECK_MESSAGE(r.out.find("--lr 2e-3 differs") != std::string::npos, r.out);
    r = run_orbit("egnn train --resume " + b + " --epochs 5 --hidden 16 --quiet");
    CHECK(r.code == 1);
    CHECK_MESSAGE(r.out.find("--hidden 16 differs") != std::string::npos, r.out);
    r = run_orbit("egnn train --resume " + b + " --epochs 5 --preset paper --quiet");
    CHECK(r.code == 1);
    CHECK_MESSAGE(r.out.find("--preset paper differs") != std::string::npos, r.out);
    r = run_orbit("egnn train --resume " + b + " --out " + a + " --quiet");
    CHECK(r.code == 1);
    CHECK_MESSAGE(r.out.find("differ") != std::string::npos, r.out);
    // The same value as stored is fine (nothing left to train at --epochs 4).
    r = run_orbit("egnn train --resume " + b + " --hidden 8 --channels 2 --epochs 4 --quiet");
    CHECK_MESSAGE(r.code == 0, r.out);

    const std::string empty = temp_path("orbit_egnn_resume_empty");
    std::filesystem::remove_all(empty);
    std::filesystem::create_directories(empty);
    r = run_orbit("egnn train --resume " + empty + " --quiet");
    CHECK(r.code == 1);
    CHECK_MESSAGE(r.out.find("cannot resume") != std::string::npos, r.out);
    CHECK(r.out.find("checkpoint.safetensors") != std::string::npos);
    { std::ofstream(empty + "/checkpoint.safetensors", std::ios::binary) << "not a safetensors file"; }
    r = run_orbit("egnn train --resume " + empty + " --quiet");
    CHECK(r.code == 1);
    CHECK_MESSAGE(r.out.find("checkpoint.safetensors") != std::string::npos, r.out);
    // A safetensors file that is not an EGNN training checkpoint (best.safetensors has no loop state).
    std::filesystem::copy_file(a + "/best.safetensors", empty + "/checkpoint.safetensors",
                               std::filesystem::copy_options::overwrite_existing);
    r = run_orbit("egnn train --resume " + empty + " --quiet");
    CHECK(r.code == 1);
    CHECK_MESSAGE(r.out.find("not an orbit egnn train checkpoint") != std::string::npos, r.out);
    // A training checkpoint whose loop state is damaged is named, not parsed into garbage.
    {
      std::map<std::string, orbit::Tensor> tensors;
      std::map<std::string, std::string> meta;
      orbit::read_safetensors(b + "/checkpoint.safetensors", tensors, meta);
      meta["log_bytes"] = "12abc";
      orbit::write_safetensors(empty + "/checkpoint.safetensors", tensors, meta);
      std::filesystem::copy_file(b + "/metrics.jsonl", empty + "/metrics.jsonl",
                                 std::filesystem::copy_options::overwrite_existing);
    }
    r = run_orbit("egnn train --resume " + empty + " --quiet");
    CHECK(r.code == 1);
    CHECK_MESSAGE(r.out.find("log_bytes '12abc'") != std::string::npos, r.out);
    for (auto& p : {data, a, b, empty}) std::filesystem::remove_all(p);
  }
}
#endif
