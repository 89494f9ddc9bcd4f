// The dense layers of EGNN: y = sum_k x_k W_k + b, where the paper concatenates its inputs
// ([h_i, h_j, r_ij, a_ij] -> Linear). The weight is stored as one [sum in_k, out] parameter (the
// concatenated layout, i.e. torch's nn.Linear weight transposed), and each part is applied on its own:
// a per-node part is computed once per node and broadcast over the edges instead of being copied into
// every edge's concatenated input. Width-1 parts are broadcast products, wider ones matrix products
// over the flattened leading dims.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/graph.h"
#include "engine/param_store.h"

namespace orbit::egnn {

class Linear {
 public:
  Linear() = default;
  // Parameters "<name>/w" [sum(in), out] and, with bias, "<name>/b" [out].
  Linear(Graph& g, const std::string& name, std::vector<int64_t> in_widths, int64_t out, bool bias = true,
         DType dtype = DType::f32);

  // One input of width in (a single-part layer): [..., in] -> [..., out].
  Var operator()(Var x) const;
  // x_k W_k (no bias) for part k: [..., in_k] -> [..., out].
  Var part(size_t k, Var x) const;
  // The bias [out]; a layer without bias has none (invalid Var). params() is empty for a
  // default-constructed (absent) layer.
  Var bias() const { return b_; }

  int64_t in_width() const;
  int64_t out_width() const { return out_; }
  // torch.nn.Linear's default: weight and bias uniform in +-1/sqrt(fan_in).
  void init_default(ParamStore& store, uint64_t seed) const;
  // Xavier-uniform weight with `gain` (torch.nn.init.xavier_uniform_), zero bias.
  void init_xavier(ParamStore& store, uint64_t seed, double gain) const;
  std::vector<Var> params() const;

 private:
  std::string name_;
  std::vector<int64_t> in_, offset_;
  int64_t out_ = 0;
  Var w_, b_;
};

}  // namespace orbit::egnn
