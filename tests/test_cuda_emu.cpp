// The CUDA emulator's own checks (tests/harness/cuda_emu.h): shuffles, shared memory and its NaN fill,
// barriers, and the errors it reports instead of hanging: a deadlock, divergent collectives, a
// non-TF32 MMA operand, a launch of part of a warp; and a race exposed by the two scheduling orders.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#define ORBIT_CUDA_EMU 1
#include "tests/harness/cuda_emu.h"
#include "kernels/cuda/mma_tf32.cuh"

using namespace orbit;
using emu::GuardedArray;

namespace {

std::string launch_error(unsigned grid, unsigned threads, size_t smem, const std::function<void()>& k) {
  try {
    emu::launch(grid, threads, smem, k);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

// Small kernels for the emulator's own checks.
__global__ void shuffle_kernel(float* out) {
  const int lane = threadIdx.x & 31;
  float v = static_cast<float>(threadIdx.x);
  v += __shfl_xor_sync(0xffffffffu, v, 1);
  v += __shfl_xor_sync(0xffffffffu, v, 2);
  out[threadIdx.x + blockIdx.x * blockDim.x] = v + 1000.f * __shfl_sync(0xffffffffu, static_cast<float>(lane), 31 - lane);
}

__global__ void smem_kernel(float* out) {
  ORBIT_DYNAMIC_SMEM(float, s);
  const int t = threadIdx.x;
  out[blockIdx.x * 2 * blockDim.x + t] = s[t];  // never written in this block: NaN
  s[t] = static_cast<float>(t + 100 * blockIdx.x);
  __syncthreads();
  out[blockIdx.x * 2 * blockDim.x + blockDim.x + t] = s[blockDim.x - 1 - t];  // another warp's value
}

// Lane l reads what lane l + 1 wrote, with no __syncwarp in between: a race.
__global__ void racy_kernel(float* out) {
  ORBIT_DYNAMIC_SMEM(float, s);
  const int t = threadIdx.x;
  s[t] = static_cast<float>(t);
  out[t] = s[(t + 1) % 32];
}

__global__ void skips_syncwarp_kernel() {
  if ((threadIdx.x & 31) != 5) __syncwarp();
}

__global__ void divergent_kernel() {
  if ((threadIdx.x & 31) < 16) __syncwarp();
  else (void)__shfl_xor_sync(0xffffffffu, 1.f, 1);
}

__global__ void untf32_mma_kernel() {
  float d[4] = {0, 0, 0, 0};
  const uint32_t a[4] = {0x3f800001u, 0, 0, 0}, b[2] = {0, 0};  // 1 + 2^-23: not a TF32 value
  cuda::mma_tf32(d, a, b);
}

}  // namespace

TEST_SUITE("cpu") {
TEST_CASE("cuda emulator: shuffles, shared memory, barriers, hangs and divergence become errors") {
  {
    GuardedArray<float> out(2 * 64);
    emu::launch(2, 64, 0, [&] { shuffle_kernel(out.data()); });
    for (int b = 0; b < 2; ++b)
      for (int t = 0; t < 64; ++t) {
        const int quad = t & ~3, lane = t & 31;
        CHECK(out[b * 64 + t] == float(4 * quad + 6) + 1000.f * float(31 - lane));
      }
  }
  {
    GuardedArray<float> out(2 * 2 * 96);
    emu::launch(2, 96, 96 * sizeof(float), [&] { smem_kernel(out.data()); });
    for (int b = 0; b < 2; ++b)
      for (int t = 0; t < 96; ++t) {
        CHECK(std::isnan(out[b * 192 + t]));
        CHECK(out[b * 192 + 96 + t] == float(95 - t + 100 * b));
      }
  }
  const std::string hang = launch_error(1, 64, 0, [] { skips_syncwarp_kernel(); });
  CHECK(hang.find("deadlock") != std::string::npos);
  CHECK(hang.find("__syncwarp") != std::string::npos);
  const std::string div = launch_error(1, 32, 0, [] { divergent_kernel(); });
  CHECK(div.find("divergent") != std::string::npos);
  const std::string mma = launch_error(1, 32, 0, [] { untf32_mma_kernel(); });
  CHECK(mma.find("not a TF32 value") != std::string::npos);
  CHECK(launch_error(1, 48, 0, [] {}).find("whole warps") != std::string::npos);
  // The two scheduling orders expose the race (each order alone runs without complaint).
  GuardedArray<float> racy(32);
  emu::launch(1, 32, 32 * sizeof(float), [&] { racy_kernel(racy.data()); }, emu::Order::forward);
  const float lane0_forward = racy[0];
  emu::launch(1, 32, 32 * sizeof(float), [&] { racy_kernel(racy.data()); }, emu::Order::reverse);
  CHECK(std::isnan(lane0_forward));  // lane 1 had not written yet
  CHECK(racy[0] == 1.f);
}
}
