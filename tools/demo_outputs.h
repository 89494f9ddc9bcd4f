// What `orbit demo` writes besides stdout: progress on stderr, and with --out DIR a metrics log
// (metrics.jsonl), the results (results.json), the predictions (predictions.npy: x, sin x, u, u'')
// and plots of the fit and of the loss curve.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "engine/util/jsonl_log.h"
#include "engine/util/progress.h"

namespace orbit::cli {

class DemoOutputs {
 public:
  DemoOutputs(std::string dir, int total_steps, bool quiet);
  void step(int step, double loss, double lr);
  void finish();
  void results(const Tensor& x, const Tensor& target, const Tensor& u, const Tensor& uxx, double loss,
               double d2_error, double steps_per_second, bool ok);

 private:
  std::string dir_;
  int total_;
  bool quiet_;
  std::vector<double> steps_, losses_;
  util::Progress bar_;
  std::unique_ptr<util::JsonlLog> log_;
};

}  // namespace orbit::cli
