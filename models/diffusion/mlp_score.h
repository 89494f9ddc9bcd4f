// iDEM's score network for the 2-D GMM (dem/models/components/mlp.py::MyMLP): every input coordinate
// gets a sinusoidal embedding of size 128 (scale 25), time one of size 128 (scale 1); the concatenation
// (384) -> Linear -> GELU -> 3 residual blocks x + GELU(Linear(x)) -> Linear -> dim outputs.
#pragma once
#include <vector>

#include "models/egnn/linear.h"

namespace orbit::diffusion {

struct MlpScoreConfig {
  int64_t dim = 2;
  int64_t hidden = 128;
  int64_t blocks = 3;
  int64_t embedding = 128;  // per coordinate and for time (even)
  double x_scale = 25, t_scale = 1;
};

// Sinusoidal embedding of each entry of z ([B, c] -> [B, c * size]): [sin(scale z f), cos(scale z f)],
// f_k = exp(-k ln(10000) / (size/2 - 1)), k = 0 .. size/2 - 1.
Var sinusoidal_embedding(Var z, int64_t size, double scale);

class MlpScore {
 public:
  MlpScore(Graph& g, const std::string& name, const MlpScoreConfig& cfg, DType dtype = DType::f32);
  // t: [B, 1], x: [B, dim] -> [B, dim]
  Var operator()(Var t, Var x) const;
  void init(ParamStore& store, uint64_t seed) const;  // torch.nn.Linear's default initialisation
  std::vector<Var> params() const;

 private:
  MlpScoreConfig cfg_;
  egnn::Linear in_, out_;
  std::vector<egnn::Linear> blocks_;
};

}  // namespace orbit::diffusion
