#include "tools/demo_outputs.h"

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "engine/io/npy.h"
#include "engine/plot/plot.h"

namespace orbit::cli {

DemoOutputs::DemoOutputs(std::string dir, int total, bool quiet)
    : dir_(std::move(dir)), total_(total), quiet_(quiet), bar_(total, "training", util::Progress::Options{quiet}) {
  if (!dir_.empty()) log_ = std::make_unique<util::JsonlLog>((std::filesystem::path(dir_) / "metrics.jsonl").string());
}

void DemoOutputs::step(int step, double loss, double lr) {
  steps_.push_back(step);
  losses_.push_back(loss);
  bar_.update(step, {{"loss", loss}});
  if (log_) log_->write({{"step", step}, {"loss", loss}, {"lr", lr}});
  if (quiet_ && (step % std::max(1, total_ / 10) == 0 || step == total_ || step == 1))
    std::printf("step %6d/%d  loss %.3e\n", step, total_, loss);
}

void DemoOutputs::finish() { bar_.finish(); }

void DemoOutputs::results(const Tensor& x, const Tensor& target, const Tensor& u, const Tensor& uxx, double loss,
                          double d2_error, double sps, bool ok) {
  if (dir_.empty()) return;
  namespace fs = std::filesystem;
  const int64_t n = x.numel();
  Tensor pred = Tensor::empty({n, 4}, DType::f64);
  std::vector<double> xs(n), ts(n), us(n), uxxs(n), minus_sin(n);
  for (int64_t i = 0; i < n; ++i) {
    xs[i] = x.at(i);
    ts[i] = target.at(i);
    us[i] = u.at(i);
    uxxs[i] = uxx.at(i);
    minus_sin[i] = -ts[i];
    double* r = pred.data<double>() + 4 * i;
    r[0] = xs[i];
    r[1] = ts[i];
    r[2] = us[i];
    r[3] = uxxs[i];
  }
  write_npy((fs::path(dir_) / "predictions.npy").string(), pred);
  std::ofstream js(fs::path(dir_) / "results.json");
  js << "{\"final_loss\": " << loss << ", \"d2_max_abs_error\": " << d2_error << ", \"steps_per_second\": " << sps
     << ", \"steps\": " << total_ << ", \"ok\": " << (ok ? "true" : "false") << "}\n";
  ORBIT_CHECK(js.good(), "cannot write results.json in '", dir_, "'");

  plot::Figure fig(1500, 420);
  fig.grid(1, 3);
  fig.axes("fit", "x", "u").line(xs, ts, "sin x").line(xs, us, "network");
  fig.axes("second derivative", "x", "d2u/dx2").line(xs, minus_sin, "-sin x").line(xs, uxxs, "network (grad of grad)");
  fig.axes("training loss", "step", "loss").line(steps_, losses_, "mse").log_y();
  fig.save((fs::path(dir_) / "demo.png").string());
  fig.save((fs::path(dir_) / "demo.svg").string());
  std::printf("wrote %s/{results.json, metrics.jsonl, predictions.npy, checkpoint.safetensors, demo.png, demo.svg}\n",
              dir_.c_str());
}

}  // namespace orbit::cli
