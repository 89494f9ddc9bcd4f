// A compiled training step: forward, gradients of the loss with respect to the chosen parameters
// (the graph transform of autodiff, compiled with the rest), and an optimizer update of the store.
#pragma once
#include <memory>
#include <vector>

#include "engine/optim/optimizer.h"
#include "engine/program.h"

namespace orbit::optim {

class TrainStep {
 public:
  struct Result {
    double loss = 0;
    double grad_norm = 0;           // before clipping
    std::vector<Tensor> extra;      // the extra outputs, in order
  };

  // Copies `graph` (the caller's graph is left untouched), appends d loss / d params and compiles.
  // Parameter values come from `store`; `extra` outputs (metrics) are returned by every run.
  TrainStep(const Graph& graph, Var loss, const std::vector<Var>& params, std::shared_ptr<ParamStore> store,
            std::shared_ptr<Optimizer> optimizer, Device device = Device::cpu(), std::vector<Var> extra = {},
            NumericsCheck numerics = NumericsCheck::inputs);

  Result run(const Feeds& feeds = {});
  Program& program() { return program_; }
  Optimizer& optimizer() { return *optimizer_; }
  ParamStore& store() { return *store_; }
  const std::vector<std::string>& param_names() const { return names_; }

 private:
  Graph graph_;
  std::shared_ptr<ParamStore> store_;
  std::shared_ptr<Optimizer> optimizer_;
  std::vector<std::string> names_;
  size_t num_extra_ = 0;
  Program program_;
};

}  // namespace orbit::optim
