// The per-layer activations of the fused MLP op (engine/mlp_fused.h), shared by its CPU and CUDA kernels.
// Each one is the unfused op's own scalar functor (kernels/scalar/unary.h), so fused and unfused
// programs round every activation identically.
#pragma once
#include <cstdint>

#include "kernels/scalar/unary.h"

namespace orbit::scalar {

enum class MlpAct : uint8_t { identity, relu, tanh, silu, sigmoid, gelu, softplus };
constexpr int kMlpNumActs = 7;
// The most layers one fused MLP node may have (the CUDA kernel takes them as one kernel argument).
constexpr int kMlpMaxLayers = 64;

inline const char* mlp_act_name(MlpAct a) {
  switch (a) {
    case MlpAct::identity: return "identity";
    case MlpAct::relu: return "relu";
    case MlpAct::tanh: return "tanh";
    case MlpAct::silu: return "silu";
    case MlpAct::sigmoid: return "sigmoid";
    case MlpAct::gelu: return "gelu";
    case MlpAct::softplus: return "softplus";
  }
  return "?";
}

template <class T>
ORBIT_HD T mlp_act(MlpAct a, T x) {
  switch (a) {
    case MlpAct::relu: return Relu{}(x);
    case MlpAct::tanh: return Tanh{}(x);
    case MlpAct::silu: return Silu{}(x);
    case MlpAct::sigmoid: return Sigmoid{}(x);
    case MlpAct::gelu: return Gelu{}(x);
    case MlpAct::softplus: return Softplus{}(x);
    default: return x;
  }
}

}  // namespace orbit::scalar
