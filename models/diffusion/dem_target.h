// The DEM Monte-Carlo score target as a custom op of the engine (definition and noise convention:
// kernels/scalar/dem_target.h):
//
//   dem_score_target(x [B, D], sigma [B, 1]) -> clip( sum_k softmax_k(-E_k) (-grad E)(x + sigma eps_k) )
//
// Energies, forces, weights and the weighted sum of the K noisy copies in one pass (CPU: f64 inside;
// CUDA: one block per point), without K x B intermediates. It is a regression target, computed without
// gradient as in iDEM: the op is a stop-gradient (its VJP is zero). It draws fresh noise on every
// Program::run (a random op keyed by seed, stream and the run counter, identical on CPU and CUDA).
#pragma once
#include "engine/attrs.h"
#include "engine/graph.h"
#include "kernels/scalar/dem_target.h"
#include "models/systems/system.h"

namespace orbit::diffusion {

struct DemTargetAttr : Attr<DemTargetAttr> {
  static constexpr const char* kName = "dem_score_target";
  int64_t gmm = 0, kind = 0, n = 0, dim = 0;
  double scale = 1, oscillator = 0, eps = 1, rm = 1, softening = 0, a = 0, b = 0, d0 = 0;
  double gmm_std = 1, gmm_scale = 1;
  int64_t K = 1;
  uint64_t seed = 0, stream = 0;
  double max_norm = 0;
  int64_t clip_group = 0;
  auto fields() const {
    return std::tie(gmm, kind, n, dim, scale, oscillator, eps, rm, softening, a, b, d0, gmm_std, gmm_scale, K, seed,
                    stream, max_norm, clip_group);
  }
  // The kernel parameters for a batch of flat dimension D and mixture size `components` (GMM).
  scalar::DemParams params(int64_t D, int64_t components, uint64_t run) const;
};

OpId dem_target_op();

// The clipped DEM target of the system's energy at x_t with per-point noise scale sigma ([B, 1] or [B]).
// max_norm <= 0 disables clipping; molecules clip per particle, the GMM the whole vector (as iDEM).
Var dem_score_target(const systems::System& s, Var x, Var sigma, int64_t K, uint64_t seed, double max_norm);

}  // namespace orbit::diffusion
