// A fused elementwise group as a small register program: the compiler's fusion pass
// (engine/compile/fusion.cpp) turns a connected group of elementwise ops over one iteration space into
// a list of instructions, and the CPU and CUDA fused kernels interpret it per element with the same
// scalar functors as the unfused kernels, so fused and unfused programs compute the same values.
// Plain data only (no Shape, no std::vector): the whole program travels to the GPU as a kernel argument.
#pragma once
#include <cstdint>

#include "kernels/scalar/binary.h"
#include "kernels/scalar/hd.h"
#include "kernels/scalar/unary.h"

namespace orbit::scalar {

// Opcodes 0..33 are the built-in elementwise ops' ids (engine/builtin_ops.h, checked there by
// static_assert); the two below load an operand or an immediate.
enum FusedCode : uint8_t {
  f_neg, f_abs, f_sign, f_exp, f_log, f_log1p, f_sqrt, f_rsqrt, f_square, f_sin, f_cos, f_tanh, f_erf,
  f_sigmoid, f_silu, f_relu, f_gelu, f_softplus, f_pow_scalar, f_clamp,
  f_add, f_sub, f_mul, f_div, f_pow, f_maximum, f_minimum, f_lt, f_le, f_gt, f_ge, f_eq, f_ne, f_where,
  f_num_elementwise,
  f_load = 100,  // dst = input[a] at the element's broadcast offset
  f_imm = 101,   // dst = p0
};

constexpr int kFusedMaxInputs = 16;
constexpr int kFusedMaxInstrs = 64;
constexpr int kFusedMaxSlots = 32;  // registers after slot allocation
constexpr int kFusedMaxRank = 6;

struct FusedInstr {
  uint8_t code = f_imm;
  uint8_t dst = 0, a = 0, b = 0, c = 0;  // register slots (a: the input index for f_load)
  double p0 = 0, p1 = 0;                 // pow_scalar's exponent, clamp's bounds, an immediate
};

// Per input: how it is read while iterating over the output (row-major, `rank` dims).
// fa_gathered: a group opened by gather(x, idx, axis): x is read with its own strides, except that the
// coordinate e along iteration dim gather_dim[k] becomes idx[e] (an index array after the data inputs).
enum FusedAccess : uint8_t { fa_contiguous = 0, fa_scalar = 1, fa_strided = 2, fa_gathered = 3 };

struct FusedProgram {
  int32_t n_instrs = 0, n_inputs = 0, n_slots = 0, out_slot = 0, rank = 0;
  int32_t n_index = 0;  // index arrays (int32 or int64) passed beside the n_inputs data inputs
  int64_t shape[kFusedMaxRank] = {};
  uint8_t access[kFusedMaxInputs] = {};
  int64_t stride[kFusedMaxInputs][kFusedMaxRank] = {};  // element strides (0 where broadcast)
  uint8_t gather_index[kFusedMaxInputs] = {};  // fa_gathered: which index array
  uint8_t gather_dim[kFusedMaxInputs] = {};    // fa_gathered: the iteration dim it maps
  int64_t gather_len[kFusedMaxInputs] = {};    // fa_gathered: x's extent there (other indices read 0)
  uint8_t index_is32[kFusedMaxInputs] = {};    // per index array: int32 (else int64)
  int32_t seg_index = -1;  // a closing segment reduction: its sorted ids' index array, else -1
  int32_t seg_dim = 0;     // the iteration dim it reduces
  int64_t n_segments = 0;
  FusedInstr code[kFusedMaxInstrs];
};

// One instruction on scalars (not loads).
template <class T>
ORBIT_HD T fused_apply(const FusedInstr& in, T a, T b, T c) {
  switch (in.code) {
    case f_neg: return Neg{}(a);
    case f_abs: return Abs{}(a);
    case f_sign: return Sign{}(a);
    case f_exp: return Exp{}(a);
    case f_log: return Log{}(a);
    case f_log1p: return Log1p{}(a);
    case f_sqrt: return Sqrt{}(a);
    case f_rsqrt: return Rsqrt{}(a);
    case f_square: return Square{}(a);
    case f_sin: return Sin{}(a);
    case f_cos: return Cos{}(a);
    case f_tanh: return Tanh{}(a);
    case f_erf: return Erf{}(a);
    case f_sigmoid: return Sigmoid{}(a);
    case f_silu: return Silu{}(a);
    case f_relu: return Relu{}(a);
    case f_gelu: return Gelu{}(a);
    case f_softplus: return Softplus{}(a);
    case f_pow_scalar: return PowScalar{in.p0}(a);
    case f_clamp: return Clamp{in.p0, in.p1}(a);
    case f_add: return Add{}(a, b);
    case f_sub: return Sub{}(a, b);
    case f_mul: return Mul{}(a, b);
    case f_div: return Div{}(a, b);
    case f_pow: return Pow{}(a, b);
    case f_maximum: return Maximum{}(a, b);
    case f_minimum: return Minimum{}(a, b);
    case f_lt: return Lt{}(a, b);
    case f_le: return Le{}(a, b);
    case f_gt: return Gt{}(a, b);
    case f_ge: return Ge{}(a, b);
    case f_eq: return Eq{}(a, b);
    case f_ne: return Ne{}(a, b);
    case f_where: return Where{}(a, b, c);
    case f_imm: return T(in.p0);
    default: return a;
  }
}

// The element offset of input k for output element i (row-major over p.shape). A gathered input's
// offset is -1 where its index is outside [0, gather_len) (the value read is then 0, as the unfused
// gather's CUDA kernel writes; the index validation reports it).
ORBIT_HD int64_t fused_offset(const FusedProgram& p, int k, int64_t i, const void* const* index = nullptr) {
  if (p.access[k] == fa_contiguous) return i;
  if (p.access[k] == fa_scalar) return 0;
  int64_t off = 0, rest = i;
  for (int d = p.rank - 1; d >= 0; --d) {
    const int64_t n = p.shape[d];
    int64_t idx = rest % n;
    rest /= n;
    if (p.access[k] == fa_gathered && d == p.gather_dim[k]) {
      const int j = p.gather_index[k];
      idx = p.index_is32[j] ? static_cast<const int32_t*>(index[j])[idx] : static_cast<const int64_t*>(index[j])[idx];
      if (idx < 0 || idx >= p.gather_len[k]) return -1;
    }
    off += idx * p.stride[k][d];
  }
  return off;
}

}  // namespace orbit::scalar
