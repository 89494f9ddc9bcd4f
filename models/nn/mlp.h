// A multilayer perceptron as a graph builder: x -> act(x W0 + b0) -> ... -> x Wn + bn.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/graph.h"
#include "engine/param_store.h"

namespace orbit::nn {

enum class Activation { tanh, relu, silu, gelu, sigmoid, softplus };
Var activate(Var x, Activation a);

class MLP {
 public:
  // widths = {in, hidden..., out}; parameters are named "<name>/w<i>" and "<name>/b<i>".
  MLP(Graph& g, const std::string& name, std::vector<int64_t> widths, Activation act = Activation::tanh,
      DType dtype = DType::f32);
  // x: [..., in] -> [..., out]
  Var operator()(Var x) const;
  // Xavier-uniform weights and zero biases, drawn from a seeded generator.
  void init(ParamStore& store, uint64_t seed) const;
  const std::vector<Var>& params() const { return params_; }

 private:
  std::vector<int64_t> widths_;
  Activation act_;
  DType dtype_;
  std::vector<Var> w_, b_, params_;
};

}  // namespace orbit::nn
