#include "models/diffusion/score_model.h"

#include "engine/ops.h"
#include "models/diffusion/mlp_score.h"
#include "models/egnn/egnn.h"

namespace orbit::diffusion {

ScoreNet build_score_net(Graph& g, const std::string& name, const systems::System& s, int64_t hidden, int64_t layers,
                         DType dtype, bool sparse) {
  ScoreNet n;
  if (!s.is_molecule()) {
    MlpScoreConfig m;
    m.dim = s.dim;
    m.hidden = hidden;
    m.blocks = layers;
    auto mlp = std::make_shared<MlpScore>(g, name, m, dtype);
    n.mlp = mlp;
    n.apply = [mlp](Var t, Var x) { return (*mlp)(t, x); };
    n.params_fn = [mlp] { return mlp->params(); };
    n.init_fn = [mlp](ParamStore& st, uint64_t seed) { mlp->init(st, seed); };
  } else {
    egnn::DynamicsConfig d;
    d.n_particles = s.n_particles;
    d.dim = s.dim;
    d.hidden = hidden;
    d.layers = layers;
    d.sparse = sparse;
    auto dyn = std::make_shared<egnn::Dynamics>(g, name, d, dtype);
    n.egnn_holder = dyn;
    n.apply = [dyn](Var t, Var x) { return (*dyn)(t, x); };
    n.params_fn = [dyn] { return dyn->params(); };
    n.init_fn = [dyn](ParamStore& st, uint64_t seed) { dyn->init(st, seed); };
  }
  return n;
}

Var center(const systems::System& s, Var v) {
  if (!s.is_molecule()) return v;
  Var r = reshape(v, {-1, s.n_particles, s.dim});
  return reshape(r - mean(r, {1}, true), {-1, s.flat_dim()});
}

}  // namespace orbit::diffusion
