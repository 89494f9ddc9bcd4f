// The graphs whose generated CUDA kernels run under the CUDA emulator (tests/test_emu_codegen.cpp):
// built the same way by the build-time generator (gen_kernels.cpp, which writes the kernels' sources
// into the build tree) and by the test (which runs them against the CPU's fused kernel). Each covers
// one layout the generator specialises: broadcast loads, sums over the last axis, a middle axis and
// leading rows, segment sums by sorted ids, gathers (sizes past CUDA's thresholds for closing groups:
// 4096 outputs; a loss's single mean stays outside its group there); then the random graphs of
// tests/fusion_graphs.h through the CPU's pipeline (every sum closes a group).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "engine/orbit.h"
#include "engine/compile/passes.h"

namespace orbit::emu_codegen {

struct Case {
  std::string name;
  std::shared_ptr<Graph> graph;
  std::vector<Var> outputs;
  Feeds feeds;
  // Lowered as for this device: the CUDA pipeline (its thresholds for closing groups), or the CPU's,
  // which closes groups with every sum (random graphs: small reductions of every layout).
  Device lower_for = Device::cuda();
};

std::vector<Case> cases();

// The case's graph as compile() lowers it for c.lower_for; for CUDA with sums closing groups over any
// axis and gathers opening them (ORBIT_FUSION_REDUCE=all, ORBIT_FUSION_GATHER=1, set for the call).
passes::Rewritten lowered(const Case& c);

}  // namespace orbit::emu_codegen
