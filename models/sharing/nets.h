// The networks of the MNIST-torus experiment as graph builders, on flattened side x side images:
//
//   fc  (the paper's Net_2FC): fully connected layers P -> P*c1 -> P*c2 -> ..., each followed by batch
//       norm (per unit, as nn.BatchNorm1d), ReLU and optional dropout; then the units are read as
//       [channels, P] and averaged over the P = side^2 positions, then a linear map to the classes. A
//       unit index is c * P + p (channel c at position p). With the weight-sharing prox on fc1 (and
//       fc2) the FC net can become the CNN below: that is the experiment.
//   cnn (the paper's Net_2CNN): 3x3 convolutions with circular (torus) padding, c1, c2, ... channels,
//       each followed by batch norm (per channel, as nn.BatchNorm2d) and ReLU, then global average
//       pooling and a linear map to the classes. orbit has no convolution op: each layer gathers the 9
//       circular neighbours of every pixel (one gather with a constant index, whose gradient is a
//       segment sum) and multiplies by a [9*cin, cout] matrix.
//
// Parameters: fc: "fc<l>/w" [P*c_{l-1}, P*c_l], "fc<l>/b" [P*c_l]; cnn: "conv<l>/w" [9*c_{l-1}, c_l],
// "conv<l>/b" [c_l]; with batch norm "<layer>/bn_gamma", "<layer>/bn_beta" (trained) and the running
// statistics "<layer>/bn_mean", "<layer>/bn_var" (kept in the store, updated by the trainer, used in
// evaluation mode); both: "out/w" [c_last, classes], "out/b" [classes] (c_0 = 1).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/graph.h"
#include "engine/param_store.h"

namespace orbit::sharing {

enum class NetKind { fc, cnn };

struct NetSpec {
  NetKind kind = NetKind::fc;
  int64_t side = 14;
  std::vector<int64_t> channels = {4, 8};
  int classes = 10;
  bool batch_norm = true;
  double dropout = 0;  // fc only: after each hidden layer's ReLU, in training mode (the paper: 0.4)
};

// One forward pass. Training mode normalises with the batch's statistics (returned, biased, one
// per normalised feature, for the running averages) and applies dropout; evaluation mode uses the
// running statistics and no dropout.
struct Forward {
  Var logits;
  std::vector<Var> batch_mean, batch_var;  // per hidden layer, training mode with batch norm
  std::vector<int64_t> stat_count;         // rows each statistic averages (B or B*P)
};

class TorusNet {
 public:
  TorusNet(Graph& g, const NetSpec& spec);
  // x [B, side*side] -> logits [B, classes]
  Forward forward(Var x, bool training, uint64_t dropout_seed = 1) const;
  Var operator()(Var x) const { return forward(x, false).logits; }  // evaluation mode
  // PyTorch's defaults: Linear / Conv2d weights and biases uniform in +-1/sqrt(fan_in); batch norm
  // gamma 1, beta 0, running mean 0 and variance 1.
  void init(ParamStore& store, uint64_t seed) const;
  const std::vector<Var>& params() const { return params_; }  // the trained ones
  // Running statistics names per hidden layer ("" without batch norm).
  std::vector<std::string> running_mean_names() const;
  std::vector<std::string> running_var_names() const;
  const NetSpec& spec() const { return spec_; }
  // The hidden layers' weight and bias names, first layer first ("fc1/w", "fc1/b", ...).
  std::vector<std::string> layer_weights() const;
  std::vector<std::string> layer_biases() const;

  // The first layer as a dense [P, c1*P] matrix read from `store`: column c*P + p holds the input
  // weights of channel c's unit at position p (for the CNN: the 3x3 kernel placed circularly at p).
  Tensor first_layer_dense(const ParamStore& store) const;

 private:
  NetSpec spec_;
  Var idx_;  // cnn: [P*9] circular 3x3 neighbourhoods
  std::vector<Var> w_, b_, gamma_, beta_, rmean_, rvar_;
  Var wo_, bo_;
  std::vector<Var> params_;
};

// The 3x3 circular neighbourhood index of a side x side torus: entry p*9 + k is the pixel at offset
// (k / 3 - 1, k % 3 - 1) from pixel p, wrapped around.
std::vector<int32_t> torus_neighbours(int64_t side);

// Softmax cross-entropy of logits [B, C] against one-hot targets [B, C], averaged over the rows whose
// target is not all zero (padding rows of a last partial batch are masked out).
Var cross_entropy(Var logits, Var onehot);

// Measures of a first-layer dense matrix [P, C*P] (column c*P + p = unit (c, p)) on a side x side torus:
//   shift_sharing: 1 - (mean over units of ||a_cp - abar_c||^2) / (mean over units of ||a_cp - m_cp||^2),
//     where a_cp is the unit's filter rolled back by its position p (so a convolution's units all give
//     the same a_cp), abar_c their mean over p and m_cp the filter's own mean: 1 for a convolution,
//     about 0 for unrelated filters.
//   locality: mean over units of the share of the filter's energy (about its median) in the 5x5 window
//     around the filter's largest |entry - median| (25/P for noise, 1 for 3x3 kernels; 0 for a
//     constant filter). A constant matrix has shift_sharing 1: its units are all the same.
struct FilterStats {
  double shift_sharing = 0, locality = 0;
};
FilterStats filter_stats(const Tensor& dense, int64_t side);

}  // namespace orbit::sharing
