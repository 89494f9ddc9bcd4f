// The `orbit` program as a user meets it: exit codes and messages for good and bad command lines.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "engine/io/npy.h"
#include "engine/orbit.h"
#include "tests/cli_runner.h"

#if defined(ORBIT_CLI_PATH)
namespace {
orbit::testing::CliResult orbit_cli(const std::string& args) { return orbit::testing::run_orbit(args); }
std::string tmp(const std::string& name) { return orbit::testing::temp_path(name); }
}  // namespace

TEST_SUITE("cpu") {
  TEST_CASE("cli: help, info and unknown commands") {
    auto h = orbit_cli("help");
    CHECK(h.code == 0);
    CHECK(h.out.find("inspect") != std::string::npos);
    auto i = orbit_cli("info --json");
    CHECK(i.code == 0);
    CHECK(i.out.find("\"cuda_built\"") != std::string::npos);
    CHECK(i.out.find("\"fusion_cpu\": \"on: elementwise groups, gathers open them, sums close them") != std::string::npos);
    auto t = orbit_cli("info");
    CHECK(t.out.find("fusion on cpu: on") != std::string::npos);
    auto u = orbit_cli("frobnicate");
    CHECK(u.code == 2);
    CHECK(u.out.find("unknown command 'frobnicate'") != std::string::npos);
    auto dh = orbit_cli("demo --help");
    CHECK(dh.code == 0);
    CHECK(dh.out.find("--steps") != std::string::npos);
    CHECK(dh.out.find("--config") != std::string::npos);
  }

  TEST_CASE("cli: bad flags get exit code 1 and a message naming the flag") {
    struct Bad {
      const char* args;
      const char* says;
    } bad[] = {
        {"demo --stepz 3", "unknown option --stepz"},
        {"demo --steps", "--steps needs a value"},
        {"demo --steps ten", "--steps expects an integer"},
        {"demo --steps 0", "--steps must be in"},
        {"demo --lr -1", "--lr must be positive"},
        {"demo --lr nan", "--lr expects a finite number"},
        {"demo --device tpu", "unknown device 'tpu'"},
        {"demo --steps 3 --steps 4", "given twice"},
        {"demo stray", "unexpected argument 'stray'"},
        {"info --json=1", "takes no value"},
        {"inspect", "missing required option --file"},
        {"demo --config /nonexistent/cfg.json", "cannot open config file"},
    };
    for (auto& b : bad) {
      auto r = orbit_cli(b.args);
      INFO("orbit " << b.args << " -> " << r.out);
      CHECK(r.code == 1);
      CHECK(r.out.find(b.says) != std::string::npos);
    }
  }

  TEST_CASE("cli: --config supplies options and the command line overrides them") {
    std::string cfg = tmp("orbit_cli_cfg.json");
    {
      std::ofstream(cfg) << R"({"steps": 5, "lr": "0.001", "quiet": true})";
    }
    auto r = orbit_cli("demo --config " + cfg + " --steps 7");
    INFO(r.out);
    CHECK(r.out.find("step      7/7") != std::string::npos);
    {
      std::ofstream(cfg) << R"({"stepz": 5})";
    }
    auto bad = orbit_cli("demo --config " + cfg);
    CHECK(bad.code == 1);
    CHECK(bad.out.find("unknown option 'stepz'") != std::string::npos);
    {
      std::ofstream(cfg) << R"({"steps": 5,)";
    }
    auto broken = orbit_cli("demo --config " + cfg);
    CHECK(broken.code == 1);
    CHECK(broken.out.find("config file") != std::string::npos);
    std::filesystem::remove(cfg);
  }

  TEST_CASE("cli: inspect reads arrays and rejects missing or broken files") {
    std::string f = tmp("orbit_cli_inspect.npy");
    orbit::write_npy(f, orbit::Tensor::from<float>({2, 2}, {1.f, 2.f, 3.f, NAN}));
    auto r = orbit_cli("inspect --file " + f + " --json");
    INFO(r.out);
    CHECK(r.code == 0);
    CHECK(r.out.find("\"shape\": [2, 2]") != std::string::npos);
    CHECK(r.out.find("\"nonfinite\": 1") != std::string::npos);
    CHECK(r.out.find("\"max\": 3") != std::string::npos);
    {
      std::ofstream(f, std::ios::binary) << "\x93NUMPY garbage";
    }
    auto broken = orbit_cli("inspect --file " + f);
    CHECK(broken.code == 1);
    CHECK(broken.out.find(f) != std::string::npos);
    auto missing = orbit_cli("inspect --file /nonexistent/x.npy");
    CHECK(missing.code == 1);
    CHECK(missing.out.find("no such file") != std::string::npos);
    auto ext = orbit_cli("inspect --file " + tmp("x.csv"));
    CHECK(ext.code == 1);
    std::filesystem::remove(f);
  }
}
#endif  // ORBIT_CLI_PATH
