// PINN training end to end: a short run learns (every loss form), and the quick preset reaches the
// issue's accuracy on the heat equation (slow: about a minute or two on 2 cores).
#include <doctest/doctest.h>

#include <cmath>

#include "models/pinn/trainer.h"

using namespace orbit::pinn;

TEST_SUITE("cpu") {
  TEST_CASE("pinn: short runs reduce the loss with every symmetry form on both PDEs") {
    for (Pde pde : {Pde::heat, Pde::burgers})
      for (SymmetryForm form : {SymmetryForm::none, SymmetryForm::point, SymmetryForm::evolutionary}) {
        const std::string what = std::string(pde_name(pde)) + " / " + symmetry_form_name(form);
        INFO(what);
        PinnConfig c = PinnConfig::preset("quick", pde);
        c.symmetry = form;
        c.samples = 32;
        c.ic_samples = 32;
        c.bc_samples = 16;
        c.hidden = {16, 16};
        c.steps = 400;
        c.test_nx = 16;
        c.test_nt = 5;
        auto r = train_pinn(c, {}, 10);
        REQUIRE(r.history.size() >= 2);
        CHECK(std::isfinite(r.rel_l2));
        CHECK(r.history.back().loss < 0.5 * r.history.front().loss);
        if (form == SymmetryForm::none) CHECK(r.history.back().symmetry == 0);
        else CHECK(r.history.back().symmetry > 0);
      }
  }

  TEST_CASE("pinn: configuration errors are clear") {
    PinnConfig c = PinnConfig::preset("quick", Pde::heat);
    c.samples = 0;
    CHECK_THROWS_WITH_AS(train_pinn(c), doctest::Contains("samples"), orbit::Error);
    CHECK_THROWS_WITH_AS(PinnConfig::preset("fast", Pde::heat), doctest::Contains("unknown preset"), orbit::Error);
    CHECK_THROWS_AS(pde_from_name("wave"), orbit::Error);
    CHECK_THROWS_AS(symmetry_form_from_name("C"), orbit::Error);
  }
}

TEST_SUITE("slow") {
  TEST_CASE("pinn: the quick preset reaches a relative L2 error below 0.05 on the heat equation") {
    auto r = train_pinn(PinnConfig::preset("quick", Pde::heat));
    INFO("relative L2 error " << r.rel_l2 << " after " << r.seconds << " s");
    CHECK(r.rel_l2 < 0.05);
  }
}
