// Generated CUDA kernels for fused groups (issue 4, second part): from a fused node's register program
// (engine/fused.h) and its input shapes, the CUDA C++ source of one kernel in which every register is a
// local variable, every instruction a call of the same scalar functor the CPU and the unfused kernels use
// (kernels/scalar/unary.h, binary.h) and every load's index math is specialised to the group's shapes.
// kernels/cuda/nvrtc.h compiles it at run time (NVRTC, disk-cached CUBINs) and launches it through the
// driver API. The default for fused groups on CUDA (ORBIT_FUSION_CODEGEN=0 selects the interpreter);
// whenever generation, compilation, loading or the launch fails, the fused op runs the interpreting
// kernel (kernels/cuda/fused.cu) after one warning per process.
// Generation is plain C++ and builds without CUDA.
#pragma once
#include <string>
#include <vector>

#include "engine/fused.h"

namespace orbit {
struct CompileOptions;
}

namespace orbit::codegen {

struct FusedKernelSource {
  std::string name;    // "orbit_fused_<16 hex digits>": a hash of the kernel's text
  std::string source;  // a complete translation unit for NVRTC
  int num_inputs = 0;  // kernel arguments: const T* in0 .. in{num_inputs-1}, T* out, long long n
  bool index32 = false;  // 32-bit index math (n and every input's extent < 2^31), else 64-bit
  int lanes = 1;         // threads per output: 8 for a sum over the last axis (warp shuffles), else 1
};

// The kernel of a fused group whose inputs have these shapes (each broadcastable to attr.shape).
FusedKernelSource generate_fused_kernel(const FusedAttr& attr, const std::vector<Shape>& input_shapes);

// One term of a broadcast input's offset in a generated kernel: ((i / div) % mod) * mul over the output
// element i (mod == 0: no modulo). Adjacent output dims that the input walks contiguously form one term;
// broadcast (stride 0) and size-1 dims none. Exposed for tests (they check it against fused_offset).
struct IndexTerm {
  int64_t div = 1, mod = 0, mul = 1;
};
std::vector<IndexTerm> broadcast_index_terms(const scalar::FusedProgram& p, int input);

// A double as C++ source that reads back exactly: a hex float literal, or for inf / nan its bits.
std::string exact_literal(double v);

// ORBIT_EMIT_CUDA_KERNELS=DIR (engine/compile/emit_cuda.cpp): the folder, or null when unset.
const char* emit_dir_requested();
// Writes the kernel of every fused group that compiling (g, outputs) for CUDA would generate to
// DIR/<name>.cu (once per name), on any machine; returns how many files it wrote.
int emit_cuda_kernels(const Graph& g, const std::vector<NodeId>& outputs, const CompileOptions& opts,
                      const std::string& dir);

// Generated kernels wanted: unless ORBIT_FUSION_CODEGEN=0 (read on every call, so tests can set it).
bool codegen_requested();

// What runs a fused group on CUDA: the generated kernel, or the interpreter and why.
struct FusedKernelDecision {
  bool generated = false;
  std::string reason;      // when not generated: why (generation, NVRTC's log, the driver's error)
  std::string kernel;      // the generated kernel's name (when generation succeeded)
  int lanes = 1;           // threads per output it is launched with (FusedKernelSource::lanes)
  void* function = nullptr;  // the loaded CUfunction (when `load` and generated)
  const char* runner() const { return generated ? "generated" : "interpreter"; }
};

// Generates and compiles (nvrtc::compile: memory, disk, NVRTC) the group's kernel for `arch` ("sm_90")
// and, when `load`, loads it into the current CUDA context. No caching of the decision itself.
FusedKernelDecision prepare_fused_kernel(const FusedAttr& attr, const std::vector<Shape>& input_shapes,
                                         const std::string& arch, bool load);

// The fused op's CUDA path (engine/ops/def_fused.cpp): runs the group's generated kernel on `stream` and
// returns true, or returns false when the interpreter must run instead (after one warning per process
// on stderr naming the reason). Decisions are cached per program, shapes and process.
bool run_generated_fused(const FusedAttr& attr, const std::vector<Shape>& input_shapes, const void* const* inputs,
                         void* out, int64_t n, void* stream);

}  // namespace orbit::codegen
