// The networks of iDEM and of its flow-matching likelihood model, chosen by system: iDEM's MLP for the
// GMM, iDEM's EGNN_dynamics for particle systems. Every graph that builds one with the same name shares
// its parameters through the ParamStore (the train step, the sampler and the likelihood all see them).
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/graph.h"
#include "engine/param_store.h"
#include "models/systems/system.h"

namespace orbit::diffusion {

class MlpScore;

struct ScoreNet {
  std::shared_ptr<MlpScore> mlp;
  std::shared_ptr<void> egnn_holder;  // an egnn::Dynamics (kept opaque to keep the header light)
  std::function<Var(Var, Var)> apply;
  std::function<std::vector<Var>()> params_fn;
  std::function<void(ParamStore&, uint64_t)> init_fn;

  // t: [B, 1]; x: [B, D] -> [B, D] (mean-free for particle systems).
  Var operator()(Var t, Var x) const { return apply(t, x); }
  std::vector<Var> params() const { return params_fn(); }
  void init(ParamStore& s, uint64_t seed) const { init_fn(s, seed); }
};

// `sparse`: particle systems use the EGNN's edge-list path (gather + segment_sum) instead of the dense
// B x n x n one; the results are the same (tested in models/egnn), the edge-list path is faster on the
// CPU (it skips the n masked self edges).
ScoreNet build_score_net(Graph& g, const std::string& name, const systems::System& s, int64_t hidden, int64_t layers,
                         DType dtype, bool sparse = false);

// Removes the per-configuration centre of mass of particle systems (identity for the GMM).
Var center(const systems::System& s, Var v);

}  // namespace orbit::diffusion
