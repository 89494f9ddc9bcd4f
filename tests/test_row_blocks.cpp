// Row-blocked CPU programs (engine/compile/row_blocks.h, engine/program_rows.cpp): the region's kernels
// run on blocks of rows, and every output keeps the bits of the unblocked program.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "engine/autodiff.h"
#include "engine/error.h"
#include "engine/ops.h"
#include "engine/program.h"
#include "kernels/cpu/isa.h"
#include "kernels/cpu/parallel.h"
#include "tests/cpu_test_util.h"
#include "tests/scoped_env.h"

using namespace orbit;
using orbit::testing::ScopedEnv;

namespace {

// A PINN step's graph: u = MLP(x) (tanh), u_x and u_t by reverse mode, u_xx by a second pass, the
// residual loss and its gradients with respect to every weight; plus two values of the region as
// outputs (the first derivatives, and a hidden layer through a reshape view and back).
struct PinnGraph {
  Graph g;
  std::vector<Var> outputs;
  std::vector<std::string> names = {"x", "w0", "b0", "w1", "b1", "w2"};
  std::vector<Shape> shapes;

  PinnGraph(int64_t n, int64_t h, DType dt) {
    shapes = {Shape{n, 2}, Shape{2, h}, Shape{h}, Shape{h, h}, Shape{h}, Shape{h, 1}};
    std::vector<Var> in;
    for (size_t i = 0; i < names.size(); ++i) in.push_back(g.input(names[i], shapes[i], dt));
    Var x = in[0];
    Var h0 = tanh(matmul(x, in[1]) + in[2]);
    // A view inside the region: [n, h] -> [n, 2, h / 2] -> squared -> [n, h].
    Var folded = reshape(square(reshape(h0, {n, 2, h / 2})), {n, h});
    Var h1 = tanh(matmul(h0 + 0.5 * folded, in[3]) + in[4]);
    Var u = matmul(h1, in[5]);
    Var du = grad(sum(u), {x})[0];
    Var uxx = col(grad(sum(col(du, 0)), {x})[0], 0);
    Var loss = mean(square(col(du, 1) - uxx));
    outputs = {loss, du, folded};
    for (Var w : grad(loss, {in[1], in[2], in[3], in[4], in[5]})) outputs.push_back(w);
  }
};

template <class T>
Feeds pinn_feeds(const PinnGraph& p) {
  Feeds f;
  for (size_t i = 0; i < p.names.size(); ++i) {
    const double scale = i == 0 ? 1.0 : 0.4;
    auto v = orbit::testing::normals<double>(static_cast<size_t>(p.shapes[i].numel()), 100 + i);
    std::vector<T> t(v.size());
    for (size_t j = 0; j < v.size(); ++j) t[j] = static_cast<T>(scale * v[j]);
    f.push_back({p.names[i], Tensor::from<T>(p.shapes[i], t)});
  }
  return f;
}

template <class T>
std::vector<std::vector<T>> values_of(const std::vector<Tensor>& ts) {
  std::vector<std::vector<T>> out;
  for (const Tensor& t : ts) out.emplace_back(t.data<T>(), t.data<T>() + t.numel());
  return out;
}

// The program's outputs with ORBIT_CPU_ROW_BLOCKS=`setting`; `block` gets its rows per block.
// With `sinks`, how many weight gradients the region sums block by block (from the program's report).
int sinks_of(const Program& prog) {
  const std::string r = prog.report(), key = " of them weight gradients summed block by block";
  const size_t at = r.find(key);
  if (at == std::string::npos) return 0;
  const size_t from = r.rfind(", ", at);
  return std::stoi(r.substr(from + 2, at - from - 2));
}

template <class T>
std::vector<std::vector<T>> run_pinn(const PinnGraph& p, const std::string& setting, int64_t* block = nullptr,
                                     int* kernels = nullptr, int* sinks = nullptr) {
  ScopedEnv env("ORBIT_CPU_ROW_BLOCKS", setting);
  Program prog = compile(p.g, p.outputs);
  if (block) *block = prog.row_block_size();
  if (kernels) *kernels = prog.row_block_kernels();
  if (sinks) *sinks = sinks_of(prog);
  const Feeds f = pinn_feeds<T>(p);
  auto first = values_of<T>(prog.run(f));
  // A second run gives the same values (the weight gradients start again from zero).
  const auto second = values_of<T>(prog.run(f));
  for (size_t i = 0; i < first.size(); ++i) CHECK(orbit::testing::same_bits(first[i], second[i]));
  return first;
}

template <class T>
void check_pinn_bits(DType dt) {
  // 1000 rows in blocks of 96: ten full blocks and a tail of 40.
  PinnGraph p(1000, 32, dt);
  // The same thread count on both sides: some products outside the region (Eigen's, for the last
  // layer's one column) split their sums by thread.
  // On one thread the region also sums the weight gradients block by block (the CPU's narrow-product
  // kernel continuing each output's chain): 2 x 32 and 32 x 32 ones here (32 x 1 stays outside).
  int64_t block = -1;
  int kernels = 0;
  std::vector<int> sinks;
  const auto [plain1, plain3] = orbit::testing::on_1_and_3_threads([&] { return run_pinn<T>(p, "0", &block); });
  CHECK(block == 0);
  const auto [one, three] = orbit::testing::on_1_and_3_threads([&] {
    int s = 0;
    auto v = run_pinn<T>(p, "96", &block, &kernels, &s);
    sinks.push_back(s);
    return v;
  });
  CHECK(block == 96);
  CHECK(kernels >= 10);
  REQUIRE(sinks.size() == 2);
  if (cpu::active_isa() != cpu::Isa::baseline) CHECK(sinks[0] >= 4);
  CHECK(sinks[1] == 0);  // three threads: the weight gradients run after the region
  REQUIRE(one.size() == plain1.size());
  for (size_t i = 0; i < plain1.size(); ++i) {
    INFO("output " << i);
    CHECK(orbit::testing::same_bits(one[i], plain1[i]));
    CHECK(orbit::testing::same_bits(three[i], plain3[i]));
  }
}

}  // namespace

TEST_SUITE("cpu") {
  TEST_CASE("row blocks: a PINN step (second derivatives, weight gradients) keeps its bits, f32 and f64") {
    check_pinn_bits<float>(DType::f32);
    check_pinn_bits<double>(DType::f64);
  }

  TEST_CASE("row blocks: weight gradients summed block by block keep their bits on every CPU variant") {
    // The baseline variant has no narrow kernel: its products stay after the region. A program
    // planned for the narrow kernel and run after switching to the baseline variant says why it stops.
    orbit::testing::IsaGuard guard;
    PinnGraph p(600, 32, DType::f32);
    for (cpu::Isa isa : cpu::isa_available()) {
      cpu::set_active_isa(isa);
      INFO("variant " << cpu::isa_name(isa));
      const auto [plain, unused_p] = orbit::testing::on_1_and_3_threads([&] { return run_pinn<float>(p, "0"); });
      int sinks = -1;
      const auto [blocked, unused_b] =
          orbit::testing::on_1_and_3_threads([&] { return run_pinn<float>(p, "128", nullptr, nullptr, &sinks); });
      (void)unused_p;
      (void)unused_b;
      for (size_t i = 0; i < plain.size(); ++i) CHECK(orbit::testing::same_bits(blocked[i], plain[i]));
    }
    cpu::set_active_isa(cpu::isa_available().back());
    if (cpu::active_isa() != cpu::Isa::baseline) {
      ScopedEnv env("ORBIT_CPU_ROW_BLOCKS", "128");
      const int saved = cpu::max_threads();
#if defined(_OPENMP)
      omp_set_num_threads(1);
#endif
      Program prog = compile(p.g, p.outputs);
#if defined(_OPENMP)
      omp_set_num_threads(saved);
#endif
      REQUIRE(sinks_of(prog) > 0);
      cpu::set_active_isa(cpu::Isa::baseline);
      try {
        prog.run(pinn_feeds<float>(p));
        FAIL("no error after the variant changed");
      } catch (const Error& e) {
        CHECK(std::string(e.what()).find("ORBIT_CPU_ISA") != std::string::npos);
      }
    }
  }

  TEST_CASE("row blocks: weight gradients that matmul splits into ranges of rows keep their bits on any threads") {
    // 8192 rows: matmul sums a weight gradient as 4 ranges of 2048 rows (each a chain, the partials
    // added in order). The region computes each range's partial block by block, blocks never straddling
    // a range, on one thread or on three (which share the ranges out).
    PinnGraph p(8192, 32, DType::f32);
    const auto [plain1, plain3] = orbit::testing::on_1_and_3_threads([&] { return run_pinn<float>(p, "0"); });
    for (const char* setting : {"128", "1"}) {
      INFO("ORBIT_CPU_ROW_BLOCKS=" << setting);
      std::vector<int> sinks;
      std::vector<int64_t> blocks;
      const auto [one, three] = orbit::testing::on_1_and_3_threads([&] {
        int s = 0;
        int64_t b = 0;
        auto v = run_pinn<float>(p, setting, &b, nullptr, &s);
        sinks.push_back(s);
        blocks.push_back(b);
        return v;
      });
      for (int64_t b : blocks) CHECK((b > 0 && 2048 % b == 0));
      if (cpu::active_isa() != cpu::Isa::baseline) {
        CHECK(sinks[0] >= 4);
        CHECK(sinks[1] >= 4);  // ranged ones run in the region on three threads too
      }
      for (size_t i = 0; i < plain1.size(); ++i) {
        INFO("output " << i);
        CHECK(orbit::testing::same_bits(one[i], plain1[i]));
        CHECK(orbit::testing::same_bits(three[i], plain3[i]));
      }
    }
  }

  TEST_CASE("row blocks: the block size follows the rows, and small batches run unblocked") {
    {
      PinnGraph p(4096, 64, DType::f32);
      int64_t block = -1;
      run_pinn<float>(p, "1", &block);
      CHECK(block >= 64);
      CHECK(block <= 1024);
      CHECK(block % 32 == 0);
    }
    {
      PinnGraph p(100, 16, DType::f32);  // fewer than two blocks' rows
      int64_t block = -1;
      run_pinn<float>(p, "1", &block);
      CHECK(block == 0);
    }
  }

  TEST_CASE("row blocks: values that depend on a sum over rows run after the region") {
    const int64_t n = 700, h = 24;
    Graph g;
    Var x = g.input("x", {n, 3});
    Var w = g.input("w", {3, h});
    Var v = g.input("v", {h, h});
    Var y = tanh(matmul(tanh(matmul(x, w)), v));
    Var centred = (y - mean(y, {0}, true)) * y;  // reads the whole column mean of y
    Var z = sigmoid(matmul(centred, w, false, true)) * x;
    Feeds f = {{"x", Tensor::from<float>({n, 3}, orbit::testing::normals<float>(n * 3, 1))},
               {"w", Tensor::from<float>({3, h}, orbit::testing::normals<float>(3 * h, 2))},
               {"v", Tensor::from<float>({h, h}, orbit::testing::normals<float>(h * h, 3))}};
    auto run = [&](const std::string& s, int64_t& block) {
      ScopedEnv env("ORBIT_CPU_ROW_BLOCKS", s);
      Program p = compile(g, {z, y});
      block = p.row_block_size();
      return values_of<float>(p.run(f));
    };
    int64_t b0 = -1, b1 = -1;
    const auto plain = run("0", b0);
    const auto blocked = run("128", b1);
    CHECK(b0 == 0);
    CHECK(b1 == 128);
    for (size_t i = 0; i < plain.size(); ++i) CHECK(orbit::testing::same_bits(blocked[i], plain[i]));
  }

  TEST_CASE("row blocks: products through Eigen (1 or 300 columns) give the one-thread bits on any threads") {
    // Eigen's kernel may split a product over threads, so the unblocked program's bits can depend on
    // the thread count there; in the region every block's product runs on its own thread, which gives
    // the unblocked program's one-thread bits whatever the thread count (for contractions this short).
    const int64_t n = 1000;
    for (int64_t h : {int64_t(1), int64_t(300)}) {
      INFO("width " << h);
      Graph g;
      Var x = g.input("x", {n, 64});
      Var w = g.input("w", {64, h});
      Var v = g.input("v", {h, 64});
      Var y = tanh(matmul(tanh(matmul(x, w)), v)) * x;
      Feeds f = {{"x", Tensor::from<float>({n, 64}, orbit::testing::normals<float>(n * 64, 1))},
                 {"w", Tensor::from<float>({64, h}, orbit::testing::normals<float>(64 * h, 2))},
                 {"v", Tensor::from<float>({h, 64}, orbit::testing::normals<float>(h * 64, 3))}};
      auto run = [&](const std::string& setting, int64_t& block) {
        ScopedEnv env("ORBIT_CPU_ROW_BLOCKS", setting);
        Program p = compile(g, {y});
        block = p.row_block_size();
        return values_of<float>(p.run(f));
      };
      int64_t b0 = -1, b1 = -1;
      const auto [plain1, unused] = orbit::testing::on_1_and_3_threads([&] { return run("0", b0); });
      (void)unused;
      const auto [one, three] = orbit::testing::on_1_and_3_threads([&] { return run("96", b1); });
      CHECK(b0 == 0);
      CHECK(b1 == 96);
      CHECK(orbit::testing::same_bits(one[0], plain1[0]));
      CHECK(orbit::testing::same_bits(three[0], plain1[0]));
    }
  }

  TEST_CASE("row blocks: a bad ORBIT_CPU_ROW_BLOCKS is named in the error") {
    PinnGraph p(512, 16, DType::f32);
    for (const char* bad : {"abc", "-5", "12rows"}) {
      ScopedEnv env("ORBIT_CPU_ROW_BLOCKS", bad);
      try {
        compile(p.g, p.outputs);
        FAIL("no error for ORBIT_CPU_ROW_BLOCKS=" << bad);
      } catch (const Error& e) {
        CHECK(std::string(e.what()).find("ORBIT_CPU_ROW_BLOCKS") != std::string::npos);
      }
    }
  }

  TEST_CASE("row blocks: the profile times every blocked kernel") {
    PinnGraph p(1024, 32, DType::f32);
    ScopedEnv env("ORBIT_CPU_ROW_BLOCKS", "128");
    Program prog = compile(p.g, p.outputs);
    REQUIRE(prog.row_block_size() == 128);
    prog.enable_profile();
    const Feeds f = pinn_feeds<float>(p);
    prog.run(f);
    prog.run(f);
    const std::string r = prog.profile_report();
    CHECK(r.find("2 runs") == std::string::npos);  // the first run is held back: 1 run in the totals
    CHECK(r.find("1 runs") != std::string::npos);
    CHECK(r.find("matmul") != std::string::npos);
    CHECK(r.find("fused") != std::string::npos);
    CHECK(prog.report().find("row blocks: ") != std::string::npos);
  }
}
