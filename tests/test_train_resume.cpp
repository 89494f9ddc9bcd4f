// A training run killed half way and resumed from its checkpoint continues bit-identically.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "engine/io/safetensors.h"
#include "engine/optim/checkpoint.h"
#include "engine/optim/train_step.h"
#include "engine/orbit.h"
#include "models/nn/mlp.h"
#include "tests/test_temp.h"

using namespace orbit;
using namespace orbit::optim;

namespace {

// A model with noise in its loss (a random op), Adam, clipping and a plateau schedule: all the state
// a resume must restore.
struct Run {
  Graph g;
  std::shared_ptr<ParamStore> store = std::make_shared<ParamStore>();
  std::shared_ptr<Adam> adam;
  std::unique_ptr<TrainStep> step;
  EMA ema{0.9};
  Tensor xs, ys;

  Run() {
    Var x = g.input("x", {32, 2});
    Var y = g.input("y", {32, 1});
    nn::MLP net(g, "net", {2, 16, 1}, nn::Activation::silu);
    Var noise = random_normal(g, {32, 1}, 99) * 0.01;
    Var loss = mean(square(net(x) + noise - y));
    net.init(*store, 4);
    adam = std::make_shared<Adam>(std::make_shared<ReduceOnPlateau>(0.01, 0.5, 1, 0.0));
    adam->set_clip_norm(1.0);
    step = std::make_unique<TrainStep>(g, loss, net.params(), store, adam);
    xs = Tensor::empty({32, 2}, DType::f32);
    ys = Tensor::empty({32, 1}, DType::f32);
    for (int i = 0; i < 32; ++i) {
      xs.data<float>()[2 * i] = std::sin(0.3f * i);
      xs.data<float>()[2 * i + 1] = std::cos(0.7f * i);
      ys.data<float>()[i] = xs.data<float>()[2 * i] * xs.data<float>()[2 * i + 1];
    }
  }
  void train(int n) {
    for (int i = 0; i < n; ++i) {
      auto r = step->run({{"x", xs}, {"y", ys}});
      adam->schedule().observe(r.loss);
      ema.update(*store);
    }
  }
  CheckpointState state() { return {store.get(), adam.get(), &ema, step->program().run_index(), {{"config", "{}"}}}; }
};

}  // namespace

TEST_SUITE("cpu") {
  TEST_CASE("checkpoint resume continues bit-identically") {
    const std::string path = orbit::testing::test_temp("orbit_resume_test.safetensors");
    Run straight;
    straight.train(40);

    Run first;
    first.train(20);
    auto st = first.state();
    save_checkpoint(path, st);

    Run resumed;  // a fresh process, in effect
    CheckpointState rs{resumed.store.get(), resumed.adam.get(), &resumed.ema, 0, {}};
    load_checkpoint(path, rs);
    resumed.step->program().set_run_index(rs.run_index);
    CHECK(rs.meta.at("config") == "{}");
    CHECK(resumed.adam->steps() == 20);
    resumed.train(20);

    for (auto& n : straight.store->names()) {
      INFO("parameter " << n);
      CHECK(straight.store->get(n).to_vector() == resumed.store->get(n).to_vector());
      CHECK(straight.ema.averaged().get(n).to_vector() == resumed.ema.averaged().get(n).to_vector());
    }
    CHECK(straight.adam->lr() == resumed.adam->lr());
    std::filesystem::remove(path);
  }

  TEST_CASE("loading a checkpoint of another configuration fails naming the parameter") {
    const std::string path = orbit::testing::test_temp("orbit_mismatch.safetensors");
    Run a;
    auto st = a.state();
    save_checkpoint(path, st);
    ParamStore other;
    other.set("net/w0", Tensor::zeros({3, 16}, DType::f32));
    CheckpointState os{&other, nullptr, nullptr, 0, {}};
    CHECK_THROWS_WITH_AS(load_checkpoint(path, os), doctest::Contains("net/w0"), Error);
    ParamStore wrong_dtype;
    wrong_dtype.set("net/b0", Tensor::zeros({16}, DType::f64));
    CheckpointState ws{&wrong_dtype, nullptr, nullptr, 0, {}};
    CHECK_THROWS_WITH_AS(load_checkpoint(path, ws), doctest::Contains("net/b0"), Error);
    std::filesystem::remove(path);
    CHECK_THROWS_AS(load_checkpoint(path, os), Error);  // missing file
  }

  TEST_CASE("a checkpoint's counters must be plain non-negative integers") {
    const std::string path = orbit::testing::test_temp("orbit_counters.safetensors");
    Run a;
    save_checkpoint(path, a.state());
    std::map<std::string, Tensor> tensors;
    std::map<std::string, std::string> meta;
    read_safetensors(path, tensors, meta);
    for (const char* bad : {"-1", "12x", "", "1e3"}) {
      INFO(bad);
      meta["rng.run_index"] = bad;
      write_safetensors(path, tensors, meta);
      Run b;
      auto st = b.state();
      CHECK_THROWS_WITH_AS(load_checkpoint(path, st), doctest::Contains("bad rng.run_index"), Error);
    }
    std::filesystem::remove(path);
  }
}
