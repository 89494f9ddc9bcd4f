// The likelihood model of the iDEM evaluation: a conditional flow-matching (CFM, sigma = 0) model
// trained on a sampler's output, whose probability-flow ODE gives log-likelihoods (NLL of test data)
// and, run forwards, importance weights against the true energy (log Z and ESS). As in iDEM the network
// is the sampler's own architecture (MLP for the GMM, EGNN_dynamics for particle systems), the prior
// N(0, prior_std^2 I) (mean-free for particle systems), x_t = (1 - t) x_0 + t x_1, u_t = x_1 - x_0.
//
// The ODE is integrated with fixed-step classical Runge-Kutta or, as iDEM does, adaptive dopri5 with
// atol = rtol = ode_tol (models/diffusion/ode.h);
// the divergence is the exact Jacobian trace (one reverse pass per coordinate) or, with `hutchinson`,
// a Gaussian-probe estimate (iDEM's choice for LJ55).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "engine/device.h"
#include "engine/param_store.h"
#include "engine/tensor.h"
#include "models/diffusion/ode.h"
#include "models/systems/system.h"

namespace orbit::diffusion {

struct CfmConfig {
  std::string system = "dw4";
  int64_t hidden = 64, layers = 3;
  double prior_std = 2;     // in sample units (GMM: normalised units, x / 50)
  int64_t batch = 256, steps = 2000;
  double lr = 1e-3;         // cosine-decayed to 0 over `steps`
  std::string ode_solver = "rk4";  // rk4 | dopri5
  int64_t ode_steps = 50;          // rk4: steps over t in [0, 1]
  double ode_tol = 1e-5;           // dopri5: atol = rtol
  int64_t ode_max_nfe = 3000;      // dopri5: more field evaluations per batch is an error
  bool hutchinson = false;
  uint64_t seed = 0;
  Device device = Device::cpu();

  static CfmConfig preset(const std::string& system, const std::string& preset);  // paper | quick
  void validate() const;
  // The fields that decide what training produces (not the ODE settings or hutchinson, nor the
  // device), as a JSON object: stored in a flow checkpoint and compared when it is loaded.
  std::string training_json() const;
};

struct CfmLikelihood {
  Tensor nll;                 // [N] -log p(x) in original units
  double mean = 0, stderr_ = 0;
  OdeStats ode;               // summed over the batches
};

struct CfmImportance {
  double log_z = 0;  // mean of log w = -E(x) - log q(x) over the batch (iDEM's estimator)
  double ess = 0;    // 1 / sum softmax(log w)^2, divided by the batch size
  int64_t n = 0;
  Tensor x;                   // the weighted configurations [n, D] (f64, original units)
  std::vector<double> log_w;  // their log importance weights (-inf / NaN: weight 0)
  OdeStats ode;               // of the integration that gave log q (Cfm::importance / weigh)
};

// Importance weights log w = -E(x) - log q(x) of configurations x ([n, D], original units) with log q(x)
// given, and iDEM's log Z and ESS estimates from them. Throws when no weight is finite.
CfmImportance importance_weights(const systems::System& s, const Tensor& x, const std::vector<double>& log_q);

// Systematic resampling: n rows of x drawn with probabilities softmax(log_w) (non-finite log weights
// count as 0), one uniform offset from `seed`. The result approximates the target exp(-E) / Z when
// the model covers it. Throws when no weight is finite.
Tensor importance_resample(const Tensor& x, const std::vector<double>& log_w, int64_t n, uint64_t seed);

// What a CFM training run reports and when it saves or stops (all optional).
struct CfmTrainHooks {
  std::function<void(int64_t step, double loss)> on_step;  // mean loss since the last report
  int64_t log_every = 100;
  std::function<void(int64_t step)> on_checkpoint;  // every checkpoint_every steps (0: never), after the last
  int64_t checkpoint_every = 0;                     // step, and before stopping early
  std::function<bool()> stop;                       // polled after every step: true ends training there
};

class Cfm {
 public:
  explicit Cfm(const CfmConfig& cfg);
  ~Cfm();
  using TrainHooks = CfmTrainHooks;
  // Trains on samples in original units ([N, D]) from steps_done() + 1 to config().steps (or until
  // hooks.stop). Samples other than those a loaded checkpoint was trained on are an error.
  void train(const Tensor& samples, const TrainHooks& hooks = {});
  int64_t steps_done() const;
  // Throws unless `samples` are valid configurations and, after load(), the ones the flow was trained
  // on; returns their fingerprint.
  std::string check_training_samples(const Tensor& samples) const;
  // A resumable checkpoint (safetensors, written atomically): weights, Adam and schedule state, the
  // random streams, the step and a fingerprint of the training samples.
  void save(const std::string& path) const;
  // Restores a checkpoint written by save(); its training configuration must equal this model's
  // (the first differing field is named). The ODE settings may differ: they only affect evaluation.
  void load(const std::string& path);
  // Progress of a long ODE integration: progress(0, total) first, then progress(done, total) after each
  // step (of every batch), counted in RK4 steps or, for dopri5, in thousandths of the time interval.
  using ProgressFn = std::function<void(int64_t done, int64_t total)>;
  // -log p(x) of configurations in original units, evaluated `batch` at a time.
  CfmLikelihood nll(const Tensor& x, int64_t batch = 256, const ProgressFn& progress = {});
  // n model samples x ([n, D] f64, original units) and their log q(x), by integrating the ODE forwards.
  // Integrated `batch` rows at a time (also in nll() and weigh()): the batches share nothing but the
  // compiled field program, so the batch size only trades memory and step-size sharing against speed.
  void sample(int64_t n, uint64_t seed, Tensor& x, std::vector<double>& log_q, const ProgressFn& progress = {},
              OdeStats* stats = nullptr, int64_t batch = 256);
  // Samples n points from the model with their log q and importance weights against exp(-E).
  CfmImportance importance(int64_t n, uint64_t seed, const ProgressFn& progress = {}, int64_t batch = 256);
  // Importance weights of given configurations (a sampler's output, held out from this model's
  // training set) against exp(-E), log q from the ODE as in nll(): the model as the learned density
  // of the sampler, so the weights correct the sampler's samples towards exp(-E) / Z.
  CfmImportance weigh(const Tensor& x, int64_t batch = 256, const ProgressFn& progress = {});
  // Keeps every finished ODE batch of nll(), sample(), importance() and weigh() in `dir`
  // (models/diffusion/ode_batch_cache.h) and takes batches found there instead of integrating them, so
  // an interrupted evaluation resumes. A batch is reused only for the same weights, training
  // configuration, ODE settings and input rows; the device is not part of that (a batch integrated on
  // the GPU serves a CPU run: the two differ by float rounding). "" turns it off (the default). The
  // folder is created now.
  void set_eval_cache(const std::string& dir);
  const CfmConfig& config() const { return cfg_; }

  struct Impl;

 private:
  CfmConfig cfg_;
  std::shared_ptr<ParamStore> store_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace orbit::diffusion
