// Training EGNN / MC-EGNN on the charged N-body task (MSE) and the synthetic solar-system task
// (relative MSE), as in the papers (spec section 3.3): Adam with weight decay, batches of 100, an
// evaluation on the validation split every `eval_every` epochs, the model selected on validation and
// its test error reported. The network is MC-EGNN with m = `channels` vector channels (m = 1 is EGNN
// exactly), EGNN_vel-style: h^0 = |v| (solar: [|v|, log m - mean log m]), edge attributes
// [q_i q_j, ||x_i - x_j||^2] (solar: [||x_i - x_j||^2], norm_diff on), mean coordinate aggregation
// clamped to +-100, recurrent node updates, velocity term.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/device.h"
#include "engine/param_store.h"
#include "models/egnn/mc_egnn.h"

namespace orbit::egnn {

enum class Task { nbody, solar };
const char* task_name(Task t);
Task task_from_name(const std::string& s);

struct TrainConfig {
  Task task = Task::nbody;
  int64_t channels = 1;
  int64_t hidden = 64, layers = 4;
  int epochs = 10000;
  int batch = 100;
  double lr = 5e-4, weight_decay = 1e-12;
  int eval_every = 5;
  int early_stop = 0;  // stop after this many epochs without a better validation error (0: never)
  int64_t train_samples = 3000, val_samples = 2000, test_samples = 2000;  // nbody
  int frame_in = 30, frame_out = 40;                                      // nbody
  uint64_t seed = 1;        // initialisation and batch order
  uint64_t data_seed = 43;  // simulation (when no data folder is given)
  bool sparse = false;      // edge lists instead of the dense batched graph
  std::string data_dir;     // "" : simulate in memory with data_seed
  Device device = Device::cpu();

  // "quick" (a few minutes on 2 CPU cores) or "paper" (the papers' schedule); throws on others.
  static TrainConfig preset(const std::string& name, Task task);
  void validate() const;
  MCEGNNConfig model() const;
  std::string json() const;
  static TrainConfig from_json(const std::string& text);  // the inverse of json()
};

// One split as the model sees it: positions, velocities, node features, targets (and charges or
// relative-loss weights), float64 on the host.
struct Split {
  int64_t count = 0, n = 0, dim = 0, features = 0;
  std::vector<double> x, v, y;  // [count, n, dim]
  std::vector<double> h;        // [count, n, features]
  std::vector<double> q;        // [count, n]: charges (nbody)
  std::vector<double> w;        // [count, n]: 1 / ||x_i - y_i||^2 (solar)
};

struct TaskData {
  Split train, val, test;
  double baseline_tau = 0;   // linear baseline x + tau v, fitted on train
  double baseline_val = 0, baseline_test = 0;
  std::string source;        // where the data came from
};
// Simulates (or loads from cfg.data_dir) the task's splits.
TaskData load_task(const TrainConfig& cfg);

struct EpochLog {
  int epoch = 0;
  double train_loss = 0, val = -1, test = -1, lr = 0, seconds = 0;
  bool best = false;
};

struct TrainResult {
  double best_val = 0, test_at_best = 0;  // the metric: MSE (nbody) or relative MSE (solar)
  int best_epoch = 0, epochs_run = 0;
  double baseline_test = 0, baseline_tau = 0;
  double seconds = 0;
  int64_t parameters = 0;
  std::shared_ptr<ParamStore> best_params;
  std::shared_ptr<ParamStore> final_params;  // the weights after the last epoch (on the host)
  std::vector<EpochLog> history;             // every epoch, those before a resume included
  int resumed_from = 0;                      // the checkpoint's epoch when resumed, else 0
  std::string data_source;
  bool stopped = false;                      // Checkpointing::stop ended the run before cfg.epochs
};

// Resumable training. With `path` set, a checkpoint of the latest epoch is written there (atomically:
// temp file + rename) after every epoch, after on_epoch: the weights ("param/egnn/..."), the best
// weights so far ("param/best/egnn/..."), Adam's moments, step and schedule state, and as metadata the
// epoch, the best validation metric / its test metric / its epoch, the epochs since the best, the
// elapsed seconds, the history, the config and whatever `meta` returns (the CLI stores its
// metrics.jsonl byte position). The batch order is a pure function of (seed, epoch), so the epoch is
// the whole RNG / shuffle state. With `resume`, training continues from `path` after its epoch up to
// cfg.epochs; the result (weights, every logged number but the wall times) equals an uninterrupted
// run's bit for bit. The config must equal the stored one except `epochs` and `device` (an error
// naming the first differing field otherwise).
struct Checkpointing {
  std::string path;
  bool resume = false;
  std::function<std::map<std::string, std::string>()> meta;
  std::function<bool()> stop;  // polled after each epoch's checkpoint: true ends the run there (Ctrl-C, a time limit)
};

// Trains; on_epoch is called after every epoch (with val/test set on evaluation epochs).
TrainResult train(const TrainConfig& cfg, const TaskData& data, const std::function<void(const EpochLog&)>& on_epoch = {},
                  const Checkpointing& ck = {});

// The metadata of a checkpoint written by train() ("config", "epoch", the caller's keys, ...); throws an
// error naming the path when it is missing, unreadable or not an EGNN training checkpoint.
std::map<std::string, std::string> read_train_checkpoint_meta(const std::string& path);

// The metric of the model with `params` on a split (MSE or relative MSE).
double evaluate(const TrainConfig& cfg, const ParamStore& params, const Split& split);

// Predictions [count, n, dim] of the model on a split.
std::vector<double> predict(const TrainConfig& cfg, const ParamStore& params, const Split& split);

// The task's metric for predictions on a split.
double metric(Task task, const Split& split, const std::vector<double>& pred);

// The model's parameters, initialised for cfg (names "egnn/...").
std::shared_ptr<ParamStore> init_params(const TrainConfig& cfg);

}  // namespace orbit::egnn
