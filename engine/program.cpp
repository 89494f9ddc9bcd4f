#include "engine/program.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <set>
#include <sstream>

#include "engine/allocator.h"
#include "engine/backend_hooks.h"
#include "engine/builtin_ops.h"
#include "engine/compile/memory_plan.h"
#include "engine/compile/cuda_codegen.h"
#include "engine/compile/passes.h"
#include "engine/compile/row_blocks.h"
#include "engine/egnn_message.h"
#include "engine/fused.h"
#include "engine/op_registry.h"
#include "kernels/cuda/nvrtc.h"

namespace orbit {

namespace {

bool dump_requested() {
  const char* e = std::getenv("ORBIT_DUMP");
  return e && *e && std::string(e) != "0";
}

// Index of the first NaN (or, when `inf_too`, non-finite value) of a CPU float tensor, or -1.
int64_t first_bad(const Tensor& t, bool inf_too) {
  if (!is_float(t.dtype()) || !t.device().is_cpu()) return -1;
  return dispatch_float(t.dtype(), [&]<class T>() -> int64_t {
    const T* p = t.data<T>();
    for (int64_t i = 0; i < t.numel(); ++i)
      if (inf_too ? !std::isfinite(p[i]) : std::isnan(p[i])) return i;
    return -1;
  });
}

bool fusion_enabled(const CompileOptions& o, Device d) {
  if (o.numerics == NumericsCheck::all || o.fusion == CompileOptions::Fusion::off) return false;
  if (o.fusion == CompileOptions::Fusion::on) return true;
  const char* e = std::getenv("ORBIT_FUSION");
  if (e && std::string(e) == "0") return false;
  if (e && std::string(e) == "1") return true;
  // CUDA: with generated kernels (NVRTC present), which beat the unfused kernels on every H100
  // benchmark (1.3-1.8x, docs/fusion.md); the interpreting kernel alone does not: without NVRTC, off.
  return d.is_cpu() || (codegen::codegen_requested() && nvrtc::available());
}

}  // namespace

std::string fusion_summary(Device device) {
  const CompileOptions defaults;
  std::string s;
  if (fusion_enabled(defaults, device)) {
    const passes::FuseOptions f = passes::fuse_options_for(device);
    s = "on: elementwise groups";
    if (device.is_cuda()) s += codegen::codegen_requested() ? " (NVRTC-generated kernels)" : " (interpreting kernel)";
    s += f.gathers ? ", gathers open them" : ", gathers do not open them (ORBIT_FUSION_GATHER=1)";
    s += f.reductions ? ", sums close them" : ", sums do not close them (ORBIT_FUSION_REDUCE=1)";
  } else {
    s = device.is_cuda() && !nvrtc::available() ? "elementwise groups off (NVRTC not found)"
                                                : "elementwise groups off (ORBIT_FUSION=0)";
  }
  s += passes::mlp_fusion_enabled(defaults, device) ? "; dense-layer chains fused" : "; dense-layer chains unfused";
  if (device.is_cpu()) {
    const int64_t rows = passes::row_blocks_requested();
    s += rows < 0 ? "; row blocks off (ORBIT_CPU_ROW_BLOCKS=0)"
         : rows > 0 ? "; row-local regions in blocks of " + std::to_string(rows) + " rows"
                    : "; row-local regions in blocks sized for " +
                          std::to_string(passes::row_block_cache_bytes() >> 10) + " KiB of cache";
  }
  return s;
}

namespace passes {

Rewritten lower_for_device(const Graph& g, const std::vector<NodeId>& outputs, const CompileOptions& opts,
                           Device device, bool elementwise_fusion) {
  Rewritten r = opts.optimize ? simplify(g, outputs) : prune(g, outputs);
  if (expand_egnn_messages(r.graph, r.outputs, device) && opts.optimize) r = simplify(r.graph, r.outputs);
  if (mlp_fusion_enabled(opts, device)) r = fuse_mlp(r.graph, r.outputs);
  if (elementwise_fusion) r = fuse(r.graph, r.outputs, fuse_options_for(device));
  return r;
}

}  // namespace passes

Program compile(const Graph& g, const std::vector<Var>& outputs, Device device, CompileOptions opts) {
  ORBIT_CHECK(!outputs.empty(), "compile: no outputs requested");
  std::vector<NodeId> out_ids;
  for (auto& v : outputs) {
    ORBIT_CHECK(v.valid(), "compile: an output is an empty Var");
    ORBIT_CHECK(v.graph() == &g, "compile: output '", v.name(), "' belongs to another graph");
    out_ids.push_back(v.id());
  }
  if (device.is_cuda()) allocator_for(device);  // fails clearly when the backend is absent

  if (const char* dir = codegen::emit_dir_requested()) codegen::emit_cuda_kernels(g, out_ids, opts, dir);
  passes::Rewritten r = passes::lower_for_device(g, out_ids, opts, device, fusion_enabled(opts, device));
  Program p;
  p.graph_ = std::move(r.graph);
  p.outputs_ = std::move(r.outputs);
  p.device_ = device;
  p.opts_ = std::move(opts);
  if (device.is_cuda()) {
    ORBIT_CHECK(backend_hooks().cuda_stream_create != nullptr, "compile: no CUDA streams in this build");
    p.stream_ = std::shared_ptr<void>(backend_hooks().cuda_stream_create(),
                                      [](void* s) { backend_hooks().cuda_stream_destroy(s); });
  }
  for (int i = 0; i < g.size(); ++i)
    if (g.node(i).kind == NodeKind::input || g.node(i).kind == NodeKind::parameter)
      p.all_input_names_.push_back(g.node(i).name);

  const Graph& pg = p.graph_;
  const int n = pg.size();
  std::set<NodeId> is_output(p.outputs_.begin(), p.outputs_.end());
  for (NodeId i = 0; i < n; ++i) {
    const Node& node = pg.node(i);
    if (node.kind != NodeKind::op) continue;
    const OpDef& def = ops().get(node.op);
    ORBIT_CHECK(def.kernels[static_cast<int>(device.kind)] != nullptr, "compile: op '", def.name, "' (node '",
                node.name, "') has no kernel for ", device.str());
    // A reshape that is not an output is a view of its input: no kernel and no buffer of its own.
    p.steps_.push_back({i, node.inputs, is(node, Op::reshape) && !is_output.count(i)});
  }
  if (device.is_cpu() && p.opts_.numerics != NumericsCheck::all) p.plan_row_region(p.outputs_);
  std::vector<int> step_of(n, -1), last_use(n, -1);
  for (size_t k = 0; k < p.steps_.size(); ++k) {
    step_of[p.steps_[k].node] = static_cast<int>(k);
    for (NodeId in : p.steps_[k].inputs) last_use[in] = static_cast<int>(k);
  }
  const Program::RowRegionSpan region = p.row_region_span();
  if (region.first <= region.last) {
    // Whatever the region reads is read by every block: alive until its end.
    for (int k = region.first; k <= region.last; ++k)
      for (NodeId in : p.steps_[k].inputs) last_use[in] = std::max(last_use[in], region.last);
  }
  // The buffer under a view lives as long as the view (ids are topological: chains of views
  // propagate from the last one down).
  for (int k = static_cast<int>(p.steps_.size()) - 1; k >= 0; --k) {
    const auto& s = p.steps_[k];
    if (!s.view) continue;
    last_use[s.inputs[0]] = std::max({last_use[s.inputs[0]], last_use[s.node], k});
  }
  // Intermediates (op results that are not outputs) share one arena by liveness.
  std::vector<BufferLife> lives;
  std::vector<NodeId> owner;
  for (NodeId i = 0; i < n; ++i) {
    if (step_of[i] < 0 || is_output.count(i) || p.steps_[step_of[i]].view) continue;
    int first = step_of[i];
    if (region.first <= first && first <= region.last) {
      if (!p.row_region_materialized(i)) continue;  // a block-sized buffer of the region's own
      first = region.first;  // written block by block over the whole region
    }
    const Node& node = pg.node(i);
    lives.push_back({static_cast<int64_t>(node.shape.numel() * dtype_size(node.dtype)), first,
                     std::max(first, last_use[i])});
    owner.push_back(i);
  }
  MemoryPlan plan = plan_memory(lives);
  p.offset_.assign(n, -1);
  for (size_t k = 0; k < owner.size(); ++k) p.offset_[owner[k]] = plan.offsets[k];
  p.peak_ = plan.peak;
  p.naive_ = plan.naive;
  if (p.rows_) p.layout_row_region();
  if (dump_requested()) std::cerr << p.report();
  if (const char* e = std::getenv("ORBIT_PROFILE"); e && *e && std::string(e) != "0") p.enable_profile();
  return p;
}

int64_t Program::modeled_traffic_bytes() const { return passes::kernel_traffic(graph_, outputs_).bytes; }

int Program::num_kernels() const {
  int k = 0;
  for (const Step& s : steps_) k += !s.view;
  return k;
}

int Program::num_fused() const {
  int k = 0;
  for (const Step& s : steps_) k += graph_.node(s.node).attr && dynamic_cast<const FusedAttr*>(graph_.node(s.node).attr.get());
  return k;
}

std::string Program::report() const {
  std::ostringstream os;
  os << "== orbit program on " << device_.str() << ": " << graph_.size() << " nodes, " << steps_.size()
     << " kernels (" << num_fused() << " fused elementwise groups), planned arena " << peak_
     << " bytes (without reuse " << naive_ << "), modeled traffic " << modeled_traffic_bytes()
     << " bytes per run (each kernel reads its inputs and writes its output once)\n";
  if (rows_) os << row_region_report();
  if (device_.is_cuda()) {
    ReplayStats rs = replay_stats();
    os << "cuda graph: " << rs.captures << " captures, " << rs.replays << " replays"
       << (rs.off_reason.empty() ? std::string() : "; not replayed: " + rs.off_reason) << "\n";
  }
  for (const Step& s : steps_) {
    const Node& node = graph_.node(s.node);
    auto* f = dynamic_cast<const FusedAttr*>(node.attr.get());
    if (f) os << "fused %" << s.node << " " << node.shape.str() << " " << dtype_name(node.dtype) << ": " << f->ops
              << (f->reduce != FusedAttr::none ? " over " + f->shape.str() : std::string()) << " ("
              << node.inputs.size() - f->index_bits.size() << " inputs, "
              << (f->index_bits.empty() ? std::string() : std::to_string(f->index_bits.size()) + " index arrays, ")
              << f->slots << " registers)\n";
  }
  os << graph_.dump();
  os << "outputs:";
  for (NodeId o : outputs_) os << " %" << o;
  os << "\n";
  return os.str();
}

std::vector<Tensor> Program::run(const Feeds& feeds) {
  const Graph& g = graph_;
  const int n = g.size();
  if (values_.empty()) {
    values_.resize(n);
    if (peak_ > 0) arena_ = std::make_shared<Storage>(static_cast<size_t>(peak_), device_);
    for (NodeId i = 0; i < n; ++i) {
      const Node& node = g.node(i);
      if (node.kind == NodeKind::constant) values_[i] = device_.is_cpu() ? node.value : node.value.to(device_);
      else if (offset_[i] >= 0) values_[i] = Tensor::view_of(arena_, static_cast<size_t>(offset_[i]), node.shape, node.dtype);
    }
  }
  // Feeds: known names, exact types, no NaN. Per leaf, where its value comes from (Bound) and the
  // tensor as the caller or the store holds it, on its own device.
  std::vector<char> bound(n, kUnbound);
  std::vector<Tensor> src(n);
  for (auto& [name, t] : feeds) {
    NodeId hit = -1;
    for (NodeId i = 0; i < n && hit < 0; ++i) {
      const Node& node = g.node(i);
      if ((node.kind == NodeKind::input || node.kind == NodeKind::parameter) && node.name == name) hit = i;
    }
    if (hit < 0) {
      bool known = false;
      for (auto& s : all_input_names_) known |= s == name;
      if (known) continue;  // an input the requested outputs do not need
      std::string names;
      for (auto& s : all_input_names_) names += (names.empty() ? "'" : ", '") + s + "'";
      throw Error("run: feed '" + name + "' is not an input or parameter of the graph (inputs: " +
                  (names.empty() ? "none" : names) + ")");
    }
    const Node& node = g.node(hit);
    ORBIT_CHECK(t.defined(), "run: feed '", name, "' is an empty tensor");
    ORBIT_CHECK(t.shape() == node.shape && t.dtype() == node.dtype, "run: feed '", name, "' is ", t.shape().str(), " ",
                dtype_name(t.dtype()), " but the graph expects ", node.shape.str(), " ", dtype_name(node.dtype));
    ORBIT_CHECK(bound[hit] == kUnbound, "run: '", name, "' is fed twice");
    if (opts_.numerics != NumericsCheck::off) {
      int64_t bad = first_bad(t, false);
      ORBIT_CHECK(bad < 0, "run: feed '", name, "' holds NaN at flat index ", bad);
    }
    src[hit] = t;
    bound[hit] = kFed;
  }
  std::string missing;
  for (NodeId i = 0; i < n; ++i) {
    const Node& node = g.node(i);
    if (bound[i] != kUnbound) continue;
    if (node.kind == NodeKind::input) {
      missing += (missing.empty() ? "'" : ", '") + node.name + "' " + node.shape.str() + " " + dtype_name(node.dtype);
    } else if (node.kind == NodeKind::parameter) {
      ORBIT_CHECK(opts_.params && opts_.params->has(node.name), "run: parameter '", node.name,
                  "' has no value: set it in the ParamStore or feed it");
      const Tensor& v = opts_.params->get(node.name);
      ORBIT_CHECK(v.shape() == node.shape && v.dtype() == node.dtype, "run: parameter '", node.name, "' in the store is ",
                  v.shape().str(), " ", dtype_name(v.dtype()), " but the graph expects ", node.shape.str(), " ",
                  dtype_name(node.dtype));
      if (opts_.numerics != NumericsCheck::off) {
        int64_t bad = first_bad(v, false);
        ORBIT_CHECK(bad < 0, "run: parameter '", node.name, "' holds NaN at flat index ", bad);
      }
      src[i] = v;
      bound[i] = v.device() == device_ ? kStored : kStoredCopied;
    }
  }
  ORBIT_CHECK(missing.empty(), "run: missing feed(s) for input ", missing);

  const bool replayed = replay_wanted(bound);
  if (replayed) {
    try {
      run_replayed(bound, src);
    } catch (...) {
      try {
        sync_stream();
      } catch (...) {
      }
      throw;
    }
  } else {
    for (NodeId i = 0; i < n; ++i)
      if (bound[i] != kUnbound) values_[i] = src[i].device() == device_ ? src[i] : src[i].to(device_);
    for (NodeId o : outputs_)
      if (g.node(o).kind == NodeKind::op) values_[o] = Tensor::empty(g.node(o).shape, g.node(o).dtype, device_);
    // On CUDA, kernels are queued on the program's stream; the host waits once, at the end (or per op
    // under NumericsCheck::all), which also raises device-side index checks as orbit::Errors.
    try {
      launch_steps(nullptr);
    } catch (...) {
      try {
        sync_stream();  // queued kernels finish before their buffers can be reused
      } catch (...) {
      }
      throw;
    }
    sync_stream();
    if (profile_) profile_collect();
  }
  ++run_index_;

  // Every output is its own tensor, even when two requested outputs became one node (CSE); a
  // replayed graph writes into buffers it keeps, so its outputs are always copies.
  std::vector<Tensor> result;
  std::set<NodeId> returned;
  for (NodeId o : outputs_) {
    bool fresh = !replayed && g.node(o).kind == NodeKind::op && returned.insert(o).second;
    result.push_back(fresh ? values_[o] : values_[o].clone());
  }
  // Leaves fed by the caller are not kept alive past the run.
  for (NodeId i = 0; i < n; ++i)
    if (g.node(i).kind == NodeKind::input || g.node(i).kind == NodeKind::parameter) values_[i] = Tensor();
  for (NodeId o : outputs_)
    if (g.node(o).kind == NodeKind::op) values_[o] = Tensor();
  for (const Step& s : steps_)
    if (s.view) values_[s.node] = Tensor();  // views of fed leaves would keep them alive
  return result;
}

void Program::sync_stream() {
  if (stream_) backend_hooks().cuda_stream_sync(stream_.get());
}

void Program::launch_steps(const uint64_t* run_index_dev) {
  const Graph& g = graph_;
  const int kernel_index = static_cast<int>(device_.kind);
  Profile* prof = run_index_dev ? nullptr : profile_.get();  // never inside a graph capture
  std::vector<Tensor> ins;
  for (size_t k = 0; k < steps_.size(); ++k) {
    if (rows_ && static_cast<int>(k) == row_region_span().first) {
      if (prof) profile_mark(static_cast<int>(k));
      run_row_region(prof != nullptr);
      k = static_cast<size_t>(row_region_span().last);
      continue;
    }
    const Step& s = steps_[k];
    const Node& node = g.node(s.node);
    ins.clear();
    for (NodeId in : s.inputs) ins.push_back(values_[in]);
    if (prof) profile_mark(static_cast<int>(k));
    if (s.view) {
      values_[s.node] = values_[s.inputs[0]].reshaped(node.shape);
      continue;
    }
    KernelCtx ctx{node, ins, values_[s.node], run_index_, stream_.get(), run_index_dev};
    ops().get(node.op).kernels[kernel_index](ctx);
    if (stream_ && backend_hooks().cuda_stream_op_done) backend_hooks().cuda_stream_op_done(stream_.get());
    if (opts_.numerics == NumericsCheck::all) {
      sync_stream();
      Tensor h = values_[s.node].device().is_cpu() ? values_[s.node] : values_[s.node].to(Device::cpu());
      int64_t bad = first_bad(h, true);
      ORBIT_CHECK(bad < 0, "run: op '", ops().get(node.op).name, "' at node '", node.name, "' produced ",
                  h.at(bad), " at flat index ", bad);
    }
  }
  if (prof) profile_mark(static_cast<int>(steps_.size()));
}

}  // namespace orbit
