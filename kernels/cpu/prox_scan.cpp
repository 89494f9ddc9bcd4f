// Chunked parallel scans used by the weight-sharing prox (see prox_scan.h).
#include "kernels/cpu/prox_scan.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/cpu/parallel.h"

namespace orbit::cpu::prox {


int64_t num_chunks(int64_t n, int64_t grain) {
  int64_t c = std::min<int64_t>(max_threads(), n / std::max<int64_t>(grain, 1));
  return std::max<int64_t>(c, 1);
}

namespace {

// s + c += x with Neumaier's correction term.
inline void neumaier_add(double& s, double& c, double x) {
  double t = s + x;
  c += std::fabs(s) >= std::fabs(x) ? (s - t) + x : (x - t) + s;
  s = t;
}

// Chunk c of `chunks` equal parts of [0, n).
inline int64_t chunk_begin(int64_t c, int64_t chunks, int64_t n) { return n / chunks * c + std::min(c, n % chunks); }

// Exclusive scan of per-chunk counts; returns the total.
int64_t exclusive_scan(std::vector<int64_t>& v) {
  int64_t run = 0;
  for (auto& x : v) {
    int64_t c = x;
    x = run;
    run += c;
  }
  return run;
}

}  // namespace

void compensated_prefix(const double* z, int64_t n, double* hi, double* lo) {
  hi[0] = lo[0] = 0;
  const int64_t chunks = num_chunks(n, 1 << 15);
  // Pass 1: each chunk's own compensated total.
  std::vector<double> cs(chunks, 0), cc(chunks, 0);
  parallel_for(chunks, 1, [&](int64_t c) {
    double s = 0, e = 0;
    for (int64_t k = chunk_begin(c, chunks, n); k < chunk_begin(c + 1, chunks, n); ++k) neumaier_add(s, e, z[k]);
    cs[c] = s;
    cc[c] = e;
  });
  // The offsets of the chunks, accumulated with the same compensation.
  std::vector<double> os(chunks, 0), oc(chunks, 0);
  double s = 0, e = 0;
  for (int64_t c = 0; c < chunks; ++c) {
    os[c] = s;
    oc[c] = e;
    neumaier_add(s, e, cs[c]);
    neumaier_add(s, e, cc[c]);
  }
  // Pass 2: rescan each chunk from its offset.
  parallel_for(chunks, 1, [&](int64_t c) {
    double s = os[c], e = oc[c];
    for (int64_t k = chunk_begin(c, chunks, n); k < chunk_begin(c + 1, chunks, n); ++k) {
      neumaier_add(s, e, z[k]);
      hi[k + 1] = s;
      lo[k + 1] = e;
    }
  });
}

int64_t compact(const uint8_t* keep, const int64_t* in, int64_t n, int64_t* out) {
  const int64_t chunks = num_chunks(n, 1 << 15);
  std::vector<int64_t> count(chunks, 0);
  parallel_for(chunks, 1, [&](int64_t c) {
    int64_t m = 0;
    for (int64_t k = chunk_begin(c, chunks, n); k < chunk_begin(c + 1, chunks, n); ++k) m += keep[k] != 0;
    count[c] = m;
  });
  int64_t total = exclusive_scan(count);
  parallel_for(chunks, 1, [&](int64_t c) {
    int64_t o = count[c];
    for (int64_t k = chunk_begin(c, chunks, n); k < chunk_begin(c + 1, chunks, n); ++k)
      if (keep[k]) out[o++] = in[k];
  });
  return total;
}

int64_t flagged_indices(const uint8_t* flag, int64_t n, int64_t* out) {
  const int64_t chunks = num_chunks(n, 1 << 15);
  std::vector<int64_t> count(chunks, 0);
  parallel_for(chunks, 1, [&](int64_t c) {
    int64_t m = 0;
    for (int64_t k = chunk_begin(c, chunks, n); k < chunk_begin(c + 1, chunks, n); ++k) m += flag[k] != 0;
    count[c] = m;
  });
  int64_t total = exclusive_scan(count);
  parallel_for(chunks, 1, [&](int64_t c) {
    int64_t o = count[c];
    for (int64_t k = chunk_begin(c, chunks, n); k < chunk_begin(c + 1, chunks, n); ++k)
      if (flag[k]) out[o++] = k;
  });
  return total;
}

}  // namespace orbit::cpu::prox
