#include "kernels/cpu/mlp_fused.h"

#include <algorithm>
#include <vector>

#include "kernels/cpu/isa/fused_apply.h"
#include "kernels/cpu/isa/select.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/parallel.h"
#include "kernels/scalar/fused.h"

namespace orbit::cpu {

namespace {

// out[i, j] = f(out[i, j] + b[j]) (b == nullptr: the bias is already in): the unfused program's
// broadcast add, then its activation kernel. The activation runs in place through the fused kernel's
// instruction loop of the CPU's variant (the same functors at the full vector width; a loop compiled
// for the SSE2 baseline took 2.5x as long on a tanh network).
template <class T>
void bias_act(scalar::MlpAct a, T* out, int64_t m, int64_t n, const T* b) {
  using scalar::MlpAct;
  if (b)
    for (int64_t i = 0; i < m; ++i) {
      T* row = out + i * n;
      for (int64_t j = 0; j < n; ++j) row[j] = row[j] + b[j];
    }
  scalar::FusedInstr f;
  switch (a) {
    case MlpAct::identity: return;
    case MlpAct::relu: f.code = scalar::f_relu; break;
    case MlpAct::tanh: f.code = scalar::f_tanh; break;
    case MlpAct::silu: f.code = scalar::f_silu; break;
    case MlpAct::sigmoid: f.code = scalar::f_sigmoid; break;
    case MlpAct::gelu: f.code = scalar::f_gelu; break;
    case MlpAct::softplus: f.code = scalar::f_softplus; break;
  }
  ORBIT_ISA_SELECT(active_isa(), fused_apply_chunk<T>)(f, out, out, out, out, m * n);
}

}  // namespace

int64_t mlp_block_rows(int64_t max_width, int64_t elem) {
  // Two activation buffers of rows x max_width within ~128 KiB (L2), at least 16 rows, at most 512.
  const int64_t rows = (int64_t(128) << 10) / (2 * std::max<int64_t>(1, max_width) * elem);
  return std::clamp<int64_t>(rows / 16 * 16, 16, 512);
}

template <class T>
void mlp_fused(const T* x, int64_t n, const MlpShape& s, const T* const* w, const T* const* b, T* y,
               int64_t block_rows) {
  if (n <= 0 || s.layers <= 0) return;
  int64_t max_w = 0;
  for (int l = 0; l <= s.layers; ++l) max_w = std::max(max_w, s.widths[l]);
  const int64_t rows = block_rows > 0 ? block_rows : mlp_block_rows(max_w, sizeof(T));
  const int64_t blocks = (n + rows - 1) / rows;
  auto run_block = [&](int64_t blk, std::vector<T>& scratch) {
    const int64_t r0 = blk * rows, m = std::min(rows, n - r0);
    if (scratch.size() < static_cast<size_t>(2 * rows * max_w)) scratch.resize(static_cast<size_t>(2 * rows * max_w));
    const T* h = x + r0 * s.widths[0];
    for (int l = 0; l < s.layers; ++l) {
      const int64_t k = s.widths[l], nw = s.widths[l + 1];
      T* out = l + 1 == s.layers ? y + r0 * nw : scratch.data() + (l % 2) * rows * max_w;
      // The narrow-product kernel adds the bias (and applies relu) in registers, with the bits of the
      // product, add and activation done apart; other activations follow in a second pass.
      const bool relu = s.acts[l] == scalar::MlpAct::relu;
      if (gemm_bias_relu(h, w[l], b[l], out, m, nw, k, relu)) {
        if (!relu) bias_act<T>(s.acts[l], out, m, nw, nullptr);
      } else {
        gemm(h, w[l], out, m, nw, k, false, false);  // the CPU's best instruction-set variant
        bias_act(s.acts[l], out, m, nw, b[l]);
      }
      h = out;
    }
  };
#if defined(_OPENMP)
  if (blocks >= 2) {
#pragma omp parallel
    {
      std::vector<T> scratch;
#pragma omp for schedule(static)
      for (int64_t blk = 0; blk < blocks; ++blk) run_block(blk, scratch);
    }
    return;
  }
#endif
  std::vector<T> scratch;
  for (int64_t blk = 0; blk < blocks; ++blk) run_block(blk, scratch);
}

template void mlp_fused<float>(const float*, int64_t, const MlpShape&, const float* const*, const float* const*,
                               float*, int64_t);
template void mlp_fused<double>(const double*, int64_t, const MlpShape&, const double* const*,
                                const double* const*, double*, int64_t);

}  // namespace orbit::cpu
