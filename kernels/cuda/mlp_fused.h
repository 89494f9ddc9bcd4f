// CUDA kernel of the fused MLP op (engine/mlp_fused.h). When every width is <= 128 (what the compiler's
// MLP pass guarantees), one CTA takes a tile of rows through all layers: the tile's activations stay in
// shared memory (transposed, [width][rows]), each layer's W and b are staged in shared memory, and every
// thread accumulates a register tile (up to 8 x 8) with FP32 (or FP64) FMAs, summing over k in order like
// a plain GEMM: no tensor cores, no TF32. Wider layers run one naive kernel per layer through scratch
// memory (correct, not fast). Enqueued on the given stream; no CUB / Thrust.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/cuda/kernels.h"
#include "kernels/scalar/mlp_act.h"

namespace orbit::cuda {

constexpr int kMlpMaxFastWidth = 128;

struct MlpDesc {
  int layers = 0;
  int64_t widths[scalar::kMlpMaxLayers + 1] = {};  // the input width, then each layer's output width
  scalar::MlpAct acts[scalar::kMlpMaxLayers] = {};
  const void* w[scalar::kMlpMaxLayers] = {};  // [widths[l], widths[l+1]] row-major
  const void* b[scalar::kMlpMaxLayers] = {};  // [widths[l+1]]
};

// x [n, widths[0]] -> y [n, widths[layers]], element type f32 or f64.
void mlp_fused(Elem t, const void* x, int64_t n, const MlpDesc& d, void* y, cudaStream_t s);

}  // namespace orbit::cuda
