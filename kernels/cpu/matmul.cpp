#include "kernels/cpu/matmul.h"

#include <Eigen/Core>

#include "kernels/cpu/isa/gemm.h"
#include "kernels/cpu/isa/select.h"
#include "kernels/cpu/parallel.h"

// The baseline variant of the product (the x86-64-v3 / v4 ones: kernels/cpu/isa/gemm_x86v*.cpp).
#define ORBIT_ISA_NS isa_baseline
#include "kernels/cpu/isa/gemm_body.inc"

namespace orbit::cpu {

template <class T>
void gemm(const T* a, const T* b, T* c, int64_t m, int64_t n, int64_t k, bool trans_a, bool trans_b) {
  ORBIT_ISA_SELECT(active_isa(), gemm<T>)(a, b, c, m, n, k, trans_a, trans_b);
}

template <class T>
void matmul(const T* a, const T* b, T* c, int64_t batch, const int64_t* a_off, const int64_t* b_off,
            int64_t m, int64_t n, int64_t k, bool trans_a, bool trans_b) {
  const auto product = ORBIT_ISA_SELECT(active_isa(), gemm<T>);
  auto one = [&](int64_t i) { product(a + a_off[i], b + b_off[i], c + i * m * n, m, n, k, trans_a, trans_b); };
  // Many small products: threads over the batch. Few large ones: Eigen threads inside each.
  if (batch > 1 && m * n * k < (1 << 18))
    parallel_for(batch, 4, one);
  else
    for (int64_t i = 0; i < batch; ++i) one(i);
}

template void gemm<float>(const float*, const float*, float*, int64_t, int64_t, int64_t, bool, bool);
template void gemm<double>(const double*, const double*, double*, int64_t, int64_t, int64_t, bool, bool);
template void matmul<float>(const float*, const float*, float*, int64_t, const int64_t*, const int64_t*,
                            int64_t, int64_t, int64_t, bool, bool);
template void matmul<double>(const double*, const double*, double*, int64_t, const int64_t*,
                             const int64_t*, int64_t, int64_t, int64_t, bool, bool);

}  // namespace orbit::cpu
