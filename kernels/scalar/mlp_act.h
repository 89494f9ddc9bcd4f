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

// The activation A, fixed at compile time. GPU kernels call it from a switch around a whole loop: with
// mlp_act(a, x) inside a loop unrolled 64 times every element carries all seven activations (the fused
// MLP kernels were 280-440 KiB of SASS that way; tools/sass_report.py).
template <MlpAct A, class T>
ORBIT_HD T mlp_act_of(T x) {
  if constexpr (A == MlpAct::relu) return Relu{}(x);
  else if constexpr (A == MlpAct::tanh) return Tanh{}(x);
  else if constexpr (A == MlpAct::silu) return Silu{}(x);
  else if constexpr (A == MlpAct::sigmoid) return Sigmoid{}(x);
  else if constexpr (A == MlpAct::gelu) return Gelu{}(x);
  else if constexpr (A == MlpAct::softplus) return Softplus{}(x);
  else return x;
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
