// CPU kernel of the fused MLP op (engine/mlp_fused.h): y = act_L(... act_1(x W_1 + b_1) ... W_L + b_L).
// Blocks of rows travel through every layer while they are cache-resident (one Eigen GEMM per layer and
// block, then bias + activation in place), OpenMP over blocks; the [N, width] intermediates of the
// unfused program never reach memory.
#pragma once
#include <cstdint>

#include "kernels/scalar/mlp_act.h"

namespace orbit::cpu {

struct MlpShape {
  int layers = 0;
  const int64_t* widths = nullptr;  // layers + 1: the input width, then each layer's output width
  const scalar::MlpAct* acts = nullptr;
};

// x [n, widths[0]], w[l] [widths[l], widths[l+1]], b[l] [widths[l+1]], y [n, widths[layers]]; row-major.
// `block_rows` <= 0 picks the default (a block's activations stay in L2).
template <class T>
void mlp_fused(const T* x, int64_t n, const MlpShape& s, const T* const* w, const T* const* b, T* y,
               int64_t block_rows = 0);

extern template void mlp_fused<float>(const float*, int64_t, const MlpShape&, const float* const*,
                                      const float* const*, float*, int64_t);
extern template void mlp_fused<double>(const double*, int64_t, const MlpShape&, const double* const*,
                                       const double* const*, double*, int64_t);

// The default rows per block for the widest layer `max_width` and element size `elem`.
int64_t mlp_block_rows(int64_t max_width, int64_t elem);

}  // namespace orbit::cpu
