// The CUDA kernels generated for fused groups (engine/compile/cuda_codegen.cpp) run from their source on
// the CPU under the CUDA emulator: for every fused group of tests/emu_codegen/cases.cpp as compile()
// lowers it (for CUDA: sums closing groups over any axis, gathers opening them), the generated kernel,
// written into the build tree at build time (tests/emu_codegen/gen_kernels.cpp), equals the CPU's fused
// kernel bit for bit, in both scheduling orders and on grids smaller than the work (grid-stride loops).
// Before this, generated kernels first ran on a GPU.
#include <doctest/doctest.h>

#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "engine/compile/cuda_codegen.h"
#include "engine/fused.h"
#include "engine/orbit.h"
#include "tests/emu_codegen/cases.h"

#define ORBIT_CUDA_EMU 1
#include "tests/harness/emu_run.h"
#include "tests/emu_codegen/generated_kernels.h"

using namespace orbit;
using testing::launch_both_orders;
using testing::Outputs;

namespace {

// A node's value (computed on the CPU) in a guarded buffer: reading past its end faults.
struct Guarded {
  emu::GuardedArray<unsigned char> bytes;
  explicit Guarded(const Tensor& t) : bytes(static_cast<size_t>(t.nbytes())) {
    if (t.nbytes() > 0) std::memcpy(bytes.data(), t.raw(), static_cast<size_t>(t.nbytes()));
  }
};

}  // namespace

TEST_SUITE("cpu") {
TEST_CASE("cuda emulator: generated fused kernels = the CPU's fused kernel bit for bit (reductions, segments, gathers)") {
  std::map<std::string, emu_codegen::generated::Launcher> launchers;
  for (const auto& k : emu_codegen::generated::kKernels) launchers[k.name] = k.launch;
  std::set<std::string> ran;
  int reduced = 0, segmented = 0, gathered = 0, lanes8 = 0;
  for (const emu_codegen::Case& c : emu_codegen::cases()) {
    CAPTURE(c.name);
    passes::Rewritten r = emu_codegen::lowered(c);
    // Every fused node and its inputs, computed on the CPU from the lowered graph as it is.
    std::vector<NodeId> fused;
    for (NodeId i = 0; i < r.graph.size(); ++i)
      if (r.graph.node(i).kind == NodeKind::op && r.graph.node(i).op == fused_op()) fused.push_back(i);
    REQUIRE(!fused.empty());
    std::vector<NodeId> wanted;
    for (NodeId f : fused) {
      for (NodeId in : r.graph.node(f).inputs) wanted.push_back(in);
      wanted.push_back(f);
    }
    std::vector<Var> outs;
    for (NodeId w : wanted) outs.push_back(r.graph.var(w));
    CompileOptions as_is;
    as_is.optimize = false;
    as_is.fusion = CompileOptions::Fusion::off;
    Program cpu = compile(r.graph, outs, Device::cpu(), as_is);
    Feeds feeds;  // those of the inputs the lowered graph still reads
    for (const auto& [name, t] : c.feeds)
      for (NodeId i = 0; i < r.graph.size(); ++i)
        if (r.graph.node(i).kind == NodeKind::input && r.graph.node(i).name == name) {
          feeds.push_back({name, t});
          break;
        }
    const std::vector<Tensor> vals = cpu.run(feeds);
    std::map<NodeId, Tensor> value;
    for (size_t k = 0; k < wanted.size(); ++k) value[wanted[k]] = vals[k];

    for (NodeId f : fused) {
      const Node& node = r.graph.node(f);
      const FusedAttr& a = node.attr_as<FusedAttr>();
      CAPTURE(a.ops);
      std::vector<Shape> shapes;
      for (NodeId in : node.inputs) shapes.push_back(r.graph.node(in).shape);
      const codegen::FusedKernelSource k = codegen::generate_fused_kernel(a, shapes);
      auto it = launchers.find(k.name);
      INFO("kernel " << k.name << " is not in the build's generated set: rebuild (orbit_gen_emu_kernels)");
      REQUIRE(it != launchers.end());
      const size_t n_index = a.index_bits.size(), n_data = node.inputs.size() - n_index;
      std::vector<std::unique_ptr<Guarded>> bufs;
      std::vector<const void*> in, ix;
      for (size_t j = 0; j < node.inputs.size(); ++j) {
        bufs.push_back(std::make_unique<Guarded>(value.at(node.inputs[j])));
        (j < n_data ? in : ix).push_back(bufs.back()->bytes.data());
      }
      const Tensor& want = value.at(f);
      emu::GuardedArray<unsigned char> out(static_cast<size_t>(want.nbytes()));
      Outputs o;
      o.add(out.data(), out.size());
      const long long n = want.numel();
      // Grids smaller than the work, so every thread's grid-stride loop runs more than once.
      for (unsigned grid : {1u, 3u}) {
        launch_both_orders(grid, 64, 0, [&] { it->second(in.data(), ix.data(), out.data(), n); }, o);
        CHECK(std::memcmp(out.data(), want.raw(), out.size()) == 0);
      }
      ran.insert(k.name);
      reduced += a.reduce != FusedAttr::none && !a.segmented();
      segmented += a.segmented();
      gathered += a.num_gathers() > 0;
      const bool shuffles = k.source.find("__shfl_xor_sync") != std::string::npos;
      CHECK(k.lanes == (shuffles ? 8 : 1));  // what the launch sizes its grid by
      lanes8 += shuffles;
    }
  }
  // The cases reach every layout the generator specialises.
  CHECK(ran.size() == std::size(emu_codegen::generated::kKernels));
  CHECK(reduced >= 12);  // the four layouts per dtype (last axis, last two, a middle axis, leading rows), and random ones
  CHECK(segmented >= 2);
  CHECK(gathered >= 4);
  CHECK(lanes8 >= 4);  // sums over the last axis: 8 lanes per output, combined by warp shuffles
}
}
