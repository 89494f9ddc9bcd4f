#include "engine/optim/train_step.h"

#include <cmath>

#include "engine/autodiff.h"
#include "engine/ops.h"

namespace orbit::optim {

TrainStep::TrainStep(const Graph& graph, Var loss, const std::vector<Var>& params, std::shared_ptr<ParamStore> store,
                     std::shared_ptr<Optimizer> optimizer, Device device, std::vector<Var> extra,
                     NumericsCheck numerics)
    : graph_(graph), store_(std::move(store)), optimizer_(std::move(optimizer)), num_extra_(extra.size()) {
  ORBIT_CHECK(store_ && optimizer_, "TrainStep needs a ParamStore and an optimizer");
  ORBIT_CHECK(loss.valid() && loss.graph() == &graph, "TrainStep: the loss must be a node of the given graph");
  ORBIT_CHECK(loss.shape().numel() == 1, "TrainStep: the loss ", graph.describe(loss.id()), " is not a scalar");
  ORBIT_CHECK(!params.empty(), "TrainStep: no parameters to train");
  // Re-point the caller's handles at our copy of the graph (node ids are shared).
  Var l(&graph_, loss.id());
  std::vector<Var> wrt;
  for (auto& p : params) {
    ORBIT_CHECK(p.valid() && p.graph() == &graph && p.node().kind == NodeKind::parameter, "TrainStep: '",
                p.valid() ? p.name() : "", "' is not a parameter of the graph");
    wrt.emplace_back(&graph_, p.id());
    names_.push_back(p.name());
  }
  std::vector<Var> outs{l};
  for (auto& e : extra) {
    ORBIT_CHECK(e.valid() && e.graph() == &graph, "TrainStep: an extra output is not a node of the graph");
    outs.emplace_back(&graph_, e.id());
  }
  auto grads = grad(l, wrt);
  outs.insert(outs.end(), grads.begin(), grads.end());
  CompileOptions opts;
  opts.params = store_;
  opts.numerics = numerics;
  program_ = compile(graph_, outs, device, opts);
}

TrainStep::Result TrainStep::run(const Feeds& feeds) {
  auto out = program_.run(feeds);
  Result r;
  r.loss = out[0].item();
  ORBIT_CHECK(std::isfinite(r.loss), "training step ", optimizer_->steps(), ": the loss is ", r.loss,
              "; parameters were not updated");
  r.extra.assign(out.begin() + 1, out.begin() + 1 + static_cast<long>(num_extra_));
  std::vector<Tensor> grads(out.begin() + 1 + static_cast<long>(num_extra_), out.end());
  r.grad_norm = optimizer_->step(*store_, names_, std::move(grads));
  return r;
}

}  // namespace orbit::optim
