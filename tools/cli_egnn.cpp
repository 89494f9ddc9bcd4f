// `orbit egnn train`: EGNN / MC-EGNN on the charged N-body task (test MSE) or the synthetic solar
// system (relative MSE), selected on validation; results.json, metrics.jsonl, the best parameters as
// a checkpoint and plots in --out. `orbit egnn eval`: a saved checkpoint on a split.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#if defined(_OPENMP)
#include <omp.h>
#endif

#include "engine/io/json.h"
#include "engine/io/npy.h"
#include "engine/io/safetensors.h"
#include "engine/optim/checkpoint.h"
#include "engine/plot/plot.h"
#include "engine/util/interrupt.h"
#include "engine/util/jsonl_log.h"
#include "engine/util/parse.h"
#include "engine/util/progress.h"
#include "models/egnn/trainer.h"
#include "tools/commands.h"

namespace orbit::cli {

namespace {
namespace fs = std::filesystem;
using egnn::TrainConfig;

// Sets the fields of the flags given (all flags, with their defaults, when `all`).
void apply_flags(const Args& a, TrainConfig& c, bool all) {
  if (all || a.has("channels")) c.channels = a.integer("channels", 1, 64);
  if (a.has("hidden")) c.hidden = a.integer("hidden", 1, 4096);
  if (a.has("layers")) c.layers = a.integer("layers", 1, 64);
  if (a.has("epochs")) c.epochs = static_cast<int>(a.integer("epochs", 1, 100000000));
  if (a.has("batch")) c.batch = static_cast<int>(a.integer("batch", 1, 1000000));
  if (a.has("lr")) c.lr = a.positive("lr");
  if (a.has("weight-decay")) {
    c.weight_decay = a.real("weight-decay");
    ORBIT_CHECK(c.weight_decay >= 0, "--weight-decay must be >= 0, got ", a.str("weight-decay"));
  }
  if (a.has("eval-every")) c.eval_every = static_cast<int>(a.integer("eval-every", 1, 1000000));
  if (a.has("early-stop")) c.early_stop = static_cast<int>(a.integer("early-stop", 0, 100000000));
  if (a.has("train-samples")) c.train_samples = a.integer("train-samples", 1, 10000000);
  if (a.has("val-samples")) c.val_samples = a.integer("val-samples", 1, 10000000);
  if (a.has("test-samples")) c.test_samples = a.integer("test-samples", 1, 10000000);
  if (a.has("frame-in")) c.frame_in = static_cast<int>(a.integer("frame-in", 0, 1000000));
  if (a.has("frame-out")) c.frame_out = static_cast<int>(a.integer("frame-out", 0, 1000000));
  if (all || a.has("data-seed")) c.data_seed = static_cast<uint64_t>(a.integer("data-seed", 0, 1LL << 62));
  if (all || a.has("seed")) c.seed = static_cast<uint64_t>(a.integer("seed", 0, 1LL << 62));
  if (all || a.has("graph")) {
    const std::string graph = a.str("graph");
    ORBIT_CHECK(graph == "dense" || graph == "sparse", "--graph must be dense or sparse, got '", graph, "'");
    c.sparse = graph == "sparse";
  }
  if (all || a.has("data")) c.data_dir = a.str("data");
  if (all || a.has("device")) c.device = Device::parse(a.str("device"));
}

TrainConfig config_from(const Args& a) {
  TrainConfig c = TrainConfig::preset(a.str("preset"), egnn::task_from_name(a.str("task")));
  apply_flags(a, c, true);
  c.validate();
  return c;
}

// --resume DIR: the stored configuration; a flag given with another value than the stored one is an
// error naming it (only --epochs, --device, --threads and --quiet may change).
TrainConfig resume_config(const Args& a, const std::map<std::string, std::string>& meta, const std::string& ckpt) {
  auto it = meta.find("config");
  ORBIT_CHECK(it != meta.end(), "checkpoint '", ckpt, "' has no 'config' metadata");
  const TrainConfig stored = TrainConfig::from_json(it->second);
  auto stored_preset = meta.find("preset");
  if (a.has("preset"))
    ORBIT_CHECK(stored_preset != meta.end() && stored_preset->second == a.str("preset"), "--preset ", a.str("preset"),
                " differs from the resumed run's preset ", stored_preset == meta.end() ? "(unknown)" : stored_preset->second,
                "; only --epochs, --device, --threads, --time-limit and --quiet may change on --resume");
  if (a.has("task")) egnn::task_from_name(a.str("task"));  // a bad name is reported as such
  TrainConfig given = stored;
  if (a.has("task")) given.task = egnn::task_from_name(a.str("task"));
  apply_flags(a, given, false);
  const io::Json js = io::parse_json(stored.json(), "config"), jg = io::parse_json(given.json(), "config");
  const std::pair<const char*, const char*> fields[] = {
      {"task", "task"}, {"channels", "channels"}, {"hidden", "hidden"}, {"layers", "layers"}, {"batch", "batch"},
      {"lr", "lr"}, {"weight-decay", "weight_decay"}, {"eval-every", "eval_every"}, {"early-stop", "early_stop"},
      {"train-samples", "train_samples"}, {"val-samples", "val_samples"}, {"test-samples", "test_samples"},
      {"frame-in", "frame_in"}, {"frame-out", "frame_out"}, {"data", "data_dir"}, {"data-seed", "data_seed"},
      {"seed", "seed"}, {"graph", "sparse"}};
  for (auto& [flag, key] : fields) {
    if (!a.has(flag)) continue;
    const io::Json *s = js.find(key), *g = jg.find(key);
    ORBIT_CHECK(s && g, "config field '", key, "' missing");
    const bool same = s->kind == g->kind && s->text == g->text && s->boolean == g->boolean;
    ORBIT_CHECK(same, "--", flag, " ", a.str(flag), " differs from the resumed run's value (", key, " = ",
                s->kind == io::Json::Kind::boolean ? (s->boolean ? "true" : "false") : s->text,
                " in ", ckpt, "); only --epochs, --device, --threads and --quiet may change on --resume");
  }
  given.validate();
  return given;
}

const char* metric_name(egnn::Task t) { return t == egnn::Task::nbody ? "MSE" : "relative MSE"; }

void save_plot(const fs::path& dir, const TrainConfig& c, const egnn::TrainResult& r) {
  std::vector<double> ep, tl, ve, vv;
  for (auto& h : r.history) {
    ep.push_back(h.epoch);
    tl.push_back(h.train_loss);
    if (h.val >= 0) {
      ve.push_back(h.epoch);
      vv.push_back(h.val);
    }
  }
  plot::Figure fig(1000, 600);
  auto& ax = fig.axes(std::string("EGNN, ") + egnn::task_name(c.task) + ", m = " + std::to_string(c.channels), "epoch",
                      metric_name(c.task));
  ax.line(ep, tl, "train loss").line(ve, vv, "validation");
  std::vector<double> bx{ep.front(), ep.back()}, by{r.baseline_test, r.baseline_test};
  ax.line(bx, by, "linear baseline (test)");
  ax.log_y();
  fig.save((dir / "egnn.png").string());
  fig.save((dir / "egnn.svg").string());
}

void set_threads(const Args& a) {
  const long long t = a.integer("threads", 0, 1024);
#if defined(_OPENMP)
  if (t > 0) omp_set_num_threads(static_cast<int>(t));
#else
  (void)t;
#endif
}

int run_train(const Args& a) {
  set_threads(a);
  const bool resume = a.has("resume");
  const fs::path dir = resume ? a.str("resume") : a.str("out");
  if (resume)
    ORBIT_CHECK(!a.has("out") || fs::path(a.str("out")) == dir, "--out ", a.str("out"), " and --resume ", dir.string(),
                " differ: a resumed run writes into the folder it resumes");
  const fs::path ckpt = dir / "checkpoint.safetensors", metrics = dir / "metrics.jsonl";
  std::map<std::string, std::string> meta;
  if (resume) {
    ORBIT_CHECK(fs::exists(ckpt), "cannot resume: '", ckpt.string(),
                "' does not exist (orbit egnn train --out DIR writes it after every epoch)");
    meta = egnn::read_train_checkpoint_meta(ckpt.string());
  }
  TrainConfig c = resume ? resume_config(a, meta, ckpt.string()) : config_from(a);
  const std::string preset = resume && meta.count("preset") ? meta.at("preset") : a.str("preset");
  int start_epoch = 0;
  if (resume) {
    // The metrics log goes back to where it was when the checkpoint was written (a run killed after
    // logging an epoch but before checkpointing it logged one line too many).
    auto lb = meta.find("log_bytes"), ep = meta.find("epoch");
    ORBIT_CHECK(lb != meta.end() && ep != meta.end(), "checkpoint '", ckpt.string(), "' lacks log_bytes / epoch");
    int64_t bytes = 0, epoch = 0;
    const bool ok = util::parse_int64(lb->second, bytes) && util::parse_int64(ep->second, epoch) && bytes >= 0 &&
                    epoch >= 0 && epoch <= 100000000;
    ORBIT_CHECK(ok, "checkpoint '", ckpt.string(), "': log_bytes '", lb->second, "' or epoch '", ep->second,
                "' is not a non-negative integer");
    start_epoch = static_cast<int>(epoch);
    ORBIT_CHECK(fs::exists(metrics) && fs::file_size(metrics) >= static_cast<uintmax_t>(bytes), "cannot resume: '", metrics.string(),
                "' is missing or shorter than the checkpoint's ", bytes, " bytes");
    fs::resize_file(metrics, bytes);
  }
  fs::create_directories(dir);
  const bool quiet = a.flag("quiet");
  if (!quiet) std::fprintf(stderr, "egnn: preparing the %s data ...\n", egnn::task_name(c.task));
  auto data = egnn::load_task(c);
  if (!quiet && resume) std::fprintf(stderr, "egnn: resuming %s at epoch %d of %d\n", dir.string().c_str(), start_epoch + 1, c.epochs);
  util::JsonlLog log(metrics.string(), resume ? util::JsonlLog::Mode::append : util::JsonlLog::Mode::truncate);
  util::Progress::Options po;
  po.quiet = quiet;
  po.initial = std::min(start_epoch, c.epochs);
  util::Progress bar(c.epochs, "egnn", po);
  egnn::Checkpointing ck;
  ck.path = ckpt.string();
  ck.resume = resume;
  // A first Ctrl-C (SIGTERM) or --time-limit ends the run after the epoch in progress, checkpoint written.
  // The guard lives while training runs; afterwards (predictions, plots) Ctrl-C quits at once.
  auto interrupt = std::make_optional<util::StopOnSignal>("stopping after this epoch (the checkpoint is written after every epoch)");
  const double time_limit = a.has("time-limit") ? a.positive("time-limit") : 0.0;
  const auto started = std::chrono::steady_clock::now();
  ck.stop = [&] {
    return interrupt->requested() ||
           (time_limit > 0 && std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count() >= time_limit);
  };
  ck.meta = [&] {
    return std::map<std::string, std::string>{{"log_bytes", std::to_string(fs::file_size(metrics))}, {"preset", preset}};
  };
  auto r = egnn::train(c, data, [&](const egnn::EpochLog& l) {
    util::Progress::Metrics m{{"loss", l.train_loss}};
    if (l.val >= 0) m.push_back({"val", l.val});
    bar.update(l.epoch, m);
    std::vector<std::pair<std::string, util::JsonValue>> line{{"epoch", l.epoch}, {"train_loss", l.train_loss},
                                                               {"lr", l.lr}, {"seconds", l.seconds}};
    if (l.val >= 0) line.push_back({"val", l.val});
    if (l.test >= 0) line.push_back({"test", l.test});
    log.write(line);
  }, ck);
  bar.finish();
  const int signal_seen = interrupt->signal();
  interrupt.reset();
  if (r.stopped) {
    std::fprintf(stderr, "orbit egnn train: %s after epoch %d of %d; the checkpoint is in %s: continue with orbit egnn "
                 "train --resume %s\n", signal_seen != 0 ? "stopped" : "--time-limit reached", r.epochs_run,
                 c.epochs, ckpt.string().c_str(), dir.string().c_str());
    return signal_seen != 0 ? util::exit_status_for_signal(signal_seen) : util::kExitUnfinished;
  }
  ORBIT_CHECK(r.best_params != nullptr, "no evaluation happened");
  optim::CheckpointState best{r.best_params.get(), nullptr, nullptr, 0,
                              {{"config", c.json()}, {"best_epoch", std::to_string(r.best_epoch)}}};
  optim::save_checkpoint((dir / "best.safetensors").string(), best);
  auto pred = egnn::predict(c, *r.best_params, data.test);
  write_npy((dir / "test_prediction.npy").string(),
            Tensor::from<double>({data.test.count, data.test.n, data.test.dim}, pred));
  std::ofstream js(dir / "results.json");
  js.precision(10);
  js << "{\"config\": " << c.json() << ", \"metric\": \"" << metric_name(c.task) << "\", \"test\": " << r.test_at_best
     << ", \"best_val\": " << r.best_val << ", \"best_epoch\": " << r.best_epoch << ", \"epochs_run\": " << r.epochs_run
     << ", \"linear_baseline_test\": " << r.baseline_test << ", \"linear_baseline_tau\": " << r.baseline_tau
     << ", \"parameters\": " << r.parameters << ", \"train_seconds\": " << r.seconds << ", \"data\": \""
     << r.data_source << "\"}\n";
  ORBIT_CHECK(js.good(), "cannot write results.json in '", dir.string(), "'");
  save_plot(dir, c, r);
  std::printf("%s, m = %lld channels, %lld training samples: test %s %.6g at epoch %d (best validation %.6g); "
              "linear baseline %.6g; %d epochs in %.1f s\n",
              egnn::task_name(c.task), static_cast<long long>(c.channels), static_cast<long long>(data.train.count),
              metric_name(c.task), r.test_at_best, r.best_epoch, r.best_val, r.baseline_test, r.epochs_run, r.seconds);
  std::printf("wrote %s/{results.json, metrics.jsonl, best.safetensors, checkpoint.safetensors, test_prediction.npy, "
              "egnn.png, egnn.svg}\n",
              dir.string().c_str());
  return 0;
}

int run_eval(const Args& a) {
  set_threads(a);
  const std::string path = a.str("checkpoint");
  ORBIT_CHECK(!path.empty(), "--checkpoint is required (a best.safetensors written by orbit egnn train)");
  // The model is rebuilt from the run's configuration (stored in the checkpoint), then loaded.
  std::map<std::string, Tensor> tensors;
  std::map<std::string, std::string> meta;
  read_safetensors(path, tensors, meta);
  auto it = meta.find("config");
  ORBIT_CHECK(it != meta.end(), "checkpoint '", path, "' has no 'config' metadata: not written by orbit egnn train");
  TrainConfig c = TrainConfig::from_json(it->second);
  if (a.has("data")) c.data_dir = a.str("data");
  if (a.has("device")) c.device = Device::parse(a.str("device"));
  auto store = egnn::init_params(c);
  optim::CheckpointState st;
  st.params = store.get();
  optim::load_checkpoint(path, st);
  auto data = egnn::load_task(c);
  const double val = egnn::evaluate(c, *store, data.val), test = egnn::evaluate(c, *store, data.test);
  std::printf("%s, m = %lld: validation %s %.6g, test %s %.6g (linear baseline %.6g) on %lld test samples (%s)\n",
              egnn::task_name(c.task), static_cast<long long>(c.channels), metric_name(c.task), val, metric_name(c.task),
              test, data.baseline_test, static_cast<long long>(data.test.count), data.source.c_str());
  if (a.has("out")) {
    const fs::path dir = a.str("out");
    fs::create_directories(dir);
    std::ofstream js(dir / "eval.json");
    js.precision(10);
    js << "{\"checkpoint\": \"" << path << "\", \"config\": " << c.json() << ", \"metric\": \"" << metric_name(c.task)
       << "\", \"val\": " << val << ", \"test\": " << test << ", \"linear_baseline_test\": " << data.baseline_test
       << "}\n";
    ORBIT_CHECK(js.good(), "cannot write eval.json in '", dir.string(), "'");
  }
  return 0;
}

}  // namespace

Command egnn_train_command() {
  return Command("egnn train",
                 "train EGNN / multi-channel EGNN on the charged N-body or the synthetic solar-system task",
                 {{"task", "nbody or solar", "nbody"},
                  {"channels", "vector channels per node m (1 = EGNN)", "1"},
                  {"preset", "quick (minutes on 2 CPU cores) or paper (the papers' schedule)", "quick"},
                  {"epochs", "training epochs (default from the preset)", ""},
                  {"batch", "batch size", ""},
                  {"lr", "Adam learning rate", ""},
                  {"weight-decay", "Adam weight decay (L2)", ""},
                  {"hidden", "hidden width", ""},
                  {"layers", "E_GCL layers", ""},
                  {"eval-every", "epochs between validations", ""},
                  {"early-stop", "stop after this many epochs without a better validation error (0: never)", ""},
                  {"train-samples", "nbody training trajectories", ""},
                  {"val-samples", "nbody validation trajectories", ""},
                  {"test-samples", "nbody test trajectories", ""},
                  {"frame-in", "nbody input frame", "30"},
                  {"frame-out", "nbody target frame", "40"},
                  {"data", "folder written by orbit data nbody|solar (default: simulate in memory)", ""},
                  {"data-seed", "simulation seed when no --data is given", "43"},
                  {"graph", "dense (batched, fully connected) or sparse (edge lists)", "dense"},
                  {"threads", "CPU threads (0: OpenMP's default, OMP_NUM_THREADS); 1 is fastest on a busy machine", "0"},
                  {"out", "output folder (a checkpoint.safetensors of the latest epoch is written there every epoch)",
                   "egnn_out"},
                  {"resume", "continue the run in this folder from its checkpoint.safetensors, bit for bit as if never "
                             "stopped; only --epochs (a new total), --device, --threads, --time-limit and --quiet may "
                             "be given anew",
                   ""},
                  {"time-limit", "seconds of training, then stop after the epoch with the checkpoint written (exit status "
                                 "75 while epochs remain: continue with --resume)"}},
                 run_train);
}

Command egnn_eval_command() {
  return Command("egnn eval", "evaluate a checkpoint written by orbit egnn train on its test (and validation) split",
                 {{"checkpoint", "best.safetensors of a training run", ""},
                  {"data", "data folder (default: the one the run used, or the same simulation)", ""},
                  {"threads", "CPU threads (0: OpenMP's default)", "0"},
                  {"out", "folder for eval.json (optional)", ""}},
                 run_eval);
}

}  // namespace orbit::cli
