// Finished batches of the flow's probability-flow integrations, kept on disk so that an interrupted
// likelihood evaluation (LJ13's exact divergence takes hours on a CPU) resumes where it stopped.
//
// A batch's file is named by a hash of its key and its input rows; the file keeps both, and a batch is
// only taken from the cache when the stored key and input rows equal the asked ones exactly. The key is
// everything else the result depends on (the caller's job: models/diffusion/cfm.cpp puts in a hash of
// the flow's weights, its training configuration, the ODE settings, the direction and the probe
// stream), so a result computed for other weights or settings is never used. Unreadable or mismatching
// files are reported and integrated again, never trusted.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "models/diffusion/ode.h"

namespace orbit::diffusion {

struct OdeBatch {
  Tensor z;                // [B, D] f64: the rows at the end of the integration
  std::vector<double> a;   // [B]: the accumulated divergence
  OdeStats stats;          // the work it took
};

class OdeBatchCache {
 public:
  // Creates `dir` now, so an unusable path fails before hours of integration.
  explicit OdeBatchCache(std::string dir);
  const std::string& dir() const { return dir_; }
  // The stored result for these input rows ([B, D] f64) under `key`, if there is one.
  std::optional<OdeBatch> find(const std::string& key, const Tensor& z_in) const;
  // Keeps a result (atomically: a reader never sees half a file). A failure to write is a warning: the
  // evaluation goes on without that batch kept.
  void store(const std::string& key, const Tensor& z_in, const OdeBatch& batch) const;
  // The file a batch goes to.
  std::string path_for(const std::string& key, const Tensor& z_in) const;

 private:
  std::string dir_;
};

}  // namespace orbit::diffusion
