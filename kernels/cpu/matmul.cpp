#include "kernels/cpu/matmul.h"

#include <Eigen/Core>
#include <algorithm>
#include <bit>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "kernels/cpu/isa/gemm.h"
#include "kernels/cpu/isa/select.h"
#include "kernels/cpu/parallel.h"

// The baseline variant of the product (the x86-64-v3 / v4 ones: kernels/cpu/isa/gemm_x86v*.cpp).
#define ORBIT_ISA_NS isa_baseline
#include "kernels/cpu/isa/gemm_body.inc"

namespace orbit::cpu {

bool narrow_gemm_applies(int64_t m, int64_t n, int64_t k, bool trans_a, bool trans_b, size_t elem_bytes) {
  static const bool enabled = [] {
    const char* env = std::getenv("ORBIT_CPU_NARROW_GEMM");
    return !(env && std::strcmp(env, "0") == 0);
  }();
  if (!enabled || m < 1 || k < 1) return false;
  // At least half a vector of columns (fewer waste most lanes: Eigen's kernel does better), at most 256.
  if (n < static_cast<int64_t>(32 / elem_bytes) || n > 256) return false;
  // A transposed b is transposed once per call into a scratch panel (about 0.4 ns an element): within
  // 256 KiB, and worth it from 2k rows of output on.
  if (trans_b) return m >= 2 * k && static_cast<size_t>(k * n) * elem_bytes <= (size_t(256) << 10);
  // Rows of a are read in place, k elements long: up to 1024 (Eigen's packed kernel at parity beyond).
  // Columns of a [k, m] (weight gradients, k the batch) in ranges of k: any length.
  return trans_a || k <= 1024;
}

template <class T>
void gemm(const T* a, const T* b, T* c, int64_t m, int64_t n, int64_t k, bool trans_a, bool trans_b) {
  ORBIT_ISA_SELECT(active_isa(), gemm<T>)(a, b, c, m, n, k, trans_a, trans_b);
}

template <class T>
bool gemm_bias_relu(const T* a, const T* b, const T* bias, T* c, int64_t m, int64_t n, int64_t k, bool relu) {
  return ORBIT_ISA_SELECT(active_isa(), gemm_narrow<T>)(a, b, c, m, n, k, false, false, bias, relu);
}

namespace {

// Ranges of the inner dimension for a small product over a long one, or 1 where it is not split.
// Weight gradients (X^T dY: [E, 128]^T [E, 128] over 10^5 edge rows) have too few output blocks for
// Eigen's threads, which split the output only: on two threads such a product ran 1.27x faster than on
// one. a^T b with row-major a [k, m] and b [k, n] splits along k into contiguous row blocks. The count
// follows the shape alone, never the thread count, so the result has the same bits on any thread count.
int64_t inner_ranges(int64_t batch, int64_t m, int64_t n, int64_t k, bool trans_a, bool trans_b) {
  if (batch != 1 || !trans_a || trans_b || m * n > (int64_t(1) << 16)) return 1;
  if (k < 8192 || k < 16 * std::max(m, n)) return 1;
  // A power of two (balanced on 2^j threads), ranges of 2048 rows or more, partials of at most 2^20
  // entries in all (kept per thread between calls).
  const int64_t cap = std::min<int64_t>({64, k / 2048, std::max<int64_t>(2, (int64_t(1) << 20) / (m * n))});
  return static_cast<int64_t>(std::bit_floor(static_cast<uint64_t>(cap)));
}

// c = sum over the ranges of a[r]^T b[r], each range's product on one thread into its own partial,
// the partials added in range order (the per-thread partial buffers are kept between calls).
template <class T>
void split_inner_product(const T* a, const T* b, T* c, int64_t m, int64_t n, int64_t k, int64_t ranges) {
  const auto product = ORBIT_ISA_SELECT(active_isa(), gemm<T>);
  thread_local std::vector<T> partials;
  const size_t mn = static_cast<size_t>(m * n);
  if (partials.size() < static_cast<size_t>(ranges) * mn) partials.resize(static_cast<size_t>(ranges) * mn);
  T* part = partials.data();
  const int64_t per = (k + ranges - 1) / ranges;
  parallel_for(ranges, 1, [&](int64_t r) {
    const int64_t k0 = std::min(k, r * per), k1 = std::min(k, k0 + per);
    product(a + k0 * m, b + k0 * n, part + r * mn, m, n, k1 - k0, true, false);  // k1 == k0 gives zeros
  });
  sum_range_partials(part, c, ranges, static_cast<int64_t>(mn));
}

}  // namespace

template <class T>
void sum_range_partials(const T* part, T* c, int64_t ranges, int64_t mn) {
  parallel_for(mn, 4096, [&](int64_t i) {
    T s = part[i];
    for (int64_t r = 1; r < ranges; ++r) s += part[r * mn + i];
    c[i] = s;
  });
}

template <class T>
void matmul(const T* a, const T* b, T* c, int64_t batch, const int64_t* a_off, const int64_t* b_off,
            int64_t m, int64_t n, int64_t k, bool trans_a, bool trans_b) {
  if (const int64_t ranges = inner_ranges(batch, m, n, k, trans_a, trans_b); ranges > 1)
    return split_inner_product(a + a_off[0], b + b_off[0], c, m, n, k, ranges);
  const auto product = ORBIT_ISA_SELECT(active_isa(), gemm<T>);
  auto one = [&](int64_t i) { product(a + a_off[i], b + b_off[i], c + i * m * n, m, n, k, trans_a, trans_b); };
  // Many small products: threads over the batch. Few large ones: Eigen threads inside each.
  if (batch > 1 && m * n * k < (1 << 18))
    parallel_for(batch, 4, one);
  else
    for (int64_t i = 0; i < batch; ++i) one(i);
}

template <class T>
bool gemm_continue(const T* a, const T* b, T* c, int64_t m, int64_t n, int64_t k, bool trans_a, bool trans_b) {
  return ORBIT_ISA_SELECT(active_isa(), gemm_narrow_continue<T>)(a, b, c, m, n, k, trans_a, trans_b);
}

int64_t matmul_chain_ranges(int64_t m, int64_t n, int64_t k, bool trans_a, bool trans_b, size_t elem_bytes) {
  // The baseline variant has no narrow kernel (Eigen's blocking decides its sums).
  if (active_isa() == Isa::baseline || k < 1) return 0;
  const int64_t ranges = inner_ranges(1, m, n, k, trans_a, trans_b);
  const int64_t per = (k + ranges - 1) / ranges;
  // Every range's product (the last one may be shorter) must take the narrow kernel.
  if (!narrow_gemm_applies(m, n, per, trans_a, trans_b, elem_bytes)) return 0;
  if (k - (ranges - 1) * per > 0 && !narrow_gemm_applies(m, n, k - (ranges - 1) * per, trans_a, trans_b, elem_bytes))
    return 0;
  return ranges;
}

template void sum_range_partials<float>(const float*, float*, int64_t, int64_t);
template void sum_range_partials<double>(const double*, double*, int64_t, int64_t);
template bool gemm_continue<float>(const float*, const float*, float*, int64_t, int64_t, int64_t, bool, bool);
template bool gemm_continue<double>(const double*, const double*, double*, int64_t, int64_t, int64_t, bool, bool);
template void gemm<float>(const float*, const float*, float*, int64_t, int64_t, int64_t, bool, bool);
template void gemm<double>(const double*, const double*, double*, int64_t, int64_t, int64_t, bool, bool);
template bool gemm_bias_relu<float>(const float*, const float*, const float*, float*, int64_t, int64_t, int64_t,
                                    bool);
template bool gemm_bias_relu<double>(const double*, const double*, const double*, double*, int64_t, int64_t,
                                     int64_t, bool);
template void matmul<float>(const float*, const float*, float*, int64_t, const int64_t*, const int64_t*,
                            int64_t, int64_t, int64_t, bool, bool);
template void matmul<double>(const double*, const double*, double*, int64_t, const int64_t*,
                             const int64_t*, int64_t, int64_t, int64_t, bool, bool);

}  // namespace orbit::cpu
