// A parallel loop for CPU kernels: OpenMP when the build has it, serial otherwise.
// Work below `grain` iterations runs serially (threads cost more than they save there).
#pragma once
#include <algorithm>
#include <bit>
#include <cstdint>

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace orbit::cpu {

// The threads a parallel_for may use (1 without OpenMP).
inline int max_threads() {
#if defined(_OPENMP)
  return omp_get_max_threads();
#else
  return 1;
#endif
}

template <class F>
void parallel_for(int64_t n, int64_t grain, F&& f) {
#if defined(_OPENMP)
  // Inside a parallel region (a row-blocked program runs its blocks on the threads,
  // engine/program_rows.cpp) the loop runs on the calling thread.
  if (n >= 2 * grain && !omp_in_parallel()) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) f(i);
    return;
  }
#endif
  (void)grain;
  for (int64_t i = 0; i < n; ++i) f(i);
}

// Row ranges for a sum over many short rows: a power of two (balanced on 2^j threads), at most 32, about
// 2^16 elements each or more; set by the size alone so that results never depend on the thread count.
inline int64_t range_count(int64_t elements) {
  return static_cast<int64_t>(std::bit_floor(static_cast<uint64_t>(std::clamp<int64_t>(elements >> 16, 1, 32))));
}

// Iteration space of up to 6 dims with per-operand element strides (0 where an operand broadcasts).
struct Strided {
  static constexpr int kMax = 6;
  int rank = 0;
  int64_t shape[kMax] = {};
  int64_t stride[3][kMax] = {};  // up to three operands

  int64_t numel() const {
    int64_t n = 1;
    for (int i = 0; i < rank; ++i) n *= shape[i];
    return n;
  }
  // Offset of operand k for the flat row-major index `flat` of the iteration space.
  int64_t offset(int k, int64_t flat) const {
    int64_t off = 0;
    for (int i = rank - 1; i >= 0; --i) {
      int64_t q = flat / shape[i];
      off += (flat - q * shape[i]) * stride[k][i];
      flat = q;
    }
    return off;
  }
};

// The same iteration with size-1 dims dropped and adjacent dims merged wherever every one of the first
// `operands` operands steps through them as one (stride[i] == stride[i + 1] * shape[i + 1]): the elements
// are visited in the same order with the same offsets, in fewer and longer rows.
inline Strided coalesced(const Strided& it, int operands) {
  Strided c;
  for (int i = 0; i < it.rank; ++i) {
    if (it.shape[i] == 1) continue;
    bool merge = c.rank > 0;
    for (int k = 0; merge && k < operands; ++k) merge = it.stride[k][i] * it.shape[i] == c.stride[k][c.rank - 1];
    if (merge && c.rank > 0) {
      // The previous dim d and this one i: offset(d, i) = d s_d + i s_i with s_d = shape_i s_i.
      c.shape[c.rank - 1] *= it.shape[i];
      for (int k = 0; k < operands; ++k) c.stride[k][c.rank - 1] = it.stride[k][i];
      continue;
    }
    c.shape[c.rank] = it.shape[i];
    for (int k = 0; k < operands; ++k) c.stride[k][c.rank] = it.stride[k][i];
    ++c.rank;
  }
  if (c.rank == 0 && it.rank > 0) {  // every dim of size 1: one element
    c.rank = 1;
    c.shape[0] = 1;
  }
  return c;
}

// f(row, off) for the rows [r0, r1) of `it` (a row: one index of all dims but the last), off[k] the
// offset of operand k's row start, kept by stepping a multi-index instead of dividing for every row.
template <int Operands, class F>
void for_rows(const Strided& it, int64_t r0, int64_t r1, F&& f) {
  const int outer = it.rank - 1;
  int64_t idx[Strided::kMax] = {}, off[Operands] = {};
  int64_t rem = r0;
  for (int d = outer - 1; d >= 0; --d) {
    idx[d] = rem % it.shape[d];
    rem /= it.shape[d];
    for (int k = 0; k < Operands; ++k) off[k] += idx[d] * it.stride[k][d];
  }
  for (int64_t r = r0; r < r1; ++r) {
    f(r, static_cast<const int64_t*>(off));
    for (int d = outer - 1; d >= 0; --d) {
      for (int k = 0; k < Operands; ++k) off[k] += it.stride[k][d];
      if (++idx[d] < it.shape[d]) break;
      for (int k = 0; k < Operands; ++k) off[k] -= it.stride[k][d] * it.shape[d];
      idx[d] = 0;
    }
  }
}

// The iteration space in pieces of about 4096 elements on the thread pool: f(row, off, c0, c1) for the
// elements [c0, c1) of a row (off as for_rows): several short rows per piece, a long row in several.
template <int Operands, class F>
void parallel_rows(const Strided& it, int64_t grain_elements, F&& f) {
  constexpr int64_t kPiece = 4096;
  const int64_t inner = it.shape[it.rank - 1] > 0 ? it.shape[it.rank - 1] : 1;
  const int64_t rows = it.numel() / inner;
  if (inner > kPiece) {
    const int64_t pieces = (inner + kPiece - 1) / kPiece;
    parallel_for(rows * pieces, grain_elements / kPiece + 1, [&](int64_t t) {
      const int64_t r = t / pieces, c0 = (t - r * pieces) * kPiece, c1 = c0 + kPiece < inner ? c0 + kPiece : inner;
      for_rows<Operands>(it, r, r + 1, [&](int64_t row, const int64_t* off) { f(row, off, c0, c1); });
    });
    return;
  }
  const int64_t per = kPiece / inner, blocks = (rows + per - 1) / per;
  parallel_for(blocks, grain_elements / (per * inner) + 1, [&](int64_t b) {
    const int64_t r0 = b * per, r1 = r0 + per < rows ? r0 + per : rows;
    for_rows<Operands>(it, r0, r1, [&](int64_t row, const int64_t* off) { f(row, off, int64_t(0), inner); });
  });
}

}  // namespace orbit::cpu
