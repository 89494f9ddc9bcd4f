// CUDA kernels of the fused MLP op (engine/mlp_fused.h). When every width is <= 128 (what the compiler's
// MLP pass guarantees):
//  - f32 on sm_80 and newer: the tensor-core kernel (kernels/cuda/mlp_fused_tc.cu): persistent CTAs
//    hold every layer's W and b in shared memory, each warp takes tiles of 32 rows (16 at widths > 64)
//    through all layers with m16n8k8 TF32 MMAs in the 3xTF32 split (each product as three tensor-core
//    products of its operands' high and low TF32 parts, accumulated in f32: FP32-GEMM accuracy, see
//    kernels/scalar/mma_tf32.h). Infinite inputs or weights give NaN there (inf - inf in the split)
//    where an FP32 GEMM may give +-inf. ORBIT_MLP_CUDA_TC=0 turns it off; it also stands aside when
//    the weights leave no room for 4 warps' activations in shared memory.
//  - otherwise (f64, older GPUs, or the above off): one CTA takes a tile of rows through all layers:
//    the tile's activations stay in shared memory (transposed, [width][rows]), each layer's W and b
//    are staged in shared memory, and every thread accumulates a register tile (up to 8 x 8) with FP32
//    (or FP64) FMAs, summing over k in order like a plain GEMM.
// Wider layers run one naive kernel per layer through scratch memory (correct, not fast). Enqueued on
// the given stream; no CUB / Thrust.
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

// The tensor-core path alone (f32): false, with nothing enqueued, where it does not apply.
bool mlp_fused_tc(const float* x, int64_t n, const MlpDesc& d, float* y, cudaStream_t s);

}  // namespace orbit::cuda
