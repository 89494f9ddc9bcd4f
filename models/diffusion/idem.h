// iDEM (Akhound-Sadegh et al. 2024, official code jarridrb/DEM): a diffusion sampler trained from an
// energy alone. The score network s(t, x) regresses the DEM Monte-Carlo score target at noised buffer
// points; new buffer points come from the reverse SDE with the learned score (the outer loop).
//
//   IdemConfig cfg = IdemConfig::preset("dw4", "quick");
//   Idem run(cfg);                  // builds the score network, the train step and the sampler
//   run.train(on_epoch);            // epochs of `steps_per_epoch` Adam steps + a buffer refresh
//   Tensor x = run.sample(1000);    // reverse-SDE samples (original units)
//
// Every hyper-parameter of the paper's configs is in IdemConfig (docs/idem.md lists them per system).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/device.h"
#include "engine/optim/optimizer.h"
#include "engine/param_store.h"
#include "models/diffusion/schedule.h"
#include "models/systems/system.h"

namespace orbit::diffusion {

struct IdemConfig {
  std::string system = "dw4";
  std::string preset_name = "paper";
  // Network: GMM -> the MLP score; particle systems -> iDEM's EGNN_dynamics.
  int64_t hidden = 128, layers = 3;
  // Noise, target and loss.
  double sigma_min = 1e-5, sigma_max = 3;
  int64_t K = 1000;          // Monte-Carlo copies of the score target
  double clip = 20;          // score-target max norm (per particle for molecules); <= 0: none
  bool lambda_h = false;     // loss weight lambda(t) = h(t) + 1e-3 (GMM) instead of 1
  // Optimisation.
  int64_t batch = 512;
  double lr = 1e-3;
  bool plateau = true;       // ReduceLROnPlateau(0.1, patience 10) on the epoch loss, every val_every epochs
  double grad_clip = 0.5;
  int64_t epochs = 1000, steps_per_epoch = 100, val_every = 10;
  // Buffer and outer loop.
  bool use_buffer = true;    // false: pDEM (x_0 from the prior)
  int64_t buffer_max = 10000, init_samples = 1024, new_samples = 1000;
  bool init_from_prior = true;  // false (GMM): initial buffer from the reverse SDE with the MC target as score
  // Reverse SDE.
  int64_t integration_steps = 1000;
  double diffusion_scale = 1;
  int64_t negative_time_steps = 0;
  double negative_dt = 1e-4;
  int64_t unroll = 10;       // SDE steps per compiled program run
  // Evaluation.
  int64_t eval_n = 1000;
  uint64_t seed = 12345;
  Device device = Device::cpu();
  DType dtype = DType::f32;

  // "paper": the official configs (configs/experiment/*_idem.yaml); "quick": sized for 2 CPU cores.
  static IdemConfig preset(const std::string& system, const std::string& preset);
  systems::System target() const;  // the energy (GMM in iDEM's normalised coordinates)
  double data_scale() const;       // sample units -> original units (GMM: 50)
  void validate() const;
  std::string json() const;
  // The inverse of json() (a checkpoint's "config"); unknown or missing keys are errors.
  static IdemConfig from_json(const std::string& text, const std::string& what);
};

// The configuration stored in an iDEM checkpoint.
IdemConfig read_checkpoint_config(const std::string& path);

struct IdemEpoch {
  int64_t epoch = 0, step = 0;
  double loss = 0, lr = 0, grad_norm = 0, seconds = 0;
  int64_t buffer_size = 0;
};

class Idem {
 public:
  explicit Idem(const IdemConfig& cfg);
  ~Idem();

  // Runs epochs [current, cfg.epochs); on_epoch after each (return false to stop early).
  void train(const std::function<bool(const IdemEpoch&)>& on_epoch = {});
  // n reverse-SDE samples in original units ([n, D] f64 on the CPU). `mc_score`: the DEM Monte-Carlo
  // estimate instead of the network as the score (iDEM's GMM buffer initialisation).
  Tensor sample(int64_t n, uint64_t seed, bool mc_score = false);

  void save(const std::string& path) const;  // checkpoint, replay buffer included (extra/buffer)
  void load(const std::string& path);        // resumes: weights, optimizer, schedule, epoch, buffer

  const IdemConfig& config() const { return cfg_; }
  int64_t epoch() const { return epoch_; }
  const std::shared_ptr<ParamStore>& params() const { return store_; }
  Tensor buffer() const;  // [size, D] f64, sample units

  struct Impl;  // public so that the implementation's helpers can name it; defined in idem.cpp

 private:
  IdemConfig cfg_;
  std::shared_ptr<ParamStore> store_;
  std::unique_ptr<Impl> impl_;
  int64_t epoch_ = 0;
};

}  // namespace orbit::diffusion
