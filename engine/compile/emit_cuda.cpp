// ORBIT_EMIT_CUDA_KERNELS=DIR: the CUDA kernels a program would generate, written as source files on any
// machine (engine/compile/cuda_codegen.h). compile() calls it for every program when the variable is
// set, whatever the device: the graph goes through compile()'s pipeline for CUDA
// (passes::lower_for_device, fusing as if NVRTC were present) and every fused group's kernel is
// written to DIR/<name>.cu once. tools/sass_report.py --generated DIR compiles them for sm_90 and reads
// their SASS, so the generated kernels can be inspected between GPU sessions too. DIR/programs.txt gets a
// line per compiled program: its kernels and modeled traffic under the CUDA pipeline; DIR/program_<k>.txt
// its lowered graph.
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "engine/compile/cuda_codegen.h"
#include "engine/compile/passes.h"
#include "engine/fused.h"
#include "engine/program.h"

namespace orbit::codegen {

const char* emit_dir_requested() {
  const char* e = std::getenv("ORBIT_EMIT_CUDA_KERNELS");
  return e && *e ? e : nullptr;
}

int emit_cuda_kernels(const Graph& g, const std::vector<NodeId>& outputs, const CompileOptions& opts,
                      const std::string& dir) {
  // compile()'s own pipeline for CUDA, fusing as it would where NVRTC is present.
  const passes::Rewritten r = passes::lower_for_device(g, outputs, opts, Device::cuda(), true);
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw Error("ORBIT_EMIT_CUDA_KERNELS: cannot create '" + dir + "': " + ec.message());
  // One line per program: what the CUDA pipeline makes of it (compare pipelines without a GPU).
  {
    const passes::KernelTraffic t = passes::kernel_traffic(r.graph, r.outputs);
    int fused = 0;
    for (NodeId i = 0; i < r.graph.size(); ++i) fused += r.graph.node(i).kind == NodeKind::op && r.graph.node(i).op == fused_op();
    const std::filesystem::path list = std::filesystem::path(dir) / "programs.txt";
    int index = 0;  // the programs already listed
    {
      std::ifstream in(list);
      for (std::string line; std::getline(in, line);) ++index;
    }
    std::ofstream log(list, std::ios::app);
    log << "program " << index << " '" << (outputs.empty() ? std::string() : g.node(outputs[0]).name)
        << "': " << r.graph.size() << " nodes, " << t.kernels << " kernels (" << fused
        << " fused groups), modeled traffic " << t.bytes << " bytes (graph: program_" << index << ".txt)\n";
    std::ofstream graph(std::filesystem::path(dir) / ("program_" + std::to_string(index) + ".txt"));
    graph << r.graph.dump();
    if (!log || !graph) throw Error("ORBIT_EMIT_CUDA_KERNELS: cannot write the program list in '" + dir + "'");
  }
  int written = 0;
  for (NodeId i = 0; i < r.graph.size(); ++i) {
    const Node& node = r.graph.node(i);
    if (node.kind != NodeKind::op || node.op != fused_op()) continue;
    std::vector<Shape> shapes;
    for (NodeId in : node.inputs) shapes.push_back(r.graph.node(in).shape);
    const FusedKernelSource k = generate_fused_kernel(node.attr_as<FusedAttr>(), shapes);
    const std::filesystem::path path = std::filesystem::path(dir) / (k.name + ".cu");
    if (std::filesystem::exists(path)) continue;
    std::ofstream f(path);
    f << "// node '" << node.name << "': " << node.attr_as<FusedAttr>().ops << "\n" << k.source;
    if (!f) throw Error("ORBIT_EMIT_CUDA_KERNELS: cannot write '" + path.string() + "'");
    ++written;
  }
  return written;
}

}  // namespace orbit::codegen
