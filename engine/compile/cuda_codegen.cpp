// Generated CUDA kernels for fused groups: source generation, the per-process decision cache and the
// fallback to the interpreter (see cuda_codegen.h).
#include "engine/compile/cuda_codegen.h"

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <mutex>
#include <sstream>
#include <unordered_map>

#include "engine/util/hash.h"
#include "kernels/cuda/nvrtc.h"

namespace orbit::codegen {
namespace {

const char* functor(int code) {
  switch (code) {
    case scalar::f_neg: return "Neg";
    case scalar::f_abs: return "Abs";
    case scalar::f_sign: return "Sign";
    case scalar::f_exp: return "Exp";
    case scalar::f_log: return "Log";
    case scalar::f_log1p: return "Log1p";
    case scalar::f_sqrt: return "Sqrt";
    case scalar::f_rsqrt: return "Rsqrt";
    case scalar::f_square: return "Square";
    case scalar::f_sin: return "Sin";
    case scalar::f_cos: return "Cos";
    case scalar::f_tanh: return "Tanh";
    case scalar::f_erf: return "Erf";
    case scalar::f_sigmoid: return "Sigmoid";
    case scalar::f_silu: return "Silu";
    case scalar::f_relu: return "Relu";
    case scalar::f_gelu: return "Gelu";
    case scalar::f_softplus: return "Softplus";
    case scalar::f_pow_scalar: return "PowScalar";
    case scalar::f_clamp: return "Clamp";
    case scalar::f_add: return "Add";
    case scalar::f_sub: return "Sub";
    case scalar::f_mul: return "Mul";
    case scalar::f_div: return "Div";
    case scalar::f_pow: return "Pow";
    case scalar::f_maximum: return "Maximum";
    case scalar::f_minimum: return "Minimum";
    case scalar::f_lt: return "Lt";
    case scalar::f_le: return "Le";
    case scalar::f_gt: return "Gt";
    case scalar::f_ge: return "Ge";
    case scalar::f_eq: return "Eq";
    case scalar::f_ne: return "Ne";
    case scalar::f_where: return "Where";
    default: return nullptr;
  }
}

int arity(int code) {
  if (code == scalar::f_where) return 3;
  if (code >= scalar::f_add && code < scalar::f_num_elementwise) return 2;
  return 1;
}

}  // namespace

// The offset of a strided input as terms over runs of output dims that the input walks contiguously
// (adjacent dims merge when stride[d] == stride[d+1] * extent), skipping broadcast and size-1 dims.
// div == 1, mod == 0 and mul == 1 are left out of the source.
std::vector<IndexTerm> broadcast_index_terms(const scalar::FusedProgram& p, int k) {
  struct Run {
    int64_t inner, extent, stride;
  };
  std::vector<Run> runs;  // innermost first
  int64_t inner = 1;
  bool adjacent = false;  // the last run ends at the dim just inside the current one (size-1 dims between)
  for (int d = p.rank - 1; d >= 0; --d) {
    const int64_t n = p.shape[d], st = p.stride[k][d];
    if (n == 1) {
      continue;  // contributes nothing and keeps adjacency
    }
    if (st == 0) {
      adjacent = false;
    } else if (adjacent && st == runs.back().stride * runs.back().extent) {
      runs.back().extent *= n;
    } else {
      runs.push_back({inner, n, st});
      adjacent = true;
    }
    inner *= n;
  }
  const int64_t total = inner;
  std::vector<IndexTerm> terms;
  for (const Run& r : runs) {
    IndexTerm t;
    t.div = r.inner;
    t.mod = r.inner * r.extent < total ? r.extent : 0;  // the outermost run needs no modulo
    t.mul = r.stride;
    terms.push_back(t);
  }
  return terms;
}

namespace {

std::string index_expr(const std::vector<IndexTerm>& terms, const char* suffix) {
  if (terms.empty()) return "0";
  std::string e;
  for (const IndexTerm& t : terms) {
    std::string x = "i";
    if (t.div != 1) x = "(" + x + " / " + std::to_string(t.div) + suffix + ")";
    if (t.mod != 0) x = "(" + x + " % " + std::to_string(t.mod) + suffix + ")";
    if (t.mul != 1) x = x + " * " + std::to_string(t.mul) + suffix;
    e += (e.empty() ? "" : " + ") + x;
  }
  return e;
}

// A gathered input's load into `vN`: its index array at the coordinate along the gathered dim, then the
// input at its own strides with that coordinate replaced (0 where the index is out of range).
std::string gathered_load(const scalar::FusedProgram& p, int k, const std::string& n, const char* suffix) {
  const int dim = p.gather_dim[k];
  int64_t inner = 1, total = 1;
  for (int d = p.rank - 1; d >= 0; --d) {
    if (d > dim) inner *= p.shape[d];
    total *= p.shape[d];
  }
  std::string coord = "i";
  if (inner != 1) coord = "(" + coord + " / " + std::to_string(inner) + suffix + ")";
  if (inner * p.shape[dim] < total) coord = "(" + coord + " % " + std::to_string(p.shape[dim]) + suffix + ")";
  scalar::FusedProgram rest = p;  // the other dims' terms: the gathered dim's stride left out
  rest.access[k] = scalar::fa_strided;
  rest.stride[k][dim] = 0;
  std::ostringstream o;
  o << "    const long long g" << n << " = static_cast<long long>(ix" << int(p.gather_index[k]) << "[" << coord << "]);\n"
    << "    const T v" << n << " = (g" << n << " >= 0 && g" << n << " < " << p.gather_len[k] << "LL) ? in" << k << "["
    << index_expr(broadcast_index_terms(rest, k), suffix) << " + g" << n << " * " << p.stride[k][dim] << "LL] : T(0);\n";
  return o.str();
}

std::string one_line(std::string s) {
  for (char& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  return s;
}

}  // namespace

std::string exact_literal(double v) {
  char b[64];
  if (std::isfinite(v)) {
    std::snprintf(b, sizeof b, "%a", v);
  } else {
    uint64_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    std::snprintf(b, sizeof b, "__longlong_as_double(0x%016" PRIx64 "LL)", bits);
  }
  return b;
}

FusedKernelSource generate_fused_kernel(const FusedAttr& a, const std::vector<Shape>& input_shapes) {
  // A group closed by a reduction: one thread per output walks its R values (the permuted program
  // puts them at [o R, (o + 1) R)) and adds them in double, as the CPU and the interpreter do.
  // A group closed by a segment reduction: one thread per output [o, s, i] finds its segment's rows
  // in the sorted ids by binary search and adds their values in increasing order in T.
  const bool segmented = a.segmented();
  const bool reduced = a.reduce != FusedAttr::none && !segmented;
  const bool interleaved = reduced && !a.sums_leading_rows();
  // A sum over the last axis reads each output's values from one contiguous run: a thread per output
  // would make a warp's 32 loads touch 32 separate runs (an eighth of every 32-byte sector used; on an
  // H200 such groups made the DW4 and PINN steps up to 7% slower than unfused). There each output gets
  // 8 lanes instead, lane u adding the values j = u, u + 8, ... (the CPU's acc[u]) and three shuffles
  // combining the 8 sums in the CPU's pairwise order: the same bits, every sector used.
  const bool lanes8 = interleaved && std::find(a.reduce_axes.begin(), a.reduce_axes.end(), a.shape.rank() - 1) != a.reduce_axes.end();
  const scalar::FusedProgram p = reduced ? fused_reduce_program(a, input_shapes) : fused_program(a, input_shapes);
  FusedKernelSource out;
  out.num_inputs = static_cast<int>(input_shapes.size());
  out.lanes = lanes8 ? 8 : 1;
  const int64_t n = a.shape.numel();
  constexpr int64_t k32 = int64_t(1) << 31;
  out.index32 = n < k32;
  for (const Shape& s : input_shapes) out.index32 = out.index32 && s.numel() < k32;
  const char* T = a.dtype == DType::f64 ? "double" : "float";
  const char* I = out.index32 ? "unsigned" : "unsigned long long";
  const char* suffix = out.index32 ? "u" : "ull";

  std::ostringstream body;
  body << "(";
  for (int k = 0; k < p.n_inputs; ++k) body << "const " << T << "* __restrict__ in" << k << ", ";
  for (int j = 0; j < p.n_index; ++j)
    body << "const " << (p.index_is32[j] ? "int" : "long long") << "* __restrict__ ix" << j << ", ";
  body << T << "* __restrict__ out, long long n) {\n";
  body << "  typedef " << T << " T;\n  typedef " << I << " I;\n";
  body << "  const I count = static_cast<I>(n);\n";
  const std::string R = std::to_string(a.reduced_extent()) + suffix;
  if (segmented) {
    int64_t seg_inner = 1;
    for (int d = static_cast<int>(a.segment_axis) + 1; d < a.shape.rank(); ++d) seg_inner *= a.shape[d];
    const int64_t nids = a.shape[static_cast<int>(a.segment_axis)];
    const std::string inner = std::to_string(seg_inner) + suffix, nseg = std::to_string(a.num_segments) + suffix;
    const std::string ids = "ix" + std::to_string(p.seg_index);
    body << "  for (I t = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; t < count;"
         << " t += static_cast<I>(gridDim.x) * blockDim.x) {\n";
    body << "   const I ii = t % " << inner << ", os = t / " << inner << ", s = os % " << nseg << ", o = os / " << nseg << ";\n";
    body << "   long long e0 = 0, e1 = 0;\n";
    body << "   for (int b = 0; b < 2; ++b) {  // the first rows with id >= s and >= s + 1\n"
         << "    long long lo = 0, hi = " << nids << "LL;\n"
         << "    while (lo < hi) { const long long mid = (lo + hi) / 2; if (static_cast<long long>(" << ids
         << "[mid]) < static_cast<long long>(s) + b) lo = mid + 1; else hi = mid; }\n"
         << "    if (b == 0) e0 = lo; else e1 = lo;\n   }\n";
    body << "   T acc = T(0);\n   for (long long e = e0; e < e1; ++e) {\n"
         << "    const I i = (o * " << nids << suffix << " + static_cast<I>(e)) * " << inner << " + ii;\n";
  } else if (lanes8) {
    // Each warp takes 4 outputs per sweep; the sweep bound is the same for its 32 lanes (the shuffles
    // need all of them), so lanes past the last output add nothing and write nothing.
    body << "  const I lane8 = threadIdx.x & 7u;\n"
         << "  const I stride = (static_cast<I>(gridDim.x) * blockDim.x) >> 3;\n"
         << "  for (I base = (static_cast<I>(blockIdx.x) * blockDim.x + (threadIdx.x & ~31u)) >> 3; base < count;"
         << " base += stride) {\n"
         << "   const I o = base + ((threadIdx.x & 31u) >> 3);\n"
         << "   double acc = 0.0;\n"
         << "   for (I j = lane8; o < count && j < " << R << "; j += 8u) {\n    const I i = o * " << R << " + j;\n";
  } else if (reduced) {
    body << "  for (I o = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; o < count;"
         << " o += static_cast<I>(gridDim.x) * blockDim.x) {\n";
    // The CPU's grouping, so that a host build of this source equals the CPU bit for bit: a sum over
    // leading rows adds in row order; any other, in eight interleaved double sums (value j into
    // acc[j % 8], combined pairwise: kernels/cpu/sum.h), whose unrolled lanes also keep eight
    // independent additions in flight.
    if (interleaved)
      body << "   double acc[8] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};\n   for (I j0 = 0; j0 < " << R
           << "; j0 += 8) {\n#pragma unroll\n   for (int u = 0; u < 8; ++u) {\n    const I j = j0 + u;\n"
           << "    if (j >= " << R << ") break;\n    const I i = o * " << R << " + j;\n";
    else
      body << "   double acc = 0.0;\n   for (I j = 0; j < " << R << "; ++j) {\n    const I i = o * " << R << " + j;\n";
  } else {
    body << "  for (I i = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; i < count;"
         << " i += static_cast<I>(gridDim.x) * blockDim.x) {\n";
  }
  std::vector<std::string> reg(static_cast<size_t>(a.slots));  // slot -> the variable holding its value
  for (int64_t k = 0; k < a.num_instrs(); ++k) {
    const scalar::FusedInstr in = a.instr(k);
    const std::string v = "v" + std::to_string(k);
    if (in.code == scalar::f_load && p.access[in.a] == scalar::fa_gathered) {
      body << gathered_load(p, in.a, std::to_string(k), suffix);
      reg.at(in.dst) = v;
      continue;
    }
    body << "    const T " << v << " = ";
    if (in.code == scalar::f_load) {
      const int j = in.a;
      std::string idx;
      if (p.access[j] == scalar::fa_contiguous) idx = "i";
      else if (p.access[j] == scalar::fa_scalar) idx = "0";
      else idx = index_expr(broadcast_index_terms(p, j), suffix);
      body << "in" << j << "[" << idx << "];";
    } else if (in.code == scalar::f_imm) {
      body << "T(" << exact_literal(in.p0) << ");";
    } else {
      const char* f = functor(in.code);
      if (!f) throw Error(detail::cat("generate_fused_kernel: opcode ", int(in.code), " has no functor"));
      body << "orbit::scalar::" << f;
      if (in.code == scalar::f_pow_scalar) body << "{" << exact_literal(in.p0) << "}";
      else if (in.code == scalar::f_clamp) body << "{" << exact_literal(in.p0) << ", " << exact_literal(in.p1) << "}";
      else body << "{}";
      const uint8_t ops[3] = {in.a, in.b, in.c};
      body << "(";
      for (int o = 0; o < arity(in.code); ++o) {
        const std::string& r = reg.at(ops[o]);
        if (r.empty()) throw Error(detail::cat("generate_fused_kernel: instruction ", k, " reads an unwritten register"));
        body << (o ? ", " : "") << r;
      }
      body << ");";
    }
    body << "\n";
    reg.at(in.dst) = v;
  }
  const std::string& result = reg.at(static_cast<size_t>(a.out_slot));
  if (result.empty()) throw Error("generate_fused_kernel: the output register is never written");
  if (segmented)
    body << "    acc += " << result << ";\n   }\n"
         << (a.reduce == FusedAttr::mean ? "   if (e1 - e0 > 1) acc /= static_cast<T>(e1 - e0);\n" : "")
         << "   out[t] = acc;\n  }\n}\n";
  else if (lanes8)
    body << "    acc += static_cast<double>(" << result << ");\n   }\n"
         << "   acc += __shfl_xor_sync(0xffffffffu, acc, 1);\n"
         << "   acc += __shfl_xor_sync(0xffffffffu, acc, 2);\n"
         << "   acc += __shfl_xor_sync(0xffffffffu, acc, 4);\n"
         << "   if (o < count && lane8 == 0u) out[o] = static_cast<T>(acc"
         << (a.reduce == FusedAttr::mean && a.reduced_extent() > 0 ? " / " + std::to_string(a.reduced_extent()) + ".0"
                                                                    : std::string())
         << ");\n  }\n}\n";
  else if (reduced)
    body << (interleaved ? "    acc[u] += static_cast<double>(" + result + ");\n   }\n   }\n"
                         "   out[o] = static_cast<T>((((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])))"
                         : "    acc += static_cast<double>(" + result + ");\n   }\n   out[o] = static_cast<T>(acc")
         << (a.reduce == FusedAttr::mean && a.reduced_extent() > 0 ? " / " + std::to_string(a.reduced_extent()) + ".0"
                                                                    : std::string())  // no values: acc stays 0
         << ");\n  }\n}\n";
  else
    body << "    out[i] = " << result << ";\n  }\n}\n";

  const std::string text = body.str();
  char name[40];
  std::snprintf(name, sizeof name, "orbit_fused_%016" PRIx64, util::fnv1a(std::string(T) + I + text));
  out.name = name;
  std::ostringstream src;
  src << "// orbit: generated kernel of a fused group (engine/compile/cuda_codegen.cpp)\n"
      << "// ops: " << one_line(a.ops) << "\n// iteration space " << a.shape.str()
      << (reduced ? std::string(a.reduce == FusedAttr::mean ? ", mean" : ", sum") + " over " + std::to_string(a.reduce_axes.size()) +
                        " axes to " + a.out_shape().str()
          : segmented ? std::string(a.reduce == FusedAttr::mean ? ", segment mean" : ", segment sum") + " along axis " +
                            std::to_string(a.segment_axis) + " to " + a.out_shape().str()
                      : std::string())
      << ", " << T << ", "
      << (out.index32 ? 32 : 64) << "-bit indices\n"
      << "#include \"kernels/scalar/unary.h\"\n#include \"kernels/scalar/binary.h\"\n\n"
      << "extern \"C\" __global__ void __launch_bounds__(256) " << out.name << text;
  out.source = src.str();
  return out;
}

bool codegen_requested() {
  const char* e = std::getenv("ORBIT_FUSION_CODEGEN");
  return !(e && e[0] == '0' && e[1] == 0);
}

FusedKernelDecision prepare_fused_kernel(const FusedAttr& a, const std::vector<Shape>& input_shapes,
                                         const std::string& arch, bool load) {
  FusedKernelDecision d;
  FusedKernelSource src;
  try {
    src = generate_fused_kernel(a, input_shapes);
  } catch (const std::exception& e) {
    d.reason = std::string("code generation failed: ") + e.what();
    return d;
  }
  d.kernel = src.name;
  d.lanes = src.lanes;
  const nvrtc::Compiled c = nvrtc::compile(src.source, arch);
  if (!c.ok) {
    d.reason = c.error;
    return d;
  }
  if (load) {
    std::string why;
    d.function = nvrtc::load_function(c, src.name, &why);
    if (!d.function) {
      d.reason = why;
      return d;
    }
  }
  d.generated = true;
  return d;
}

namespace {

struct Cached {
  bool generated = false;
  void* function = nullptr;
  int lanes = 1;
};

struct DecisionCache {
  std::mutex mu;
  std::unordered_map<std::string, Cached> map;  // signature -> decision
  std::string arch;                              // the device's, found once
  std::string arch_error;
  bool arch_known = false;
  bool warned = false;
};

DecisionCache& decisions() {
  static DecisionCache* c = new DecisionCache;  // never destroyed
  return *c;
}

bool dump_requested() {
  const char* e = std::getenv("ORBIT_DUMP");
  return e && *e && std::string(e) != "0";
}

// The program, its iteration space and the input shapes as bytes.
std::string signature(const FusedAttr& a, const std::vector<Shape>& shapes) {
  std::string s;
  auto put = [&](const void* p, size_t n) { s.append(static_cast<const char*>(p), n); };
  const int64_t head[7] = {static_cast<int64_t>(a.dtype), a.out_slot, a.slots, a.shape.rank(), a.reduce,
                           static_cast<int64_t>(a.reduce_axes.size()), a.keepdims};
  put(head, sizeof head);
  put(a.shape.begin(), sizeof(int64_t) * static_cast<size_t>(a.shape.rank()));
  put(a.reduce_axes.data(), sizeof(int64_t) * a.reduce_axes.size());
  const int64_t seg[3] = {a.segment_ids, a.segment_axis, a.num_segments};
  put(seg, sizeof seg);
  put(a.gathers.data(), sizeof(int64_t) * a.gathers.size());
  put(a.index_bits.data(), sizeof(int64_t) * a.index_bits.size());
  put(a.code.data(), sizeof(int64_t) * a.code.size());
  put(a.params.data(), sizeof(double) * a.params.size());
  for (const Shape& sh : shapes) {
    const int64_t r = sh.rank();
    put(&r, sizeof r);
    put(sh.begin(), sizeof(int64_t) * static_cast<size_t>(r));
  }
  return s;
}

// Call with c.mu held.
void warn_once(DecisionCache& c, const std::string& reason) {
  if (c.warned) return;
  c.warned = true;
  std::string r = reason;
  if (r.size() > 4000) r = r.substr(0, 4000) + "\n[...]";
  std::cerr << "orbit: warning: a generated fused kernel is unavailable, so fused groups "
               "that have none run the interpreting kernel (reported once per process): "
            << r << std::endl;
}

}  // namespace

bool run_generated_fused(const FusedAttr& a, const std::vector<Shape>& input_shapes, const void* const* inputs,
                         void* out, int64_t n, void* stream) {
  DecisionCache& c = decisions();
  const std::string sig = signature(a, input_shapes);
  Cached dec;
  {
    std::lock_guard<std::mutex> lock(c.mu);
    auto it = c.map.find(sig);
    if (it == c.map.end()) {
      if (!c.arch_known) {
        c.arch = nvrtc::device_arch(&c.arch_error);
        c.arch_known = true;
      }
      FusedKernelDecision d;
      if (c.arch.empty()) d.reason = "the device's architecture is unknown: " + c.arch_error;
      else d = prepare_fused_kernel(a, input_shapes, c.arch, /*load=*/true);
      if (!d.generated) warn_once(c, d.reason);
      if (dump_requested())
        std::cerr << "orbit: fused group (" << a.ops << ") " << a.shape.str() << " on CUDA: " << d.runner()
                  << (d.kernel.empty() ? "" : " " + d.kernel) << "; " << nvrtc::counters_string() << std::endl;
      it = c.map.emplace(sig, Cached{d.generated, d.function, d.lanes}).first;
    }
    dec = it->second;
  }
  if (!dec.generated) return false;
  std::string why;
  if (nvrtc::launch_fused(dec.function, stream, inputs, static_cast<int>(input_shapes.size()), out, n, dec.lanes, &why))
    return true;
  std::lock_guard<std::mutex> lock(c.mu);
  c.map[sig].generated = false;  // the interpreter from now on
  warn_once(c, why);
  return false;
}

}  // namespace orbit::codegen
