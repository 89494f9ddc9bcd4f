// Golden values from PyTorch for orbit's MLP (tests/scripts/make_golden_mlp.py, committed fixtures):
// outputs, input gradients, second derivatives and third-order parameter gradients, for each activation.
#include <doctest/doctest.h>

#include <memory>

#include "engine/io/npz.h"
#include "engine/orbit.h"
#include "models/nn/mlp.h"

using namespace orbit;

namespace {
void check_close(const char* what, const Tensor& got, const Tensor& want) {
  INFO(what);
  REQUIRE(got.numel() == want.numel());
  for (int64_t i = 0; i < got.numel(); ++i)
    CHECK(got.at(i) == doctest::Approx(want.at(i)).epsilon(1e-11).scale(1.0));
}
}  // namespace

TEST_SUITE("cpu") {
  TEST_CASE("golden: MLP values and derivatives to third order match PyTorch for every activation") {
    const std::pair<const char*, nn::Activation> acts[] = {{"tanh", nn::Activation::tanh},
                                                           {"silu", nn::Activation::silu},
                                                           {"gelu", nn::Activation::gelu},
                                                           {"softplus", nn::Activation::softplus},
                                                           {"sigmoid", nn::Activation::sigmoid}};
    for (auto& [name, act] : acts) {
      INFO("activation " << name);
      auto ref = read_npz(std::string(ORBIT_SOURCE_DIR) + "/tests/fixtures/golden/mlp_" + name + ".npz");
      Graph g;
      Var x = g.input("x", {6, 2}, DType::f64);
      nn::MLP net(g, "u", {2, 8, 8, 1}, act, DType::f64);
      Var u = net(x);
      Var du = grad(sum(u), {x})[0];
      Var d2x0 = col(grad(sum(col(du, 0)), {x})[0], 0);
      Var d2x1 = col(grad(sum(col(du, 1)), {x})[0], 1);
      Var loss = mean(square(d2x0 + u));
      auto gp = grad(loss, net.params());
      auto store = std::make_shared<ParamStore>();
      for (const char* p : {"w0", "b0", "w1", "b1", "w2", "b2"}) store->set(std::string("u/") + p, ref.at(p));
      CompileOptions o;
      o.params = store;
      std::vector<Var> outs{u, du, d2x0, d2x1, loss};
      outs.insert(outs.end(), gp.begin(), gp.end());
      auto got = compile(g, outs, Device::cpu(), o).run({{"x", ref.at("x")}});
      check_close("u", got[0], ref.at("u"));
      check_close("du/dx", got[1], ref.at("du"));
      check_close("d2u/dx0^2", got[2], ref.at("d2x0"));
      check_close("d2u/dx1^2", got[3], ref.at("d2x1"));
      check_close("loss", got[4], ref.at("loss"));
      const char* names[] = {"grad_w0", "grad_b0", "grad_w1", "grad_b1", "grad_w2", "grad_b2"};
      for (int k = 0; k < 6; ++k) check_close(names[k], got[5 + k], ref.at(names[k]));
    }
  }
}
