// CPU (batched) matrix products through Eigen. c[b] = op(a[b]) * op(b[b]), row-major, where the
// per-batch element offsets of a and b allow broadcast batch dims.
#pragma once
#include <cstdint>

namespace orbit::cpu {

template <class T>
void matmul(const T* a, const T* b, T* c, int64_t batch, const int64_t* a_off, const int64_t* b_off,
            int64_t m, int64_t n, int64_t k, bool trans_a, bool trans_b);

extern template void matmul<float>(const float*, const float*, float*, int64_t, const int64_t*,
                                   const int64_t*, int64_t, int64_t, int64_t, bool, bool);
extern template void matmul<double>(const double*, const double*, double*, int64_t, const int64_t*,
                                    const int64_t*, int64_t, int64_t, int64_t, bool, bool);

}  // namespace orbit::cpu
