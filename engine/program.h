// compile(graph, outputs, device) -> Program: pruning, simplification, CSE and constant folding,
// memory planning into one arena, and an executor that runs the kernels in order.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/graph.h"
#include "engine/param_store.h"

namespace orbit {

using Feeds = std::vector<std::pair<std::string, Tensor>>;

enum class NumericsCheck {
  off,     // trust everything
  inputs,  // reject NaN in feeds and parameters held on the CPU (default; tensors already on the GPU
           // are not scanned, to keep training loops free of device-to-host copies: use `all`)
  all,     // also stop at the first op that produces a NaN or an infinity, naming it
};

struct CompileOptions {
  bool optimize = true;                     // simplification, folding and CSE
  NumericsCheck numerics = NumericsCheck::inputs;
  std::shared_ptr<ParamStore> params;       // where parameter values come from (feeds override)
  // Elementwise groups fused into one kernel each (engine/compile/fusion.cpp). `automatic`: on the CPU
  // (measured neutral to 5% faster, less memory), off on CUDA, where the interpreting kernel lost to
  // the unfused kernels on half the H100 benchmarks (docs/fusion.md) until generated kernels replace
  // it. ORBIT_FUSION=1 / =0 forces it on / off everywhere; NumericsCheck::all (which names the op that
  // produced a NaN) always runs unfused.
  enum class Fusion : uint8_t { automatic, on, off };
  Fusion fusion = Fusion::automatic;
};

class Program {
 public:
  // Runs the program. Every input of the graph that the outputs need must be fed (by name, with
  // its exact shape and dtype); parameters come from the ParamStore unless fed. Returns the outputs
  // in order, as new tensors on the program's device. Not reentrant: one run at a time.
  std::vector<Tensor> run(const Feeds& feeds = {});

  const Graph& graph() const { return graph_; }  // the optimised graph
  Device device() const { return device_; }
  int64_t planned_peak_bytes() const { return peak_; }
  int64_t naive_bytes() const { return naive_; }
  int num_kernels() const { return static_cast<int>(steps_.size()); }
  int num_fused() const;  // kernels that run a fused elementwise group
  uint64_t run_index() const { return run_index_; }
  void set_run_index(uint64_t i) { run_index_ = i; }  // random ops draw from this counter (for resume)
  const std::shared_ptr<ParamStore>& params() const { return opts_.params; }
  std::string report() const;  // the optimised graph, kernels and planned memory

 private:
  friend Program compile(const Graph&, const std::vector<Var>&, Device, CompileOptions);
  struct Step {
    NodeId node;
    std::vector<NodeId> inputs;
  };
  Graph graph_;
  Device device_;
  CompileOptions opts_;
  std::vector<NodeId> outputs_;
  std::vector<Step> steps_;
  std::vector<int64_t> offset_;  // per node: arena offset, or -1 (leaf or output)
  std::vector<std::string> all_input_names_;  // of the source graph, for feed validation
  int64_t peak_ = 0, naive_ = 0;
  std::shared_ptr<Storage> arena_;
  std::vector<Tensor> values_;
  uint64_t run_index_ = 0;
  // CUDA programs: the stream every kernel runs on (null on the CPU). Declared last so that it is
  // destroyed first: its deleter waits for the stream before the arena and values are freed.
  std::shared_ptr<void> stream_;
};

Program compile(const Graph& g, const std::vector<Var>& outputs, Device device = Device::cpu(),
                CompileOptions options = {});

}  // namespace orbit
