// CUDA graph replay of a compiled Program (CompileOptions::cuda_graph).
//
// The second run of a CUDA program records every kernel into one CUDA graph; later runs replay it with
// a single launch, which removes the host's per-kernel launch cost (a few microseconds each: most of
// the time of a program of many small kernels). What a graph bakes in, and how each is kept valid:
// - kernel arguments, hence every address: the arena and constants live as long as the program; fed
//   leaves are copied into buffers the graph owns (bound[]), ParamStore tensors on the device are read
//   in place (an optimizer updates them in place) and the graph is captured again when the store
//   hands out a different tensor; outputs are written into buffers the graph owns and copied out;
// - scratch memory and device-side check flags taken by kernels while capturing belong to the graph
//   (kernels/cuda/backend.cu) and its checks are read after every replay, like an eager run's;
// - the run counter of random ops: kernels read it from a device word that each launch sets.
// Capture fails safe: an op that synchronises invalidates the capture, and the program runs eagerly
// from then on, with the reason in replay_stats() and report().
#include <cstdlib>
#include <string>

#include "engine/backend_hooks.h"
#include "engine/op_registry.h"
#include "engine/program.h"

namespace orbit {

struct Program::Replay {
  std::string off_reason;           // why this program is never captured (empty: it may be)
  std::shared_ptr<void> graph;      // the instantiated graph and the memory its kernels use
  std::vector<Tensor> bound;        // per node: the leaf tensor the graph reads
  std::vector<char> bound_kind;     // per node: Bound of that leaf when captured
  std::vector<Tensor> outs;         // per node: the output buffer the graph writes
  Tensor counter;                   // one u64 word on the device: the run counter of a replay
  int eager_runs = 0, captures = 0, replays = 0;
  bool worth_checked = false, worth = false;
};

namespace {

const char* env(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : nullptr;
}

bool env_on(const char* name) {
  const char* v = env(name);
  return v && std::string(v) != "0";
}

}  // namespace

bool Program::replay_wanted(const std::vector<char>& bound) {
  if (!device_.is_cuda() || !stream_ || profile_) return false;
  if (!replay_) {
    replay_ = std::make_shared<Replay>();
    std::string& why = replay_->off_reason;
    const BackendHooks& h = backend_hooks();
    const char* forced = env("ORBIT_CUDA_GRAPH");
    if (forced && std::string(forced) == "0") why = "ORBIT_CUDA_GRAPH=0";
    else if (!forced && opts_.cuda_graph == CompileOptions::CudaGraph::off) why = "CompileOptions::cuda_graph is off";
    else if (opts_.numerics == NumericsCheck::all) why = "NumericsCheck::all checks every op's result on the host";
    else if (env_on("ORBIT_CUDA_SYNC")) why = "ORBIT_CUDA_SYNC=1 synchronises after every op";
    else if (profile_) why = "profiling times every kernel";
    else if (!h.cuda_graph_begin || !h.cuda_graph_end || !h.cuda_graph_launch) why = "no CUDA graph support in this build";
    for (const Step& s : steps_) {
      if (!why.empty()) break;
      const OpDef& def = ops().get(graph_.node(s.node).op);
      if (!def.graph_safe) why = "op '" + def.name + "' (node '" + graph_.node(s.node).name + "') is not graph_safe";
    }
  }
  Replay& r = *replay_;
  if (!r.off_reason.empty()) return false;
  const char* forced = env("ORBIT_CUDA_GRAPH");
  const bool always = (forced && std::string(forced) == "1") || opts_.cuda_graph == CompileOptions::CudaGraph::on;
  if (!r.graph && r.eager_runs == 0 && !always) {
    ++r.eager_runs;  // the first run is eager: many programs run once, and it warms every cache
    return false;
  }
  if (!always && !r.worth_checked) {
    // A replay saves the host's launch cost per kernel (~3 us, measured as 4-12 us per op of small
    // programs on an H100 host) but copies every fed leaf in and every output out.
    r.worth_checked = true;
    double copy_bytes = 0;
    int copies = 0;
    for (NodeId i = 0; i < graph_.size(); ++i)
      if (bound[i] == kFed || bound[i] == kStoredCopied) {
        copy_bytes += static_cast<double>(graph_.node(i).shape.numel() * dtype_size(graph_.node(i).dtype));
        ++copies;
      }
    for (NodeId o : outputs_) {
      copy_bytes += static_cast<double>(graph_.node(o).shape.numel() * dtype_size(graph_.node(o).dtype));
      ++copies;
    }
    const double saved_s = 3e-6 * static_cast<double>(num_kernels());
    const double cost_s = 5e-6 + 4e-6 * copies + copy_bytes / 1e12;  // the launch and counter, the copies
    r.worth = saved_s > cost_s;
    if (!r.worth)
      r.off_reason = "automatic: copying " + std::to_string(static_cast<int64_t>(copy_bytes)) +
                     " bytes of feeds and outputs per run would cost more than the launches of " +
                     std::to_string(num_kernels()) + " kernels it saves (CompileOptions::cuda_graph = on forces it)";
    if (!r.worth) return false;
  }
  return true;
}

void Program::run_replayed(const std::vector<char>& bound, const std::vector<Tensor>& src) {
  Replay& r = *replay_;
  const BackendHooks& h = backend_hooks();
  const int n = graph_.size();
  // A graph stays valid while every leaf is bound the same way and stored leaves are the same tensors.
  if (r.graph) {
    bool same = true;
    for (NodeId i = 0; i < n && same; ++i) {
      if (bound[i] == kUnbound) continue;
      same = bound[i] == r.bound_kind[i] && (bound[i] != kStored || src[i].raw() == r.bound[i].raw());
    }
    if (!same) {
      r.graph.reset();  // the stream is idle: every run ends with a sync
      if (r.captures >= 3 && r.captures > r.replays) {
        r.off_reason = "the ParamStore hands out different tensors on most runs (update parameters in place to "
                       "replay)";
      }
    }
  }
  // Bind: fed leaves go into buffers the graph owns (kept across captures when the binding allows).
  if (!r.graph) {
    r.bound.resize(n);
    r.bound_kind.resize(n, kUnbound);
    r.outs.resize(n);
    for (NodeId i = 0; i < n; ++i) {
      if (bound[i] == kUnbound) continue;
      const Node& node = graph_.node(i);
      if (bound[i] == kStored) {
        r.bound[i] = src[i];
      } else if (r.bound_kind[i] == kStored || !r.bound[i].defined() || r.bound[i].numel() != node.shape.numel()) {
        r.bound[i] = Tensor::empty(node.shape, node.dtype, device_);
      }
      r.bound_kind[i] = bound[i];
    }
    for (NodeId o : outputs_)
      if (graph_.node(o).kind == NodeKind::op && !r.outs[o].defined())
        r.outs[o] = Tensor::empty(graph_.node(o).shape, graph_.node(o).dtype, device_);
    if (!r.counter.defined()) r.counter = Tensor::zeros({1}, DType::i64, device_);
  }
  for (NodeId i = 0; i < n; ++i) {
    if (bound[i] == kUnbound) continue;
    values_[i] = r.bound[i];
    if (bound[i] != kStored && src[i].raw() != r.bound[i].raw()) {
      if (src[i].device() == device_) {
        h.cuda_memcpy_async(r.bound[i].raw(), src[i].raw(), src[i].nbytes(), 2, stream_.get());
      } else {
        r.bound[i].copy_from(src[i]);  // from the host: a blocking copy, ordered with the stream
      }
    }
  }
  for (NodeId o : outputs_)
    if (graph_.node(o).kind == NodeKind::op) values_[o] = r.outs[o];
  auto* counter = static_cast<uint64_t*>(r.counter.raw());

  if (!r.graph && r.off_reason.empty()) {
    char why[512] = {0};
    void* g = nullptr;
    std::string failure;
    h.cuda_graph_begin(stream_.get());
    try {
      launch_steps(counter);
    } catch (const std::exception& e) {
      failure = e.what();
    }
    g = h.cuda_graph_end(stream_.get(), why, sizeof why);
    if (g && failure.empty()) {
      r.graph = std::shared_ptr<void>(g, [](void* p) { backend_hooks().cuda_graph_destroy(p); });
      ++r.captures;
    } else {
      if (g) backend_hooks().cuda_graph_destroy(g);
      r.off_reason = "capture failed: " + (failure.empty() ? std::string(why) : failure);
    }
  }
  if (r.graph) {
    h.cuda_graph_launch(r.graph.get(), stream_.get(), counter, run_index_);
    ++r.replays;
  } else {
    launch_steps(nullptr);  // the capture failed: this run (and every later one) runs eagerly
  }
  sync_stream();
}

Program::ReplayStats Program::replay_stats() const {
  ReplayStats s;
  if (!device_.is_cuda()) {
    s.off_reason = "not a CUDA program";
    return s;
  }
  if (!replay_) {
    s.off_reason = "not run yet";
    return s;
  }
  s.captures = replay_->captures;
  s.replays = replay_->replays;
  s.off_reason = replay_->off_reason;
  return s;
}

}  // namespace orbit
