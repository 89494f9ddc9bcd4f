// The fused elementwise op (engine/fused.h): type inference from its attribute, a VJP that expands the
// program (and its closing reduction) into primitive ops, and the CPU / CUDA kernels.
#include <map>
#include <memory>
#include <mutex>
#include <set>

#include "engine/autodiff.h"
#include "engine/builtin_ops.h"
#include "engine/fused.h"
#include "engine/op_registry.h"
#include "engine/ops.h"
#include "kernels/cpu/fused.h"
#if defined(ORBIT_WITH_CUDA)
#include "engine/compile/cuda_codegen.h"
#include "kernels/cuda/fused.h"
#include "kernels/cuda/runtime.h"
#endif

namespace orbit {

// The opcodes of kernels/scalar/fused.h are the built-in ops' ids.
static_assert(scalar::f_neg == id(Op::neg) && scalar::f_clamp == id(Op::clamp) && scalar::f_add == id(Op::add) &&
              scalar::f_where == id(Op::where) && scalar::f_num_elementwise == id(Op::where) + 1);

scalar::FusedInstr FusedAttr::instr(int64_t k) const {
  scalar::FusedInstr in;
  in.code = static_cast<uint8_t>(code[5 * k]);
  in.dst = static_cast<uint8_t>(code[5 * k + 1]);
  in.a = static_cast<uint8_t>(code[5 * k + 2]);
  in.b = static_cast<uint8_t>(code[5 * k + 3]);
  in.c = static_cast<uint8_t>(code[5 * k + 4]);
  in.p0 = params[2 * k];
  in.p1 = params[2 * k + 1];
  return in;
}

Shape FusedAttr::out_shape() const {
  if (reduce == none) return shape;
  if (segmented()) {
    auto dims = shape.vec();
    if (segment_axis >= 0 && segment_axis < shape.rank()) dims[static_cast<size_t>(segment_axis)] = num_segments;
    return Shape(dims);
  }
  std::vector<int64_t> dims;
  size_t k = 0;
  for (int d = 0; d < shape.rank(); ++d) {
    const bool red = k < reduce_axes.size() && reduce_axes[k] == d;
    if (red) ++k;
    if (!red) dims.push_back(shape[d]);
    else if (keepdims) dims.push_back(1);
  }
  return Shape(dims);
}

int64_t FusedAttr::reduced_extent() const {
  int64_t n = 1;
  if (reduce != none && !segmented())
    for (int64_t ax : reduce_axes)
      if (ax >= 0 && ax < shape.rank()) n *= shape[static_cast<int>(ax)];
  return n;
}

bool FusedAttr::sums_leading_rows() const {
  if (reduce == none || segmented() || reduce_axes.empty() || static_cast<int64_t>(reduce_axes.size()) >= shape.rank())
    return false;
  for (size_t i = 0; i < reduce_axes.size(); ++i)
    if (reduce_axes[i] != static_cast<int64_t>(i)) return false;
  return out_shape().numel() > 1;
}

namespace {

int arity(int code) {
  if (code == scalar::f_where) return 3;
  if (code >= scalar::f_add && code < scalar::f_num_elementwise) return 2;
  if (code < scalar::f_add) return 1;
  return 0;  // load, imm
}

// Checks the program's structure: opcodes known, slots in range and written before they are read,
// loads name existing inputs, sizes within the kernels' limits.
void validate(const FusedAttr& a, int num_inputs, const std::string& where) {
  auto fail = [&](const auto&... args) { throw Error(detail::cat(where, ": fused program: ", args...)); };
  const int64_t n = a.num_instrs();
  if (a.code.size() != static_cast<size_t>(5 * n) || a.params.size() != static_cast<size_t>(2 * n) || n == 0)
    fail("expected 5 code words and 2 parameters per instruction, got ", a.code.size(), " and ", a.params.size());
  if (n > scalar::kFusedMaxInstrs) fail(n, " instructions > ", scalar::kFusedMaxInstrs);
  if (a.slots < 1 || a.slots > scalar::kFusedMaxSlots) fail(a.slots, " registers (1..", scalar::kFusedMaxSlots, ")");
  const int64_t n_index = static_cast<int64_t>(a.index_bits.size());
  const int64_t n_data = num_inputs - n_index;
  if (n_data < 1 || n_data > scalar::kFusedMaxInputs || n_index > scalar::kFusedMaxInputs)
    fail(n_data, " data inputs and ", n_index, " index inputs (1..", scalar::kFusedMaxInputs, " each)");
  for (int64_t b : a.index_bits)
    if (b != 32 && b != 64) fail("index inputs are 32 or 64 bits wide, not ", b);
  if (a.gathers.size() % 3 != 0) fail("3 numbers per gathered input, got ", a.gathers.size());
  std::vector<char> gathered(static_cast<size_t>(n_data), 0), used_index(static_cast<size_t>(n_index), 0);
  for (int64_t g = 0; g < a.num_gathers(); ++g) {
    const int64_t k = a.gathers[3 * g], j = a.gathers[3 * g + 1], ax = a.gathers[3 * g + 2];
    if (k < 0 || k >= n_data || gathered[static_cast<size_t>(k)]) fail("gather ", g, " reads data input ", k, " (once each, < ", n_data, ")");
    if (j < n_data || j >= num_inputs) fail("gather ", g, " names index input ", j, " (the inputs ", n_data, "..", num_inputs - 1, ")");
    if (ax < 0 || ax >= a.shape.rank()) fail("gather ", g, " along axis ", ax, " of a rank-", a.shape.rank(), " space");
    gathered[static_cast<size_t>(k)] = 1;
    used_index[static_cast<size_t>(j - n_data)] = 1;
  }
  if (a.segmented()) {
    if (a.segment_ids < n_data || a.segment_ids >= num_inputs) fail("the segment ids must be an index input, not input ", a.segment_ids);
    used_index[static_cast<size_t>(a.segment_ids - n_data)] = 1;
  }
  for (int64_t j = 0; j < n_index; ++j)
    if (!used_index[static_cast<size_t>(j)]) fail("index input ", n_data + j, " is not used by a gather or the segment reduction");
  if (a.shape.rank() > scalar::kFusedMaxRank) fail("rank ", a.shape.rank(), " > ", scalar::kFusedMaxRank);
  std::vector<char> written(static_cast<size_t>(a.slots), 0);
  auto slot_ok = [&](int64_t s) { return s >= 0 && s < a.slots; };
  for (int64_t k = 0; k < n; ++k) {
    const int64_t code = a.code[5 * k];
    const bool known = (code >= 0 && code < scalar::f_num_elementwise) || code == scalar::f_load || code == scalar::f_imm;
    if (!known) fail("instruction ", k, " has unknown opcode ", code);
    if (code == scalar::f_load) {
      if (a.code[5 * k + 2] < 0 || a.code[5 * k + 2] >= n_data) fail("instruction ", k, " loads input ", a.code[5 * k + 2]);
    } else {
      for (int o = 0; o < arity(static_cast<int>(code)); ++o) {
        const int64_t s = a.code[5 * k + 2 + o];
        if (!slot_ok(s) || !written[static_cast<size_t>(s)]) fail("instruction ", k, " reads register ", s, " before it is written");
      }
    }
    const int64_t d = a.code[5 * k + 1];
    if (!slot_ok(d)) fail("instruction ", k, " writes register ", d);
    written[static_cast<size_t>(d)] = 1;
  }
  if (!slot_ok(a.out_slot) || !written[static_cast<size_t>(a.out_slot)]) fail("the output register ", a.out_slot, " is never written");
  if (a.reduce < FusedAttr::none || a.reduce > FusedAttr::mean) fail("unknown reduction ", a.reduce);
  if (a.segmented()) {
    if (a.reduce == FusedAttr::none || !a.reduce_axes.empty() || a.keepdims)
      fail("a segment reduction is a sum or mean without reduction axes");
    if (a.segment_axis < 0 || a.segment_axis >= a.shape.rank()) fail("segment axis ", a.segment_axis, " of a rank-", a.shape.rank(), " space");
    if (a.num_segments < 0) fail("negative number of segments");
  } else if (a.reduce != FusedAttr::none) {
    if (a.reduce_axes.empty()) fail("a reduction over no axes");
    for (size_t i = 0; i < a.reduce_axes.size(); ++i)
      if (a.reduce_axes[i] < 0 || a.reduce_axes[i] >= a.shape.rank() || (i > 0 && a.reduce_axes[i] <= a.reduce_axes[i - 1]))
        fail("reduction axes must be sorted, unique and within rank ", a.shape.rank());
  } else if (!a.reduce_axes.empty() || a.keepdims) {
    fail("reduction axes without a reduction");
  }
}

Var apply_primitive(int code, const scalar::FusedInstr& in, Var a, Var b, Var c) {
  switch (code) {
    case scalar::f_neg: return neg(a);
    case scalar::f_abs: return abs(a);
    case scalar::f_sign: return sign(a);
    case scalar::f_exp: return exp(a);
    case scalar::f_log: return log(a);
    case scalar::f_log1p: return log1p(a);
    case scalar::f_sqrt: return sqrt(a);
    case scalar::f_rsqrt: return rsqrt(a);
    case scalar::f_square: return square(a);
    case scalar::f_sin: return sin(a);
    case scalar::f_cos: return cos(a);
    case scalar::f_tanh: return tanh(a);
    case scalar::f_erf: return erf(a);
    case scalar::f_sigmoid: return sigmoid(a);
    case scalar::f_silu: return silu(a);
    case scalar::f_relu: return relu(a);
    case scalar::f_gelu: return gelu(a);
    case scalar::f_softplus: return softplus(a);
    case scalar::f_pow_scalar: return pow(a, in.p0);
    case scalar::f_clamp: return clamp(a, in.p0, in.p1);
    case scalar::f_add: return add(a, b);
    case scalar::f_sub: return sub(a, b);
    case scalar::f_mul: return mul(a, b);
    case scalar::f_div: return div(a, b);
    case scalar::f_pow: return pow(a, b);
    case scalar::f_maximum: return maximum(a, b);
    case scalar::f_minimum: return minimum(a, b);
    case scalar::f_lt: return lt(a, b);
    case scalar::f_le: return le(a, b);
    case scalar::f_gt: return gt(a, b);
    case scalar::f_ge: return ge(a, b);
    case scalar::f_eq: return eq(a, b);
    case scalar::f_ne: return ne(a, b);
    case scalar::f_where: return where(a, b, c);
    default: throw Error(detail::cat("fused program: opcode ", code, " has no primitive form"));
  }
}

std::vector<Shape> shapes_of(std::span<const Tensor> in) {
  std::vector<Shape> s;
  for (const Tensor& t : in) s.push_back(t.shape());
  return s;
}

// Entry e of an i32 / i64 index tensor on the CPU.
int64_t index_at(const Tensor& idx, int64_t e) {
  return idx.dtype() == DType::i32 ? idx.data<int32_t>()[e] : idx.data<int64_t>()[e];
}

// Gather g's own node name (a hand-built FusedAttr may not record them: then "fused gather g").
std::string gather_name(const FusedAttr& a, int64_t g) {
  return g < static_cast<int64_t>(a.gather_names.size()) ? a.gather_names[static_cast<size_t>(g)]
                                                          : detail::cat("fused gather ", g);
}

// Index inputs: the unfused gather refuses an index outside the gathered axis, so the fused one does
// too, before anything runs (the kernels would read 0 there).
void check_gather_indices(const FusedAttr& a, std::span<const Tensor> in) {
  for (int64_t g = 0; g < a.num_gathers(); ++g) {
    const Tensor& x = in[static_cast<size_t>(a.gathers[3 * g])];
    const Tensor& idx = in[static_cast<size_t>(a.gathers[3 * g + 1])];
    const int64_t len = x.shape()[static_cast<int>(a.gathers[3 * g + 2])];
    for (int64_t e = 0; e < idx.numel(); ++e) {
      const int64_t v = index_at(idx, e);
      if (v < 0 || v >= len)
        throw Error(detail::cat("gather at node '", gather_name(a, g), "': index ", v, " at position ", e,
                                " is outside [0, ", len, ")"));
    }
  }
}

// The space around a segment reduction's dim: [outer, nids, inner].
std::pair<int64_t, int64_t> segment_split(const FusedAttr& a) {
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < a.shape.rank(); ++d) {
    if (d < a.segment_axis) outer *= a.shape[d];
    if (d > a.segment_axis) inner *= a.shape[d];
  }
  return {outer, inner};
}

// A closing segment reduction's ids: in range and sorted, or the unfused segment reduction's message.
void check_segment_ids(const FusedAttr& a, std::span<const Tensor> in, const std::string& node) {
  if (!a.segmented()) return;
  const Tensor& ids = in[static_cast<size_t>(a.segment_ids)];
  int64_t prev = 0;
  for (int64_t e = 0; e < ids.numel(); ++e) {
    const int64_t v = index_at(ids, e);
    if (v < 0 || v >= a.num_segments)
      throw Error(detail::cat("segment reduction at node '", node, "': segment id ", v,
                              " at position ", e, " is outside [0, ", a.num_segments, ")"));
    if (e > 0 && v < prev)
      throw Error(detail::cat("segment reduction at node '", node, "': ids were promised sorted but id ", v,
                              " at position ", e, " follows ", prev));
    prev = v;
  }
}

void fused_cpu(KernelCtx& k) {
  const auto& a = k.node.attr_as<FusedAttr>();
  check_gather_indices(a, k.in);
  check_segment_ids(a, k.in, k.node.name);
  const bool reduced = a.reduce != FusedAttr::none && !a.segmented();
  // Reduced dims that lead the space (a bias gradient's sum over rows) are walked row by row.
  const bool leading = a.sums_leading_rows();
  const scalar::FusedProgram p =
      reduced && !leading ? fused_reduce_program(a, shapes_of(k.in)) : fused_program(a, shapes_of(k.in));
  const void* index[scalar::kFusedMaxInputs] = {};
  for (int j = 0; j < p.n_index; ++j) index[j] = k.in[static_cast<size_t>(p.n_inputs + j)].raw();
  dispatch_float(k.out.dtype(), [&]<class T>() {
    const T* ptrs[scalar::kFusedMaxInputs] = {};
    for (int i = 0; i < p.n_inputs; ++i) ptrs[i] = k.in[static_cast<size_t>(i)].data<T>();
    if (a.segmented()) {
      const auto [outer, inner] = segment_split(a);
      cpu::fused_segment<T>(p, ptrs, index, k.out.data<T>(), outer, a.shape[static_cast<int>(a.segment_axis)], inner,
                            a.reduce == FusedAttr::mean);
    } else if (leading) {
      cpu::fused_reduce_rows<T>(p, ptrs, index, k.out.data<T>(), k.out.numel(), a.reduced_extent(),
                                a.reduce == FusedAttr::mean);
    } else if (reduced) {
      cpu::fused_reduce<T>(p, ptrs, index, k.out.data<T>(), k.out.numel(), a.reduced_extent(), a.reduce == FusedAttr::mean);
    } else
      cpu::fused_elementwise<T>(p, ptrs, index, k.out.data<T>(), k.out.numel());
  });
}

#if defined(ORBIT_WITH_CUDA)
// The gathered inputs' indices checked on the device (kernels read 0 out of range); the first bad one
// is reported with the CPU's message at the stream's next sync.
void check_gather_indices_cuda(const FusedAttr& a, std::span<const Tensor> in, void* stream) {
  for (int64_t g = 0; g < a.num_gathers(); ++g) {
    const Tensor& idx = in[static_cast<size_t>(a.gathers[3 * g + 1])];
    const int64_t len = in[static_cast<size_t>(a.gathers[3 * g])].shape()[static_cast<int>(a.gathers[3 * g + 2])];
    const auto s = static_cast<cudaStream_t>(stream);
    unsigned long long* flag = cuda::check_flag(s, [node = gather_name(a, g), len](const unsigned long long* w) {
      return detail::cat("gather at node '", node, "': index ", static_cast<int64_t>(w[1]),
                         " at position ", static_cast<int64_t>(w[0]), " is outside [0, ", len, ")");
    });
    cuda::validate_indices(idx.dtype() == DType::i32 ? cuda::Elem::i32 : cuda::Elem::i64, idx.raw(), idx.numel(), len,
                           false, flag, s);
  }
}

// A closing segment reduction's ids checked on the device (in range, sorted), with the CPU's messages.
void check_segment_ids_cuda(const FusedAttr& a, std::span<const Tensor> in, const std::string& node, void* stream) {
  if (!a.segmented()) return;
  const Tensor& ids = in[static_cast<size_t>(a.segment_ids)];
  const int64_t nseg = a.num_segments;
  const auto s = static_cast<cudaStream_t>(stream);
  unsigned long long* flag = cuda::check_flag(s, [node, nseg](const unsigned long long* w) -> std::string {
    const int64_t v = static_cast<int64_t>(w[1]), at = static_cast<int64_t>(w[0]);
    if (v < 0 || v >= nseg)
      return detail::cat("segment reduction at node '", node, "': segment id ", v, " at position ", at,
                         " is outside [0, ", nseg, ")");
    return detail::cat("segment reduction at node '", node, "': ids were promised sorted but id ", v,
                       " at position ", at, " follows ", static_cast<int64_t>(w[2]));
  });
  cuda::validate_indices(ids.dtype() == DType::i32 ? cuda::Elem::i32 : cuda::Elem::i64, ids.raw(), ids.numel(), nseg,
                         true, flag, s);
}

void fused_cuda(KernelCtx& k) {
  const auto& a = k.node.attr_as<FusedAttr>();
  const std::vector<Shape> shapes = shapes_of(k.in);
  check_gather_indices_cuda(a, k.in, k.stream);
  check_segment_ids_cuda(a, k.in, k.node.name, k.stream);
  const void* ptrs[2 * scalar::kFusedMaxInputs] = {};  // the data inputs, then the index arrays
  for (size_t i = 0; i < k.in.size(); ++i) ptrs[i] = k.in[i].raw();
  try {
    // The group's NVRTC-generated kernel when it compiles and loads (unless ORBIT_FUSION_CODEGEN=0),
    // else (one warning per process) the interpreter below. n is the number of outputs either way.
    if (codegen::codegen_requested() && k.out.numel() > 0 &&
        codegen::run_generated_fused(a, shapes, ptrs, k.out.raw(), k.out.numel(), k.stream)) {
      if (cuda::sync_every_op()) cuda::sync(static_cast<cudaStream_t>(k.stream));
      return;
    }
    const cuda::Elem e = k.out.dtype() == DType::f64 ? cuda::Elem::f64 : cuda::Elem::f32;
    if (a.segmented()) {
      const auto [outer, inner] = segment_split(a);
      cuda::fused_segment(e, fused_program(a, shapes), ptrs, k.out.raw(), outer, a.shape[static_cast<int>(a.segment_axis)],
                          inner, a.reduce == FusedAttr::mean, static_cast<cudaStream_t>(k.stream));
    } else if (a.reduce != FusedAttr::none)
      cuda::fused_reduce(e, fused_reduce_program(a, shapes), ptrs, k.out.raw(), k.out.numel(), a.reduced_extent(),
                         a.reduce == FusedAttr::mean, static_cast<cudaStream_t>(k.stream));
    else
      cuda::fused_elementwise(e, fused_program(a, shapes), ptrs, k.out.raw(), k.out.numel(),
                              static_cast<cudaStream_t>(k.stream));
    if (cuda::sync_every_op()) cuda::sync(static_cast<cudaStream_t>(k.stream));
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(detail::cat("op 'fused' (", a.ops, ") at node '", k.node.name, "' on cuda:0: ", e.what()));
  }
}
#endif

OpId g_fused = 0;
std::once_flag g_once;

void register_fused() {
  OpDef d;
  d.name = "fused";
  d.num_inputs = -1;  // not marked elementwise: a group closed by a reduction is not
  d.infer = [](const InferCtx& c) -> TypeInfo {
    const auto& a = c.attr<FusedAttr>();
    validate(a, c.num_inputs(), "op 'fused'");
    if (!is_float(a.dtype)) c.fail("fused programs are f32 or f64, got ", dtype_name(a.dtype));
    const int n_data = c.num_inputs() - static_cast<int>(a.index_bits.size());
    std::vector<int64_t> gather_of(static_cast<size_t>(n_data), -1);
    for (int64_t g = 0; g < a.num_gathers(); ++g) gather_of[static_cast<size_t>(a.gathers[3 * g])] = g;
    for (int i = 0; i < n_data; ++i) {
      if (c.dtype(i) != a.dtype) c.fail("input ", i, " is ", dtype_name(c.dtype(i)), ", the program ", dtype_name(a.dtype));
      const int64_t g = gather_of[static_cast<size_t>(i)];
      if (g >= 0) {  // gather(input i, index, axis) must have the space's shape
        const int64_t j = a.gathers[3 * g + 1], ax = a.gathers[3 * g + 2];
        auto want = a.shape.vec();
        if (c.shape(i).rank() != a.shape.rank()) c.fail("gathered input ", i, " ", c.shape(i).str(), " has not the space's rank");
        want[static_cast<size_t>(ax)] = c.shape(i)[static_cast<int>(ax)];
        if (!(c.shape(i) == Shape(want)) || c.shape(static_cast<int>(j)).rank() != 1 ||
            c.shape(static_cast<int>(j))[0] != a.shape[static_cast<int>(ax)])
          c.fail("gather of input ", i, " ", c.shape(i).str(), " by index input ", j, " ", c.shape(static_cast<int>(j)).str(),
                 " along axis ", ax, " does not give the iteration space ", a.shape.str());
        continue;
      }
      Shape out;
      if (!broadcast_shapes(c.shape(i), a.shape, out) || !(out == a.shape))
        c.fail("input ", i, " ", c.shape(i).str(), " does not broadcast to the iteration space ", a.shape.str());
    }
    for (int j = n_data; j < c.num_inputs(); ++j) {
      const DType want = a.index_bits[static_cast<size_t>(j - n_data)] == 32 ? DType::i32 : DType::i64;
      if (c.dtype(j) != want) c.fail("index input ", j, " is ", dtype_name(c.dtype(j)), ", the program says ", dtype_name(want));
    }
    if (a.segmented()) {
      const Shape& ids = c.shape(static_cast<int>(a.segment_ids));
      if (ids.rank() != 1 || ids[0] != a.shape[static_cast<int>(a.segment_axis)])
        c.fail("segment ids ", ids.str(), " for ", a.shape[static_cast<int>(a.segment_axis)], " entries along axis ", a.segment_axis);
    }
    return {a.out_shape(), a.dtype};
  };
  // The program expanded into primitive ops, differentiated by a sweep over the expansion alone.
  d.vjp = [](VjpCtx& c) -> std::vector<Var> {
    const FusedAttr a = c.attr<FusedAttr>();  // a copy: building nodes may move the graph's storage
    return vjp_by_expansion(c, [&](const std::vector<Var>& ins) { return expand_fused(a, ins); });
  };
  d.kernels[static_cast<int>(Device::Kind::cpu)] = fused_cpu;
#if defined(ORBIT_WITH_CUDA)
  d.kernels[static_cast<int>(Device::Kind::cuda)] = fused_cuda;
#endif
  g_fused = ops().add(std::move(d));
}

}  // namespace

OpId fused_op() {
  std::call_once(g_once, register_fused);
  return g_fused;
}

Var fused_elementwise(const std::vector<Var>& inputs, const FusedAttr& attr, const std::string& name) {
  ORBIT_CHECK(!inputs.empty() && inputs[0].valid(), "fused_elementwise: needs at least one input");
  return inputs[0].graph()->add_op(fused_op(), inputs, std::make_shared<FusedAttr>(attr), name);
}

Var expand_fused(const FusedAttr& a, const std::vector<Var>& inputs) {
  ORBIT_CHECK(!inputs.empty(), "expand_fused: no inputs");
  validate(a, static_cast<int>(inputs.size()), "expand_fused");
  Graph& g = *inputs[0].graph();
  std::vector<Var> reg(static_cast<size_t>(a.slots));
  std::vector<Var> data(inputs.begin(), inputs.end() - static_cast<std::ptrdiff_t>(a.index_bits.size()));
  for (int64_t g = 0; g < a.num_gathers(); ++g) {
    const size_t k = static_cast<size_t>(a.gathers[3 * g]);
    data[k] = gather(inputs[k], inputs[static_cast<size_t>(a.gathers[3 * g + 1])], a.gathers[3 * g + 2]);
  }
  for (int64_t k = 0; k < a.num_instrs(); ++k) {
    const scalar::FusedInstr in = a.instr(k);
    Var v;
    if (in.code == scalar::f_load) v = data[in.a];
    else if (in.code == scalar::f_imm) v = g.scalar(in.p0, a.dtype);
    else v = apply_primitive(in.code, in, reg[in.a], reg[in.b], reg[in.c]);
    reg[in.dst] = v;
  }
  Var out = reg[static_cast<size_t>(a.out_slot)];
  // A program whose output is a broadcast input (no op on the full space) still fills the space.
  if (!(out.shape() == a.shape)) out = broadcast_to(out, a.shape);
  if (a.segmented()) {
    const Var ids = inputs[static_cast<size_t>(a.segment_ids)];
    return a.reduce == FusedAttr::mean ? segment_mean(out, ids, a.num_segments, a.segment_axis, true)
                                       : segment_sum(out, ids, a.num_segments, a.segment_axis, true);
  }
  if (a.reduce == FusedAttr::sum) return sum(out, a.reduce_axes, a.keepdims);
  if (a.reduce == FusedAttr::mean) return mean(out, a.reduce_axes, a.keepdims);
  return out;
}

scalar::FusedProgram fused_program(const FusedAttr& a, const std::vector<Shape>& input_shapes) {
  scalar::FusedProgram p;
  const size_t n_data = input_shapes.size() - a.index_bits.size();
  p.n_instrs = static_cast<int32_t>(a.num_instrs());
  p.n_inputs = static_cast<int32_t>(n_data);
  p.n_index = static_cast<int32_t>(a.index_bits.size());
  for (size_t j = 0; j < a.index_bits.size(); ++j) p.index_is32[j] = a.index_bits[j] == 32;
  if (a.segmented()) {
    p.seg_index = static_cast<int32_t>(a.segment_ids - static_cast<int64_t>(n_data));
    p.seg_dim = static_cast<int32_t>(a.segment_axis);
    p.n_segments = a.num_segments;
  }
  p.n_slots = static_cast<int32_t>(a.slots);
  p.out_slot = static_cast<int32_t>(a.out_slot);
  p.rank = a.shape.rank();
  for (int d = 0; d < p.rank; ++d) p.shape[d] = a.shape[d];
  for (int64_t k = 0; k < a.num_instrs(); ++k) p.code[k] = a.instr(k);
  for (int64_t g = 0; g < a.num_gathers(); ++g) {  // x read with its own strides, the axis through the index
    const size_t k = static_cast<size_t>(a.gathers[3 * g]);
    const int ax = static_cast<int>(a.gathers[3 * g + 2]);
    p.access[k] = scalar::fa_gathered;
    p.gather_index[k] = static_cast<uint8_t>(a.gathers[3 * g + 1] - static_cast<int64_t>(n_data));
    p.gather_dim[k] = static_cast<uint8_t>(ax);
    p.gather_len[k] = input_shapes[k][ax];
    const auto st = input_shapes[k].strides();
    for (int d = 0; d < p.rank; ++d) p.stride[k][d] = st[static_cast<size_t>(d)];
  }
  for (size_t i = 0; i < n_data; ++i) {
    if (p.access[i] == scalar::fa_gathered) continue;
    const Shape& s = input_shapes[i];
    if (s == a.shape) {
      p.access[i] = scalar::fa_contiguous;
      continue;
    }
    if (s.numel() == 1) {
      p.access[i] = scalar::fa_scalar;
      continue;
    }
    p.access[i] = scalar::fa_strided;
    auto st = s.strides();
    const int lead = a.shape.rank() - s.rank();
    for (int d = 0; d < p.rank; ++d) {
      const int k = d - lead;
      p.stride[i][d] = (k < 0 || s[k] == 1) ? 0 : st[k];
    }
  }
  return p;
}

scalar::FusedProgram fused_reduce_program(const FusedAttr& a, const std::vector<Shape>& input_shapes) {
  ORBIT_CHECK(a.reduce != FusedAttr::none, "fused_reduce_program: the group has no reduction");
  scalar::FusedProgram p = fused_program(a, input_shapes);
  // perm[d'] = the original dim at permuted position d': kept dims first, then the reduced ones.
  std::vector<int> perm;
  std::vector<char> red(static_cast<size_t>(p.rank), 0);
  for (int64_t ax : a.reduce_axes) red[static_cast<size_t>(ax)] = 1;
  for (int d = 0; d < p.rank; ++d)
    if (!red[static_cast<size_t>(d)]) perm.push_back(d);
  for (int d = 0; d < p.rank; ++d)
    if (red[static_cast<size_t>(d)]) perm.push_back(d);
  bool identity = true;
  for (int d = 0; d < p.rank; ++d) identity = identity && perm[static_cast<size_t>(d)] == d;
  if (identity) return p;  // the reduced dims are already the trailing ones
  const auto natural = a.shape.strides();
  scalar::FusedProgram q = p;
  for (int d = 0; d < p.rank; ++d) q.shape[d] = p.shape[perm[static_cast<size_t>(d)]];
  for (int i = 0; i < p.n_inputs; ++i) {
    if (p.access[i] == scalar::fa_scalar) continue;
    // contiguous in the original order is strided in the permuted one
    if (p.access[i] == scalar::fa_contiguous) q.access[i] = scalar::fa_strided;
    for (int d = 0; d < p.rank; ++d) {
      const int o = perm[static_cast<size_t>(d)];
      q.stride[i][d] = p.access[i] == scalar::fa_contiguous ? natural[static_cast<size_t>(o)] : p.stride[i][o];
      if (p.access[i] == scalar::fa_gathered && o == p.gather_dim[i]) q.gather_dim[i] = static_cast<uint8_t>(d);
    }
  }
  return q;
}

}  // namespace orbit
