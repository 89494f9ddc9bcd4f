// The op harness (ggml style): each op case is defined once and drives
//   (a) a forward check against a naive f64 reference (f64 and f32),
//   (b) a central finite-difference gradcheck of the VJP in f64,
//   (c) a second-order check: a gradcheck of the VJP graph itself,
// and, with the CUDA backend, CPU-vs-GPU agreement and a perf mode (later issues).
#pragma once
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "engine/orbit.h"
#include "tests/harness/reference.h"

namespace orbit::testing {

struct InputSpec {
  enum class Kind { real, index, mask };
  std::vector<int64_t> shape;
  Kind kind = Kind::real;
  double lo = -1.5, hi = 1.5;
  double min_abs = 0;           // keep |x| >= min_abs (a kink at 0)
  std::vector<double> avoid;    // keep |x - a| >= 0.05 (kinks at these points)
  bool distinct = false;        // values on a shuffled grid: no ties (max, maximum)
  double grid_offset = 0.5;     // where in its grid cell a distinct value sits
  int64_t index_range = 0;      // index kind: values in [0, index_range)
  bool sorted = false;          // index kind: non-decreasing
  bool int64 = false;           // index kind: i64 (else i32)
  bool integer = false;         // real kind in an integer-dtype case: whole numbers

  // Real values uniform in [lo, hi]: the spec most cases use.
  static InputSpec uniform(std::vector<int64_t> shape, double lo = -1.5, double hi = 1.5) {
    InputSpec s;
    s.shape = std::move(shape);
    s.lo = lo;
    s.hi = hi;
    return s;
  }
  // Indices in [0, range), optionally sorted, i32 or i64.
  static InputSpec index(std::vector<int64_t> shape, int64_t range, bool sorted = false, bool i64 = false) {
    InputSpec s;
    s.shape = std::move(shape);
    s.kind = Kind::index;
    s.index_range = range;
    s.sorted = sorted;
    s.int64 = i64;
    return s;
  }
};

struct OpCase {
  std::string op;     // the registry name this case covers
  std::string label;  // unique, human readable
  std::vector<InputSpec> inputs;
  std::function<Var(Graph&, const std::vector<Var>&)> build;
  std::function<Nd(const std::vector<Nd>&)> ref;
  bool grad = true;         // gradcheck and second-order check
  bool f32 = true;          // also run the forward check in f32
  DType int_dtype = DType::f64;  // i32 / i64: an integer forward case (real inputs become integers)
};

const std::vector<OpCase>& op_cases();

// Individual checks; each reports failures through doctest and returns the worst error seen.
// `dev` runs the programs on another device (the references and finite differences stay the same).
double check_forward(const OpCase& c, DType dtype, uint64_t seed, Device dev = Device::cpu());
double check_gradient(const OpCase& c, uint64_t seed, Device dev = Device::cpu());
double check_second_order(const OpCase& c, uint64_t seed, Device dev = Device::cpu());

// The device the agreement checks run on: cuda:0, or the CPU when ORBIT_TEST_GPU_ON_CPU=1 (a dry run
// of the GPU test cases' own logic on a machine without a GPU; every comparison is then trivial).
Device device_under_test();
bool gpu_dry_run();
// True, after a doctest MESSAGE saying why, when there is no GPU to test on (and no dry run).
bool skip_without_gpu();
#define GPU_OR_SKIP() \
  if (::orbit::testing::skip_without_gpu()) return

// CPU-vs-CUDA agreement (needs a GPU). The forward program in `dtype` (the case's integer dtype for
// integer cases); the gradient programs in f64 (first order, or the second-order program).
double check_agreement(const OpCase& c, DType dtype, uint64_t seed);
double check_gradient_agreement(const OpCase& c, uint64_t seed, bool second_order);

// A CUDA result against the CPU's. Exact: every element equal (NaN matches NaN). Otherwise
// |gpu - cpu| <= ulps * eps(dtype) * (|cpu| + max|cpu| * (1 + sqrt(length))), where `length` is how
// many terms an output element accumulates (its condition); ulps is 16 for f32, 8 for f64.
// Returns the worst |diff| / tolerance.
// `terms`: the magnitude of the terms a reduction summed (0: judge by the result's own scale).
double compare_devices(const std::string& what, const Tensor& gpu, const Tensor& cpu, double length, bool exact,
                       double terms = 0);
// How many terms an output element of node `id` accumulates (reductions, matmul, segments), else 1.
double accumulation_length(const Graph& g, NodeId id);
// For a summing op whose operand is a fed input: the largest |value| of that feed (else 0).
double term_scale(const Graph& g, NodeId id, const Feeds& feeds);

}  // namespace orbit::testing
