// Row-blocked execution of a CPU program (engine/program.cpp runs the plan).
//
// Most of a training step over a batch of N points treats every point (a row of each [N, ...] tensor)
// apart: the network's forward pass, its derivatives with respect to the inputs and the backward pass
// down to the weight gradients. Run op by op, each of those kernels streams [N, 64] tensors through
// memory; the CPU's PINN step moved about 250 MB per run that way and spent 45% of its time in
// elementwise kernels waiting on the L3 cache. Run in blocks of R rows instead (every kernel of the
// region on rows [r0, r0 + R), then the next block), the region's intermediates are block-sized buffers
// that stay in the core's own cache; only the values that something outside the region reads (a weight
// gradient's product over all rows, a loss's mean, a program output) are written in full.
//
// The region: the longest run of the program in which every kernel is "row-local" for the same N:
// its output is [N, ...] (rank >= 2) and its rows depend only on the same rows of its [N, ...] inputs
// and on whole tensors computed before the region (weights, biases, constants). Row-local kernels:
// elementwise ops and fused elementwise groups without gathers or reductions, matmul(a, b) with a
// [N, k] (not transposed) and b a whole matrix, slices and pads that keep every row, broadcast_to,
// casts, reshapes that keep dim 0 (views), and the fused MLP. Every kernel computes each row as it
// does on all N rows at once (same instructions, same order), so blocking changes no bits as long as
// a kernel's algorithm does not depend on the row count: true of the elementwise and fused kernels,
// the narrow products (kernels/cpu/isa/gemm_narrow.inc: one FMA chain per output) and the fused MLP.
// A product that falls back to Eigen (fewer than 8 or more than 256 columns) runs on one thread per
// block: it gives the unblocked program's one-thread bits in the tests (contractions of 64), but
// Eigen's blocking depends on the row count, so a long contraction may round differently.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/graph.h"

namespace orbit::passes {

struct RowBlockPlan {
  int64_t rows = 0;   // N: dim 0 of every region value
  int64_t block = 0;  // R: rows per block (the last block may be shorter)
  // The program's steps reordered: the kernels the region does not depend on, then the region's
  // kernels [first, last], then the rest. Indices into the step list given to plan_row_blocks.
  std::vector<int> order;
  int first = 0, last = -1;           // the region's positions in `order` (empty when last < first)
  std::vector<char> in_region;        // per node id: computed by a region step
  std::vector<char> materialized;     // per node id: a region value read outside the region (in full)
  // Per node id: a weight gradient a^T b over the region's rows (a, b [N, ...]) computed in the region,
  // each block continuing the product's FMA chains (kernels/cpu/matmul.h, gemm_continue): its inputs
  // need not be written in full. Only where matmul computes the product as FMA chains over ranges of
  // rows (then the bits are the same; see sink_ranges).
  std::vector<char> sink;
  // Per node id: 1 for a one-chain weight gradient (one thread), r > 1 for one that matmul splits into
  // r ranges of range_rows rows (each range a chain into its own partial product, the partials then
  // added in order: kernels/cpu/matmul.h). Blocks never straddle those ranges, and several threads
  // share the blocks out range by range.
  std::vector<int64_t> sink_ranges;
  int64_t range_rows = 0;
  // Per step (old index): per input, whether the kernel reads the input's rows [r0, r0 + R) or the
  // whole tensor (a weight, a bias, a broadcast scalar). Filled for region steps only.
  std::vector<std::vector<char>> rows_of_input;
  bool empty() const { return last < first; }
};

// Row-blocked plan for a program's kernels (`steps[k]` computes node steps[k]; `view[k]` when it is a
// reshape served as a view), to run on `threads` threads. `block_rows` > 0 forces R; 0 picks it from the region's per-row bytes
// and `cache_bytes` (the per-core cache the block's buffers should fit in). An empty plan when no
// region pays (fewer than 2 * R rows, fewer than two kernels).
RowBlockPlan plan_row_blocks(const Graph& g, const std::vector<NodeId>& steps, const std::vector<char>& view,
                             const std::vector<NodeId>& outputs, int64_t block_rows, int64_t cache_bytes,
                             int threads);

// The node that computes rows [r0, r0 + count) of region node `n` of a program over `rows` rows:
// the same op on `count` rows (its shape and any row-sized attribute changed).
Node block_node(const Node& n, int64_t rows, int64_t count);

// The CPU's row-blocking switch and block size: ORBIT_CPU_ROW_BLOCKS=0 turns it off, =R forces R rows
// per block (returned), unset or 1: on with R chosen by the plan (returns 0). -1 when off.
int64_t row_blocks_requested();

// Bytes of the per-core cache the blocks are sized for: ORBIT_CPU_ROW_BLOCK_CACHE (bytes), else the
// L2 size the C library reports, else 1 MiB.
int64_t row_block_cache_bytes();

}  // namespace orbit::passes
