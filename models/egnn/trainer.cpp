#include "models/egnn/trainer.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <numeric>
#include <sstream>

#include "engine/io/json.h"
#include "engine/io/safetensors.h"
#include "engine/optim/checkpoint.h"
#include "engine/optim/train_step.h"
#include "engine/orbit.h"
#include "kernels/scalar/random.h"
#include "models/egnn/nbody.h"
#include "models/egnn/solar.h"

namespace orbit::egnn {

const char* task_name(Task t) { return t == Task::nbody ? "nbody" : "solar"; }

Task task_from_name(const std::string& s) {
  if (s == "nbody") return Task::nbody;
  if (s == "solar") return Task::solar;
  throw Error("unknown task '" + s + "': expected nbody or solar");
}

TrainConfig TrainConfig::preset(const std::string& name, Task task) {
  TrainConfig c;
  c.task = task;
  if (task == Task::solar) {  // main_solar.py: Adam 1e-6, wd 1e-7, batch 100, 1000 epochs, patience 500
    c.lr = 1e-6;
    c.weight_decay = 1e-7;
    c.epochs = 1000;
    c.early_stop = 500;
    c.eval_every = 1;
  }
  if (name == "paper") return c;
  if (name == "quick") {  // minutes on 2 CPU cores
    if (task == Task::nbody) {
      c.epochs = 60;
      c.lr = 1e-3;
      c.eval_every = 5;
      c.val_samples = 1000;
      c.test_samples = 2000;
    } else {
      c.epochs = 12;
      c.lr = 5e-4;
      c.eval_every = 1;
      c.early_stop = 0;
    }
    return c;
  }
  throw Error("unknown preset '" + name + "': expected quick or paper");
}

void TrainConfig::validate() const {
  ORBIT_CHECK(channels >= 1 && channels <= 64, "channels must be in [1, 64], got ", channels);
  ORBIT_CHECK(hidden >= 1 && hidden <= 4096, "hidden must be in [1, 4096], got ", hidden);
  ORBIT_CHECK(layers >= 1 && layers <= 64, "layers must be in [1, 64], got ", layers);
  ORBIT_CHECK(epochs >= 1, "epochs must be >= 1, got ", epochs);
  ORBIT_CHECK(batch >= 1, "batch must be >= 1, got ", batch);
  ORBIT_CHECK(lr > 0 && std::isfinite(lr), "lr must be positive and finite");
  ORBIT_CHECK(weight_decay >= 0 && std::isfinite(weight_decay), "weight_decay must be >= 0");
  ORBIT_CHECK(eval_every >= 1, "eval_every must be >= 1");
  ORBIT_CHECK(early_stop >= 0, "early_stop must be >= 0");
  ORBIT_CHECK(train_samples >= 1 && val_samples >= 1 && test_samples >= 1, "split sizes must be >= 1");
  ORBIT_CHECK(frame_in >= 0 && frame_out > frame_in, "frames: need 0 <= frame_in < frame_out, got ", frame_in, " -> ",
              frame_out);
}

MCEGNNConfig TrainConfig::model() const {
  MCEGNNConfig m;
  m.node_in = task == Task::nbody ? 1 : 2;
  m.edge_attr = task == Task::nbody ? 2 : 1;
  m.hidden = hidden;
  m.layers = layers;
  m.norm_diff = task == Task::solar;
  m.coord_agg = Agg::mean;
  m.node_agg = Agg::sum;
  m.coord_clamp = 100;
  m.recurrent = true;
  m.velocity = true;
  m.channels = channels;
  m.channels_out = 1;
  return m;
}

std::string TrainConfig::json() const {
  std::ostringstream os;
  os.precision(17);
  os << "{\"task\": \"" << task_name(task) << "\", \"channels\": " << channels << ", \"hidden\": " << hidden
     << ", \"layers\": " << layers << ", \"epochs\": " << epochs << ", \"batch\": " << batch << ", \"lr\": " << lr
     << ", \"weight_decay\": " << weight_decay << ", \"eval_every\": " << eval_every << ", \"early_stop\": " << early_stop
     << ", \"train_samples\": " << train_samples << ", \"val_samples\": " << val_samples
     << ", \"test_samples\": " << test_samples << ", \"frame_in\": " << frame_in << ", \"frame_out\": " << frame_out
     << ", \"seed\": " << seed << ", \"data_seed\": " << data_seed << ", \"sparse\": " << (sparse ? "true" : "false")
     << ", \"data_dir\": " << io::json_quote(data_dir) << ", \"device\": \"" << device.str() << "\"}";
  return os.str();
}

TrainConfig TrainConfig::from_json(const std::string& text) {
  io::Json j = io::parse_json(text, "EGNN training config");
  ORBIT_CHECK(j.kind == io::Json::Kind::object, "EGNN training config: not a JSON object");
  TrainConfig c;
  auto field = [&](const char* k) -> const io::Json& {
    const io::Json* v = j.find(k);
    ORBIT_CHECK(v && v->kind == io::Json::Kind::number, "EGNN training config lacks the number '", k, "'");
    return *v;
  };
  auto what = [](const char* k) { return std::string("EGNN training config: '") + k + "'"; };
  auto num = [&](const char* k) { return io::json_real(field(k), what(k)); };
  // Counts: integers written as such, within int (validate() then checks each one's own bounds).
  auto count = [&](const char* k) { return io::json_int(field(k), 0, INT32_MAX, what(k)); };
  auto seed = [&](const char* k) { return io::json_u64(field(k), what(k)); };
  auto str = [&](const char* k) -> std::string {
    const io::Json* v = j.find(k);
    ORBIT_CHECK(v && v->kind == io::Json::Kind::string, "EGNN training config lacks the string '", k, "'");
    return v->text;
  };
  c.task = task_from_name(str("task"));
  c.channels = count("channels");
  c.hidden = count("hidden");
  c.layers = count("layers");
  c.epochs = static_cast<int>(count("epochs"));
  c.batch = static_cast<int>(count("batch"));
  c.lr = num("lr");
  c.weight_decay = num("weight_decay");
  c.eval_every = static_cast<int>(count("eval_every"));
  c.early_stop = static_cast<int>(count("early_stop"));
  c.train_samples = count("train_samples");
  c.val_samples = count("val_samples");
  c.test_samples = count("test_samples");
  c.frame_in = static_cast<int>(count("frame_in"));
  c.frame_out = static_cast<int>(count("frame_out"));
  c.seed = seed("seed");
  c.data_seed = seed("data_seed");
  const io::Json* sp = j.find("sparse");
  ORBIT_CHECK(sp && sp->kind == io::Json::Kind::boolean, "EGNN training config lacks the boolean 'sparse'");
  c.sparse = sp->boolean;
  c.data_dir = str("data_dir");
  c.device = Device::parse(str("device"));
  c.validate();
  return c;
}

namespace {

Split from_nbody(const NBodySamples& s) {
  Split o;
  o.count = s.count, o.n = s.n, o.dim = s.dim, o.features = 1;
  o.x = s.x, o.v = s.v, o.y = s.y, o.q = s.q;
  o.h.resize(s.count * s.n);
  for (int64_t i = 0; i < s.count * s.n; ++i) {
    double a = 0;
    for (int64_t k = 0; k < s.dim; ++k) a += s.v[i * s.dim + k] * s.v[i * s.dim + k];
    o.h[i] = std::sqrt(a);
  }
  return o;
}

Split from_solar(const SolarSamples& s) {
  Split o;
  o.count = s.count, o.n = s.n, o.dim = s.dim, o.features = 2;
  o.x = s.x, o.v = s.v, o.y = s.y;
  o.h.resize(s.count * s.n * 2);
  o.w.resize(s.count * s.n);
  for (int64_t i = 0; i < s.count * s.n; ++i) {
    double a = 0, den = 0;
    for (int64_t k = 0; k < 3; ++k) {
      a += s.v[i * 3 + k] * s.v[i * 3 + k];
      den += (s.x[i * 3 + k] - s.y[i * 3 + k]) * (s.x[i * 3 + k] - s.y[i * 3 + k]);
    }
    o.h[i * 2] = std::sqrt(a);
    o.h[i * 2 + 1] = s.log_mass[i % s.n];
    o.w[i] = 1.0 / std::max(den, 1e-300);
  }
  return o;
}

std::vector<double> linear_pred(const Split& s, double tau) {
  std::vector<double> p(s.x.size());
  for (size_t e = 0; e < p.size(); ++e) p[e] = s.x[e] + tau * s.v[e];
  return p;
}

// The model graph for batches of B samples: inputs x, v, h, y (and q or w), outputs pred and loss.
struct Model {
  std::unique_ptr<Graph> g = std::make_unique<Graph>();
  Var pred, loss;
  std::vector<Var> params;
  std::unique_ptr<MCEGNN> net;
};

Model build(const TrainConfig& cfg, int64_t B, int64_t n, int64_t d, int64_t F) {
  Model m;
  Graph& g = *m.g;
  Var x = g.input("x", {B, n, d}), v = g.input("v", {B, n, d}), h = g.input("h", {B, n, F});
  Var y = g.input("y", {B, n, d});
  Connectivity c = cfg.sparse ? Connectivity::sparse_fully_connected(g, B, n) : Connectivity::dense(n);
  auto flat = [&](Var t) { return cfg.sparse ? reshape(t, {B * n, t.shape()[2]}) : t; };
  Var xf = flat(x);
  Var r0 = sum(square(c.diff(xf)), {-1}, true);
  Var ea = r0;
  Var w;
  if (cfg.task == Task::nbody) {
    Var q = flat(g.input("q", {B, n, 1}));
    ea = concat({c.at_receiver(q) * c.at_sender(q), r0}, -1);
  } else {
    w = g.input("w", {B, n, 1});
  }
  m.net = std::make_unique<MCEGNN>(g, "egnn", cfg.model());
  Var out = (*m.net)(c, flat(h), xf, ea, flat(v)).x;
  m.pred = reshape(out, {B, n, d});
  Var se = square(m.pred - y);
  m.loss = cfg.task == Task::nbody ? mean(se) : mean(w * sum(se, {-1}, true));
  m.params = m.net->params();
  return m;
}

// Feeds for samples idx[0..B) of a split (indices past the split's end repeat its last sample).
Feeds batch_feeds(const TrainConfig& cfg, const Split& s, const std::vector<int64_t>& idx) {
  const int64_t B = static_cast<int64_t>(idx.size()), n = s.n, d = s.dim, F = s.features;
  auto take = [&](const std::vector<double>& src, int64_t per, const Shape& shape) {
    Tensor t = Tensor::empty(shape, DType::f32);
    float* p = t.data<float>();
    for (int64_t b = 0; b < B; ++b) {
      const int64_t i = std::min(idx[b], s.count - 1);
      for (int64_t k = 0; k < per; ++k) p[b * per + k] = static_cast<float>(src[i * per + k]);
    }
    return t;
  };
  Feeds f{{"x", take(s.x, n * d, {B, n, d})}, {"v", take(s.v, n * d, {B, n, d})}, {"h", take(s.h, n * F, {B, n, F})},
          {"y", take(s.y, n * d, {B, n, d})}};
  if (cfg.task == Task::nbody) f.push_back({"q", take(s.q, n, {B, n, 1})});
  else f.push_back({"w", take(s.w, n, {B, n, 1})});
  return f;
}

std::vector<double> predict_with(const TrainConfig& cfg, Program& prog, int64_t E, const Split& s) {
  std::vector<double> out(s.count * s.n * s.dim);
  const int64_t per = s.n * s.dim;
  for (int64_t start = 0; start < s.count; start += E) {
    std::vector<int64_t> idx(E);
    std::iota(idx.begin(), idx.end(), start);
    const std::vector<double> p = prog.run(batch_feeds(cfg, s, idx))[0].to_vector();  // from any device
    const int64_t m = std::min(E, s.count - start);
    for (int64_t k = 0; k < m * per; ++k) out[start * per + k] = p[k];
  }
  return out;
}

constexpr const char* kCheckpointKind = "orbit-egnn-train";
const std::string kBest = "best/";

std::string exact(double x) {  // 17 significant digits read back to the same double (inf too)
  std::ostringstream os;
  os.precision(17);
  os << x;
  return os.str();
}

std::string history_text(const std::vector<EpochLog>& h) {
  std::string out;
  for (auto& l : h)
    out += std::to_string(l.epoch) + " " + exact(l.train_loss) + " " + exact(l.val) + " " + exact(l.test) + " " +
           exact(l.lr) + " " + exact(l.seconds) + " " + (l.best ? "1" : "0") + "\n";
  return out;
}

std::vector<EpochLog> parse_history(const std::string& text, const std::string& path) {
  std::vector<EpochLog> h;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string f[7];
    for (auto& x : f) ORBIT_CHECK(static_cast<bool>(ls >> x), "checkpoint '", path, "': bad history line '", line, "'");
    EpochLog l;
    try {
      l.epoch = std::stoi(f[0]);
      l.train_loss = std::stod(f[1]), l.val = std::stod(f[2]), l.test = std::stod(f[3]);
      l.lr = std::stod(f[4]), l.seconds = std::stod(f[5]);
    } catch (const std::exception&) {
      throw Error("checkpoint '" + path + "': bad history line '" + line + "'");
    }
    l.best = f[6] == "1";
    h.push_back(l);
  }
  return h;
}

const std::string& meta_at(const std::map<std::string, std::string>& meta, const std::string& key, const std::string& path) {
  auto it = meta.find(key);
  ORBIT_CHECK(it != meta.end(), "checkpoint '", path, "' lacks the EGNN training state '", key,
              "' (not written by orbit egnn train, or damaged)");
  return it->second;
}

double meta_real(const std::map<std::string, std::string>& meta, const std::string& key, const std::string& path) {
  const std::string& v = meta_at(meta, key, path);
  try {
    size_t used = 0;
    const double x = std::stod(v, &used);
    if (used == v.size()) return x;
  } catch (const std::exception&) {
  }
  throw Error("checkpoint '" + path + "': bad '" + key + "' '" + v + "'");
}

// The first field (other than epochs and device) where two configs differ, or "".
std::string config_difference(const TrainConfig& stored, const TrainConfig& given) {
  TrainConfig a = stored, b = given;
  a.epochs = b.epochs;
  a.device = b.device;
  io::Json ja = io::parse_json(a.json(), "config"), jb = io::parse_json(b.json(), "config");
  for (auto& [k, v] : ja.members) {
    const io::Json* w = jb.find(k);
    if (!w || w->kind != v.kind || w->text != v.text || w->boolean != v.boolean) return k;
  }
  return "";
}

}  // namespace

double metric(Task task, const Split& s, const std::vector<double>& pred) {
  ORBIT_CHECK(pred.size() == s.y.size(), "metric: ", pred.size(), " predictions for ", s.y.size(), " targets");
  double acc = 0;
  if (task == Task::nbody) {
    for (size_t e = 0; e < pred.size(); ++e) acc += (pred[e] - s.y[e]) * (pred[e] - s.y[e]);
    return acc / static_cast<double>(pred.size());
  }
  for (int64_t i = 0; i < s.count * s.n; ++i) {
    double num = 0;
    for (int64_t k = 0; k < s.dim; ++k) num += (pred[i * s.dim + k] - s.y[i * s.dim + k]) * (pred[i * s.dim + k] - s.y[i * s.dim + k]);
    acc += num * s.w[i];
  }
  return acc / static_cast<double>(s.count * s.n);
}

TaskData load_task(const TrainConfig& cfg) {
  cfg.validate();
  TaskData td;
  namespace fs = std::filesystem;
  if (cfg.task == Task::nbody) {
    NBodyConfig nc;
    Trajectories tr, va, te;
    if (!cfg.data_dir.empty()) {
      const fs::path dir = cfg.data_dir;
      tr = load_trajectories((dir / "nbody_train.npz").string(), &nc);
      va = load_trajectories((dir / "nbody_val.npz").string());
      te = load_trajectories((dir / "nbody_test.npz").string());
      ORBIT_CHECK(va.n == tr.n && te.n == tr.n && va.frames == tr.frames && te.frames == tr.frames, "nbody data in '",
                  cfg.data_dir, "': the splits differ in particles or frames");
      td.source = "files in " + cfg.data_dir;
    } else {
      tr = simulate_charged(nc, cfg.train_samples, cfg.data_seed, 0);
      va = simulate_charged(nc, cfg.val_samples, cfg.data_seed, 1);
      te = simulate_charged(nc, cfg.test_samples, cfg.data_seed, 2);
      td.source = "simulated in memory, data seed " + std::to_string(cfg.data_seed);
    }
    ORBIT_CHECK(tr.count >= cfg.train_samples && va.count >= cfg.val_samples && te.count >= cfg.test_samples,
                "nbody data: need ", cfg.train_samples, " / ", cfg.val_samples, " / ", cfg.test_samples,
                " trajectories, the files hold ", tr.count, " / ", va.count, " / ", te.count);
    auto a = make_task(tr, cfg.frame_in, cfg.frame_out, cfg.train_samples);
    auto b = make_task(va, cfg.frame_in, cfg.frame_out, cfg.val_samples);
    auto c = make_task(te, cfg.frame_in, cfg.frame_out, cfg.test_samples);
    td.train = from_nbody(a), td.val = from_nbody(b), td.test = from_nbody(c);
    td.baseline_tau = fit_linear_tau(a);
  } else {
    SolarConfig sc;
    SolarSystem sys;
    if (!cfg.data_dir.empty()) {
      sys = load_solar((fs::path(cfg.data_dir) / "solar.npz").string(), &sc);
      td.source = "files in " + cfg.data_dir;
    } else {
      sc.seed = cfg.data_seed;
      sys = simulate_solar(sc);
      td.source = "simulated in memory (synthetic Newtonian system), data seed " + std::to_string(cfg.data_seed);
    }
    auto a = solar_split(sys, sc, SolarSplit::train);
    td.train = from_solar(a);
    td.val = from_solar(solar_split(sys, sc, SolarSplit::val));
    td.test = from_solar(solar_split(sys, sc, SolarSplit::test));
    td.baseline_tau = fit_solar_tau(a);
  }
  td.baseline_val = metric(cfg.task, td.val, linear_pred(td.val, td.baseline_tau));
  td.baseline_test = metric(cfg.task, td.test, linear_pred(td.test, td.baseline_tau));
  return td;
}

std::shared_ptr<ParamStore> init_params(const TrainConfig& cfg) {
  Graph g;
  MCEGNN net(g, "egnn", cfg.model());
  auto store = std::make_shared<ParamStore>();
  net.init(*store, cfg.seed);
  return store;
}

std::map<std::string, std::string> read_train_checkpoint_meta(const std::string& path) {
  ORBIT_CHECK(std::filesystem::exists(path), "no checkpoint to resume: '", path, "' does not exist");
  std::map<std::string, Tensor> tensors;
  std::map<std::string, std::string> meta;
  try {
    read_safetensors(path, tensors, meta);
  } catch (const Error& e) {
    throw Error("cannot resume from '" + path + "': " + e.what());
  }
  auto it = meta.find("kind");
  ORBIT_CHECK(it != meta.end() && it->second == kCheckpointKind, "'", path,
              "' is not an orbit egnn train checkpoint (no kind '", kCheckpointKind, "' in its metadata)");
  return meta;
}

TrainResult train(const TrainConfig& cfg, const TaskData& data, const std::function<void(const EpochLog&)>& on_epoch,
                  const Checkpointing& ck) {
  cfg.validate();
  const Split& tr = data.train;
  const int64_t B = cfg.batch, n = tr.n, d = tr.dim, F = tr.features;
  ORBIT_CHECK(tr.count >= B, "the training split has ", tr.count, " samples, fewer than one batch of ", B);
  Model m = build(cfg, B, n, d, F);
  auto store = init_params(cfg);
  TrainResult res;
  for (auto& name : store->names()) res.parameters += store->get(name).numel();
  auto adam = std::make_shared<optim::Adam>(std::make_shared<optim::ConstantLr>(cfg.lr), 0.9, 0.999, 1e-8,
                                            cfg.weight_decay, false);
  res.best_val = std::numeric_limits<double>::infinity();
  int first_epoch = 1, since_best = 0;
  double prior_seconds = 0;
  uint64_t run_index = 0;
  ORBIT_CHECK(!ck.resume || !ck.path.empty(), "train: resume needs a checkpoint path");
  if (ck.resume) {
    const auto meta = read_train_checkpoint_meta(ck.path);
    const TrainConfig stored = TrainConfig::from_json(meta_at(meta, "config", ck.path));
    const std::string diff = config_difference(stored, cfg);
    ORBIT_CHECK(diff.empty(), "cannot resume '", ck.path, "': the configuration's '", diff,
                "' differs from the checkpoint's (only epochs and device may change)");
    // Current and best weights (best/...) and Adam's state, on the host; moved to the device below.
    ParamStore both;
    for (auto& name : store->names()) {
      both.set(name, store->get(name));
      both.set(kBest + name, store->get(name));
    }
    optim::CheckpointState st;
    st.params = &both;
    st.optimizer = adam.get();
    try {
      optim::load_checkpoint(ck.path, st);
    } catch (const Error& e) {
      throw Error(std::string("cannot resume: ") + e.what());
    }
    run_index = st.run_index;
    for (auto& name : store->names()) store->set(name, both.get(name));
    res.best_epoch = static_cast<int>(meta_real(meta, "best_epoch", ck.path));
    if (res.best_epoch > 0) {
      res.best_val = meta_real(meta, "best_val", ck.path);
      res.test_at_best = meta_real(meta, "test_at_best", ck.path);
      res.best_params = std::make_shared<ParamStore>();
      for (auto& name : store->names()) res.best_params->set(name, both.get(kBest + name));
    }
    const int epoch = static_cast<int>(meta_real(meta, "epoch", ck.path));
    ORBIT_CHECK(epoch >= 1 && res.best_epoch >= 0 && res.best_epoch <= epoch, "checkpoint '", ck.path,
                "': bad epoch ", epoch, " / best epoch ", res.best_epoch);
    first_epoch = epoch + 1;
    res.epochs_run = epoch;
    res.resumed_from = epoch;
    since_best = static_cast<int>(meta_real(meta, "since_best", ck.path));
    prior_seconds = meta_real(meta, "seconds", ck.path);
    res.history = parse_history(meta_at(meta, "history", ck.path), ck.path);
    ORBIT_CHECK(static_cast<int>(res.history.size()) == epoch, "checkpoint '", ck.path, "': the history has ",
                res.history.size(), " epochs, expected ", epoch);
  }
  if (!cfg.device.is_cpu())
    for (auto& name : store->names()) store->set(name, store->get(name).to(cfg.device));
  optim::TrainStep step(*m.g, m.loss, m.params, store, adam, cfg.device);
  step.program().set_run_index(run_index);
  const int64_t E = std::min<int64_t>(500, std::max(data.val.count, data.test.count));
  Model me = build(cfg, E, n, d, F);
  CompileOptions eo;
  eo.params = store;
  Program eval = compile(*me.g, {me.pred}, cfg.device, eo);

  res.baseline_test = data.baseline_test;
  res.baseline_tau = data.baseline_tau;
  res.data_source = data.source;
  std::vector<int64_t> order(tr.count);
  const int64_t steps_per_epoch = tr.count / B;  // the last partial batch is dropped (drop_last)
  auto t0 = std::chrono::steady_clock::now();
  auto host_copy = [&] {
    auto p = std::make_shared<ParamStore>();
    for (auto& name : store->names()) p->set(name, store->get(name).to(Device::cpu()));
    return p;
  };
  auto save = [&](int epoch) {
    ParamStore both;
    for (auto& name : store->names()) {
      both.set(name, store->get(name));
      both.set(kBest + name, res.best_params ? res.best_params->get(name) : store->get(name));
    }
    optim::CheckpointState st;
    st.params = &both;
    st.optimizer = adam.get();
    st.run_index = step.program().run_index();
    if (ck.meta) st.meta = ck.meta();
    st.meta["kind"] = kCheckpointKind;
    st.meta["config"] = cfg.json();
    st.meta["epoch"] = std::to_string(epoch);
    st.meta["best_epoch"] = std::to_string(res.best_epoch);
    st.meta["best_val"] = exact(res.best_val);
    st.meta["test_at_best"] = exact(res.test_at_best);
    st.meta["since_best"] = std::to_string(since_best);
    st.meta["seconds"] = exact(res.history.empty() ? prior_seconds : res.history.back().seconds);
    st.meta["history"] = history_text(res.history);
    optim::save_checkpoint(ck.path, st);
  };
  const bool stopped = ck.resume && cfg.early_stop > 0 && since_best >= cfg.early_stop;
  for (int epoch = first_epoch; epoch <= cfg.epochs && !stopped; ++epoch) {
    std::iota(order.begin(), order.end(), 0);
    for (int64_t i = tr.count - 1; i > 0; --i) {  // Fisher-Yates on the run's stream
      const double u = scalar::random_uniform<double>(cfg.seed, 0xba7c, static_cast<uint64_t>(epoch), static_cast<uint64_t>(i));
      std::swap(order[i], order[std::min<int64_t>(i, static_cast<int64_t>(u * static_cast<double>(i + 1)))]);
    }
    double loss = 0;
    for (int64_t s = 0; s < steps_per_epoch; ++s) {
      std::vector<int64_t> idx(order.begin() + s * B, order.begin() + (s + 1) * B);
      auto r = step.run(batch_feeds(cfg, tr, idx));
      ORBIT_CHECK(std::isfinite(r.loss), "training diverged: the loss is ", r.loss, " at epoch ", epoch, " step ", s);
      loss += r.loss / static_cast<double>(steps_per_epoch);
    }
    EpochLog lg;
    lg.epoch = epoch;
    lg.train_loss = loss;
    lg.lr = adam->lr();
    if (epoch % cfg.eval_every == 0 || epoch == cfg.epochs) {
      lg.val = metric(cfg.task, data.val, predict_with(cfg, eval, E, data.val));
      if (lg.val < res.best_val) {
        lg.best = true;
        lg.test = metric(cfg.task, data.test, predict_with(cfg, eval, E, data.test));
        res.best_val = lg.val;
        res.test_at_best = lg.test;
        res.best_epoch = epoch;
        res.best_params = host_copy();
        since_best = 0;
      }
    }
    if (!lg.best) ++since_best;
    lg.seconds = prior_seconds + std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    res.history.push_back(lg);
    res.epochs_run = epoch;
    if (on_epoch) on_epoch(lg);
    if (!ck.path.empty()) save(epoch);
    if (cfg.early_stop > 0 && since_best >= cfg.early_stop) break;
    if (ck.stop && epoch < cfg.epochs && ck.stop()) {
      res.stopped = true;
      break;
    }
  }
  res.seconds = prior_seconds + std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  res.final_params = host_copy();
  return res;
}

std::vector<double> predict(const TrainConfig& cfg, const ParamStore& params, const Split& split) {
  const int64_t E = std::min<int64_t>(500, split.count);
  Model me = build(cfg, E, split.n, split.dim, split.features);
  CompileOptions eo;
  eo.params = std::make_shared<ParamStore>(params);
  for (Var p : me.params)
    ORBIT_CHECK(eo.params->has(p.name()) && eo.params->get(p.name()).shape() == p.shape(), "the parameters do not fit the model: '",
                p.name(), "' ", eo.params->has(p.name()) ? "has another shape" : "is missing");
  Program eval = compile(*me.g, {me.pred}, cfg.device, eo);
  return predict_with(cfg, eval, E, split);
}

double evaluate(const TrainConfig& cfg, const ParamStore& params, const Split& split) {
  return metric(cfg.task, split, predict(cfg, params, split));
}

}  // namespace orbit::egnn
