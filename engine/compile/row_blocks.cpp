#include "engine/compile/row_blocks.h"

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <string>
#include <unistd.h>

#include "engine/attrs.h"
#include "engine/builtin_ops.h"
#include "engine/compile/memory_plan.h"
#include "engine/error.h"
#include "engine/fused.h"
#include "engine/mlp_fused.h"
#include "kernels/cpu/matmul.h"

namespace orbit::passes {

namespace {

enum Status : char { kPre, kRegion, kPost, kSink };  // kSink: in the region, complete only at its end

// Which weight gradients may join the region: one-chain products (one thread only), products that
// matmul splits into ranges of rows (any threads; the first one fixes range_rows for the others).
struct SinkRule {
  bool one_chain = false, ranged = false;
  int64_t range_rows = 0;
};

bool is_elementwise(const Node& n) {
  if (n.kind != NodeKind::op) return false;
  return n.op <= id(Op::where) || n.op == id(Op::cast);
}

// Whether `n` (an op node with [N, ...] output, rank >= 2) computes its rows from the same rows of its
// [N, ...] inputs and whole tensors of the pre-region part; fills `rows_of` (per input: read by rows).
bool row_local(const Graph& g, const Node& n, int64_t N, const std::vector<char>& status, std::vector<char>& rows_of) {
  const int r = n.shape.rank();
  if (n.kind != NodeKind::op || r < 2 || n.shape[0] != N) return false;
  rows_of.assign(n.inputs.size(), 0);
  // An input read by rows has the output's rank and N rows; any other input is read whole and must
  // be computed before the region (a region value exists only block by block).
  auto by_rows_or_whole = [&](size_t j, bool rank_must_match) {
    const Node& in = g.node(n.inputs[j]);
    const Shape& s = in.shape;
    if (s.rank() == r && s[0] == N) {
      rows_of[j] = 1;
      return true;
    }
    if (rank_must_match) return false;
    const bool broadcast = s.rank() < r || s[0] == 1;
    return broadcast && status[n.inputs[j]] == kPre;
  };
  auto all_inputs = [&](bool rank_must_match) {
    for (size_t j = 0; j < n.inputs.size(); ++j)
      if (!by_rows_or_whole(j, rank_must_match)) return false;
    return true;
  };
  if (is_elementwise(n)) return all_inputs(false);
  if (n.op == fused_op()) {
    const auto& a = n.attr_as<FusedAttr>();
    if (a.reduce != FusedAttr::none || !a.gathers.empty() || a.segmented() || !a.index_bits.empty() ||
        a.shape != n.shape)
      return false;
    return all_inputs(false);
  }
  if (is(n, Op::matmul)) {
    const auto& a = n.attr_as<MatmulAttr>();
    const Node& lhs = g.node(n.inputs[0]);
    const Node& rhs = g.node(n.inputs[1]);
    if (a.trans_a || r != 2 || lhs.shape.rank() != 2 || rhs.shape.rank() != 2 || lhs.shape[0] != N) return false;
    if (status[n.inputs[1]] != kPre) return false;
    rows_of[0] = 1;
    return true;
  }
  if (n.kind == NodeKind::op && n.op == mlp_fused_op()) {
    if (r != 2 || g.node(n.inputs[0]).shape.rank() != 2 || g.node(n.inputs[0]).shape[0] != N) return false;
    for (size_t j = 1; j < n.inputs.size(); ++j)
      if (status[n.inputs[j]] != kPre) return false;
    rows_of[0] = 1;
    return true;
  }
  if (is(n, Op::slice)) {
    const auto& a = n.attr_as<SliceAttr>();
    return a.starts[0] == 0 && a.ends[0] == N && all_inputs(true);
  }
  if (is(n, Op::pad)) {
    const auto& a = n.attr_as<PadAttr>();
    return a.lo[0] == 0 && a.hi[0] == 0 && all_inputs(true);
  }
  if (is(n, Op::broadcast_to)) return all_inputs(false);
  if (is(n, Op::reshape)) {
    const Shape& s = g.node(n.inputs[0]).shape;
    if (s.rank() < 2 || s[0] != N) return false;
    rows_of[0] = 1;
    return true;
  }
  return false;
}

// Whether a weight gradient a^T b over the N rows of region values (a, b [N, *], at least one from the
// region) can run block by block: returns the ranges of rows matmul sums it in, each one FMA chain
// (kernels/cpu/matmul.h: matmul_chain_ranges), or 0. One chain (1) only when `rule` allows it (one
// thread: the blocks must follow each other in order).
int64_t row_sink(const Graph& g, const Node& n, int64_t N, const std::vector<char>& status, const SinkRule& rule) {
  if (!is(n, Op::matmul) || n.shape.rank() != 2) return 0;
  const auto& a = n.attr_as<MatmulAttr>();
  if (!a.trans_a || a.trans_b) return 0;
  bool from_region = false;
  for (NodeId in : n.inputs) {
    const Shape& s = g.node(in).shape;
    if (s.rank() != 2 || s[0] != N || (status[in] != kPre && status[in] != kRegion)) return 0;
    from_region |= status[in] == kRegion;
  }
  if (!from_region) return 0;
  const int64_t ranges = cpu::matmul_chain_ranges(n.shape[0], n.shape[1], N, true, false, dtype_size(n.dtype));
  if (ranges == 1) return rule.one_chain ? 1 : 0;
  if (ranges < 2 || !rule.ranged) return 0;
  // Ranges of ceil(N / ranges) rows; every ranged sink of a region must share them.
  const int64_t per = (N + ranges - 1) / ranges;
  return rule.range_rows == 0 || rule.range_rows == per ? ranges : 0;
}

// dim 0 of the program's largest [N, ...] value: the batch the region runs over.
int64_t batch_rows(const Graph& g, const std::vector<NodeId>& steps) {
  int64_t best = 0, rows = 0;
  for (NodeId i : steps) {
    const Shape& s = g.node(i).shape;
    if (s.rank() >= 2 && s.numel() > best) {
      best = s.numel();
      rows = s[0];
    }
  }
  return rows;
}

int64_t row_bytes(const Node& n) {
  return n.shape.numel() / std::max<int64_t>(n.shape[0], 1) * static_cast<int64_t>(dtype_size(n.dtype));
}

// One planning pass under `rule`. `misaligned` is set when the plan fails only because the block size
// cannot divide the ranges of the split weight gradients.
RowBlockPlan plan_once(const Graph& g, const std::vector<NodeId>& steps, const std::vector<char>& view,
                       const std::vector<NodeId>& outputs, int64_t block_rows, int64_t cache_bytes, SinkRule rule,
                       bool& misaligned) {
  misaligned = false;
  RowBlockPlan plan;
  const int n = g.size();
  const int64_t N = batch_rows(g, steps);
  if (N < 2) return plan;
  std::vector<char> status(n, kPre);
  std::vector<std::vector<char>> rows_of(steps.size());
  std::vector<int> pre, region, post;
  for (size_t k = 0; k < steps.size(); ++k) {
    const NodeId i = steps[k];
    const Node& node = g.node(i);
    bool any_region = false, any_post = false;
    for (NodeId in : node.inputs) {
      any_region |= status[in] == kRegion;
      any_post |= status[in] == kPost || status[in] == kSink;  // a sink's value exists after the region
    }
    if (!any_post && row_local(g, node, N, status, rows_of[k])) {
      status[i] = kRegion;
      region.push_back(static_cast<int>(k));
    } else if (const int64_t ranges = row_sink(g, node, N, status, rule); ranges > 0) {
      if (ranges > 1) rule.range_rows = (N + ranges - 1) / ranges;
      status[i] = kSink;
      rows_of[k].assign(node.inputs.size(), 1);
      region.push_back(static_cast<int>(k));
    } else {
      rows_of[k].clear();
      status[i] = any_region || any_post ? kPost : kPre;
      (status[i] == kPost ? post : pre).push_back(static_cast<int>(k));
    }
  }
  // Each weight gradient right after the kernel that computes its last input, so that its inputs'
  // block buffers are free as early as the kernels' own order allows.
  {
    std::vector<int> pos(n, -1), order, after(region.size(), -1);
    for (size_t j = 0; j < region.size(); ++j) pos[steps[region[j]]] = static_cast<int>(j);
    for (size_t j = 0; j < region.size(); ++j) {
      if (status[steps[region[j]]] != kSink) continue;
      for (NodeId in : g.node(steps[region[j]]).inputs) after[j] = std::max(after[j], pos[in]);
    }
    for (size_t j = 0; j < region.size(); ++j) {
      if (status[steps[region[j]]] == kSink) continue;
      order.push_back(region[j]);
      for (size_t q = j + 1; q < region.size(); ++q)
        if (status[steps[region[q]]] == kSink && after[q] == static_cast<int>(j)) order.push_back(region[q]);
    }
    region = std::move(order);
  }
  plan.in_region.assign(n, 0);
  for (int k : region) plan.in_region[steps[k]] = 1;
  plan.sink.assign(n, 0);
  plan.sink_ranges.assign(n, 0);
  plan.materialized.assign(n, 0);
  for (int k : region) {
    const NodeId i = steps[k];
    if (status[i] != kSink) continue;
    plan.sink[i] = plan.materialized[i] = 1;  // [m, n], whole
    const Node& node = g.node(i);
    plan.sink_ranges[i] = cpu::matmul_chain_ranges(node.shape[0], node.shape[1], N, true, false, dtype_size(node.dtype));
  }
  plan.range_rows = rule.range_rows;
  for (int k : post)
    for (NodeId in : g.node(steps[k]).inputs)
      if (plan.in_region[in]) plan.materialized[in] = 1;
  for (NodeId o : outputs)
    if (plan.in_region[o]) plan.materialized[o] = 1;
  // A view read in full needs its base in full (views run backwards: ids are topological).
  for (int j = static_cast<int>(region.size()) - 1; j >= 0; --j) {
    const int k = region[j];
    const NodeId base = g.node(steps[k]).inputs[0];
    if (view[k] && plan.materialized[steps[k]] && plan.in_region[base]) plan.materialized[base] = 1;
  }

  // Blocking pays where values stay in the blocks: at least two kernels' values never written in full.
  int kept = 0;
  for (int k : region) kept += !view[k] && !plan.materialized[steps[k]];
  if (kept < 2) return RowBlockPlan{};

  // Rows per block: the block's buffers (planned by liveness, as the program's arena is), the rows
  // of full values it writes and of the inputs it reads by rows, in 3/4 of the cache.
  int64_t per_row = 0;
  {
    std::vector<BufferLife> lives;
    std::vector<int> last(n, -1);
    for (size_t j = 0; j < region.size(); ++j)
      for (NodeId in : g.node(steps[region[j]]).inputs) last[in] = static_cast<int>(j);
    constexpr int64_t kProbe = 64;
    std::vector<char> counted(n, 0);
    for (size_t j = 0; j < region.size(); ++j) {
      const int k = region[j];
      const NodeId i = steps[k];
      const Node& node = g.node(i);
      if (!view[k] && !plan.materialized[i])
        lives.push_back({row_bytes(node) * kProbe, static_cast<int>(j), std::max(static_cast<int>(j), last[i])});
      if (!view[k] && plan.materialized[i] && !plan.sink[i]) per_row += row_bytes(node);
      for (size_t q = 0; q < node.inputs.size(); ++q) {
        const NodeId in = node.inputs[q];
        if (rows_of[k][q] && !plan.in_region[in] && !counted[in]) {
          counted[in] = 1;
          per_row += row_bytes(g.node(in));
        }
      }
    }
    per_row += plan_memory(lives).peak / kProbe;
  }
  int64_t R = block_rows;
  if (R <= 0) {
    R = per_row > 0 ? cache_bytes * 3 / 4 / per_row : N;
    R = std::clamp<int64_t>(R / 32 * 32, 64, 1024);
    // Blocks must not straddle the ranges of a split weight gradient: R divides their rows.
    if (rule.range_rows > 0)
      while (R > 64 && rule.range_rows % R != 0) R -= 32;
  }
  if (rule.range_rows > 0 && rule.range_rows % R != 0) {  // the caller plans again without them
    misaligned = true;
    return RowBlockPlan{};
  }
  if (N < 2 * R) return plan;

  plan.rows = N;
  plan.block = R;
  plan.order = pre;
  plan.first = static_cast<int>(plan.order.size());
  plan.order.insert(plan.order.end(), region.begin(), region.end());
  plan.last = static_cast<int>(plan.order.size()) - 1;
  plan.order.insert(plan.order.end(), post.begin(), post.end());
  plan.rows_of_input.assign(steps.size(), {});
  for (int k : region) plan.rows_of_input[k] = rows_of[k];
  return plan;
}

}  // namespace

RowBlockPlan plan_row_blocks(const Graph& g, const std::vector<NodeId>& steps, const std::vector<char>& view,
                             const std::vector<NodeId>& outputs, int64_t block_rows, int64_t cache_bytes,
                             int threads) {
  SinkRule rule;
  rule.one_chain = threads == 1;
  rule.ranged = true;
  bool misaligned = false;
  RowBlockPlan plan = plan_once(g, steps, view, outputs, block_rows, cache_bytes, rule, misaligned);
  if (!misaligned) return plan;
  // Blocks would straddle a split weight gradient's ranges: those run after the region.
  rule.ranged = false;
  return plan_once(g, steps, view, outputs, block_rows, cache_bytes, rule, misaligned);
}

Node block_node(const Node& n, int64_t rows, int64_t count) {
  Node b = n;
  b.shape[0] = count;
  if (n.kind != NodeKind::op || !n.attr) return b;
  if (auto* f = dynamic_cast<const FusedAttr*>(n.attr.get())) {
    auto a = std::make_shared<FusedAttr>(*f);
    a->shape[0] = count;
    b.attr = a;
  } else if (auto* s = dynamic_cast<const SliceAttr*>(n.attr.get())) {
    auto a = std::make_shared<SliceAttr>(*s);
    if (a->ends[0] == rows) a->ends[0] = count;
    b.attr = a;
  } else if (auto* sh = dynamic_cast<const ShapeAttr*>(n.attr.get())) {
    auto a = std::make_shared<ShapeAttr>(*sh);
    a->shape[0] = count;
    b.attr = a;
  }
  return b;
}

int64_t row_blocks_requested() {
  const char* e = std::getenv("ORBIT_CPU_ROW_BLOCKS");
  if (!e || !*e || std::string(e) == "1") return 0;
  char* end = nullptr;
  const long long v = std::strtoll(e, &end, 10);
  ORBIT_CHECK(end != e && !*end && v >= 0, "ORBIT_CPU_ROW_BLOCKS='", e,
              "' is not 0 (off), 1 (on) or a number of rows per block");
  return v == 0 ? -1 : v;
}

int64_t row_block_cache_bytes() {
  if (const char* e = std::getenv("ORBIT_CPU_ROW_BLOCK_CACHE"); e && *e) {
    char* end = nullptr;
    const long long v = std::strtoll(e, &end, 10);
    ORBIT_CHECK(end != e && !*end && v > 0, "ORBIT_CPU_ROW_BLOCK_CACHE='", e, "' is not a positive number of bytes");
    return v;
  }
#ifdef _SC_LEVEL2_CACHE_SIZE
  const long l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
  if (l2 > 0) return l2;
#endif
  return int64_t(1) << 20;
}

}  // namespace orbit::passes
