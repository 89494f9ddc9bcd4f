// Run-time compilation of generated CUDA source with NVRTC, a disk cache of the CUBINs and (CUDA builds)
// loading and launching them through the driver API.
//
// NVRTC (libnvrtc.so.13, then libnvrtc.so) and the driver (libcuda.so.1) are loaded with dlopen on first
// use, as kernels/cuda/blas.cu loads cuBLAS: the binary links neither, and this file is plain C++ (no CUDA
// headers), so it is compiled in every build; without NVRTC or a driver the calls report why and the
// callers fall back to the interpreting kernel. The headers generated sources may include
// (kernels/scalar/hd.h, unary.h, binary.h) are embedded in the binary at build time
// (cmake/OrbitNvrtc.cmake) and handed to NVRTC from memory.
//
// Cache: an in-memory map in front of a directory of CUBIN files, $ORBIT_CACHE_DIR, else
// $XDG_CACHE_HOME/orbit/kernels, else ~/.cache/orbit/kernels. A file is keyed by a 64-bit FNV-1a hash of
// the source, the embedded headers, the architecture, NVRTC's version and the options; it starts with a
// header (magic, key, length, checksum) that is verified on every read, so a truncated or corrupt file is
// recompiled (and rewritten), never trusted. Files are written to a temporary name and renamed.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

namespace orbit::nvrtc {

// True when libnvrtc could be loaded (and has the functions needed); otherwise `why` says what was tried.
bool available(std::string* why = nullptr);

// NVRTC's version as "major.minor" ("" when not available).
std::string version();

// The options every compilation uses besides the architecture (part of the cache key).
std::string options_string();

struct Compiled {
  bool ok = false;
  std::shared_ptr<const std::string> cubin;  // set when ok
  std::string error;                         // when not ok: what failed, with NVRTC's log
  std::string log;                           // NVRTC's log (warnings), when it compiled now
  uint64_t key = 0;                          // the cache key
  enum class From { none, memory, disk, nvrtc } from = From::none;
};

// Compiles `source` (a complete translation unit) for `arch` ("sm_90") to a CUBIN: from the in-memory
// cache, else from the disk cache, else with NVRTC (then stored in both). Never throws.
Compiled compile(const std::string& source, const std::string& arch);

// The disk cache's folder (from the environment, read on every call) and the file of a key in it.
std::string cache_dir();
std::string cache_file(uint64_t key);

struct Counters {
  int64_t compiles = 0;       // successful NVRTC compilations
  int64_t disk_hits = 0;      // CUBINs read back from valid cache files
  int64_t memory_hits = 0;    // CUBINs found in the in-memory cache
  int64_t failures = 0;       // failed compilations (or NVRTC missing)
  int64_t corrupt_files = 0;  // cache files rejected (bad magic, key, length or checksum)
  int64_t disk_writes = 0;    // cache files written
  int64_t loads = 0;          // modules loaded into the driver (CUDA builds)
  int64_t launches = 0;       // generated kernels launched (CUDA builds)
};
Counters counters();
std::string counters_string();  // "nvrtc: compiles 3, disk hits 1, ..." (ORBIT_DUMP)

// Test hooks: forget the in-memory cache (the disk cache stays); make every compilation fail by
// appending a syntax error to the source (the default: off).
void clear_memory_cache();
void set_break_sources_for_testing(bool on);

// ---- driver API (CUDA builds; elsewhere these report that there is no CUDA backend) ----

// The current device's architecture as NVRTC names it ("sm_90"), or "" with `why`.
// ORBIT_NVRTC_ARCH overrides it.
std::string device_arch(std::string* why = nullptr);

// The kernel `name` of a CUBIN, loaded once per process per cache key into the current context.
// Returns the CUfunction, or nullptr with `why`.
void* load_function(const Compiled& c, const std::string& name, std::string* why);

// Launches a generated fused kernel (const T* in0..in{k-1}, T* out, long long n) with `lanes` threads
// per element (1, or 8 for sums over the last axis; grid-stride, capped grid) on `stream` (a
// cudaStream_t / CUstream). False with `why` when the driver refused the launch.
bool launch_fused(void* function, void* stream, const void* const* inputs, int num_inputs, void* out, int64_t n,
                  int lanes, std::string* why);

}  // namespace orbit::nvrtc
