// Row-blocked execution of a CPU Program (the plan and why: engine/compile/row_blocks.h).
//
// compile() asks plan_row_region() for a region; the steps are reordered so that the region's kernels
// are consecutive, the arena holds only the region values read in full, and layout_row_region() gives
// the others block-sized buffers of their own. A run then calls every region kernel on rows
// [r0, r0 + R) with a copy of its node shaped for R rows, block after block. With several OpenMP
// threads the blocks are shared out among them (each thread has its own block buffers and runs its
// kernels on its own: parallel_for does not open a team inside one), so the region costs one fork and
// join per run instead of one per kernel. Weight gradients in the region (plan.sink) continue their
// FMA chains block by block into their output, or into their range's partial product when matmul
// splits them into ranges of rows; the partials are added after the region.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <iostream>
#include <string>

#include "engine/attrs.h"
#include "engine/builtin_ops.h"
#include "engine/compile/memory_plan.h"
#include "engine/compile/row_blocks.h"
#include "engine/op_registry.h"
#include "engine/program.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/parallel.h"

namespace orbit {

struct Program::RowRegion {
  passes::RowBlockPlan plan;  // rows_of_input indexed by the position in steps_ (reordered)
  std::vector<Node> block, tail;  // per region step: the node on R rows and on the last block's rows
  std::vector<int64_t> block_offset;  // per node id: its block buffer's offset (-1: none)
  int64_t block_bytes = 0;            // one thread's block buffers
  std::shared_ptr<Storage> buffers;   // threads x block_bytes
  int threads = 1;
  // Products x W^T of the region: W is transposed once per run (into rhs_t[j], indexed by region
  // position) and every block multiplies by it untransposed, so no block transposes it again (the
  // narrow kernel would, per call: kernels/cpu/isa/gemm_narrow.inc).
  std::vector<Tensor> rhs_t;
  // Per region position: a split weight gradient's partial products, [ranges, m, n] (else undefined).
  std::vector<Tensor> partials;
};

namespace {

// dst [c, r] = src [r, c]^T (CPU, any float dtype).
void transpose_into(const Tensor& src, Tensor& dst) {
  const int64_t r = src.shape()[0], c = src.shape()[1];
  dispatch_float(src.dtype(), [&]<class T>() {
    const T* a = src.data<T>();
    T* b = dst.data<T>();
    for (int64_t i = 0; i < r; ++i)
      for (int64_t j = 0; j < c; ++j) b[j * r + i] = a[i * c + j];
  });
}

}  // namespace

void Program::plan_row_region(const std::vector<NodeId>& outputs) {
  const int64_t requested = passes::row_blocks_requested();
  if (requested < 0) return;
  std::vector<NodeId> nodes;
  std::vector<char> view;
  for (const Step& s : steps_) {
    nodes.push_back(s.node);
    view.push_back(s.view);
  }
  // The thread count decides which weight gradients may join the region (row_blocks.h: sink_ranges).
  passes::RowBlockPlan plan = passes::plan_row_blocks(graph_, nodes, view, outputs, requested,
                                                      passes::row_block_cache_bytes(), cpu::max_threads());
  if (plan.empty()) return;
  auto r = std::make_shared<RowRegion>();
  std::vector<Step> reordered;
  std::vector<std::vector<char>> rows_of;
  for (int k : plan.order) {
    reordered.push_back(steps_[k]);
    rows_of.push_back(plan.rows_of_input[k]);
  }
  steps_ = std::move(reordered);
  plan.rows_of_input = std::move(rows_of);
  const int64_t tail_rows = plan.rows % plan.block;
  for (int k = plan.first; k <= plan.last; ++k) {
    const Node& node = graph_.node(steps_[k].node);
    const bool sink = plan.sink[steps_[k].node];
    r->block.push_back(sink ? node : passes::block_node(node, plan.rows, plan.block));
    r->tail.push_back(sink ? node : passes::block_node(node, plan.rows, tail_rows ? tail_rows : plan.block));
    r->rhs_t.emplace_back();
    r->partials.emplace_back();
    if (sink && plan.sink_ranges[steps_[k].node] > 1)
      r->partials.back() = Tensor::empty(Shape{plan.sink_ranges[steps_[k].node], node.shape[0], node.shape[1]},
                                         node.dtype, device_);
    if (!sink && is(node, Op::matmul) && node.attr_as<MatmulAttr>().trans_b) {
      const Node& w = graph_.node(node.inputs[1]);
      r->rhs_t.back() = Tensor::empty(Shape{w.shape[1], w.shape[0]}, w.dtype, device_);
      auto untransposed = std::make_shared<MatmulAttr>();
      r->block.back().attr = untransposed;
      r->tail.back().attr = untransposed;
    }
  }
  r->plan = std::move(plan);
  rows_ = std::move(r);
}

int64_t Program::row_block_size() const { return rows_ ? rows_->plan.block : 0; }

int Program::row_block_kernels() const {
  int k = 0;
  if (rows_)
    for (int j = rows_->plan.first; j <= rows_->plan.last; ++j) k += !steps_[j].view;
  return k;
}

Program::RowRegionSpan Program::row_region_span() const {
  if (!rows_) return {};
  return {rows_->plan.first, rows_->plan.last};
}

bool Program::row_region_materialized(NodeId i) const { return rows_ && rows_->plan.materialized[i]; }

std::string Program::row_region_report() const {
  const auto& p = rows_->plan;
  int kernels = 0, full = 0, sinks = 0;
  for (int k = p.first; k <= p.last; ++k) {
    const NodeId i = steps_[k].node;
    kernels += !steps_[k].view;
    sinks += p.sink[i];
    full += !steps_[k].view && p.materialized[i] && !p.sink[i];
  }
  return "row blocks: kernels " + std::to_string(p.first) + ".." + std::to_string(p.last) + " (" +
         std::to_string(kernels) + ", " + std::to_string(sinks) + " of them weight gradients summed block by block) run on " +
         std::to_string(p.rows) + " rows in blocks of " + std::to_string(p.block) + " on " +
         std::to_string(rows_->threads) + " thread(s); " + std::to_string(full) +
         " of their row values written in full, the others in " + std::to_string(rows_->block_bytes) +
         " bytes of block buffers per thread\n";
}

void Program::layout_row_region() {
  RowRegion& r = *rows_;
  const auto& plan = r.plan;
  const int len = plan.last - plan.first + 1;
  std::vector<int> last(graph_.size(), -1);
  for (int j = 0; j < len; ++j)
    for (NodeId in : steps_[plan.first + j].inputs) last[in] = j;
  // Views of block values keep their base alive (backwards: chains of views).
  for (int j = len - 1; j >= 0; --j) {
    const Step& s = steps_[plan.first + j];
    if (s.view) last[s.inputs[0]] = std::max({last[s.inputs[0]], last[s.node], j});
  }
  std::vector<BufferLife> lives;
  std::vector<NodeId> owner;
  for (int j = 0; j < len; ++j) {
    const Step& s = steps_[plan.first + j];
    if (s.view || plan.materialized[s.node]) continue;
    const Node& b = r.block[j];
    lives.push_back({static_cast<int64_t>(b.shape.numel() * dtype_size(b.dtype)), j, std::max(j, last[s.node])});
    owner.push_back(s.node);
  }
  MemoryPlan mp = plan_memory(lives);
  r.block_offset.assign(graph_.size(), -1);
  for (size_t q = 0; q < owner.size(); ++q) r.block_offset[owner[q]] = mp.offsets[q];
  r.block_bytes = std::max<int64_t>(mp.peak, 64);
  const int64_t blocks = (plan.rows + plan.block - 1) / plan.block;
  r.threads = static_cast<int>(std::clamp<int64_t>(cpu::max_threads(), 1, blocks));
  for (int j = 0; j < len; ++j)
    if (plan.sink_ranges[steps_[plan.first + j].node] == 1) r.threads = 1;  // one chain through every block
}

void Program::run_row_region(bool profiled) {
  RowRegion& r = *rows_;
  const auto& plan = r.plan;
  const int len = plan.last - plan.first + 1;
  const int64_t blocks = (plan.rows + plan.block - 1) / plan.block;
  const int threads = profiled ? 1 : r.threads;
  if (!r.buffers || r.buffers->bytes() < static_cast<size_t>(r.block_bytes * r.threads))
    r.buffers = std::make_shared<Storage>(static_cast<size_t>(r.block_bytes * r.threads), device_);
  const int kernel_index = static_cast<int>(device_.kind);
  for (int j = 0; j < len; ++j) {
    const Step& s = steps_[plan.first + j];
    if (r.rhs_t[j].defined() && r.rhs_t[j].numel() > 0) transpose_into(values_[s.inputs[1]], r.rhs_t[j]);
    if (r.partials[j].defined()) std::memset(r.partials[j].raw(), 0, r.partials[j].nbytes());  // chains from +0
    else if (plan.sink[s.node]) std::memset(values_[s.node].raw(), 0, values_[s.node].nbytes());
  }
  // One thread's share of the blocks, on its own block buffers.
  auto run_blocks = [&](int t, int64_t b0, int64_t b1) {
    std::vector<Tensor> val(graph_.size()), ins;
    const size_t base = static_cast<size_t>(t) * static_cast<size_t>(r.block_bytes);
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t r0 = b * plan.block, count = std::min(plan.block, plan.rows - r0);
      for (int j = 0; j < len; ++j) {
        const int k = plan.first + j;
        const Step& s = steps_[k];
        const Node& node = count == plan.block ? r.block[j] : r.tail[j];
        auto input = [&](size_t q) {
          const NodeId in = s.inputs[q];
          if (q == 1 && r.rhs_t[j].defined()) return r.rhs_t[j];
          if (!plan.rows_of_input[k][q]) return values_[in];
          return plan.in_region[in] ? val[in] : values_[in].rows(r0, count);
        };
        if (s.view) {
          val[s.node] = input(0).reshaped(node.shape);
          if (profiled) profile_add(k, 0.0);
          continue;
        }
        if (plan.sink[s.node]) {  // the next rows of a^T b, continuing every output's chain
          const auto t0 = profiled ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
          const Tensor a = input(0), bm = input(1);
          const Tensor& c = values_[s.node];
          const int64_t mn = c.numel();
          // A split product's block adds to its range's partial (blocks never straddle ranges).
          const int64_t part = r.partials[j].defined() ? r0 / plan.range_rows : -1;
          const bool done = dispatch_float(c.dtype(), [&]<class T>() {
            T* dst = part < 0 ? c.data<T>() : r.partials[j].data<T>() + part * mn;
            return cpu::gemm_continue<T>(a.data<T>(), bm.data<T>(), dst, c.shape()[0], c.shape()[1], count, true,
                                         false);
          });
          ORBIT_CHECK(done, "run: the weight gradient '", node.name,
                      "' was planned for the narrow product kernel, which the CPU variant now in use lacks "
                      "(compile the program again after changing ORBIT_CPU_ISA)");
          if (profiled)
            profile_add(k, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
          continue;
        }
        ins.clear();
        for (size_t q = 0; q < s.inputs.size(); ++q) ins.push_back(input(q));
        val[s.node] = plan.materialized[s.node]
                          ? values_[s.node].rows(r0, count)
                          : Tensor::view_of(r.buffers, base + static_cast<size_t>(r.block_offset[s.node]), node.shape,
                                            node.dtype);
        const auto t0 = profiled ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
        KernelCtx ctx{node, ins, val[s.node], run_index_, nullptr, nullptr};
        ops().get(node.op).kernels[kernel_index](ctx);
        if (profiled)
          profile_add(k, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      }
    }
  };
  // Threads take contiguous shares of whole blocks, in units that never split a weight gradient's range.
  const int64_t unit = plan.range_rows > 0 ? plan.range_rows / plan.block : 1;
  const int64_t units = (blocks + unit - 1) / unit;
  auto share = [&](int t, int nt, int64_t& b0, int64_t& b1) {
    b0 = std::min(blocks, units * t / nt * unit);
    b1 = std::min(blocks, units * (t + 1) / nt * unit);
  };
  if (threads <= 1) {
    run_blocks(0, 0, blocks);
  } else {
    // An exception on a thread is carried out of the region.
    std::exception_ptr failed;
#if defined(_OPENMP)
#pragma omp parallel num_threads(threads)
    {
      const int t = omp_get_thread_num(), nt = omp_get_num_threads();
      try {
        int64_t b0 = 0, b1 = 0;
        share(t, nt, b0, b1);
        run_blocks(t, b0, b1);
      } catch (...) {
#pragma omp critical(orbit_row_region)
        if (!failed) failed = std::current_exception();
      }
    }
#else
    (void)share;
    run_blocks(0, 0, blocks);
#endif
    if (failed) std::rethrow_exception(failed);
  }
  // Split weight gradients: their ranges' partial products added in order, as matmul adds them.
  for (int j = 0; j < len; ++j) {
    if (!r.partials[j].defined()) continue;
    Tensor& c = values_[steps_[plan.first + j].node];
    dispatch_float(c.dtype(), [&]<class T>() {
      cpu::sum_range_partials<T>(r.partials[j].data<T>(), c.data<T>(), r.partials[j].shape()[0], c.numel());
    });
  }
  // Views of region values read in full after the region: of their (full) bases.
  for (int j = 0; j < len; ++j) {
    const Step& s = steps_[plan.first + j];
    if (s.view && plan.materialized[s.node])
      values_[s.node] = values_[s.inputs[0]].reshaped(graph_.node(s.node).shape);
  }
}

}  // namespace orbit
