#include "kernels/cpu/fused.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/cpu/isa/fused_apply.h"
#include "kernels/cpu/isa/select.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cpu/sum.h"

// The baseline variant of the per-instruction loops (x86-64-v3 / v4: kernels/cpu/isa/fused_apply_x86v*.cpp).
#define ORBIT_ISA_NS isa_baseline
#include "kernels/cpu/isa/fused_apply_body.inc"
#undef ORBIT_ISA_NS

namespace orbit::cpu {
namespace {

constexpr int64_t kChunk = 256;
// fused_elementwise's chunk: every instruction of the program costs a dispatch per chunk, so longer
// chunks spend less on dispatch; 1024 values of the few registers a group uses stay in L1.
constexpr int64_t kElemChunk = 1024;

using scalar::FusedInstr;
using scalar::FusedProgram;

// A gathered input's values for elements [i0, i0 + m): runs along the innermost dim, each looked up
// once in the index array (the gathered row of a [N, H] input is one memcpy); element by element when
// the gathered dim is the innermost one. Out-of-range indices read 0 (the op checks them before).
template <class T>
void load_gathered(const FusedProgram& p, int k, const T* src, const void* const* index, int64_t i0, int64_t m, T* dst) {
  const int r = p.rank, gd = p.gather_dim[k];
  if (gd == r - 1) {
    for (int64_t q = 0; q < m; ++q) {
      const int64_t off = scalar::fused_offset(p, k, i0 + q, index);
      dst[q] = off < 0 ? T(0) : src[off];
    }
    return;
  }
  const int j = p.gather_index[k];
  const int64_t inner = p.shape[r - 1], s_in = p.stride[k][r - 1];
  int64_t idx[scalar::kFusedMaxRank];
  int64_t rest = i0;
  for (int d = r - 1; d >= 0; --d) {
    idx[d] = rest % p.shape[d];
    rest /= p.shape[d];
  }
  for (int64_t q = 0; q < m;) {
    const int64_t run = std::min(inner - idx[r - 1], m - q);
    int64_t off = 0;
    bool ok = true;
    for (int d = 0; d < r; ++d) {
      int64_t c = idx[d];
      if (d == gd) {
        c = p.index_is32[j] ? static_cast<const int32_t*>(index[j])[c] : static_cast<const int64_t*>(index[j])[c];
        ok = c >= 0 && c < p.gather_len[k];
      }
      off += c * p.stride[k][d];
    }
    if (!ok) std::fill(dst + q, dst + q + run, T(0));
    else if (s_in == 1) std::memcpy(dst + q, src + off, static_cast<size_t>(run) * sizeof(T));
    else
      for (int64_t t = 0; t < run; ++t) dst[q + t] = src[off + t * s_in];
    q += run;
    idx[r - 1] += run;
    for (int d = r - 1; d > 0 && idx[d] == p.shape[d]; --d) {
      idx[d] = 0;
      ++idx[d - 1];
    }
  }
}

// Input k's values for output elements [i0, i0 + m) into dst.
template <class T>
void load(const FusedProgram& p, int k, const T* src, const void* const* index, int64_t i0, int64_t m, T* dst) {
  if (p.access[k] == scalar::fa_gathered) {
    load_gathered(p, k, src, index, i0, m, dst);
    return;
  }
  if (p.access[k] == scalar::fa_contiguous) {
    std::memcpy(dst, src + i0, static_cast<size_t>(m) * sizeof(T));
    return;
  }
  if (p.access[k] == scalar::fa_scalar) {
    std::fill(dst, dst + m, src[0]);
    return;
  }
  // Strided (broadcast): runs along the innermost dimension (a copy, a fill or a strided walk), the
  // outer dimensions' offset carried by a multi-index counter from i0.
  const int r = p.rank;
  const int64_t inner = p.shape[r - 1], s_in = p.stride[k][r - 1];
  int64_t idx[scalar::kFusedMaxRank];
  int64_t rest = i0, off = 0;
  for (int d = r - 1; d >= 0; --d) {
    idx[d] = rest % p.shape[d];
    rest /= p.shape[d];
    off += idx[d] * p.stride[k][d];
  }
  int64_t j = 0;
  while (j < m) {
    const int64_t run = std::min(inner - idx[r - 1], m - j);
    const T* s = src + off;
    if (s_in == 1) std::memcpy(dst + j, s, static_cast<size_t>(run) * sizeof(T));
    else if (s_in == 0) std::fill(dst + j, dst + j + run, s[0]);
    else
      for (int64_t q = 0; q < run; ++q) dst[j + q] = s[q * s_in];
    j += run;
    off += run * s_in;
    idx[r - 1] += run;
    if (idx[r - 1] < inner) continue;  // the chunk ended inside the row
    off -= inner * s_in;
    idx[r - 1] = 0;
    for (int d = r - 2; d >= 0; --d) {
      off += p.stride[k][d];
      if (++idx[d] < p.shape[d]) break;
      off -= idx[d] * p.stride[k][d];
      idx[d] = 0;
    }
  }
}

// The program's values at elements [i0, i0 + m) (m <= kChunk) of the iteration space: returns where
// they are (a register, an input read in place, or `direct` + i0 when given: then the last instruction
// that writes the output register writes there).
template <class T, int64_t N, class Apply>
const T* run_chunk(const FusedProgram& p, const T* const* in, const void* const* index, int64_t i0, int64_t m,
                   T (&reg)[scalar::kFusedMaxSlots][N], T* direct, int last_out, Apply apply) {
  const T* val[scalar::kFusedMaxSlots] = {};  // where each register's values are
  for (int k = 0; k < p.n_instrs; ++k) {
    const FusedInstr& ins = p.code[k];
    T* d = direct && k == last_out && ins.code != scalar::f_load ? direct + i0 : reg[ins.dst];
    if (ins.code == scalar::f_load) {
      if (p.access[ins.a] == scalar::fa_contiguous) {
        val[ins.dst] = in[ins.a] + i0;  // read in place
        continue;
      }
      load(p, ins.a, in[ins.a], index, i0, m, d);
    } else {
      apply(ins, d, val[ins.a], val[ins.b], val[ins.c], m);  // the active instruction-set variant
    }
    val[ins.dst] = d;
  }
  return val[p.out_slot];
}

// n values summed as the unfused reduction sums them (kernels/cpu/sum.h).
template <class T>
double add_run(const T* v, int64_t n) {
  Sum8 acc;
  acc.add(v, n);
  return acc.total();
}

// The output from the sum of its n_red values (the unfused reduction's mean of nothing is 0).
template <class T>
T finish_sum(double acc, bool mean, int64_t n_red) {
  return static_cast<T>(!mean ? acc : n_red > 0 ? acc / static_cast<double>(n_red) : 0.0);
}

}  // namespace

template <class T>
void fused_elementwise(const FusedProgram& p, const T* const* in, const void* const* index, T* out, int64_t n) {
  const auto apply = ORBIT_ISA_SELECT(active_isa(), fused_apply_chunk<T>);
  const int64_t chunks = (n + kElemChunk - 1) / kElemChunk;
  // The last instruction that writes the output register writes straight into `out`.
  int last_out = -1;
  for (int k = 0; k < p.n_instrs; ++k)
    if (p.code[k].dst == p.out_slot) last_out = k;
  parallel_for(chunks, 4, [&](int64_t ci) {
    alignas(64) T reg[scalar::kFusedMaxSlots][kElemChunk];
    const int64_t i0 = ci * kElemChunk, m = std::min(kElemChunk, n - i0);
    const T* v = run_chunk(p, in, index, i0, m, reg, out, last_out, apply);
    if (v != out + i0) std::memcpy(out + i0, v, static_cast<size_t>(m) * sizeof(T));
  });
}

template <class T>
void fused_reduce(const FusedProgram& p, const T* const* in, const void* const* index, T* out, int64_t n_out,
                  int64_t n_red, bool mean) {
  if (n_out <= 0) return;
  if (n_red <= 0) {  // a reduction over an empty axis (a hand-built node; the pass never closes one)
    std::fill(out, out + n_out, T(0));
    return;
  }
  const auto apply = ORBIT_ISA_SELECT(active_isa(), fused_apply_chunk<T>);
  // A few outputs over many elements (a loss's mean): one thread per output would leave the others
  // idle, so the values are computed in parallel first, then summed as the unfused reduction does.
  if (max_threads() > 1 && n_out < 2 * max_threads() && n_out * n_red >= (int64_t(1) << 15)) {
    std::vector<T> vals(static_cast<size_t>(n_out * n_red));
    fused_elementwise(p, in, index, vals.data(), n_out * n_red);
    parallel_for(n_out, 1,
                 [&](int64_t o) { out[o] = finish_sum<T>(add_run(vals.data() + o * n_red, n_red), mean, n_red); });
    return;
  }
  if (n_red <= kChunk) {
    // Whole outputs per chunk: a chunk holds `per` outputs' values, each summed in order.
    const int64_t per = kChunk / n_red, chunks = (n_out + per - 1) / per;
    parallel_for(chunks, 16, [&](int64_t ci) {
      alignas(64) T reg[scalar::kFusedMaxSlots][kChunk];
      const int64_t o0 = ci * per, o1 = std::min(n_out, o0 + per);
      const T* v = run_chunk(p, in, index, o0 * n_red, (o1 - o0) * n_red, reg, static_cast<T*>(nullptr), -1, apply);
      for (int64_t o = o0; o < o1; ++o) out[o] = finish_sum<T>(add_run(v + (o - o0) * n_red, n_red), mean, n_red);
    });
    return;
  }
  // Long reductions: each output in chunks of its elements.
  parallel_for(n_out, 1 + (1 << 14) / n_red, [&](int64_t o) {
    alignas(64) T reg[scalar::kFusedMaxSlots][kChunk];
    Sum8 acc;
    for (int64_t j0 = 0; j0 < n_red; j0 += kChunk) {
      const int64_t m = std::min(kChunk, n_red - j0);
      acc.add(run_chunk(p, in, index, o * n_red + j0, m, reg, static_cast<T*>(nullptr), -1, apply), m);
    }
    out[o] = finish_sum<T>(acc.total(), mean, n_red);
  });
}

template <class T>
void fused_reduce_rows(const FusedProgram& p, const T* const* in, const void* const* index, T* out, int64_t n_out,
                       int64_t n_red, bool mean) {
  if (n_out <= 0) return;
  if (n_red <= 0) {
    std::fill(out, out + n_out, T(0));
    return;
  }
  // One column: its rows are consecutive elements, summed as one run (as the unfused reduction does;
  // FusedAttr::sums_leading_rows sends such a group to fused_reduce).
  if (n_out == 1) return fused_reduce(p, in, index, out, 1, n_red, mean);
  const auto apply = ORBIT_ISA_SELECT(active_isa(), fused_apply_chunk<T>);
  if (n_out <= kChunk && n_red * n_out >= (int64_t(1) << 16)) {
    // Short rows, many of them (bias gradients: [E, 128] -> [128]): the rows split into ranges whose
    // count follows the shape alone (the same bits on any thread count), whole rows per chunk, each
    // range's partial sums added in range order. The same ranges as cpu::reduce, so fused and unfused
    // sums agree bit for bit.
    const int64_t ranges = range_count(n_red * n_out);
    const int64_t per_range = (n_red + ranges - 1) / ranges, rows_per = std::max<int64_t>(1, kChunk / n_out);
    std::vector<double> part(static_cast<size_t>(ranges * n_out), 0.0);
    parallel_for(ranges, 1, [&](int64_t rg) {
      alignas(64) T reg[scalar::kFusedMaxSlots][kChunk];
      double* acc = part.data() + rg * n_out;
      const int64_t end = std::min(n_red, (rg + 1) * per_range);
      for (int64_t r0 = rg * per_range; r0 < end; r0 += rows_per) {
        const int64_t rows = std::min(rows_per, end - r0);
        const T* v = run_chunk(p, in, index, r0 * n_out, rows * n_out, reg, static_cast<T*>(nullptr), -1, apply);
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t q = 0; q < n_out; ++q) acc[q] += static_cast<double>(v[r * n_out + q]);
      }
    });
    for (int64_t q = 0; q < n_out; ++q) {
      double s = 0;
      for (int64_t rg = 0; rg < ranges; ++rg) s += part[static_cast<size_t>(rg * n_out + q)];
      out[q] = finish_sum<T>(s, mean, n_red);
    }
    return;
  }
  const int64_t threads = max_threads();
  if (threads > 1 && n_out < 2 * threads && n_out * n_red >= (int64_t(1) << 15)) {
    // Too few outputs to share: the values in parallel, then the rows added in order.
    std::vector<T> vals(static_cast<size_t>(n_out * n_red));
    fused_elementwise(p, in, index, vals.data(), n_out * n_red);
    std::vector<double> acc(static_cast<size_t>(n_out), 0.0);
    for (int64_t r = 0; r < n_red; ++r)
      for (int64_t q = 0; q < n_out; ++q) acc[static_cast<size_t>(q)] += static_cast<double>(vals[r * n_out + q]);
    for (int64_t q = 0; q < n_out; ++q) out[q] = finish_sum<T>(acc[static_cast<size_t>(q)], mean, n_red);
    return;
  }
  // Column blocks of at most kChunk outputs, enough of them to occupy the threads (at least 16 wide).
  int64_t width = std::min(kChunk, n_out);
  if (threads > 1 && (n_out + width - 1) / width < threads)
    width = std::max<int64_t>(std::min<int64_t>(16, n_out), (n_out + threads - 1) / threads);
  const int64_t blocks = (n_out + width - 1) / width;
  parallel_for(blocks, 1, [&](int64_t b) {
    alignas(64) T reg[scalar::kFusedMaxSlots][kChunk];
    const int64_t j0 = b * width, w = std::min(width, n_out - j0);
    std::vector<double> acc(static_cast<size_t>(w), 0.0);
    // Whole rows are contiguous in the space: several per chunk when they are short.
    const int64_t rows_per = w == n_out ? std::max<int64_t>(1, kChunk / n_out) : 1;
    for (int64_t r0 = 0; r0 < n_red; r0 += rows_per) {
      const int64_t rows = std::min(rows_per, n_red - r0);
      const T* v = run_chunk(p, in, index, r0 * n_out + j0, rows == 1 ? w : rows * n_out, reg, static_cast<T*>(nullptr),
                             -1, apply);
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t q = 0; q < w; ++q) acc[static_cast<size_t>(q)] += static_cast<double>(v[r * n_out + q]);
    }
    for (int64_t q = 0; q < w; ++q) out[j0 + q] = finish_sum<T>(acc[static_cast<size_t>(q)], mean, n_red);
  });
}

template <class T>
void fused_segment(const FusedProgram& p, const T* const* in, const void* const* index, T* out, int64_t outer,
                   int64_t nids, int64_t inner, bool mean) {
  const int64_t nseg = p.n_segments;
  std::fill(out, out + outer * nseg * inner, T(0));
  if (nids == 0 || inner == 0) return;
  const void* ids = index[p.seg_index];
  auto id = [&](int64_t e) -> int64_t {
    return p.index_is32[p.seg_index] ? static_cast<const int32_t*>(ids)[e] : static_cast<const int64_t*>(ids)[e];
  };
  std::vector<int64_t> start(static_cast<size_t>(nseg + 1), 0);  // segment s owns rows [start[s], start[s + 1])
  for (int64_t e = 0; e < nids; ++e) ++start[static_cast<size_t>(id(e) + 1)];
  for (int64_t s = 0; s < nseg; ++s) start[static_cast<size_t>(s + 1)] += start[static_cast<size_t>(s)];
  const auto apply = ORBIT_ISA_SELECT(active_isa(), fused_apply_chunk<T>);
  parallel_for(outer * nseg, 64, [&](int64_t os) {
    alignas(64) T reg[scalar::kFusedMaxSlots][kChunk];
    const int64_t o = os / nseg, s = os % nseg;
    T* po = out + os * inner;
    const int64_t e0 = start[static_cast<size_t>(s)], e1 = start[static_cast<size_t>(s + 1)];
    if (inner <= kChunk) {  // whole rows per chunk
      const int64_t per = kChunk / inner;
      for (int64_t e = e0; e < e1; e += per) {
        const int64_t rows = std::min(per, e1 - e);
        const T* v = run_chunk(p, in, index, (o * nids + e) * inner, rows * inner, reg, static_cast<T*>(nullptr), -1, apply);
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t i = 0; i < inner; ++i) po[i] += v[r * inner + i];
      }
    } else {
      for (int64_t e = e0; e < e1; ++e)
        for (int64_t i0 = 0; i0 < inner; i0 += kChunk) {
          const int64_t m = std::min(kChunk, inner - i0);
          const T* v = run_chunk(p, in, index, (o * nids + e) * inner + i0, m, reg, static_cast<T*>(nullptr), -1, apply);
          for (int64_t i = 0; i < m; ++i) po[i0 + i] += v[i];
        }
    }
    const int64_t c = e1 - e0;
    if (mean && c > 1)
      for (int64_t i = 0; i < inner; ++i) po[i] /= static_cast<T>(c);
  });
}

template void fused_elementwise<float>(const FusedProgram&, const float* const*, const void* const*, float*, int64_t);
template void fused_elementwise<double>(const FusedProgram&, const double* const*, const void* const*, double*, int64_t);
template void fused_reduce<float>(const FusedProgram&, const float* const*, const void* const*, float*, int64_t, int64_t,
                                  bool);
template void fused_reduce<double>(const FusedProgram&, const double* const*, const void* const*, double*, int64_t,
                                   int64_t, bool);
template void fused_reduce_rows<float>(const FusedProgram&, const float* const*, const void* const*, float*, int64_t,
                                       int64_t, bool);
template void fused_reduce_rows<double>(const FusedProgram&, const double* const*, const void* const*, double*, int64_t,
                                        int64_t, bool);
template void fused_segment<float>(const FusedProgram&, const float* const*, const void* const*, float*, int64_t, int64_t,
                                   int64_t, bool);
template void fused_segment<double>(const FusedProgram&, const double* const*, const void* const*, double*, int64_t,
                                    int64_t, int64_t, bool);

}  // namespace orbit::cpu
