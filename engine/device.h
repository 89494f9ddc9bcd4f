// Where tensors live and kernels run. The device is chosen at run time.
#pragma once
#include <string>

namespace orbit {

struct Device {
  enum class Kind : unsigned char { cpu = 0, cuda = 1 };
  static constexpr int kNumKinds = 2;

  Kind kind = Kind::cpu;
  int index = 0;

  static Device cpu() { return {Kind::cpu, 0}; }
  static Device cuda(int index = 0) { return {Kind::cuda, index}; }
  // The fastest device present: a CUDA device when the build has the backend and a GPU is visible.
  static Device best();
  // "cpu", "cuda", "cuda:1" or "auto"; throws on anything else or on a device that is absent.
  static Device parse(const std::string& spec);

  bool is_cpu() const { return kind == Kind::cpu; }
  bool is_cuda() const { return kind == Kind::cuda; }
  bool operator==(const Device& o) const { return kind == o.kind && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
  std::string str() const;
};

// Backend availability, answered without touching a driver on CPU-only builds.
bool cuda_built();        // the binary contains the CUDA backend
int cuda_device_count();  // 0 when no driver or no GPU; never throws

}  // namespace orbit
