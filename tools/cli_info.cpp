// `orbit info`: what this binary was built with and which devices it sees (text or JSON).
#include <cstdio>
#include <string>
#include <thread>

#include "engine/io/json.h"
#include "engine/orbit.h"
#include "kernels/cpu/isa.h"
#include "tools/commands.h"

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace orbit::cli {

namespace {
int run_info(const Args& args) {
#if defined(ORBIT_WITH_CUDA)
  const std::string archs = ORBIT_CUDA_ARCHS;
#else
  const std::string archs;
#endif
#if defined(_OPENMP)
  const int threads = omp_get_max_threads();
#else
  const int threads = 1;
#endif
  const int gpus = cuda_device_count();
  const Device best = Device::best();
  const std::string isa = cpu::isa_name(cpu::active_isa());
  std::string isas;
  for (cpu::Isa v : cpu::isa_available()) isas += std::string(isas.empty() ? "" : ", ") + cpu::isa_name(v);
  if (args.flag("json")) {
    std::printf("{\"version\": %s, \"cuda_built\": %s, \"cuda_architectures\": %s, \"cpu_threads\": %d, "
                "\"hardware_threads\": %u, \"cpu_isa\": %s, \"cuda_devices\": %d, \"default_device\": %s, \"ops\": %d, "
                "\"fusion_cpu\": %s, \"fusion_cuda\": %s}\n",
                io::json_quote(version()).c_str(), cuda_built() ? "true" : "false", io::json_quote(archs).c_str(),
                threads, std::thread::hardware_concurrency(), io::json_quote(isa).c_str(), gpus, io::json_quote(best.str()).c_str(), ops().size(),
                io::json_quote(fusion_summary(Device::cpu())).c_str(),
                cuda_built() ? io::json_quote(fusion_summary(Device::cuda())).c_str() : "null");
    return 0;
  }
  std::printf("orbit %s\n", version());
  if (cuda_built()) std::printf("build: CUDA backend on (architectures %s)\n", archs.c_str());
  else std::printf("build: CUDA backend off (CPU only)\n");
  std::printf("cpu: %d threads (%u hardware threads)\n", threads, std::thread::hardware_concurrency());
  std::printf("cpu kernels: %s (this CPU and build: %s; ORBIT_CPU_ISA overrides)\n", isa.c_str(), isas.c_str());
  if (!cuda_built()) std::printf("devices: cpu\n");
  else if (gpus == 0) std::printf("devices: cpu (no CUDA device visible: no GPU or no driver)\n");
  else std::printf("devices: cpu, %d CUDA device(s)\n", gpus);
  std::printf("default device: %s\n", best.str().c_str());
  std::printf("ops registered: %d\n", ops().size());
  std::printf("fusion on cpu: %s\n", fusion_summary(Device::cpu()).c_str());
  if (cuda_built()) std::printf("fusion on cuda: %s\n", fusion_summary(Device::cuda()).c_str());
  return 0;
}
}  // namespace

Command info_command() {
  return Command("info", "the build (CUDA on/off, architectures, threads) and the devices this machine has",
                 {{"json", "print JSON instead of text", "", true}}, run_info, false);
}

}  // namespace orbit::cli
