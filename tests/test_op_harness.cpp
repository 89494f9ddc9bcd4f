// Drives every op case of the harness through the forward, gradient and second-order checks, and
// checks that the registry has no op without a kernel, a VJP rule or a harness case.
#include <doctest/doctest.h>

#include <set>

#include "tests/harness/op_harness.h"

using namespace orbit;
using namespace orbit::testing;

namespace {
constexpr uint64_t kSeed = 20261126;
// Ops whose behaviour a naive reference cannot describe; they have dedicated tests.
const std::set<std::string> kDedicated = {"random_normal", "random_uniform", "cast"};
}  // namespace

TEST_SUITE("cpu") {
  TEST_CASE("op harness: forward against the naive f64 reference") {
    for (auto& c : op_cases()) {
      check_forward(c, DType::f64, kSeed);
      if (c.f32 && c.int_dtype == DType::f64) check_forward(c, DType::f32, kSeed);
    }
  }

  TEST_CASE("op harness: gradcheck of every VJP rule (f64 central differences)") {
    for (auto& c : op_cases())
      if (c.grad) check_gradient(c, kSeed);
  }

  TEST_CASE("op harness: second order (gradcheck of the VJP graph)") {
    for (auto& c : op_cases())
      if (c.grad) check_second_order(c, kSeed);
  }

  TEST_CASE("op harness: a second seed draws fresh inputs") {
    for (auto& c : op_cases()) {
      check_forward(c, DType::f64, kSeed + 1);
      if (c.grad) check_gradient(c, kSeed + 1);
    }
  }

  TEST_CASE("op registry: every op has a CPU kernel, a VJP rule and a harness case") {
    std::set<std::string> with_case, with_grad_case;
    for (auto& c : op_cases()) {
      with_case.insert(c.op);
      if (c.grad) with_grad_case.insert(c.op);
    }
    for (int i = 0; i < ops().size(); ++i) {
      const OpDef& d = ops().get(static_cast<OpId>(i));
      INFO("op '" << d.name << "'");
      CHECK(d.kernels[0] != nullptr);
      CHECK((d.vjp != nullptr || d.zero_grad));
      if (kDedicated.count(d.name)) continue;
      CHECK_MESSAGE(with_case.count(d.name), "no harness case");
      // Piecewise-constant ops have zero gradients by definition; every other op is gradchecked.
      if (!d.zero_grad) CHECK_MESSAGE(with_grad_case.count(d.name), "no gradcheck case");
    }
  }
}
