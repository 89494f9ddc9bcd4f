#include "tools/demo_outputs.h"

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "engine/io/json.h"
#include "engine/io/npy.h"

namespace orbit::cli {

DemoOutputs::DemoOutputs(std::string dir, int total, bool quiet) : dir_(std::move(dir)), total_(total), quiet_(quiet) {}

void DemoOutputs::step(int step, double loss, double lr) {
  steps_.push_back(step);
  losses_.push_back(loss);
  (void)lr;
  if (step % std::max(1, total_ / 10) == 0 || step == total_ || step == 1)
    std::printf("step %6d/%d  loss %.3e\n", step, total_, loss);
}

void DemoOutputs::finish() {}

void DemoOutputs::results(const Tensor& x, const Tensor& target, const Tensor& u, const Tensor& uxx, double loss,
                          double d2_error, double sps, bool ok) {
  if (dir_.empty()) return;
  namespace fs = std::filesystem;
  const int64_t n = x.numel();
  Tensor pred = Tensor::empty({n, 4}, DType::f64);
  for (int64_t i = 0; i < n; ++i) {
    double* r = pred.data<double>() + 4 * i;
    r[0] = x.at(i);
    r[1] = target.at(i);
    r[2] = u.at(i);
    r[3] = uxx.at(i);
  }
  write_npy((fs::path(dir_) / "predictions.npy").string(), pred);
  std::ofstream js(fs::path(dir_) / "results.json");
  js << "{\"final_loss\": " << loss << ", \"d2_max_abs_error\": " << d2_error << ", \"steps_per_second\": " << sps
     << ", \"steps\": " << total_ << ", \"ok\": " << (ok ? "true" : "false") << "}\n";
  ORBIT_CHECK(js.good(), "cannot write results.json in '", dir_, "'");
  std::printf("wrote %s/{results.json, predictions.npy}\n", dir_.c_str());
}

}  // namespace orbit::cli
