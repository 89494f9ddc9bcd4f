// Glue between the systems and the metrics: the metrics options of a system (energies through the
// fused energy op, pair distances for particle systems, modes for the GMM) and configuration sets cut
// from tensors. Shared by `orbit metrics`, `orbit mcmc` and `orbit idem`.
#pragma once
#include <vector>

#include "engine/tensor.h"
#include "models/systems/metrics.h"
#include "models/systems/system.h"

namespace orbit::systems {

// The options of compute_metrics() for system s (s must outlive the options: the energy callback
// refers to it).
MetricsOptions metrics_options(const System& s);

// Rows `rows` of a [N, D] f32/f64 tensor as a ConfigSet (f64).
ConfigSet config_rows(const Tensor& t, const std::vector<int64_t>& rows);

}  // namespace orbit::systems
