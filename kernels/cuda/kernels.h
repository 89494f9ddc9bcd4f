// The CUDA kernels of the built-in ops, as plain launchers: raw device pointers, element-type
// codes and iteration descriptors; nothing here knows the engine's types. Every launcher enqueues
// on `stream` and returns without synchronising; a failed CUDA call or launch throws CudaFailure
// naming the call (the engine's bindings add the op and the node).
//
// Kernels take 64-bit sizes and loop grid-stride, so any size that fits in memory works; index
// arithmetic switches to 32 bits where every offset fits (it is several times cheaper).
#pragma once
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace orbit::cuda {

// A failed CUDA runtime call, kernel launch or cuBLAS call.
class CudaFailure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Throws CudaFailure("<call> failed: <error string> (<error name>)") unless e is cudaSuccess.
void check(cudaError_t e, const char* call);
// After a launch: checks cudaGetLastError (bad configuration, missing image for this GPU, ...).
void check_launch(const char* kernel);

enum class Elem : int { f32, f64, i32, i64 };
inline size_t elem_size(Elem t) { return (t == Elem::f32 || t == Elem::i32) ? 4 : 8; }

// An iteration space of up to 6 dims with per-operand element strides (0 along broadcast dims).
struct Iter {
  static constexpr int kMax = 6;
  int rank = 0;
  int64_t shape[kMax] = {};
  int64_t stride[3][kMax] = {};
  int64_t numel() const {
    int64_t n = 1;
    for (int i = 0; i < rank; ++i) n *= shape[i];
    return n;
  }
};

// ---- elementwise (elementwise.cu) ----
enum class UnaryOp {
  neg, abs, sign, exp, log, log1p, sqrt, rsqrt, square, sin, cos, tanh, erf, sigmoid, silu, relu, gelu,
  softplus, pow_scalar, clamp
};
enum class BinaryOp { add, sub, mul, div, pow, maximum, minimum, lt, le, gt, ge, eq, ne };

// y[i] = f(x[i]) over n contiguous elements; p0, p1: pow_scalar's exponent, clamp's bounds.
void unary(UnaryOp op, Elem t, const void* x, void* y, int64_t n, double p0, double p1, cudaStream_t s);
// out[i] = f(a[off0(i)], b[off1(i)]) over the contiguous output described by `it`.
void binary(BinaryOp op, Elem t, const void* a, const void* b, void* out, const Iter& it, cudaStream_t s);
// out[i] = c[off0(i)] != 0 ? a[off1(i)] : b[off2(i)].
void where(Elem t, const void* c, const void* a, const void* b, void* out, const Iter& it, cudaStream_t s);
void cast(Elem from, Elem to, const void* x, void* y, int64_t n, cudaStream_t s);
// Element i from the shared Philox stream (kernels/scalar/random.h): bit-identical to the CPU.
// run_dev, when not null, holds the run counter instead of `run` (programs replayed as CUDA graphs).
void random_fill(Elem t, void* out, int64_t n, uint64_t seed, uint64_t stream, uint64_t run, const uint64_t* run_dev,
                 bool normal, cudaStream_t s);
void fill(Elem t, void* out, int64_t n, double value, cudaStream_t s);

// ---- data movement and indices (layout.cu) ----
// dst[off0(i)] = src[off1(i)] for 4- or 8-byte elements.
void copy_strided(size_t elem_bytes, void* dst, const void* src, const Iter& it, cudaStream_t s);
// out[o, e, i] = x[o, idx[e], i]; out-of-range indices write zeros (validate_indices reports them).
void gather(size_t elem_bytes, Elem idx_t, const void* x, const void* idx, void* out, int64_t outer,
            int64_t axis_len, int64_t nidx, int64_t inner, cudaStream_t s);
// Device-side index validation. flag (3 words, set to all ones before) receives the smallest position
// e with idx[e] outside [0, limit) (or idx[e] < idx[e-1] when `sorted`), then the id there and the
// id before it (as int64 bit patterns). No host synchronisation.
void validate_indices(Elem idx_t, const void* idx, int64_t n, int64_t limit, bool sorted, unsigned long long* flag,
                      cudaStream_t s);

// ---- reductions and softmax (reduce.cu) ----
enum class ReduceOp { sum, mean, max, logsumexp };
// Input offsets of output element o: kept dims (stride[0]); of reduction element j: reduced dims.
// Floating sums accumulate in f64 and integer sums in i64 (as on the CPU). Deterministic: the
// order of accumulation depends only on the shapes.
size_t reduce_workspace(ReduceOp op, Elem t, const Iter& kept, const Iter& reduced);
void reduce(ReduceOp op, Elem t, const void* x, void* out, const Iter& kept, const Iter& reduced, void* workspace,
            cudaStream_t s);
// Softmax over the middle dim of [outer, n, inner]; the normaliser accumulates in f64.
void softmax(Elem t, const void* x, void* y, int64_t outer, int64_t n, int64_t inner, cudaStream_t s);

// ---- segment reductions (segment.cu, CUB) ----
// out[o, s, i] = sum over e with ids[e] == s of x[o, e, i] (mean: / count when count > 1).
// Deterministic by default: ids are stably sorted (CUB radix sort) unless promised sorted, each
// output sums its segment in increasing e; `atomic` scatters with atomicAdd instead (faster, order
// not fixed). Invalid ids are skipped (validate_indices reports them).
size_t segment_workspace(Elem idx_t, int64_t nids, int64_t nseg, bool sorted, bool mean, bool atomic);
void segment_reduce(Elem t, Elem idx_t, const void* x, const void* ids, void* out, int64_t outer, int64_t nids,
                    int64_t nseg, int64_t inner, bool sorted, bool mean, bool atomic, void* workspace,
                    size_t workspace_bytes, cudaStream_t s);

// ---- matrix products (blas.cu, cuBLAS loaded at run time) ----
// c[b] = op(a[b]) op(b[b]) row-major, [m, n] each, for the batch described by `batch` (shape; stride[0]
// and stride[1]: element strides of the a and b matrices per batch index, 0 where broadcast).
// FP32 products use CUBLAS_COMPUTE_32F with the default math mode (no TF32), FP64 CUBLAS_COMPUTE_64F.
// `pointers` is device scratch of 3 * batch.numel() pointers (used when the batch is not one stride).
size_t matmul_workspace(const Iter& batch);
void matmul(Elem t, const void* a, const void* b, void* c, const Iter& batch, int64_t m, int64_t n, int64_t k,
            bool trans_a, bool trans_b, void* workspace, cudaStream_t s);
// Where cuBLAS was loaded from, or why it could not be (for `orbit info` and errors).
std::string cublas_status();

}  // namespace orbit::cuda
