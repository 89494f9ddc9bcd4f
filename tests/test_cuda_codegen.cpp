// Generated CUDA kernels for fused groups (engine/compile/cuda_codegen.h) and their NVRTC compilation and
// CUBIN cache (kernels/cuda/nvrtc.h). Suite "cpu": the generated source (functor calls, exact parameters,
// index math specialised to the shapes, checked against the interpreter's offsets), NVRTC compiles the
// kernels of hand-written programs and of every group of random fused graphs (f32, f64) to CUBINs, the
// memory and disk caches hit, corrupt cache files are recompiled, a broken source falls back to the
// interpreter with NVRTC's log. These skip themselves with a message when libnvrtc cannot be loaded.
// Suite "gpu": random fused graphs on CUDA with ORBIT_FUSION_CODEGEN=1 agree with the CPU and ran
// generated kernels (skips without a GPU).
#include <doctest/doctest.h>

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "engine/compile/cuda_codegen.h"
#include "engine/fused.h"
#include "engine/orbit.h"
#include "kernels/cuda/nvrtc.h"
#include "tests/fusion_graphs.h"
#include "tests/harness/op_harness.h"
#include "tests/scoped_env.h"

using namespace orbit;
using namespace orbit::fusion_test;

namespace {

bool no_nvrtc() {
  std::string why;
  if (nvrtc::available(&why)) return false;
  MESSAGE("skipped: NVRTC cannot be loaded: " << why);
  return true;
}
#define NVRTC_OR_SKIP() \
  if (no_nvrtc()) return

using testing::ScopedEnv;

// A fresh temporary folder, removed at the end of the scope.
struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string& tag) {
    static int serial = 0;
    path = std::filesystem::temp_directory_path() /
           ("orbit_codegen_" + tag + "_" + std::to_string(getpid()) + "_" + std::to_string(serial++));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

// Instruction helpers for hand-written programs.
struct ProgramBuilder {
  FusedAttr a;
  void add(int code, int dst, int x = 0, int y = 0, int z = 0, double p0 = 0, double p1 = 0) {
    a.code.insert(a.code.end(), {code, dst, x, y, z});
    a.params.insert(a.params.end(), {p0, p1});
    a.slots = std::max<int64_t>(a.slots, dst + 1);
  }
};

// out = where(gt(silu(x) * b, 0.75), clamp(pow_scalar(x, 2.5), -1, inf), exp(c) + s), x [R, C], b [C],
// c [R, 1], s a scalar input.
FusedAttr sample_program(DType dt, const Shape& shape, double imm = 0.75) {
  ProgramBuilder p;
  using namespace scalar;
  p.add(f_load, 0, 0);                                              // x
  p.add(f_silu, 1, 0);                                              // silu(x)
  p.add(f_load, 2, 1);                                              // b
  p.add(f_mul, 1, 1, 2);                                            // silu(x) * b
  p.add(f_imm, 2, 0, 0, 0, imm);                                    // 0.75
  p.add(f_gt, 1, 1, 2);                                             // mask
  p.add(f_pow_scalar, 2, 0, 0, 0, 2.5);                             // x^2.5
  p.add(f_clamp, 2, 2, 0, 0, -1.0, std::numeric_limits<double>::infinity());
  p.add(f_load, 3, 2);                                              // c
  p.add(f_exp, 3, 3);
  p.add(f_load, 0, 3);                                              // s (overwrites x's register)
  p.add(f_add, 3, 3, 0);
  p.add(f_where, 0, 1, 2, 3);
  p.a.out_slot = 0;
  p.a.shape = shape;
  p.a.dtype = dt;
  p.a.ops = "silu mul gt pow_scalar clamp exp add where";
  return p.a;
}

std::vector<Shape> sample_shapes(const Shape& s) { return {s, Shape({s[1]}), Shape({s[0], 1}), Shape({1})}; }

// Every fused node of a compiled program: its attribute and input shapes.
struct Group {
  FusedAttr attr;
  std::vector<Shape> shapes;
};
std::vector<Group> fused_groups(const Program& p) {
  std::vector<Group> out;
  const Graph& g = p.graph();
  for (NodeId id = 0; id < g.size(); ++id) {
    const Node& n = g.node(id);
    if (n.kind != NodeKind::op || n.op != fused_op()) continue;
    Group gr{n.attr_as<FusedAttr>(), {}};
    for (NodeId in : n.inputs) gr.shapes.push_back(g.node(in).shape);
    out.push_back(std::move(gr));
  }
  return out;
}

// The groups of tanh(gather(x, idx, axis) * y) over [9, 13, 7]: gathers along a middle or the last axis.
// Also closed by a sum over the gathered axis and over the next one.
std::vector<Group> gather_axis_groups(int axis, DType dt, DType it) {
  std::vector<int64_t> xs = {9, 13, 7}, space = xs;
  xs[static_cast<size_t>(axis)] = 4;
  Graph g;
  Var x = g.input("x", Shape(xs), dt), y = g.input("y", Shape(space), dt);
  Var idx = g.input("idx", {space[static_cast<size_t>(axis)]}, it);
  CompileOptions on;
  on.fusion = CompileOptions::Fusion::on;
  std::vector<Group> out;
  for (int red : {-1, axis, (axis + 1) % 3}) {
    Var v = tanh(gather(x, idx, axis) * y);
    if (red >= 0) v = sum(v, {red});
    for (Group& gr : fused_groups(compile(g, {v}, Device::cpu(), on))) out.push_back(std::move(gr));
  }
  return out;
}

// silu(p[send] * w) * att aggregated by sorted ids (segment sum or mean) along axis 0 of [E, H] or
// axis 1 of [2, E, H].
std::vector<Group> segment_groups(DType dt, DType it) {
  std::vector<Group> out;
  for (bool use_mean : {false, true})
    for (int axis : {0, 1}) {
      const int64_t N = 7, E = 30, H = 5;
      Graph g;
      Var p = g.input("p", {N, H}, dt), w = g.input("w", {H}, dt);
      Var att = g.input("att", axis == 0 ? Shape({E, H}) : Shape({2, E, H}), dt);
      Var recv = g.input("recv", {E}, it), send = g.input("send", {E}, it);
      Var m = silu(gather(p, send, 0) * w) * att;
      Var agg = use_mean ? segment_mean(m, recv, N, axis, true) : segment_sum(m, recv, N, axis, true);
      CompileOptions on;
      on.fusion = CompileOptions::Fusion::on;
      for (Group& gr : fused_groups(compile(g, {agg}, Device::cpu(), on))) out.push_back(std::move(gr));
    }
  return out;
}

std::vector<Group> random_groups(uint64_t seed, DType dt) {
  const Shape space = seed % 2 ? Shape({6, 7}) : Shape({3, 4, 5});
  const std::vector<Shape> shapes = seed % 2 ? std::vector<Shape>{space, Shape({7}), Shape({6, 1}), Shape({1})}
                                             : std::vector<Shape>{space, Shape({4, 1}), Shape({3, 1, 5}), Shape({5})};
  RandomGraph r = random_graph(seed, dt, space, shapes, 24, false, /*gathers=*/true);
  CompileOptions on;
  on.fusion = CompileOptions::Fusion::on;
  Program p = compile(r.g, r.outputs, Device::cpu(), on);
  return fused_groups(p);
}

}  // namespace

TEST_SUITE("cpu") {
  TEST_CASE("cuda codegen: the generated source calls the scalar functors with exact parameters and shape-specialised loads") {
    for (DType dt : {DType::f32, DType::f64}) {
      const Shape s({6, 5});
      const FusedAttr a = sample_program(dt, s);
      const codegen::FusedKernelSource k = codegen::generate_fused_kernel(a, sample_shapes(s));
      INFO(k.source);
      CHECK(k.name.rfind("orbit_fused_", 0) == 0);
      CHECK(k.name.size() == std::string("orbit_fused_").size() + 16);
      CHECK(k.num_inputs == 4);
      CHECK(k.index32);
      CHECK(k.source.find("extern \"C\" __global__ void __launch_bounds__(256) " + k.name + "(") != std::string::npos);
      const std::string T = dt == DType::f64 ? "double" : "float";
      CHECK(k.source.find("const " + T + "* __restrict__ in3, " + T + "* __restrict__ out, long long n)") !=
            std::string::npos);
      CHECK(k.source.find("#include \"kernels/scalar/unary.h\"") != std::string::npos);
      CHECK(k.source.find("= in0[i];") != std::string::npos);        // contiguous
      CHECK(k.source.find("= in1[(i % 5u)];") != std::string::npos); // [5] over [6, 5]
      CHECK(k.source.find("= in2[(i / 5u)];") != std::string::npos); // [6, 1] over [6, 5]: no modulo
      CHECK(k.source.find("= in3[0];") != std::string::npos);        // a scalar
      CHECK(k.source.find("orbit::scalar::Silu{}(v0)") != std::string::npos);
      CHECK(k.source.find("orbit::scalar::PowScalar{0x1.4p+1}(v0)") != std::string::npos);
      CHECK(k.source.find("orbit::scalar::Clamp{-0x1p+0, __longlong_as_double(0x7ff0000000000000LL)}(v6)") !=
            std::string::npos);
      CHECK(k.source.find("T(0x1.8p-1)") != std::string::npos);  // the immediate 0.75
      // Registers are values: the where reads the mask, the clamp and the sum by name, although the
      // program reuses slots 0 and 2.
      CHECK(k.source.find("orbit::scalar::Where{}(v5, v7, v11)") != std::string::npos);
      CHECK(k.source.find("out[i] = v12;") != std::string::npos);
      CHECK(k.source.find("reg[") == std::string::npos);
    }
    // The name follows the text: another immediate, another kernel; the same program, the same name.
    const Shape s({6, 5});
    CHECK(codegen::generate_fused_kernel(sample_program(DType::f32, s), sample_shapes(s)).name ==
          codegen::generate_fused_kernel(sample_program(DType::f32, s), sample_shapes(s)).name);
    CHECK(codegen::generate_fused_kernel(sample_program(DType::f32, s, 0.5), sample_shapes(s)).name !=
          codegen::generate_fused_kernel(sample_program(DType::f32, s), sample_shapes(s)).name);
    // Over 2^31 elements: 64-bit index math.
    const Shape big({3, int64_t(1) << 30});
    const codegen::FusedKernelSource k64 = codegen::generate_fused_kernel(sample_program(DType::f32, big), sample_shapes(big));
    CHECK_FALSE(k64.index32);
    CHECK(k64.source.find("typedef unsigned long long I;") != std::string::npos);
    CHECK(k64.source.find("in2[(i / 1073741824ull)]") != std::string::npos);
  }

  TEST_CASE("cuda codegen: literals read back exactly, broadcast index terms equal the interpreter's offsets") {
    std::mt19937_64 rng(5);
    for (double v : {0.0, -0.0, 1.0, 0.1, -2.5, 1e-310, 1.7976931348623157e308, 3.141592653589793, 1.0 / 3.0}) {
      const std::string s = codegen::exact_literal(v);
      const double back = std::strtod(s.c_str(), nullptr);
      CHECK(std::memcmp(&back, &v, sizeof v) == 0);
    }
    CHECK(codegen::exact_literal(-std::numeric_limits<double>::infinity()) == "__longlong_as_double(0xfff0000000000000LL)");
    CHECK(codegen::exact_literal(std::nan("")).find("__longlong_as_double(0x7ff") == 0);

    // Random output shapes up to rank 5 and inputs that keep, drop (size 1) or lack leading dims.
    for (int trial = 0; trial < 300; ++trial) {
      const int rank = 1 + static_cast<int>(rng() % 5);
      std::vector<int64_t> dims(static_cast<size_t>(rank));
      for (auto& d : dims) d = 1 + static_cast<int64_t>(rng() % 4);
      const Shape out(dims);
      const int lead = static_cast<int>(rng() % static_cast<uint64_t>(rank));
      std::vector<int64_t> in_dims;
      for (int d = lead; d < rank; ++d) in_dims.push_back(rng() % 3 == 0 ? 1 : dims[static_cast<size_t>(d)]);
      const Shape in(in_dims);
      FusedAttr a;
      a.code = {scalar::f_load, 0, 0, 0, 0};
      a.params = {0, 0};
      a.slots = 1;
      a.shape = out;
      const scalar::FusedProgram p = fused_program(a, {in});
      if (p.access[0] != scalar::fa_strided) continue;
      const auto terms = codegen::broadcast_index_terms(p, 0);
      INFO("out " << out.str() << " in " << in.str());
      for (int64_t i = 0; i < out.numel(); ++i) {
        int64_t off = 0;
        for (const auto& t : terms) {
          int64_t x = i / t.div;
          if (t.mod) x %= t.mod;
          off += x * t.mul;
        }
        REQUIRE(off == scalar::fused_offset(p, 0, i));
      }
    }
    // Merged runs: [3, 4] over [2, 3, 4] is one term, i % 12; [2, 1, 4] over [2, 3, 4] is two.
    FusedAttr a;
    a.code = {scalar::f_load, 0, 0, 0, 0};
    a.params = {0, 0};
    a.slots = 1;
    a.shape = Shape({2, 3, 4});
    auto terms = codegen::broadcast_index_terms(fused_program(a, {Shape({3, 4})}), 0);
    REQUIRE(terms.size() == 1);
    CHECK((terms[0].div == 1 && terms[0].mod == 12 && terms[0].mul == 1));
    terms = codegen::broadcast_index_terms(fused_program(a, {Shape({2, 1, 4})}), 0);
    REQUIRE(terms.size() == 2);  // i % 4 and (i / 12) * 4
    CHECK((terms[0].div == 1 && terms[0].mod == 4 && terms[0].mul == 1));
    CHECK((terms[1].div == 12 && terms[1].mod == 0 && terms[1].mul == 4));
  }

  TEST_CASE("cuda codegen: generated kernels compiled for the host equal the CPU fused kernel bit for bit") {
    // The generated source is CUDA C++ whose only device-specific parts are the launch indices and
    // __longlong_as_double: with those stood in for, the host compiler runs every kernel (each "thread"
    // of a 2 x 3 grid in turn, so the grid-stride loop is exercised) against the CPU kernel. This checks
    // the generator's semantics (register names, index math, parameters) without a GPU.
    if (std::system("c++ --version > /dev/null 2>&1") != 0) {
      MESSAGE("skipped: no host C++ compiler (c++) to build the generated sources with");
      return;
    }
    TempDir dir("host");
    struct Case {
      codegen::FusedKernelSource k;
      FusedAttr attr;
      std::vector<Shape> shapes;
      std::vector<Tensor> inputs;
      Tensor expected;
    };
    std::vector<Case> cases;
    std::set<std::string> names;
    std::mt19937_64 rng(17);
    int warp_kernels = 0;
    auto add = [&](const FusedAttr& a, const std::vector<Shape>& shapes) {
      Case c{codegen::generate_fused_kernel(a, shapes), a, shapes, {}, {}};
      if (!names.insert(c.k.name).second) return;
      // Sums over the last axis combine 8 lanes with warp shuffles, which threads run one after
      // another cannot: those kernels run under the CUDA emulator (tests/test_emu_codegen.cpp).
      if (c.k.source.find("__shfl_xor_sync") != std::string::npos) {
        ++warp_kernels;
        return;
      }
      Graph g;
      std::vector<Var> ins;
      Feeds feeds;
      const size_t n_data = shapes.size() - a.index_bits.size();
      for (size_t i = 0; i < shapes.size(); ++i) {
        if (i < n_data) {
          ins.push_back(g.input("x" + std::to_string(i), shapes[i], a.dtype));
          c.inputs.push_back(random_values(shapes[i], a.dtype, rng));
        } else {  // an index array: in range of every gather that reads through it
          int64_t range = std::numeric_limits<int64_t>::max();
          for (int64_t q = 0; q < a.num_gathers(); ++q)
            if (a.gathers[3 * q + 1] == static_cast<int64_t>(i))
              range = std::min(range, shapes[static_cast<size_t>(a.gathers[3 * q])][static_cast<int>(a.gathers[3 * q + 2])]);
          const bool segment_ids = a.segment_ids == static_cast<int64_t>(i);
          if (segment_ids) range = std::min(range, a.num_segments);
          const DType it = a.index_bits[i - n_data] == 32 ? DType::i32 : DType::i64;
          std::vector<double> v(static_cast<size_t>(shapes[i].numel()));
          for (auto& x : v) x = static_cast<double>(std::uniform_int_distribution<int64_t>(0, range - 1)(rng));
          if (segment_ids) std::sort(v.begin(), v.end());  // a segment reduction's ids are sorted
          ins.push_back(g.input("x" + std::to_string(i), shapes[i], it));
          c.inputs.push_back(Tensor::from<double>(shapes[i], v).cast(it));
        }
        feeds.push_back({"x" + std::to_string(i), c.inputs.back()});
      }
      CompileOptions off;
      off.fusion = CompileOptions::Fusion::off;
      c.expected = compile(g, {fused_elementwise(ins, a)}, Device::cpu(), off).run(feeds)[0];
      cases.push_back(std::move(c));
    };
    for (DType dt : {DType::f32, DType::f64}) {
      add(sample_program(dt, Shape({6, 5})), sample_shapes(Shape({6, 5})));
      add(sample_program(dt, Shape({1, 7})), sample_shapes(Shape({1, 7})));
      for (uint64_t seed = 1; seed <= 6; ++seed)
        for (const Group& g : random_groups(seed, dt)) add(g.attr, g.shapes);
      for (int axis : {0, 1, 2})
        for (const Group& g : gather_axis_groups(axis, dt, axis == 1 ? DType::i32 : DType::i64)) add(g.attr, g.shapes);
      for (const Group& g : segment_groups(dt, dt == DType::f32 ? DType::i32 : DType::i64)) add(g.attr, g.shapes);
    }
    REQUIRE(cases.size() > 10);
    int reduced = 0, gathered = 0, segmented = 0;
    for (const Case& c : cases)
      reduced += c.attr.reduce != FusedAttr::none, gathered += c.attr.num_gathers() > 0, segmented += c.attr.segmented();
    CHECK(reduced >= 4);    // groups closed by a sum (a thread per output, its values added in double)
    CHECK(gathered >= 4);   // groups opened by gathers (i32 and i64 index arrays)
    CHECK(segmented >= 8);  // groups closed by a segment sum / mean (binary search in the sorted ids)
    std::ostringstream tu;
    tu << "#include <cstdio>\n#include <cstring>\n#include <vector>\n"
       << "#define __global__\n#define __launch_bounds__(n)\n"
       << "struct OrbitDim { unsigned x; };\n"
       << "static OrbitDim blockIdx{0}, threadIdx{0}, blockDim{3}, gridDim{2};\n"
       << "static inline double __longlong_as_double(long long b) { double d; std::memcpy(&d, &b, 8); return d; }\n"
       << "template <class T> std::vector<T> orbit_read(const char* dir, int k, int i, long long n) {\n"
       << "  char p[4096]; std::snprintf(p, sizeof p, \"%s/k%d_in%d.bin\", dir, k, i);\n"
       << "  std::vector<T> v(n); FILE* f = std::fopen(p, \"rb\"); if (!f || std::fread(v.data(), sizeof(T), n, f) != size_t(n)) throw 1;\n"
       << "  std::fclose(f); return v; }\n"
       << "template <class T> void orbit_write(const char* dir, int k, const std::vector<T>& v) {\n"
       << "  char p[4096]; std::snprintf(p, sizeof p, \"%s/k%d_out.bin\", dir, k);\n"
       << "  FILE* f = std::fopen(p, \"wb\"); std::fwrite(v.data(), sizeof(T), v.size(), f); std::fclose(f); }\n";
    for (const Case& c : cases) tu << c.k.source << "\n";
    tu << "int main(int, char** argv) {\n  const char* dir = argv[1];\n";
    for (size_t j = 0; j < cases.size(); ++j) {
      const Case& c = cases[j];
      tu << "  {\n    typedef " << (c.attr.dtype == DType::f64 ? "double" : "float") << " T;\n";
      for (size_t i = 0; i < c.shapes.size(); ++i) {
        const size_t n_data = c.shapes.size() - c.attr.index_bits.size();
        const char* type = i < n_data ? "T" : c.attr.index_bits[i - n_data] == 32 ? "int" : "long long";
        tu << "    std::vector<" << type << "> in" << i << " = orbit_read<" << type << ">(dir, " << j << ", " << i << ", "
           << c.shapes[i].numel() << ");\n";
      }
      tu << "    std::vector<T> out(" << c.attr.out_shape().numel() << ");\n"
         << "    for (unsigned b = 0; b < 2; ++b) for (unsigned t = 0; t < 3; ++t) {\n"
         << "      blockIdx.x = b; threadIdx.x = t;\n      " << c.k.name << "(";
      for (size_t i = 0; i < c.shapes.size(); ++i) tu << "in" << i << ".data(), ";
      tu << "out.data(), " << c.attr.out_shape().numel() << ");\n    }\n    orbit_write(dir, " << j << ", out);\n  }\n";
    }
    tu << "  return 0;\n}\n";
    const std::string d = dir.path.string();
    {
      std::ofstream f(d + "/kernels.cpp");
      f << tu.str();
    }
    for (size_t j = 0; j < cases.size(); ++j)
      for (size_t i = 0; i < cases[j].inputs.size(); ++i) {
        const Tensor& t = cases[j].inputs[i];
        std::ofstream f(d + "/k" + std::to_string(j) + "_in" + std::to_string(i) + ".bin", std::ios::binary);
        f.write(static_cast<const char*>(t.raw()), static_cast<std::streamsize>(t.numel() * dtype_size(t.dtype())));
      }
    const std::string build = "c++ -std=c++20 -O1 -ffp-contract=off -I" ORBIT_SOURCE_DIR " " + d + "/kernels.cpp -o " + d +
                              "/kernels > " + d + "/build.log 2>&1";
    if (std::system(build.c_str()) != 0) {
      std::ifstream f(d + "/build.log");
      std::string log((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
      FAIL("the generated sources do not compile on the host:\n" << log.substr(0, 6000));
    }
    REQUIRE(std::system((d + "/kernels " + d).c_str()) == 0);
    for (size_t j = 0; j < cases.size(); ++j) {
      const Case& c = cases[j];
      INFO(c.attr.ops << " " << c.attr.shape.str() << "\n" << c.k.source);
      Tensor got = Tensor::zeros(c.attr.out_shape(), c.attr.dtype);
      std::ifstream f(d + "/k" + std::to_string(j) + "_out.bin", std::ios::binary);
      f.read(static_cast<char*>(got.raw()), static_cast<std::streamsize>(got.numel() * dtype_size(got.dtype())));
      REQUIRE(f.good());
#if defined(__x86_64__)
      CHECK(max_rel(got, c.expected) == 0);  // same functors, same order, no FMA contraction on either side
#else
      CHECK(max_rel(got, c.expected) <= (c.attr.dtype == DType::f64 ? 1e-13 : 1e-5));
#endif
    }
    MESSAGE(cases.size() << " generated kernels run on the host, " << reduced << " of them closed by a sum ("
                          << segmented << " by a segment sum or mean), " << gathered << " opened by gathers; "
                          << warp_kernels << " with warp shuffles left to the emulator test");
  }

  TEST_CASE("cuda codegen: NVRTC compiles generated kernels (hand-written and random fused groups, f32 and f64) to CUBINs") {
    NVRTC_OR_SKIP();
    TempDir dir("compile");
    ScopedEnv env("ORBIT_CACHE_DIR", dir.path.string());
    int compiled = 0;
    for (DType dt : {DType::f32, DType::f64}) {
      const Shape s({6, 5});
      const codegen::FusedKernelDecision d =
          codegen::prepare_fused_kernel(sample_program(dt, s), sample_shapes(s), "sm_90", /*load=*/false);
      INFO(d.reason);
      CHECK(d.generated);
      compiled += d.generated;
      for (uint64_t seed = 1; seed <= 4; ++seed)
        for (const Group& g : random_groups(seed, dt)) {
          const codegen::FusedKernelSource k = codegen::generate_fused_kernel(g.attr, g.shapes);
          const nvrtc::Compiled c = nvrtc::compile(k.source, "sm_90");
          INFO("seed " << seed << " " << g.attr.ops << "\n" << k.source << "\n" << c.error);
          REQUIRE(c.ok);
          CHECK(c.cubin->size() > 0);
          CHECK(std::string(c.cubin->data(), 4) == "\x7f" "ELF");
          ++compiled;
        }
      for (const Group& g : segment_groups(dt, DType::i64)) {  // gather-opened, segment-closed
        const codegen::FusedKernelSource k = codegen::generate_fused_kernel(g.attr, g.shapes);
        const nvrtc::Compiled c = nvrtc::compile(k.source, "sm_90");
        INFO(g.attr.ops << "\n" << k.source << "\n" << c.error);
        CHECK(c.ok);
        compiled += c.ok;
      }
    }
    CHECK(compiled > 10);
    // Another architecture is another key and another CUBIN.
    const Shape s({6, 5});
    const std::string src = codegen::generate_fused_kernel(sample_program(DType::f32, s), sample_shapes(s)).source;
    const nvrtc::Compiled c90 = nvrtc::compile(src, "sm_90"), c80 = nvrtc::compile(src, "sm_80");
    REQUIRE((c90.ok && c80.ok));
    CHECK(c90.key != c80.key);
    MESSAGE("NVRTC " << nvrtc::version() << " (" << nvrtc::options_string() << "): " << compiled
                     << " kernels; " << nvrtc::counters_string());
  }

  TEST_CASE("cuda codegen: the CUBIN cache hits in memory, then on disk, corrupt or truncated files are recompiled") {
    NVRTC_OR_SKIP();
    TempDir dir("cache");
    ScopedEnv env("ORBIT_CACHE_DIR", (dir.path / "nested" / "kernels").string());
    // An immediate no other test uses: this process has not compiled this source yet.
    const double imm = 0.25 + 1e-9 * static_cast<double>(getpid() % 100000);
    const Shape s({4, 3});
    const std::string src = codegen::generate_fused_kernel(sample_program(DType::f64, s, imm), sample_shapes(s)).source;
    const std::string arch = "sm_90";

    const nvrtc::Counters c0 = nvrtc::counters();
    const nvrtc::Compiled first = nvrtc::compile(src, arch);
    REQUIRE(first.ok);
    CHECK(first.from == nvrtc::Compiled::From::nvrtc);
    const std::string file = nvrtc::cache_file(first.key);
    CHECK(file.rfind((dir.path / "nested" / "kernels").string(), 0) == 0);
    REQUIRE(std::filesystem::exists(file));
    CHECK(std::filesystem::file_size(file) == first.cubin->size() + 40);
    const nvrtc::Counters c1 = nvrtc::counters();
    CHECK(c1.compiles == c0.compiles + 1);
    CHECK(c1.disk_writes == c0.disk_writes + 1);

    // The same source again: the in-memory cache, nothing compiled.
    const nvrtc::Compiled second = nvrtc::compile(src, arch);
    REQUIRE(second.ok);
    CHECK(second.from == nvrtc::Compiled::From::memory);
    CHECK(*second.cubin == *first.cubin);
    const nvrtc::Counters c2 = nvrtc::counters();
    CHECK(c2.memory_hits == c1.memory_hits + 1);
    CHECK(c2.compiles == c1.compiles);

    // A fresh in-memory cache (as a new process): the disk cache.
    nvrtc::clear_memory_cache();
    const nvrtc::Compiled third = nvrtc::compile(src, arch);
    REQUIRE(third.ok);
    CHECK(third.from == nvrtc::Compiled::From::disk);
    CHECK(*third.cubin == *first.cubin);
    const nvrtc::Counters c3 = nvrtc::counters();
    CHECK(c3.disk_hits == c2.disk_hits + 1);
    CHECK(c3.compiles == c2.compiles);

    // Damaged files: truncated, one flipped byte in the CUBIN, a wrong magic, an empty file. Each is
    // detected, recompiled and rewritten; the rewritten file is read back the next time.
    auto damage = [&](int how) {
      std::string bytes;
      {
        std::ifstream f(file, std::ios::binary);
        bytes.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
      }
      if (how == 0) bytes.resize(bytes.size() / 2);
      if (how == 1) bytes[bytes.size() - 100] ^= 0x10;
      if (how == 2) bytes[0] = 'X';
      if (how == 3) bytes.clear();
      std::ofstream f(file, std::ios::binary | std::ios::trunc);
      f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    };
    for (int how = 0; how < 4; ++how) {
      INFO("damage " << how);
      damage(how);
      nvrtc::clear_memory_cache();
      const nvrtc::Counters before = nvrtc::counters();
      const nvrtc::Compiled again = nvrtc::compile(src, arch);
      REQUIRE(again.ok);
      CHECK(again.from == nvrtc::Compiled::From::nvrtc);
      CHECK(*again.cubin == *first.cubin);
      const nvrtc::Counters after = nvrtc::counters();
      CHECK(after.corrupt_files == before.corrupt_files + 1);
      CHECK(after.compiles == before.compiles + 1);
      nvrtc::clear_memory_cache();
      CHECK(nvrtc::compile(src, arch).from == nvrtc::Compiled::From::disk);
    }
    // No temporary files are left behind.
    int files = 0;
    for (const auto& e : std::filesystem::directory_iterator(std::filesystem::path(file).parent_path())) {
      CHECK(e.path().extension() == ".cubin");
      ++files;
    }
    CHECK(files == 1);
  }

  TEST_CASE("cuda codegen: a source NVRTC rejects reports its log and the decision is the interpreter") {
    NVRTC_OR_SKIP();
    TempDir dir("broken");
    ScopedEnv env("ORBIT_CACHE_DIR", dir.path.string());
    const Shape s({4, 3});
    const nvrtc::Counters before = nvrtc::counters();
    nvrtc::set_break_sources_for_testing(true);
    const codegen::FusedKernelDecision d =
        codegen::prepare_fused_kernel(sample_program(DType::f32, s), sample_shapes(s), "sm_90", /*load=*/false);
    nvrtc::set_break_sources_for_testing(false);
    CHECK_FALSE(d.generated);
    CHECK(std::string(d.runner()) == "interpreter");
    CHECK(d.reason.find("could not compile") != std::string::npos);
    CHECK(d.reason.find("orbit test hook: a broken source") != std::string::npos);  // NVRTC's log
    CHECK(nvrtc::counters().failures == before.failures + 1);
    CHECK(std::filesystem::is_empty(dir.path));  // failures are not cached on disk
    // An architecture NVRTC does not know: also the interpreter, with NVRTC's message.
    const codegen::FusedKernelDecision bad_arch =
        codegen::prepare_fused_kernel(sample_program(DType::f32, s), sample_shapes(s), "sm_1", false);
    CHECK_FALSE(bad_arch.generated);
    CHECK(bad_arch.reason.find("sm_1") != std::string::npos);
    // And the healthy source still compiles.
    CHECK(codegen::prepare_fused_kernel(sample_program(DType::f32, s), sample_shapes(s), "sm_90", false).generated);
  }

  TEST_CASE("cuda codegen: ORBIT_EMIT_CUDA_KERNELS writes the kernels a CUDA program would generate, on any machine") {
    TempDir dir("emit");
    const std::string folder = (dir.path / "kernels").string();  // created by the emitter
    Graph g;
    Var x = g.input("x", Shape({64, 8}), DType::f32);
    Var w = g.input("w", Shape({8}), DType::f32);
    Var y = tanh(x * w + 1.0);
    Feeds feeds{{"x", Tensor::from<float>(Shape({64, 8}), std::vector<float>(512, 0.25f))},
                {"w", Tensor::from<float>(Shape({8}), std::vector<float>(8, 2.f))}};
    const auto plain = compile(g, {y}, Device::cpu()).run(feeds);
    std::vector<Tensor> emitted;
    {
      ScopedEnv on("ORBIT_EMIT_CUDA_KERNELS", folder.c_str());
      emitted = compile(g, {y}, Device::cpu()).run(feeds);  // a CPU program: emission changes nothing
    }
    CHECK(emitted[0].to_vector() == plain[0].to_vector());
    std::vector<std::filesystem::path> files;
    for (const auto& e : std::filesystem::directory_iterator(folder))
      if (e.path().extension() == ".cu") files.push_back(e.path());
    REQUIRE(files.size() == 1);  // mul add tanh: one group
    {
      // and a line per compiled program: its kernels and modeled traffic under the CUDA pipeline
      std::ifstream log(std::filesystem::path(folder) / "programs.txt");
      const std::string line((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
      // x [64, 8] and w [8] read, y [64, 8] written, f32: 2048 + 32 + 2048 bytes
      CHECK(line.find("program 0 '") == 0);
      CHECK(line.find("1 kernels (1 fused groups), modeled traffic 4128 bytes") != std::string::npos);
      CHECK(std::filesystem::file_size(std::filesystem::path(folder) / "program_0.txt") > 0);
      CHECK(compile(g, {y}, Device::cpu()).modeled_traffic_bytes() == 4128);  // the same group on the CPU
    }
    std::ifstream f(files[0]);
    const std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    const std::string name = files[0].stem().string();
    CHECK(name.rfind("orbit_fused_", 0) == 0);
    CHECK(text.find("__global__ void __launch_bounds__(256) " + name + "(") != std::string::npos);
    CHECK(text.find("mul add tanh") != std::string::npos);
    CHECK(text.find("orbit::scalar::Tanh{}") != std::string::npos);
    // Once per kernel: compiling again writes nothing new.
    CHECK(codegen::emit_cuda_kernels(g, {y.id()}, CompileOptions{}, folder) == 0);
    // A folder that cannot be made is an error naming the variable, not a crash.
    ScopedEnv bad("ORBIT_EMIT_CUDA_KERNELS", "/dev/null/orbit-kernels");
    bool threw = false;
    try {
      compile(g, {y}, Device::cpu());
    } catch (const Error& e) {
      threw = std::string(e.what()).find("ORBIT_EMIT_CUDA_KERNELS") != std::string::npos;
    }
    CHECK(threw);
  }

  TEST_CASE("cuda codegen: without a GPU the CUDA path declines (the interpreter would run) instead of failing") {
    if (cuda_device_count() > 0) {
      MESSAGE("skipped: a GPU is present (the gpu suite covers the generated path)");
      return;
    }
    ScopedEnv on("ORBIT_FUSION_CODEGEN", "1");
    CHECK(codegen::codegen_requested());
    const Shape s({4, 3});
    // Host buffers stand in for the inputs: the call must decline before it would read them.
    const float unread[16] = {};
    const void* ins[4] = {unread, unread, unread, unread};
    float out[12];
    // No CUDA backend or no driver: one warning on stderr, false, twice (the decision is cached).
    CHECK_FALSE(codegen::run_generated_fused(sample_program(DType::f32, s), sample_shapes(s), ins, out, 12, nullptr));
    CHECK_FALSE(codegen::run_generated_fused(sample_program(DType::f32, s), sample_shapes(s), ins, out, 12, nullptr));
    if (!std::getenv("ORBIT_NVRTC_ARCH")) {
      std::string why;
      CHECK(nvrtc::device_arch(&why).empty());
      CHECK_FALSE(why.empty());
    }
    ScopedEnv off("ORBIT_FUSION_CODEGEN", "0");
    CHECK_FALSE(codegen::codegen_requested());
    {
      ScopedEnv unset("ORBIT_FUSION_CODEGEN", "");
      unsetenv("ORBIT_FUSION_CODEGEN");
      CHECK(codegen::codegen_requested());  // the default
    }
  }
}

TEST_SUITE("gpu") {
  TEST_CASE("gpu codegen: generated fused kernels (ORBIT_FUSION_CODEGEN=1) agree with the CPU on random graphs") {
    GPU_OR_SKIP();
    const Device dev = testing::device_under_test();
    TempDir dir("gpu");
    ScopedEnv cache("ORBIT_CACHE_DIR", dir.path.string());
    ScopedEnv on("ORBIT_FUSION_CODEGEN", "1");
    const nvrtc::Counters before = nvrtc::counters();
    int fused = 0;
    for (DType dt : {DType::f64, DType::f32})
      for (uint64_t seed = 1; seed <= 10; ++seed) {
        INFO("seed " << seed << " " << std::string(dtype_name(dt)));
        // Small spaces (as the interpreter's test) and large ones (many blocks, grid-stride loops).
        const bool large = seed > 6;
        const Shape space = large ? (seed % 2 ? Shape({1000, 333}) : Shape({37, 64, 129}))
                                  : (seed % 2 ? Shape({6, 7}) : Shape({3, 4, 5}));
        std::vector<Shape> shapes = {space, Shape({space[space.rank() - 1]})};
        if (space.rank() == 2) shapes.push_back(Shape({space[0], 1}));
        else shapes.push_back(Shape({space[0], 1, space[2]}));
        shapes.push_back(Shape({1}));
        RandomGraph r = random_graph(seed, dt, space, shapes, 24, false, /*gathers=*/true);
        std::vector<Var> outs = r.outputs;
        auto gr = grad(sum(r.outputs[0] * r.outputs[0]) + r.outputs[2], r.inputs);  // outputs[2] is a sum
        for (Var v : gr)
          if (v.valid()) outs.push_back(v);
        CompileOptions opt_on;
        opt_on.fusion = CompileOptions::Fusion::on;
        Program gpu = compile(r.g, outs, dev, opt_on);
        CompileOptions off;
        off.fusion = CompileOptions::Fusion::off;
        Program cpu = compile(r.g, outs, Device::cpu(), off);
        auto a = gpu.run(r.feeds), b = cpu.run(r.feeds);
        a = gpu.run(r.feeds);  // a second run: the kernels come from the per-process caches
        for (size_t i = 0; i < a.size(); ++i)
          CHECK(max_rel(a[i].to(Device::cpu()), b[i]) <= (dt == DType::f64 ? 1e-11 : 2e-4));
        fused += gpu.num_fused();
      }
    CHECK(fused > 0);
    if (dev.is_cuda()) {
      const nvrtc::Counters after = nvrtc::counters();
      MESSAGE(nvrtc::counters_string());
      CHECK(after.failures == before.failures);
      CHECK(after.compiles > before.compiles);
      CHECK(after.loads > before.loads);
      CHECK(after.launches >= before.launches + fused);  // every fused kernel ran generated code
    }
  }
}
