// `orbit info`: what this binary was built with and which devices it sees.
#include <cstdio>
#include <thread>

#include "engine/orbit.h"
#include "tools/args.h"
#include "tools/commands.h"

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace orbit::cli {

int cmd_info(const std::vector<std::string>& words) {
  Args args(words, {}, {});
  std::printf("orbit %s\n", version());
#if defined(ORBIT_WITH_CUDA)
  std::printf("build: CUDA backend on (architectures %s)\n", ORBIT_CUDA_ARCHS);
#else
  std::printf("build: CUDA backend off (CPU only)\n");
#endif
#if defined(_OPENMP)
  std::printf("cpu: %d OpenMP threads (%u hardware threads)\n", omp_get_max_threads(),
              std::thread::hardware_concurrency());
#else
  std::printf("cpu: single-threaded build (%u hardware threads)\n", std::thread::hardware_concurrency());
#endif
  int n = cuda_device_count();
  if (!cuda_built()) std::printf("devices: cpu\n");
  else if (n == 0) std::printf("devices: cpu (no CUDA device visible: no GPU or no driver)\n");
  else std::printf("devices: cpu, %d CUDA device(s)\n", n);
  std::printf("default device: %s\n", Device::best().str().c_str());
  std::printf("ops registered: %d\n", ops().size());
  return 0;
}

}  // namespace orbit::cli
