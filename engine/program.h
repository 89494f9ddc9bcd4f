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
  // (measured neutral to 5% faster, less memory); on CUDA when NVRTC is present, each group then running
  // a generated kernel (1.3-1.8x faster than the unfused kernels on the H100 benchmarks, docs/fusion.md;
  // ORBIT_FUSION_CODEGEN=0 selects the interpreting kernel, which lost on half of them). ORBIT_FUSION=1
  // / =0 forces it on / off everywhere; NumericsCheck::all (which names the op that produced a NaN)
  // always runs unfused.
  enum class Fusion : uint8_t { automatic, on, off };
  Fusion fusion = Fusion::automatic;
  // CUDA programs replayed as one CUDA graph (engine/program_replay.cpp): the second run records every
  // kernel into a graph, later runs replay it with one launch. Feeds are copied into buffers the graph
  // owns and outputs are copied out of them, so `automatic` captures only when the launches saved
  // outweigh those copies (a program with many small kernels, not a few large ones); `on` always
  // captures, `off` never. ORBIT_CUDA_GRAPH=0|1 overrides the option. Never under NumericsCheck::all,
  // ORBIT_CUDA_SYNC=1 or ORBIT_PROFILE=1, nor for a program holding an op whose kernel is not graph_safe.
  enum class CudaGraph : uint8_t { automatic, on, off };
  CudaGraph cuda_graph = CudaGraph::automatic;
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
  // Bytes a run moves if every kernel reads each of its inputs and writes its output once (caches make
  // it less): with a run's time, the achieved bandwidth of a memory-bound program.
  int64_t modeled_traffic_bytes() const;
  int64_t naive_bytes() const { return naive_; }
  int num_kernels() const;  // launched per run (reshapes that are views of their input launch none)
  int num_fused() const;  // kernels that run a fused elementwise group
  // CPU row blocking (engine/compile/row_blocks.h): rows per block, 0 when the program runs unblocked;
  // and how many kernels run in blocks.
  int64_t row_block_size() const;
  int row_block_kernels() const;
  uint64_t run_index() const { return run_index_; }
  void set_run_index(uint64_t i) { run_index_ = i; }  // random ops draw from this counter (for resume)
  const std::shared_ptr<ParamStore>& params() const { return opts_.params; }
  std::string report() const;  // the optimised graph, kernels and planned memory
  // CUDA graph replay: how often this program was captured and replayed, and why it is not (empty
  // when capture is allowed). See CompileOptions::cuda_graph.
  struct ReplayStats {
    int captures = 0;
    int replays = 0;
    std::string off_reason;
  };
  ReplayStats replay_stats() const;
  // With ORBIT_PROFILE=1 (or after enable_profile()), every run times each kernel (CUDA events on the
  // GPU, the wall clock on the CPU; no graph replay) and the program prints profile_report() to stderr
  // when it is destroyed. The report: time per run, by op and the slowest kernels.
  void enable_profile();
  std::string profile_report() const;

 private:
  friend Program compile(const Graph&, const std::vector<Var>&, Device, CompileOptions);
  struct Step {
    NodeId node;
    std::vector<NodeId> inputs;
    bool view = false;  // a reshape served as a view of its input's buffer
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
  struct Replay;   // engine/program_replay.cpp
  struct Profile;  // engine/program_profile.cpp
  struct RowRegion;  // engine/program_rows.cpp
  std::shared_ptr<Replay> replay_;
  std::shared_ptr<Profile> profile_;
  std::shared_ptr<RowRegion> rows_;  // CPU: the steps run in blocks of rows (null: none)
  // Where a leaf's value comes from in a run: fed by the caller, from the ParamStore on the program's
  // device (used in place), or from the store on another device (copied).
  enum Bound : char { kUnbound, kFed, kStored, kStoredCopied };
  void launch_steps(const uint64_t* run_index_dev);  // every kernel once, in order
  void sync_stream();
  bool replay_wanted(const std::vector<char>& bound);
  void run_replayed(const std::vector<char>& bound, const std::vector<Tensor>& src);
  void profile_mark(int step);  // before kernel `step` (steps_.size(): after the last)
  void profile_collect();       // after the stream is synced
  void profile_add(int step, double ms);  // a row-blocked kernel's time on one block
  // Row blocking (engine/compile/row_blocks.h): plans the region, reorders steps_ and sets rows_;
  // after the memory plan, lays out the blocks' own buffers; runs the region's steps block by block.
  void plan_row_region(const std::vector<NodeId>& outputs);
  struct RowRegionSpan {
    int first = 0, last = -1;  // steps_ positions of the region (none when last < first)
  };
  RowRegionSpan row_region_span() const;
  bool row_region_materialized(NodeId i) const;  // a region value read in full
  std::string row_region_report() const;          // one line for report()
  void layout_row_region();
  void run_row_region(bool profiled);
  // CUDA programs: the stream every kernel runs on (null on the CPU). Declared last so that it is
  // destroyed first: its deleter waits for the stream before the arena and values are freed.
  std::shared_ptr<void> stream_;
};

Program compile(const Graph& g, const std::vector<Var>& outputs, Device device = Device::cpu(),
                CompileOptions options = {});

// What compile() fuses on `device` with default options and the current environment, in words (for
// `orbit info`): e.g. "on: elementwise groups, gathers open them, sums close them; dense-layer chains".
std::string fusion_summary(Device device);

}  // namespace orbit
