// The CUDA backend: CPU-vs-CUDA agreement of every op case of the harness (forward in every dtype,
// gradient programs to second order), gradchecks on the GPU, random shapes (sizes of one, sizes
// that are not multiples of the block, empty and long segments, the atomic segment variant),
// bit-identical Philox streams, the caching allocator, device-side index errors, streams, and a
// training step. Test cases named "gpu agree: ..." are the GPU op harness (tools/device-check.sh
// runs them under compute-sanitizer). Every "gpu" case skips itself, with a message, without a GPU.
// ORBIT_TEST_GPU_ON_CPU=1 runs them with the CPU standing in for the GPU: a dry run of the tests'
// own logic (graph building, shapes, feeds) on machines without a GPU.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <cstdlib>
#include <functional>
#include <memory>
#include <random>
#include <set>
#include <string>

#include "engine/allocator.h"
#include "engine/builtin_ops.h"
#include "engine/op_registry.h"
#include "engine/optim/optimizer.h"
#include "tests/error_of.h"
#include "engine/optim/schedule.h"
#include "engine/optim/train_step.h"
#include "tests/harness/op_harness.h"
#include "tests/scoped_env.h"
#if defined(ORBIT_WITH_CUDA)
#include "kernels/cuda/kernels.h"
#endif

using namespace orbit;
using namespace orbit::testing;

namespace {

constexpr uint64_t kSeed = 20261126;
const std::set<std::string> kDedicated = {"random_normal", "random_uniform", "cast"};

// Cases that only mean something on a real GPU (the allocator, device selection) skip the dry run.
#define REAL_GPU_OR_SKIP()                                         \
  if (::orbit::testing::skip_without_gpu()) return;               \
  if (gpu_dry_run()) {                                             \
    MESSAGE("skipped in the dry run (ORBIT_TEST_GPU_ON_CPU=1)");   \
    return;                                                        \
  }

Tensor random_tensor(const Shape& s, DType dt, std::mt19937_64& rng, double lo = -2, double hi = 2) {
  Tensor t = Tensor::empty(s, dt);
  std::uniform_real_distribution<double> u(lo, hi);
  dispatch_all(dt, [&]<class T>() {
    T* p = t.data<T>();
    for (int64_t i = 0; i < t.numel(); ++i) p[i] = is_int(dt) ? static_cast<T>(std::floor(u(rng))) : static_cast<T>(u(rng));
  });
  return t;
}

Tensor index_tensor(int64_t n, int64_t range, bool sorted, DType dt, std::mt19937_64& rng) {
  std::vector<int64_t> v(n);
  std::uniform_int_distribution<int64_t> pick(0, range - 1);
  for (auto& x : v) x = pick(rng);
  if (sorted) std::sort(v.begin(), v.end());
  Tensor t = Tensor::empty({n}, dt);
  for (int64_t i = 0; i < n; ++i) {
    if (dt == DType::i32) t.data<int32_t>()[i] = static_cast<int32_t>(v[i]);
    else t.data<int64_t>()[i] = v[i];
  }
  return t;
}

// One graph, its feeds and outputs; check() runs it on both devices and compares every output.
struct Agree {
  Graph g;
  Feeds feeds;
  std::vector<Var> outs;
  std::vector<bool> exact;
  std::vector<std::string> names;
  int next = 0;

  Var input(const Tensor& t) {
    std::string name = "in" + std::to_string(next++);
    feeds.push_back({name, t});
    return g.input(name, t.shape(), t.dtype());
  }
  void out(Var v, const std::string& name, bool is_exact = false) {
    outs.push_back(v);
    exact.push_back(is_exact || is_int(v.dtype()));
    names.push_back(name);
  }
  void check(const std::string& what, NumericsCheck numerics = NumericsCheck::inputs) {
    CompileOptions o;
    o.numerics = numerics;
    Program cpu = compile(g, outs, Device::cpu(), o);
    Program gpu = compile(g, outs, device_under_test(), o);
    auto want = cpu.run(feeds), got = gpu.run(feeds);
    for (size_t i = 0; i < outs.size(); ++i)
      compare_devices(what + ": " + names[i], got[i], want[i], accumulation_length(g, outs[i].id()), exact[i],
                      term_scale(g, outs[i].id(), feeds));
  }
};

using testing::ScopedEnv;

}  // namespace

TEST_SUITE("cpu") {
  TEST_CASE("CUDA build: every built-in op has a CUDA kernel, so Device::best() may pick the GPU") {
    if (!cuda_built()) {
      MESSAGE("skipped: this build has no CUDA backend");
      return;
    }
    for (int i = 0; i < static_cast<int>(Op::kCount); ++i) {
      const OpDef& d = ops().get(static_cast<OpId>(i));
      INFO("op '" << d.name << "'");
      CHECK(d.kernels[static_cast<int>(Device::Kind::cuda)] != nullptr);
    }
    CHECK(Device::best() == (cuda_device_count() > 0 ? Device::cuda(0) : Device::cpu()));
  }

  TEST_CASE("CUDA build: where cuBLAS loads from (at run time, never linked)") {
#if defined(ORBIT_WITH_CUDA)
    MESSAGE(cuda::cublas_status());
#else
    MESSAGE("skipped: this build has no CUDA backend");
#endif
  }

  TEST_CASE("CUDA build without a GPU: memory stats are zero and compiling for cuda fails clearly") {
    if (!cuda_built() || cuda_device_count() > 0) {
      MESSAGE("skipped: needs a CUDA build on a machine without a GPU");
      return;
    }
    CHECK(cuda_memory_stats().in_use_bytes == 0);
    cuda_empty_cache();  // a no-op, never a crash
    Graph g;
    Var x = g.input("x", {3});
    std::string err = error_of([&] { compile(g, {exp(x)}, Device::cuda()); });
    CHECK(err.find("cuda") != std::string::npos);
  }
}

TEST_SUITE("gpu") {
  TEST_CASE("gpu: Device::best() picks the GPU and cuBLAS loads") {
    REAL_GPU_OR_SKIP();
    CHECK(Device::best() == Device::cuda(0));
    CHECK(Device::parse("auto") == Device::cuda(0));
#if defined(ORBIT_WITH_CUDA)
    INFO(cuda::cublas_status());
    CHECK(cuda::cublas_status().rfind("cuBLAS loaded from", 0) == 0);
#endif
  }

  // ---- the op harness on the GPU ----
  TEST_CASE("gpu agree: op harness forward, every op case and dtype") {
    GPU_OR_SKIP();
    std::set<std::string> covered;
    for (auto& c : op_cases()) {
      for (uint64_t seed : {kSeed, kSeed + 1}) {
        check_agreement(c, DType::f64, seed);
        if (c.f32 && c.int_dtype == DType::f64) check_agreement(c, DType::f32, seed);
      }
      covered.insert(c.op);
    }
    for (int i = 0; i < ops().size(); ++i) {
      const std::string& name = ops().get(static_cast<OpId>(i)).name;
      if (!kDedicated.count(name)) CHECK_MESSAGE(covered.count(name), "op '" << name << "' has no agreement case");
    }
  }

  TEST_CASE("gpu agree: op harness gradient programs, first and second order (f64)") {
    GPU_OR_SKIP();
    for (auto& c : op_cases())
      if (c.grad) {
        check_gradient_agreement(c, kSeed, false);
        check_gradient_agreement(c, kSeed, true);
      }
  }

  TEST_CASE("gpu: op harness on CUDA against the f64 reference and finite differences") {
    GPU_OR_SKIP();
    for (auto& c : op_cases()) {
      check_forward(c, DType::f64, kSeed, device_under_test());
      if (c.f32 && c.int_dtype == DType::f64) check_forward(c, DType::f32, kSeed, device_under_test());
      if (c.grad) {
        check_gradient(c, kSeed, device_under_test());
        check_second_order(c, kSeed, device_under_test());
      }
    }
  }

  // ---- random shapes ----
  TEST_CASE("gpu agree: unary ops over sizes of one and non-multiples of the block") {
    GPU_OR_SKIP();
    std::mt19937_64 rng(1);
    struct U {
      const char* name;
      std::function<Var(Var)> f;
      double lo, hi;
      bool ints, exact;
    };
    const std::vector<U> us = {
        {"neg", [](Var x) { return neg(x); }, -3, 3, true, true},
        {"abs", [](Var x) { return abs(x); }, -3, 3, true, true},
        {"sign", [](Var x) { return sign(x); }, -3, 3, true, true},
        {"exp", [](Var x) { return exp(x); }, -3, 3, false, false},
        {"log", [](Var x) { return log(x); }, 0.05, 4, false, false},
        {"log1p", [](Var x) { return log1p(x); }, -0.9, 4, false, false},
        {"sqrt", [](Var x) { return sqrt(x); }, 0.05, 4, false, false},
        {"rsqrt", [](Var x) { return rsqrt(x); }, 0.05, 4, false, false},
        {"square", [](Var x) { return square(x); }, -3, 3, true, true},
        {"sin", [](Var x) { return sin(x); }, -6, 6, false, false},
        {"cos", [](Var x) { return cos(x); }, -6, 6, false, false},
        {"tanh", [](Var x) { return tanh(x); }, -4, 4, false, false},
        {"erf", [](Var x) { return erf(x); }, -3, 3, false, false},
        {"sigmoid", [](Var x) { return sigmoid(x); }, -8, 8, false, false},
        {"silu", [](Var x) { return silu(x); }, -8, 8, false, false},
        {"relu", [](Var x) { return relu(x); }, -3, 3, true, true},
        {"gelu", [](Var x) { return gelu(x); }, -4, 4, false, false},
        {"softplus", [](Var x) { return softplus(x); }, -8, 8, false, false},
        {"pow_scalar 2.5", [](Var x) { return pow(x, 2.5); }, 0.05, 3, false, false},
        {"pow_scalar 2", [](Var x) { return pow(x, 2.0); }, -3, 3, false, false},
        {"clamp", [](Var x) { return clamp(x, -0.5, 1.25); }, -3, 3, true, true},
    };
    for (int64_t n : {1, 31, 255, 256, 257, 4097, 100003})
      for (DType dt : {DType::f32, DType::f64, DType::i32, DType::i64}) {
        Agree a;
        for (auto& u : us) {
          if (is_int(dt) && !u.ints) continue;
          Var x = a.input(random_tensor({n}, dt, rng, is_int(dt) ? -9 : u.lo, is_int(dt) ? 9 : u.hi));
          a.out(u.f(x), u.name, u.exact);
        }
        a.check("unary n=" + std::to_string(n) + " " + dtype_name(dt));
      }
  }

  TEST_CASE("gpu agree: broadcasting binary ops and where over random shapes, every dtype") {
    GPU_OR_SKIP();
    std::mt19937_64 rng(2);
    const int64_t dims[] = {1, 2, 3, 5, 7, 33, 257};
    for (int trial = 0; trial < 24; ++trial) {
      int rank = 1 + static_cast<int>(rng() % 5);
      std::vector<int64_t> out;
      int64_t total = 1;
      for (int d = 0; d < rank; ++d) {
        int64_t v = dims[rng() % 7];
        if (total * v > 200000) v = 1;
        out.push_back(v);
        total *= v;
      }
      auto operand = [&] {
        std::vector<int64_t> s = out;
        for (auto& v : s)
          if (rng() % 3 == 0) v = 1;
        size_t drop = rng() % (s.size() + 1);
        return std::vector<int64_t>(s.begin() + static_cast<long>(drop), s.end());
      };
      for (DType dt : {DType::f32, DType::f64, DType::i32, DType::i64}) {
        Agree a;
        Shape sa(operand()), sb(operand()), sc(operand());
        // a and b always broadcast to `out` together: give a the full shape on odd trials.
        if (trial % 2) sa = Shape(out);
        Var x = a.input(random_tensor(sa, dt, rng, -3, 3));
        Var y = a.input(random_tensor(sb, dt, rng, -3, 3));
        Var ypos = a.input(random_tensor(sb, dt, rng, 0.5, 2));
        Var xpos = a.input(random_tensor(sa, dt, rng, 0.1, 3));
        Var c = a.input(random_tensor(sc, dt, rng, 0, 2));  // 0 or 1 for ints, [0, 2) floats
        a.out(x + y, "add", true);
        a.out(x - y, "sub", true);
        a.out(x * y, "mul", true);
        a.out(maximum(x, y), "maximum", true);
        a.out(minimum(x, y), "minimum", true);
        a.out(lt(x, y), "lt", true);
        a.out(le(x, y), "le", true);
        a.out(gt(x, y), "gt", true);
        a.out(ge(x, y), "ge", true);
        a.out(eq(x, y), "eq", true);
        a.out(ne(x, y), "ne", true);
        if (!is_int(dt)) {
          a.out(x / ypos, "div", true);
          a.out(pow(xpos, y), "pow");
        }
        a.out(where(c, x, y), "where", true);
        a.check("binary trial " + std::to_string(trial) + " out " + Shape(out).str() + " " + dtype_name(dt));
      }
    }
  }

  TEST_CASE("gpu agree: reductions over random axes, large sizes and non-finite values") {
    GPU_OR_SKIP();
    std::mt19937_64 rng(3);
    const int64_t dims[] = {1, 2, 3, 7, 64, 300};
    for (int trial = 0; trial < 24; ++trial) {
      int rank = 1 + static_cast<int>(rng() % 4);
      std::vector<int64_t> s;
      for (int d = 0; d < rank; ++d) s.push_back(dims[rng() % 6]);
      std::vector<int64_t> axes;
      for (int d = 0; d < rank; ++d)
        if (rng() % 2) axes.push_back(d);
      bool keep = rng() % 2;
      for (DType dt : {DType::f32, DType::f64, DType::i32, DType::i64}) {
        Agree a;
        Var x = a.input(random_tensor(Shape(s), dt, rng, -3, 3));
        a.out(sum(x, axes, keep), "sum");
        a.out(max(x, axes, keep), "max");
        if (!is_int(dt)) {
          a.out(mean(x, axes, keep), "mean");
          a.out(logsumexp(x, axes, keep), "logsumexp");
        }
        a.check("reduce trial " + std::to_string(trial) + " " + Shape(s).str() + " " + dtype_name(dt));
      }
    }
    // Shapes that take each kernel path: one huge reduction (chunked blocks), few long rows
    // (block per output), a long axis with many contiguous outputs (chunked threads), strided narrow.
    const std::vector<std::pair<std::vector<int64_t>, std::vector<int64_t>>> big = {
        {{1048579}, {}}, {{3, 100003}, {1}}, {{100003, 3}, {0}}, {{4097, 300}, {0}}, {{300, 4097}, {1}},
        {{17, 513, 9}, {0, 2}}, {{2, 70000}, {0}}};
    for (auto& [s, axes] : big)
      for (DType dt : {DType::f32, DType::f64, DType::i64}) {
        Agree a;
        Var x = a.input(random_tensor(Shape(s), dt, rng, -3, 3));
        a.out(sum(x, axes), "sum");
        a.out(max(x, axes), "max");
        if (!is_int(dt)) {
          a.out(mean(x, axes), "mean");
          a.out(logsumexp(x, axes), "logsumexp");
        }
        a.check("reduce " + Shape(s).str() + " " + dtype_name(dt));
      }
    // Rows with a NaN, all -inf, a +inf: the CPU's conventions (NaN propagates, lse(-inf...) = -inf).
    for (DType dt : {DType::f32, DType::f64}) {
      Tensor t = random_tensor({4, 5000}, dt, rng);
      dispatch_float(dt, [&]<class T>() {
        T* p = t.data<T>();
        p[5000 + 4321] = std::numeric_limits<T>::quiet_NaN();
        for (int j = 0; j < 5000; ++j) p[2 * 5000 + j] = -std::numeric_limits<T>::infinity();
        p[3 * 5000 + 17] = std::numeric_limits<T>::infinity();
      });
      Agree a;
      Var x = a.input(t);
      a.out(sum(x, {1}), "sum");
      a.out(max(x, {1}), "max");
      a.out(logsumexp(x, {1}), "logsumexp");
      a.out(logsumexp(permute(x, {1, 0}), {0}), "logsumexp strided");
      a.out(max(permute(x, {1, 0}), {0}), "max strided");
      a.check(std::string("non-finite rows ") + dtype_name(dt), NumericsCheck::off);
    }
  }

  TEST_CASE("gpu agree: softmax over short, long and strided axes") {
    GPU_OR_SKIP();
    std::mt19937_64 rng(4);
    const std::vector<std::pair<std::vector<int64_t>, int64_t>> cases = {
        {{1, 1}, 1},    {{7, 1500}, 1},  {{300, 33}, 1}, {{5, 17, 9}, 1}, {{3, 1024}, -1},
        {{2, 1025}, 1}, {{4097, 3}, 0},  {{2, 3, 4}, 0}, {{1}, 0},        {{9, 70000}, 1}};
    for (auto& [s, ax] : cases)
      for (DType dt : {DType::f32, DType::f64}) {
        Agree a;
        Var x = a.input(random_tensor(Shape(s), dt, rng, -6, 6));
        a.out(softmax(x, ax), "softmax");
        a.check("softmax " + Shape(s).str() + " axis " + std::to_string(ax) + " " + dtype_name(dt));
      }
  }

  TEST_CASE("gpu agree: matmul over random sizes, transposes and broadcast batches") {
    GPU_OR_SKIP();
    std::mt19937_64 rng(5);
    const int64_t sizes[] = {1, 2, 7, 33, 128, 257};
    for (int trial = 0; trial < 30; ++trial) {
      int64_t m = sizes[rng() % 6], n = sizes[rng() % 6], k = sizes[rng() % 6];
      bool ta = rng() % 2, tb = rng() % 2;
      std::vector<int64_t> ba, bb;
      switch (trial % 5) {
        case 0: break;                                  // plain
        case 1: ba = bb = {3}; break;                   // batched (one stride)
        case 2: ba = {2, 1}; bb = {3}; break;           // broadcast batch (pointer arrays)
        case 3: ba = {4}; break;                        // shared weight (b stride 0)
        case 4: bb = {2, 3}; ba = {1, 3}; break;        // a broadcast on the leading dim
      }
      auto mat = [](std::vector<int64_t> b, int64_t r, int64_t c, bool t) {
        b.push_back(t ? c : r);
        b.push_back(t ? r : c);
        return Shape(b);
      };
      for (DType dt : {DType::f32, DType::f64}) {
        Agree a;
        Var x = a.input(random_tensor(mat(ba, m, k, ta), dt, rng, -1.5, 1.5));
        Var y = a.input(random_tensor(mat(bb, k, n, tb), dt, rng, -1.5, 1.5));
        a.out(matmul(x, y, ta, tb), "matmul");
        a.check("matmul trial " + std::to_string(trial) + " m=" + std::to_string(m) + " n=" + std::to_string(n) +
                " k=" + std::to_string(k) + (ta ? " ta" : "") + (tb ? " tb" : "") + " " + dtype_name(dt));
      }
    }
  }

  TEST_CASE("gpu agree: layout ops over random shapes, every dtype") {
    GPU_OR_SKIP();
    std::mt19937_64 rng(6);
    const int64_t dims[] = {1, 2, 3, 5, 17, 64};
    for (int trial = 0; trial < 16; ++trial) {
      std::vector<int64_t> s;
      for (int d = 0; d < 4; ++d) s.push_back(dims[rng() % 6]);
      std::vector<int64_t> perm = {0, 1, 2, 3};
      std::shuffle(perm.begin(), perm.end(), rng);
      std::vector<int64_t> st, en, lo, hi;
      for (int d = 0; d < 4; ++d) {
        int64_t b = static_cast<int64_t>(rng() % static_cast<uint64_t>(s[d]));
        int64_t e = b + 1 + static_cast<int64_t>(rng() % static_cast<uint64_t>(s[d] - b));
        st.push_back(b);
        en.push_back(e);
        lo.push_back(static_cast<int64_t>(rng() % 3));
        hi.push_back(static_cast<int64_t>(rng() % 3));
      }
      int64_t ax = static_cast<int64_t>(rng() % 4);
      for (DType dt : {DType::f32, DType::f64, DType::i32, DType::i64}) {
        Agree a;
        Var x = a.input(random_tensor(Shape(s), dt, rng, -9, 9));
        std::vector<int64_t> s2 = s;
        s2[ax] = dims[rng() % 6];
        Var y = a.input(random_tensor(Shape(s2), dt, rng, -9, 9));
        a.out(permute(x, perm), "permute", true);
        a.out(slice(x, st, en), "slice", true);
        a.out(pad(x, lo, hi, 1.5), "pad", true);
        a.out(concat({x, y, x}, ax), "concat", true);
        a.out(reshape(x, {-1}), "reshape", true);
        std::vector<int64_t> big = s;
        big.insert(big.begin(), 3);
        std::vector<int64_t> one = s;
        one[ax] = 1;
        Var z = a.input(random_tensor(Shape(one), dt, rng, -9, 9));
        a.out(broadcast_to(z, Shape(big)), "broadcast_to", true);
        a.check("layout trial " + std::to_string(trial) + " " + Shape(s).str() + " " + dtype_name(dt));
      }
    }
  }

  TEST_CASE("gpu agree: gather and segment reductions (empty and long segments, sizes of one, atomics)") {
    GPU_OR_SKIP();
    std::mt19937_64 rng(7);
    for (int64_t nidx : {1, 257, 5000})
      for (DType it : {DType::i32, DType::i64})
        for (DType dt : {DType::f32, DType::i64}) {
          Agree a;
          Var x = a.input(random_tensor({3, 301, 5}, dt, rng));
          Var i0 = a.input(index_tensor(nidx, 3, false, it, rng));
          Var i1 = a.input(index_tensor(nidx, 301, false, it, rng));
          Var i2 = a.input(index_tensor(nidx, 5, false, it, rng));
          a.out(gather(x, i0, 0), "gather axis 0", true);
          a.out(gather(x, i1, 1), "gather axis 1", true);
          a.out(gather(x, i2, 2), "gather axis 2", true);
          a.check("gather n=" + std::to_string(nidx) + " " + dtype_name(it) + " " + dtype_name(dt));
        }
    struct S {
      int64_t nids, nseg, range;  // ids drawn in [0, range): segments >= range stay empty
    };
    const std::vector<S> segs = {{1, 1, 1}, {1, 5, 1}, {257, 300, 200}, {5000, 3, 3}, {10000, 10000, 9000}, {40, 7, 4}};
    for (bool atomic : {false, true}) {
      std::unique_ptr<ScopedEnv> env;
      if (atomic) env = std::make_unique<ScopedEnv>("ORBIT_SEGMENT_ATOMIC", "1");
      for (auto& sg : segs)
        for (bool sorted : {false, true})
          for (DType it : {DType::i32, DType::i64})
            for (DType dt : {DType::f32, DType::f64, DType::i32, DType::i64}) {
              Agree a;
              Var ids = a.input(index_tensor(sg.nids, sg.range, sorted, it, rng));
              Var x0 = a.input(random_tensor({sg.nids, 3}, dt, rng));
              Var x1 = a.input(random_tensor({2, sg.nids}, dt, rng));
              // Bit-identical to the CPU on the deterministic path, except the block path of long segments.
              bool exact = !atomic && sg.nids / sg.nseg < 256;
              a.out(segment_sum(x0, ids, sg.nseg, 0, sorted), "segment_sum axis 0", exact);
              a.out(segment_sum(x1, ids, sg.nseg, 1, sorted), "segment_sum axis 1 (inner 1)", exact);
              if (!is_int(dt)) {  // segment_mean is defined for floats
                a.out(segment_mean(x0, ids, sg.nseg, 0, sorted), "segment_mean axis 0", exact);
                a.out(segment_mean(x1, ids, sg.nseg, 1, sorted), "segment_mean axis 1 (inner 1)", exact);
              }
              a.check(std::string(atomic ? "atomic " : "") + "segment nids=" + std::to_string(sg.nids) +
                      " nseg=" + std::to_string(sg.nseg) + (sorted ? " sorted " : " unsorted ") + dtype_name(it) +
                      " " + dtype_name(dt));
            }
    }
  }

  TEST_CASE("gpu agree: cast between every pair of dtypes") {
    GPU_OR_SKIP();
    std::mt19937_64 rng(8);
    for (DType from : {DType::f32, DType::f64, DType::i32, DType::i64}) {
      Agree a;
      Var x = a.input(random_tensor({1000}, from, rng, -100, 100));
      for (DType to : {DType::f32, DType::f64, DType::i32, DType::i64})
        a.out(cast(x, to), std::string("to ") + dtype_name(to), true);
      a.check(std::string("cast from ") + dtype_name(from));
    }
  }

  TEST_CASE("gpu agree: Philox random tensors are bit-identical on the CPU and the GPU") {
    GPU_OR_SKIP();
    for (DType dt : {DType::f32, DType::f64})
      for (int64_t n : {1, 257, 100003}) {
        Graph g;
        Var z = random_normal(g, {n}, 42, dt);
        Var z2 = random_normal(g, {n}, 42, dt);  // same seed, its own stream
        Var u = random_uniform(g, {n}, 7, dt);
        Program cpu = compile(g, {z, z2, u}, Device::cpu());
        Program gpu = compile(g, {z, z2, u}, device_under_test());
        for (int run = 0; run < 3; ++run) {  // each run draws fresh numbers, on both devices alike
          auto want = cpu.run(), got = gpu.run();
          for (int k = 0; k < 3; ++k)
            compare_devices(std::string("random ") + dtype_name(dt) + " n=" + std::to_string(n) + " run " +
                                std::to_string(run) + " output " + std::to_string(k),
                            got[k], want[k], 1, true);
        }
      }
  }

  // ---- memory, errors, streams ----
  TEST_CASE("gpu: the caching allocator reuses blocks, counts them and empties its cache") {
    REAL_GPU_OR_SKIP();
    cuda_empty_cache();
    CudaMemoryStats s0 = cuda_memory_stats();
    CHECK(s0.cached_bytes == 0);
    { Tensor t = Tensor::empty({1000}, DType::f32, Device::cuda()); }
    CudaMemoryStats s1 = cuda_memory_stats();
    CHECK(s1.in_use_bytes == s0.in_use_bytes);
    CHECK(s1.cached_bytes >= 4000);
    CHECK(s1.allocations == s0.allocations + 1);
    { Tensor t = Tensor::empty({1010}, DType::f32, Device::cuda()); }  // same size class: from the cache
    CudaMemoryStats s2 = cuda_memory_stats();
    CHECK(s2.cache_hits == s1.cache_hits + 1);
    CHECK(s2.device_mallocs == s1.device_mallocs);
    CHECK(s2.peak_in_use_bytes >= 4096);
    // A program in steady state allocates nothing new from the driver (the second run may record a
    // CUDA graph and take the buffers it replays with).
    Graph g;
    Var x = g.input("x", {256, 300});
    Var y = sum(exp(x) * x, {1});
    Program p = compile(g, {y}, Device::cuda());
    Tensor xv = Tensor::full({256, 300}, 0.5, DType::f32);
    p.run({{"x", xv}});
    p.run({{"x", xv}});
    CudaMemoryStats s3 = cuda_memory_stats();
    p.run({{"x", xv}});
    CudaMemoryStats s4 = cuda_memory_stats();
    CHECK(s4.device_mallocs == s3.device_mallocs);
    CHECK(s4.in_use_bytes == s3.in_use_bytes);
    cuda_empty_cache();
    CudaMemoryStats s5 = cuda_memory_stats();
    CHECK(s5.cached_bytes == 0);
    CHECK(s5.device_frees > s4.device_frees);
  }

  TEST_CASE("gpu: bad indices on the GPU give the CPU's orbit::Error, and the program recovers") {
    GPU_OR_SKIP();
    for (DType it : {DType::i32, DType::i64}) {
      Graph g;
      Var x = g.input("x", {5, 3});
      Var idx = g.input("idx", {4}, it);
      Var y = gather(x, idx, 0).named("pick");
      Var ids = g.input("ids", {5}, it);
      Var s = segment_sum(x, ids, 3, 0, true).named("seg");
      Program cpu = compile(g, {y, s}, Device::cpu());
      Program gpu = compile(g, {y, s}, device_under_test());
      Tensor xv = Tensor::full({5, 3}, 1.0, DType::f32);
      auto idx_of = [&](std::vector<int64_t> v) {
        Tensor t = Tensor::empty({static_cast<int64_t>(v.size())}, it);
        for (size_t i = 0; i < v.size(); ++i) {
          if (it == DType::i32) t.data<int32_t>()[i] = static_cast<int32_t>(v[i]);
          else t.data<int64_t>()[i] = v[i];
        }
        return t;
      };
      Tensor good_idx = idx_of({0, 4, 2, 1}), good_ids = idx_of({0, 0, 1, 2, 2});
      const std::vector<std::pair<Tensor, Tensor>> bad = {
          {idx_of({0, 7, 2, -1}), good_ids},    // gather index out of range (the first: position 1)
          {good_idx, idx_of({0, 0, 3, 1, 2})},  // segment id out of range
          {good_idx, idx_of({0, 1, 0, 2, 2})},  // unsorted ids promised sorted
      };
      for (auto& [i, s_ids] : bad) {
        Feeds f = {{"x", xv}, {"idx", i}, {"ids", s_ids}};
        std::string want = error_of([&] { cpu.run(f); });
        std::string got = error_of([&] { gpu.run(f); });
        CHECK(!want.empty());
        CHECK(got == want);
      }
      auto ok = gpu.run({{"x", xv}, {"idx", good_idx}, {"ids", good_ids}});
      CHECK(ok[0].to_vector() == std::vector<double>(12, 1.0));
      CHECK(ok[1].to_vector() == std::vector<double>{2, 2, 2, 1, 1, 1, 2, 2, 2});
    }
    CHECK(error_of([] {
            Graph g;
            Var x = g.input("x", {3});
            Var i = g.input("i", {1}, DType::i32);
            compile(g, {gather(x, i).named("g")}, device_under_test()).run({{"x", Tensor::full({3}, 1.0, DType::f32)},
                                                                       {"i", Tensor::from<int32_t>({1}, {3})}});
          }) == "gather at node 'g': index 3 at position 0 is outside [0, 3)");
  }

  TEST_CASE("gpu: NumericsCheck::all names the op that produced a NaN, as on the CPU") {
    GPU_OR_SKIP();
    Graph g;
    Var x = g.input("x", {4});
    Var y = exp(log(x).named("the_log")).named("the_exp");
    CompileOptions o;
    o.numerics = NumericsCheck::all;
    Feeds f = {{"x", Tensor::from<float>({4}, {1.0f, 2.0f, -1.0f, 3.0f})}};
    std::string want = error_of([&] { compile(g, {y}, Device::cpu(), o).run(f); });
    std::string got = error_of([&] { compile(g, {y}, device_under_test(), o).run(f); });
    CHECK(want.find("the_log") != std::string::npos);
    // The same message up to the NaN's sign ("nan" or "-nan" depends on the device's math library).
    for (const char* part : {"run: op 'log' at node 'the_log' produced ", "nan at flat index 2"}) {
      CHECK(want.find(part) != std::string::npos);
      CHECK(got.find(part) != std::string::npos);
    }
  }

  TEST_CASE("gpu: programs on their own streams interleave, outputs are independent tensors") {
    GPU_OR_SKIP();
    std::mt19937_64 rng(9);
    Graph g;
    Var x = g.input("x", {513, 129}, DType::f64);
    Var w = g.input("w", {129, 65}, DType::f64);
    Var y = softmax(matmul(tanh(x), w), 1);
    Var s = sum(y * y, {0});
    Program c = compile(g, {y, s}, Device::cpu());
    Program p1 = compile(g, {y, s}, device_under_test()), p2 = compile(g, {s, y}, device_under_test());
    for (int r = 0; r < 3; ++r) {
      Feeds f = {{"x", random_tensor({513, 129}, DType::f64, rng)}, {"w", random_tensor({129, 65}, DType::f64, rng)}};
      auto a = p1.run(f);
      auto b = p2.run(f);
      auto want = c.run(f);
      compare_devices("program 1 y", a[0], want[0], 129, false);
      compare_devices("program 1 s", a[1], want[1], 513 * 129, false);
      compare_devices("program 2 s", b[0], want[1], 513 * 129, false);
      compare_devices("program 2 y", b[1], want[0], 129, false);
    }
    // A feed already on the GPU is used in place; results copy back on demand.
    Tensor xg = random_tensor({513, 129}, DType::f64, rng).to(device_under_test());
    Tensor wg = random_tensor({129, 65}, DType::f64, rng).to(device_under_test());
    auto out = p1.run({{"x", xg}, {"w", wg}});
    auto want = c.run({{"x", xg.to(Device::cpu())}, {"w", wg.to(Device::cpu())}});
    compare_devices("feeds on the GPU", out[0], want[0], 129, false);
  }

  TEST_CASE("gpu: a training step on CUDA follows the CPU's") {
    GPU_OR_SKIP();
    std::mt19937_64 rng(10);
    Graph g;
    Var x = g.input("x", {64, 5}, DType::f64);
    Var t = g.input("t", {64, 1}, DType::f64);
    Var w1 = g.param("w1", {5, 16}, DType::f64);
    Var w2 = g.param("w2", {16, 1}, DType::f64);
    Var loss = mean(square(matmul(tanh(matmul(x, w1)), w2) - t));
    Feeds f = {{"x", random_tensor({64, 5}, DType::f64, rng)}, {"t", random_tensor({64, 1}, DType::f64, rng)}};
    Tensor w1v = random_tensor({5, 16}, DType::f64, rng, -0.5, 0.5), w2v = random_tensor({16, 1}, DType::f64, rng, -0.5, 0.5);
    std::vector<double> losses[2];
    for (int d = 0; d < 2; ++d) {
      auto store = std::make_shared<ParamStore>();
      store->set("w1", w1v.clone());
      store->set("w2", w2v.clone());
      auto adam = std::make_shared<optim::Adam>(std::make_shared<optim::ConstantLr>(0.01));
      optim::TrainStep step(g, loss, {w1, w2}, store, adam, d == 0 ? Device::cpu() : device_under_test());
      for (int i = 0; i < 5; ++i) losses[d].push_back(step.run(f).loss);
    }
    for (int i = 0; i < 5; ++i) CHECK(losses[1][i] == doctest::Approx(losses[0][i]).epsilon(1e-12));
    CHECK(losses[1][4] < losses[1][0]);
  }
}
