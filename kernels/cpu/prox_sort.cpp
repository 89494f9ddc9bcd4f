// LSD radix argsort of floating keys (see prox_sort.h): 8-bit digits (4 passes for f32, 8 for f64);
// passes whose digit every key shares are skipped; each pass is a stable chunked counting sort.
#include "kernels/cpu/prox_sort.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <type_traits>
#include <vector>

#include "kernels/cpu/parallel.h"
#include "kernels/cpu/prox_scan.h"
#include "kernels/cpu/prox_scratch.h"

namespace orbit::cpu::prox {

namespace {

template <class T>
using Bits = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;

// Maps a float to an unsigned integer with the same order (negatives flipped entirely).
template <class T>
inline Bits<T> order_key(T x) {
  using U = Bits<T>;
  U u;
  std::memcpy(&u, &x, sizeof u);
  const U sign = U(1) << (8 * sizeof(U) - 1);
  return (u & sign) ? ~u : (u | sign);
}

constexpr int kDigitBits = 8;
constexpr unsigned kBuckets = 1u << kDigitBits;

inline int64_t chunk_begin(int64_t c, int64_t chunks, int64_t n) { return n / chunks * c + std::min(c, n % chunks); }

// The key (or its inverse, the float) of order_key.
template <class T>
inline T from_order_key(Bits<T> u) {
  using U = Bits<T>;
  const U sign = U(1) << (8 * sizeof(U) - 1);
  u = (u & sign) ? (u ^ sign) : ~u;
  T x;
  std::memcpy(&x, &u, sizeof x);
  return x;
}

// Sorts keys with an index array of type I (32-bit while n fits: less memory traffic per pass).
template <class T, class I>
void radix_sort_pairs(const T* w, int64_t n, T* sorted, int64_t* perm) {
  using U = Bits<T>;
  auto ka = scratch<U>(n), kb = scratch<U>(n);
  auto ia = scratch<I>(n), ib = scratch<I>(n);
  parallel_for(n, 1 << 15, [&](int64_t k) {
    ka[k] = order_key(w[k]);
    ia[k] = static_cast<I>(k);
  });
  const int64_t chunks = num_chunks(n, 1 << 16);
  std::vector<std::array<int64_t, kBuckets>> hist(chunks);
  U* src_k = ka.get();
  U* dst_k = kb.get();
  I* src_i = ia.get();
  I* dst_i = ib.get();
  for (int shift = 0; shift < int(8 * sizeof(U)); shift += kDigitBits) {
    parallel_for(chunks, 1, [&](int64_t c) {
      auto& h = hist[c];
      h.fill(0);
      for (int64_t k = chunk_begin(c, chunks, n); k < chunk_begin(c + 1, chunks, n); ++k)
        ++h[(src_k[k] >> shift) & (kBuckets - 1)];
    });
    // Skip a digit every key shares (common for the sign and exponent bits).
    int64_t first_digit_count = 0;
    const unsigned d0 = (src_k[0] >> shift) & (kBuckets - 1);
    for (int64_t c = 0; c < chunks; ++c) first_digit_count += hist[c][d0];
    if (first_digit_count == n) continue;
    int64_t run = 0;
    for (unsigned d = 0; d < kBuckets; ++d)
      for (int64_t c = 0; c < chunks; ++c) {
        int64_t m = hist[c][d];
        hist[c][d] = run;
        run += m;
      }
    parallel_for(chunks, 1, [&](int64_t c) {
      auto& o = hist[c];
      for (int64_t k = chunk_begin(c, chunks, n); k < chunk_begin(c + 1, chunks, n); ++k) {
        int64_t at = o[(src_k[k] >> shift) & (kBuckets - 1)]++;
        dst_k[at] = src_k[k];
        dst_i[at] = src_i[k];
      }
    });
    std::swap(src_k, dst_k);
    std::swap(src_i, dst_i);
  }
  parallel_for(n, 1 << 15, [&](int64_t k) {
    perm[k] = static_cast<int64_t>(src_i[k]);
    if (sorted) sorted[k] = from_order_key<T>(src_k[k]);
  });
}

}  // namespace

template <class T>
void radix_argsort(const T* w, int64_t n, T* sorted, int64_t* perm) {
  if (n <= 0) return;
  if (n <= int64_t(UINT32_MAX)) radix_sort_pairs<T, uint32_t>(w, n, sorted, perm);
  else radix_sort_pairs<T, int64_t>(w, n, sorted, perm);
}

template void radix_argsort<float>(const float*, int64_t, float*, int64_t*);
template void radix_argsort<double>(const double*, int64_t, double*, int64_t*);

}  // namespace orbit::cpu::prox
