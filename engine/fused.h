// The fused elementwise op: what the compiler's fusion pass (engine/compile/fusion.cpp) puts in place of
// a group of elementwise ops over one iteration space, optionally opened by gathers (inputs read through
// index arrays) and closed by one reduction (a sum or mean over some axes of the space, or a segment
// sum or mean by sorted ids), so none of the group's values go to memory. Its attribute is the group as
// a register program (kernels/scalar/fused.h) that the CPU and CUDA kernels interpret per element. It
// only appears in compiled programs, but it is a full op: its VJP expands the program (and the
// reduction) back into primitive ops, so a fused graph can still be differentiated (to any order), and
// the op harness checks it like any other.
#pragma once
#include <string>
#include <vector>

#include "engine/graph.h"
#include "kernels/scalar/fused.h"

namespace orbit {

struct FusedAttr : Attr<FusedAttr> {
  static constexpr const char* kName = "fused";
  std::vector<int64_t> code;    // 5 per instruction: opcode, dst, a, b, c (register slots)
  std::vector<double> params;   // 2 per instruction: p0, p1
  int64_t out_slot = 0, slots = 0;
  Shape shape;                  // the iteration space (the output's shape unless reduced)
  DType dtype = DType::f32;
  std::string ops;              // the fused ops' names, for dumps ("mul add silu")
  // The closing reduction: none, or the sum / mean over `reduce_axes` (sorted, unique) of the space.
  enum Reduce : int64_t { none = 0, sum = 1, mean = 2 };
  int64_t reduce = none;
  std::vector<int64_t> reduce_axes;
  bool keepdims = false;
  // The opening gathers: 3 numbers per gathered data input: the input k, the index input j, the axis
  // (gather(input k, input j, axis) has the iteration space's shape). Index inputs are the last
  // index_bits.size() inputs, 1-D, of the recorded width (32 or 64 bits), never loaded directly.
  std::vector<int64_t> gathers;
  std::vector<int64_t> index_bits;
  // Each opening gather's own node name (one per gather): a bad index is reported as the unfused
  // gather reports it, naming the node the user knows. Not part of fields(): names do not make two
  // groups different.
  std::vector<std::string> gather_names;
  // A closing segment reduction instead (reduce = sum or mean, no reduce_axes): along segment_axis into
  // num_segments rows by the sorted ids in index input segment_ids (-1: none), as segment_sum / mean.
  int64_t segment_ids = -1, segment_axis = 0, num_segments = 0;
  auto fields() const {
    return std::tie(code, params, out_slot, slots, shape, dtype, ops, reduce, reduce_axes, keepdims, gathers,
                    index_bits, segment_ids, segment_axis, num_segments);
  }
  bool segmented() const { return segment_ids >= 0; }
  int64_t num_gathers() const { return static_cast<int64_t>(gathers.size()) / 3; }
  int64_t num_instrs() const { return static_cast<int64_t>(code.size()) / 5; }
  scalar::FusedInstr instr(int64_t k) const;
  Shape out_shape() const;       // the iteration space, reduced when the group ends in a reduction
  int64_t reduced_extent() const;  // elements summed per output (1 without an axis reduction)
  // A sum over leading dims into more than one output (a bias gradient: [E, H] -> [H]): the CPU walks
  // it row by row, each output's values added in row order (in ranges of rows when there are many,
  // kernels/cpu/fused.cpp); other reductions add each output's values in eight interleaved sums
  // (kernels/cpu/sum.h). The generated CUDA kernels follow the same split.
  bool sums_leading_rows() const;
};

// The op's id (registered on first use).
OpId fused_op();

// Adds a fused node over `inputs` (each broadcastable to attr.shape, of attr.dtype); validates the program.
Var fused_elementwise(const std::vector<Var>& inputs, const FusedAttr& attr, const std::string& name = "");

// The program rebuilt from primitive ops over `inputs` (in the graph of the inputs).
Var expand_fused(const FusedAttr& attr, const std::vector<Var>& inputs);

// The kernel-side description: the program plus how each input is read (from the input shapes).
scalar::FusedProgram fused_program(const FusedAttr& attr, const std::vector<Shape>& input_shapes);

// For a group closed by a reduction: the same program over the iteration space with its dims permuted
// so that the kept dims come first and the reduced dims last (each keeping its order), so output o's
// values are the elements [o R, (o + 1) R) of the permuted space, in the order the unfused reduction
// adds them (R = attr.reduced_extent()).
scalar::FusedProgram fused_reduce_program(const FusedAttr& attr, const std::vector<Shape>& input_shapes);

}  // namespace orbit
