// Sigmoid, SiLU and SiLU's derivative for the inner loops of the tensor-core EGNN kernels
// (kernels/cuda/egnn_message_tc*.cuh), f32 only. On the GPU 1 / (1 + e^-x) through the hardware's
// exponential and reciprocal (__expf, __fdividef: about 5 instructions, a few ulp), where the library's
// expf and IEEE division cost about 30 each with slow paths; inlined on each of 64 accumulators per lane
// they made those kernels 160-870 KiB of SASS (tools/sass_report.py). On the host (the CUDA emulator and
// the host replays of those kernels) the same formula in IEEE arithmetic, so that a replay and the
// emulated kernel still agree bit for bit; the GPU differs from both by a few ulp per activation.
#pragma once
#include <cmath>

#include "kernels/scalar/hd.h"

namespace orbit::scalar {

ORBIT_HD float sigmoid_fast(float x) {
#if defined(__CUDA_ARCH__)
  return __fdividef(1.f, 1.f + __expf(-x));  // e^-x = inf (x < -88): 1 / inf = 0
#else
  return 1.f / (1.f + std::exp(-x));
#endif
}

ORBIT_HD float silu_fast(float x) { return x * sigmoid_fast(x); }

// d/dx x s(x) = s (1 + x (1 - s))
ORBIT_HD float dsilu_fast(float x) {
  const float s = sigmoid_fast(x);
  return s * (1.f + x * (1.f - s));
}

}  // namespace orbit::scalar
