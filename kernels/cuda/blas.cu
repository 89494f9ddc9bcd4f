// Matrix products through cuBLAS, loaded at run time with dlopen: the binary never links cuBLAS,
// so a CUDA build starts on machines without a GPU or a CUDA installation, and the device bundle
// stays small (libcublasLt alone is over 500 MB). Search order: $ORBIT_CUBLAS (a path), the
// loader's default search (LD_LIBRARY_PATH, ld.so.cache), the executable's folder, $CUDA_HOME,
// /usr/local/cuda, and pip's nvidia wheels.
//
// Row-major products use the usual transpose trick: C (m x n, row-major) is C^T (n x m) in column
// major, and C^T = op(B)^T op(A)^T, so cuBLAS multiplies B by A with the row-major leading dims.
// FP32 runs with CUBLAS_COMPUTE_32F and the default math mode: no TF32, results match FP32 math.
#include <cublas_api.h>
#include <cuda_runtime.h>
#include <dlfcn.h>
#include <glob.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

#include "kernels/cuda/common.cuh"

namespace orbit::cuda {

namespace {

using CreateFn = cublasStatus_t (*)(cublasHandle_t*);
using SetStreamFn = cublasStatus_t (*)(cublasHandle_t, cudaStream_t);
using SetMathModeFn = cublasStatus_t (*)(cublasHandle_t, cublasMath_t);
using StatusStringFn = const char* (*)(cublasStatus_t);
using GemmStridedFn = cublasStatus_t (*)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int,
                                         const void*, const void*, cudaDataType, int, long long, const void*,
                                         cudaDataType, int, long long, const void*, void*, cudaDataType, int, long long,
                                         int, cublasComputeType_t, cublasGemmAlgo_t);
using GemmBatchedFn = cublasStatus_t (*)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int,
                                         const void*, const void* const[], cudaDataType, int, const void* const[],
                                         cudaDataType, int, const void*, void* const[], cudaDataType, int, int,
                                         cublasComputeType_t, cublasGemmAlgo_t);

struct Cublas {
  void* lib = nullptr;
  std::string where;  // the path that loaded, or why none did
  CreateFn create = nullptr;
  SetStreamFn set_stream = nullptr;
  SetMathModeFn set_math_mode = nullptr;
  StatusStringFn status_string = nullptr;
  GemmStridedFn gemm_strided = nullptr;
  GemmBatchedFn gemm_batched = nullptr;
  cublasHandle_t handle = nullptr;
  std::mutex mu;  // the handle is shared: one product at a time sets its stream and runs
};

std::vector<std::string> candidates() {
  const std::string name = "libcublas.so." + std::to_string(CUBLAS_VER_MAJOR);
  std::vector<std::string> c;
  if (const char* p = std::getenv("ORBIT_CUBLAS"); p && *p) c.push_back(p);
  c.push_back(name);
  char exe[4096];
  ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (len > 0) {
    std::string dir(exe, static_cast<size_t>(len));
    dir = dir.substr(0, dir.find_last_of('/'));
    c.push_back(dir + "/" + name);
    c.push_back(dir + "/lib/" + name);
  }
  for (const char* env : {"CUDA_HOME", "CUDA_PATH"})
    if (const char* p = std::getenv(env); p && *p) c.push_back(std::string(p) + "/lib64/" + name);
  c.push_back("/usr/local/cuda/lib64/" + name);
  c.push_back("/usr/local/cuda/targets/x86_64-linux/lib/" + name);
  for (const char* pattern : {"/usr/local/cuda-*/lib64/", "/usr/local/cuda*/lib/", "/usr/lib/x86_64-linux-gnu/",
                              "/usr/lib/python3*/*-packages/nvidia/*/lib/",
                              "/usr/local/lib/python3*/*-packages/nvidia/*/lib/",
                              "/opt/*/.venv/lib/python3*/site-packages/nvidia/*/lib/",
                              "/opt/conda/lib/python3*/site-packages/nvidia/*/lib/"}) {
    glob_t g{};
    if (glob((std::string(pattern) + name).c_str(), 0, nullptr, &g) == 0)
      for (size_t i = 0; i < g.gl_pathc; ++i) c.push_back(g.gl_pathv[i]);
    globfree(&g);
  }
  return c;
}

Cublas& cublas() {
  static Cublas* cb = [] {
    auto* c = new Cublas;  // never destroyed: products may run during static destruction elsewhere
    std::string tried;
    for (const std::string& path : candidates()) {
      c->lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (c->lib) {
        c->where = path;
        break;
      }
      const char* err = dlerror();
      tried += "\n  " + path + ": " + (err ? err : "not found");
    }
    if (!c->lib) {
      c->where = "cuBLAS (libcublas.so." + std::to_string(CUBLAS_VER_MAJOR) +
                 ") was not found; set ORBIT_CUBLAS to its path or add its folder to LD_LIBRARY_PATH. Tried:" + tried;
      return c;
    }
    auto sym = [&](const char* name) {
      void* p = dlsym(c->lib, name);
      if (!p) c->where += std::string(" (missing symbol ") + name + ")";
      return p;
    };
    c->create = reinterpret_cast<CreateFn>(sym("cublasCreate_v2"));
    c->set_stream = reinterpret_cast<SetStreamFn>(sym("cublasSetStream_v2"));
    c->set_math_mode = reinterpret_cast<SetMathModeFn>(sym("cublasSetMathMode"));
    c->status_string = reinterpret_cast<StatusStringFn>(sym("cublasGetStatusString"));
    c->gemm_strided = reinterpret_cast<GemmStridedFn>(sym("cublasGemmStridedBatchedEx"));
    c->gemm_batched = reinterpret_cast<GemmBatchedFn>(sym("cublasGemmBatchedEx"));
    if (!(c->create && c->set_stream && c->set_math_mode && c->status_string && c->gemm_strided && c->gemm_batched)) {
      dlclose(c->lib);
      c->lib = nullptr;
    }
    return c;
  }();
  return *cb;
}

void check_blas(Cublas& c, cublasStatus_t st, const char* call) {
  if (st == CUBLAS_STATUS_SUCCESS) return;
  throw CudaFailure(std::string(call) + " failed: " + c.status_string(st) + " (cublasStatus_t " +
                    std::to_string(static_cast<int>(st)) + ")");
}

// The handle, created on first use (cublasCreate needs a device). Call with c.mu held.
Cublas& ready(Cublas& c) {
  if (!c.lib) throw CudaFailure(c.where);
  if (!c.handle) {
    check_blas(c, c.create(&c.handle), "cublasCreate");
    check_blas(c, c.set_math_mode(c.handle, CUBLAS_DEFAULT_MATH), "cublasSetMathMode(CUBLAS_DEFAULT_MATH)");
  }
  return c;
}

__global__ void batch_pointers_kernel(const char* a, const char* b, char* c, int64_t nb, DevIter<int64_t, 2> it,
                                      int64_t elem, int64_t c_stride, const void** pa, const void** pb, void** pc) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < nb; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t off[2];
    offsets(it, i, off);
    pa[i] = a + off[0] * elem;
    pb[i] = b + off[1] * elem;
    pc[i] = c + i * c_stride * elem;
  }
}

int to_int(int64_t v, const char* what) {
  if (v > INT_MAX) throw CudaFailure(std::string("matmul: ") + what + " = " + std::to_string(v) + " exceeds cuBLAS's int range");
  return static_cast<int>(v);
}

}  // namespace

std::string cublas_status() {
  Cublas& c = cublas();
  return c.lib ? "cuBLAS loaded from " + c.where : c.where;
}

size_t matmul_workspace(const Iter& batch) {
  Iter it = coalesce(batch, 2);
  return it.rank <= 1 ? 0 : 3 * sizeof(void*) * static_cast<size_t>(batch.numel());
}

void matmul(Elem t, const void* a, const void* b, void* c, const Iter& batch, int64_t m, int64_t n, int64_t k,
            bool trans_a, bool trans_b, void* workspace, cudaStream_t s) {
  const int64_t nb = batch.numel();
  if (nb == 0 || m == 0 || n == 0) return;
  const size_t esize = elem_size(t);
  if (k == 0) {  // empty sums: zeros
    check(cudaMemsetAsync(c, 0, esize * nb * m * n, s), "cudaMemsetAsync");
    return;
  }
  if (t != Elem::f32 && t != Elem::f64) throw CudaFailure("matmul: f32 or f64 only");
  const cudaDataType dt = t == Elem::f32 ? CUDA_R_32F : CUDA_R_64F;
  const cublasComputeType_t ct = t == Elem::f32 ? CUBLAS_COMPUTE_32F : CUBLAS_COMPUTE_64F;
  const float one_f = 1, zero_f = 0;
  const double one_d = 1, zero_d = 0;
  const void* alpha = t == Elem::f32 ? static_cast<const void*>(&one_f) : static_cast<const void*>(&one_d);
  const void* beta = t == Elem::f32 ? static_cast<const void*>(&zero_f) : static_cast<const void*>(&zero_d);
  // Column-major view: C^T (n x m) = op(B)^T (n x k) * op(A)^T (k x m).
  const cublasOperation_t op_first = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_second = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const int cm = to_int(n, "n"), cn = to_int(m, "m"), ck = to_int(k, "k");
  const int ld_first = to_int(trans_b ? k : n, "ldb"), ld_second = to_int(trans_a ? m : k, "lda"), ldc = cm;
  const int batches = to_int(nb, "batch");

  Iter it = coalesce(batch, 2);
  Cublas& cb = cublas();
  std::lock_guard<std::mutex> lock(cb.mu);
  ready(cb);
  check_blas(cb, cb.set_stream(cb.handle, s), "cublasSetStream");
  if (it.rank <= 1) {
    long long stride_a = it.rank == 1 ? it.stride[0][0] : 0, stride_b = it.rank == 1 ? it.stride[1][0] : 0;
    check_blas(cb,
               cb.gemm_strided(cb.handle, op_first, op_second, cm, cn, ck, alpha, b, dt, ld_first, stride_b, a, dt,
                               ld_second, stride_a, beta, c, dt, ldc, static_cast<long long>(m * n), batches, ct,
                               CUBLAS_GEMM_DEFAULT),
               "cublasGemmStridedBatchedEx");
    return;
  }
  if (!workspace) throw CudaFailure("matmul: broadcast batches need a pointer workspace");
  auto pa = static_cast<const void**>(workspace);
  auto pb = pa + nb;
  auto pc = const_cast<void**>(pb + nb);
  batch_pointers_kernel<<<grid_for(nb), kBlock, 0, s>>>(static_cast<const char*>(a), static_cast<const char*>(b),
                                                         static_cast<char*>(c), nb, to_dev<int64_t, 2>(batch),
                                                         static_cast<int64_t>(esize), m * n, pa, pb, pc);
  check_launch("batch_pointers_kernel");
  check_blas(cb,
             cb.gemm_batched(cb.handle, op_first, op_second, cm, cn, ck, alpha, pb, dt, ld_first, pa, dt, ld_second,
                             beta, pc, dt, ldc, batches, ct, CUBLAS_GEMM_DEFAULT),
             "cublasGemmBatchedEx");
}

}  // namespace orbit::cuda
