#include "kernels/cpu/matmul.h"

#include <Eigen/Core>

#include "kernels/cpu/parallel.h"

namespace orbit::cpu {

template <class T>
void matmul(const T* a, const T* b, T* c, int64_t batch, const int64_t* a_off, const int64_t* b_off,
            int64_t m, int64_t n, int64_t k, bool trans_a, bool trans_b) {
  using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using CMap = Eigen::Map<const Mat>;
  auto one = [&](int64_t i) {
    Eigen::Map<Mat> C(c + i * m * n, m, n);
    if (k == 0) {
      C.setZero();
      return;
    }
    CMap A(a + a_off[i], trans_a ? k : m, trans_a ? m : k);
    CMap B(b + b_off[i], trans_b ? n : k, trans_b ? k : n);
    if (!trans_a && !trans_b) C.noalias() = A * B;
    else if (trans_a && !trans_b) C.noalias() = A.transpose() * B;
    else if (!trans_a && trans_b) C.noalias() = A * B.transpose();
    else C.noalias() = A.transpose() * B.transpose();
  };
  // Many small products: threads over the batch. Few large ones: Eigen threads inside each.
  if (batch > 1 && m * n * k < (1 << 18))
    parallel_for(batch, 4, one);
  else
    for (int64_t i = 0; i < batch; ++i) one(i);
}

template void matmul<float>(const float*, const float*, float*, int64_t, const int64_t*, const int64_t*,
                            int64_t, int64_t, int64_t, bool, bool);
template void matmul<double>(const double*, const double*, double*, int64_t, const int64_t*,
                             const int64_t*, int64_t, int64_t, int64_t, bool, bool);

}  // namespace orbit::cpu
