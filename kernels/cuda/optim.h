// Fused optimizer updates on the GPU (kernels/cuda/optim.cu), as plain launchers over raw device
// pointers: one kernel per parameter tensor, no temporaries. The math is kernels/cpu/optim.h's,
// element by element: every element is computed in double, with no fused multiply-adds (explicitly
// rounded products and sums), and rounded to the element type as the CPU rounds it, so the two
// devices agree to the last bit for the same inputs. Launchers enqueue on `s` and return without
// synchronising (except sum_squares, which reads its results back); a failed launch throws CudaFailure.
#pragma once
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "kernels/cuda/kernels.h"

namespace orbit::cuda {

// t: Elem::f32 or Elem::f64. `buf` may be null when mu == 0 (cpu::sgd_update).
void sgd_update(Elem t, void* p, const void* g, void* buf, int64_t n, double lr, double mu, double wd, bool nesterov,
                bool first, cudaStream_t s);
// Adam / AdamW with bias correction at step `step` (>= 1), as cpu::adam_update.
void adam_update(Elem t, void* p, const void* g, void* m, void* v, int64_t n, double lr, double b1, double b2,
                 double eps, double wd, bool decoupled, int64_t step, cudaStream_t s);
// avg = decay avg + (1 - decay) p
void ema_update(Elem t, void* avg, const void* p, int64_t n, double decay, cudaStream_t s);
// x *= c
void scale(Elem t, void* x, int64_t n, double c, cudaStream_t s);

// Sum of squares of x (n elements) in f64, written to the device double *out. Deterministic: a
// block reduction whose block count and element assignment depend on n only, then one block sums
// the blocks' partials in a fixed tree. `workspace` holds sum_squares_workspace(n) bytes; launches
// on one stream may share it.
size_t sum_squares_workspace(int64_t n);
void sum_squares(Elem t, const void* x, int64_t n, double* out, void* workspace, cudaStream_t s);

}  // namespace orbit::cuda
