// `orbit idem train | sample | eval`: iDEM diffusion samplers trained from an energy alone
// (models/diffusion/idem.h), their samples, and the iDEM table's metrics against a reference set.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <fstream>
#include <optional>
#include <random>
#include <sstream>

#include "engine/io/file_io.h"
#include "engine/io/json.h"
#include "engine/io/npy.h"
#include "engine/orbit.h"
#include "engine/plot/plot.h"
#include "engine/util/interrupt.h"
#include "engine/util/jsonl_log.h"
#include "engine/util/progress.h"
#include "models/diffusion/cfm.h"
#include "models/diffusion/idem.h"
#include "models/systems/evaluation.h"
#include "models/systems/mcmc.h"
#include "models/systems/metric_plots.h"
#include "models/systems/metrics.h"
#include "models/systems/relax.h"
#include "tools/commands.h"

namespace orbit::cli {

namespace {
namespace fs = std::filesystem;
using diffusion::Idem;
using diffusion::IdemConfig;

void write_text(const fs::path& path, const std::string& text) {
  io::AtomicFile f(path.string(), "orbit idem");
  f.write(text.data(), text.size());
  f.commit();
}

// The reference set for the metrics: --reference, else the shipped 1000-row DW4/LJ13 test-split
// fixtures when run from the repository, else (GMM) exact samples of the mixture.
Tensor reference_for(const IdemConfig& c, const Args& a, std::string& source) {
  const systems::System sys = c.target();
  std::string path = a.str("reference");
  if (path.empty()) {
    // The working directory first (a checkout), then the source tree this binary was built from; the
    // iDEM reference rows (DW4, LJ13), else orbit's own MCMC samples (LJ55, which has no public set).
    for (const char* kind : {"_test_first1000.npy", "_mcmc1000.npy"}) {
      const std::string fixture = "tests/fixtures/systems/" + c.system + kind;
      if (fs::is_regular_file(fixture)) path = fixture;
#if defined(ORBIT_SOURCE_DIR)
      else if (fs::is_regular_file(std::string(ORBIT_SOURCE_DIR) + "/" + fixture))
        path = std::string(ORBIT_SOURCE_DIR) + "/" + fixture;
#endif
      if (!path.empty()) break;
    }
  }
  if (!path.empty()) {
    ORBIT_CHECK(fs::is_regular_file(path), "no such file '", path, "'");
    Tensor r = read_npy(path);
    systems::check_configurations(sys, r, "'" + path + "'");
    ORBIT_CHECK(r.rank() == 2, "'", path, "' must be [N, ", sys.flat_dim(), "]");
    source = path;
    return r.cast(DType::f64);
  }
  if (sys.kind == systems::Kind::gmm) {
    // Exact draws: a uniformly chosen component, plus isotropic Gaussian noise (original units).
    const int64_t n = 1000;
    std::mt19937_64 rng(20240101);
    std::uniform_int_distribution<int> comp(0, sys.gmm_components() - 1);
    std::normal_distribution<double> n01;
    Tensor r = Tensor::empty(Shape({n, 2}), DType::f64);
    for (int64_t i = 0; i < n; ++i) {
      int k = comp(rng);
      for (int d = 0; d < 2; ++d) r.data<double>()[i * 2 + d] = sys.gmm_means[k * 2 + d] + sys.gmm_std * n01(rng);
    }
    source = "exact GMM-40 samples (seed 20240101)";
    return r;
  }
  source = "";
  return Tensor();
}

systems::ConfigSet set_of(const Tensor& t, int64_t n, uint64_t seed, uint64_t stream) {
  return systems::config_rows(t, systems::subsample_rows(t.shape()[0], n, seed, stream));
}

// Metrics of `samples` (original units) against the reference; plots with `plot_prefix`.
std::string evaluate(const IdemConfig& c, const Tensor& samples, const Tensor& reference, const std::string& source,
                     int64_t n, const std::string& plot_prefix, std::vector<std::string>* plots = nullptr) {
  if (!reference.defined() || reference.numel() == 0) return "null";
  const systems::System plain = systems::system_by_name(c.system);  // original units
  n = std::min<int64_t>({n, samples.shape()[0], reference.shape()[0]});
  systems::MetricsOptions mo = systems::metrics_options(plain);
  // Non-finite samples (a diverged path) cannot enter the OT; they are counted and left out.
  std::vector<double> v = samples.to_vector(), kept;
  const int64_t D = samples.shape()[1];
  int64_t bad = 0;
  for (int64_t i = 0; i < samples.shape()[0]; ++i) {
    bool ok = true;
    for (int64_t k = 0; k < D; ++k) ok = ok && std::isfinite(v[i * D + k]);
    if (ok) kept.insert(kept.end(), v.begin() + i * D, v.begin() + (i + 1) * D);
    else ++bad;
  }
  Tensor good = Tensor::from(Shape({static_cast<int64_t>(kept.size()) / D, D}), kept);
  n = std::min<int64_t>(n, good.shape()[0]);
  ORBIT_CHECK(n >= 2, "fewer than 2 finite samples to evaluate");
  systems::MetricsData data;
  systems::SampleMetrics m = systems::compute_metrics(set_of(good, n, c.seed, 0), set_of(reference, n, c.seed, 1), mo, &data);
  if (!plot_prefix.empty()) {
    auto written = systems::write_metric_plots(plot_prefix, plain.name, data);
    if (plots) plots->insert(plots->end(), written.begin(), written.end());
  }
  std::ostringstream o;
  o << "{\"reference\": " << io::json_quote(source) << ", \"nonfinite_samples\": " << bad << ", \"metrics\": " << m.to_json() << "}";
  return o.str();
}

// Metropolis-adjusted Langevin refinement of generated samples (beyond the paper): rows far above the
// batch's energies are first relaxed by capped gradient descent (systems::relax_outliers: MALA rejects
// every move from an overlapping pair), then every sample starts a MALA chain on the true energy; the
// step size adapts during the first steps, the state after `steps` steps is kept. Returns the refined
// samples in original units; `relax` gets what the relaxation did.
Tensor refine(const IdemConfig& c, const Tensor& samples_in, int64_t steps, Device dev, systems::RelaxReport* relax) {
  const systems::System plain = systems::system_by_name(c.system);
  ORBIT_CHECK(samples_in.rank() == 2 && samples_in.shape()[0] >= 2, "MALA refinement needs at least 2 samples, got ",
              samples_in.shape().str());
  systems::RelaxOptions ro;
  ro.device = dev;
  const Tensor samples = systems::relax_outliers(plain, samples_in, ro, relax);
  systems::McmcConfig m;
  m.method = systems::McmcMethod::mala;
  m.chains = samples.shape()[0] - samples.shape()[0] % 2;
  m.groups = static_cast<int>(m.chains);  // a step size per chain: a hot sample needs a smaller one
  m.block = 10;
  m.burn_in = std::max<int64_t>(steps - m.block, 0);
  m.steps = m.block;
  m.thin = m.block;
  m.symmetrize = false;
  m.seed = c.seed + 5;
  m.device = dev;
  m.dtype = DType::f64;
  std::vector<double> v = samples.to_vector();
  v.resize(static_cast<size_t>(m.chains * plain.flat_dim()));
  Tensor init = Tensor::from(Shape({m.chains, plain.flat_dim()}), v);
  return systems::run_mcmc(plain, m, &init).samples;
}

std::string relax_json(const systems::RelaxReport& r) {
  std::ostringstream o;
  o.precision(10);
  o << "{\"outliers\": " << r.outliers << ", \"relaxed\": " << r.relaxed << ", \"iterations\": " << r.iterations
    << ", \"threshold\": " << r.threshold << ", \"target\": " << r.target << "}";
  return o.str();
}

// One line of the headline metrics of an evaluate() result (distances for molecules, modes for the GMM).
std::string summary(const std::string& evaluation) {
  io::Json j = io::parse_json(evaluation, "metrics");
  const io::Json* m = j.find("metrics");
  auto num = [&](const char* k) {
    const io::Json* v = m ? m->find(k) : nullptr;
    return v && v->kind == io::Json::Kind::number ? std::stod(v->text) : NAN;
  };
  char buf[256];
  std::snprintf(buf, sizeof buf, "x-W2 %.4f, energy W2 %.4f", num("x_w2"), num("energy_w2"));
  std::string out = buf;
  if (const io::Json* modes = m ? m->find("modes_samples") : nullptr) {
    const io::Json* c = modes->find("covered");
    if (c && c->kind == io::Json::Kind::number) out += ", modes covered " + c->text + "/40";
  } else {
    std::snprintf(buf, sizeof buf, ", distance W2 %.4f, distance TV %.4f", num("dist_w2"), num("dist_tv"));
    out += buf;
  }
  return out;
}

IdemConfig config_from(const Args& a) {
  IdemConfig c = IdemConfig::preset(a.str("system"), a.str("preset"));
  if (a.has("epochs")) c.epochs = a.integer("epochs", 0, 100000000);
  if (a.has("steps-per-epoch")) c.steps_per_epoch = a.integer("steps-per-epoch", 1, 100000000);
  if (a.has("batch")) c.batch = a.integer("batch", 1, 100000000);
  if (a.has("K")) c.K = a.integer("K", 1, 100000000);
  if (a.has("hidden")) c.hidden = a.integer("hidden", 1, 100000);
  if (a.has("layers")) c.layers = a.integer("layers", 1, 1000);
  if (a.has("lr")) c.lr = a.positive("lr");
  if (a.has("integration-steps")) c.integration_steps = a.integer("integration-steps", 1, 100000000);
  if (a.has("eval-n")) c.eval_n = a.integer("eval-n", 2, 100000);
  if (a.flag("pdem")) c.use_buffer = false;
  c.seed = static_cast<uint64_t>(a.integer("seed", 0, INT64_MAX));
  c.device = Device::parse(a.str("device"));
  c.validate();
  return c;
}

int run_train(const Args& a) {
  const fs::path dir = a.str("out");
  const fs::path ckpt = dir / "checkpoint.safetensors";
  const bool resume = a.flag("resume") && fs::exists(ckpt);
  IdemConfig c = resume ? diffusion::read_checkpoint_config(ckpt.string()) : config_from(a);
  if (resume) {
    // The run continues with its own settings: only the epoch count and the device may change.
    for (const char* k : {"steps-per-epoch", "batch", "K", "hidden", "layers", "lr", "integration-steps", "pdem"})
      ORBIT_CHECK(!a.has(k), "--", k, " cannot change when resuming ", ckpt.string(), " (its settings are in the checkpoint)");
    if (a.has("epochs")) c.epochs = a.integer("epochs", 0, 100000000);
    c.device = Device::parse(a.str("device"));
  }
  std::string ref_source;
  Tensor reference = reference_for(c, a, ref_source);
  fs::create_directories(dir);
  Idem run(c);
  if (resume) run.load(ckpt.string());
  const bool quiet = a.flag("quiet");
  if (!quiet)
    std::printf("iDEM %s (%s preset) on %s: %lld epochs x %lld steps, batch %lld, K %lld%s\n", c.system.c_str(),
                c.preset_name.c_str(), c.device.str().c_str(), static_cast<long long>(c.epochs),
                static_cast<long long>(c.steps_per_epoch), static_cast<long long>(c.batch), static_cast<long long>(c.K),
                resume ? (", resumed at epoch " + std::to_string(run.epoch())).c_str() : "");
  std::fflush(stdout);  // before the progress lines on stderr, also when stdout is a file
  util::JsonlLog log((dir / "metrics.jsonl").string(), resume ? util::JsonlLog::Mode::append : util::JsonlLog::Mode::truncate);
  util::Progress::Options po;
  po.quiet = quiet;
  po.initial = run.epoch();
  util::Progress bar(c.epochs, "idem " + c.system, po);
  std::vector<double> ep, losses;
  auto t0 = std::chrono::steady_clock::now();
  // Checkpoints every val_every epochs, at least once a minute of training, at the end, and when a
  // first Ctrl-C asks the run to stop (after the epoch in progress).
  util::StopOnSignal stop("saving the checkpoint after this epoch");
  auto last_save = t0;
  // --time-limit: the run ends after the epoch that passes it, checkpoint written (for time-boxed GPU
  // sessions and batch jobs with a wall-time limit).
  const double time_limit = a.has("time-limit") ? a.positive("time-limit") : 0.0;
  bool out_of_time = false, interrupted = false;
  run.train([&](const diffusion::IdemEpoch& e) {
    log.write({{"epoch", static_cast<double>(e.epoch)}, {"step", static_cast<double>(e.step)}, {"loss", e.loss},
               {"lr", e.lr}, {"grad_norm", e.grad_norm}, {"buffer", static_cast<double>(e.buffer_size)},
               {"seconds", e.seconds}});
    ep.push_back(static_cast<double>(e.epoch));
    losses.push_back(e.loss);
    bar.update(e.epoch, {{"loss", e.loss}, {"lr", e.lr}});
    const auto now = std::chrono::steady_clock::now();
    out_of_time = time_limit > 0 && std::chrono::duration<double>(now - t0).count() >= time_limit && e.epoch < c.epochs;
    // Read once: a signal arriving after the save decision must not end the run unsaved.
    interrupted = stop.requested();
    if (e.epoch % c.val_every == 0 || e.epoch == c.epochs || interrupted || out_of_time ||
        now - last_save > std::chrono::seconds(60)) {
      run.save(ckpt.string());
      last_save = now;
    }
    return !interrupted && !out_of_time;
  });
  bar.finish();
  if (out_of_time && !interrupted) {
    std::fprintf(stderr, "orbit idem train: --time-limit %g s reached after epoch %lld of %lld; the checkpoint is in %s: "
                 "add --resume to the same command to continue\n", time_limit, static_cast<long long>(run.epoch()),
                 static_cast<long long>(c.epochs), ckpt.string().c_str());
    return util::kExitUnfinished;
  }
  if (interrupted) {
    std::fprintf(stderr, "orbit idem train: stopped after epoch %lld of %lld; the checkpoint is in %s: add --resume to "
                 "the same command to continue\n", static_cast<long long>(run.epoch()), static_cast<long long>(c.epochs),
                 ckpt.string().c_str());
    return util::exit_status_for_signal(stop.signal());
  }
  run.save(ckpt.string());
  const double train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  auto ts = std::chrono::steady_clock::now();
  Tensor samples = run.sample(c.eval_n, c.seed + 99);
  const double sample_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - ts).count();
  write_npy((dir / "samples.npy").string(), samples.cast(DType::f32));
  std::vector<std::string> plots;
  std::string metrics = evaluate(c, samples, reference, ref_source, c.eval_n, (dir / "idem").string(), &plots);
  std::string refined = "null", relaxed = "null";
  systems::RelaxReport relax;
  const int64_t refine_steps = a.integer("refine-steps", 0, 100000000);
  if (refine_steps > 0) {
    Tensor r = refine(c, samples, refine_steps, c.device, &relax);
    relaxed = relax_json(relax);
    write_npy((dir / "samples_refined.npy").string(), r.cast(DType::f32));
    refined = evaluate(c, r, reference, ref_source, c.eval_n, (dir / "idem_refined").string(), &plots);
  }
  if (!losses.empty()) {
    plot::Figure fig(720, 420);
    fig.axes("iDEM " + c.system + ": training loss per epoch", "epoch", "loss").line(ep, losses, "loss").log_y();
    fig.save((dir / "loss.svg").string());
    fig.save((dir / "loss.png").string());
    plots.push_back((dir / "loss.png").string());
  }
  std::ostringstream res;
  res.precision(10);
  res << "{\"config\": " << c.json() << ", \"epochs_done\": " << run.epoch() << ", \"train_seconds\": " << train_seconds
      << ", \"sample_seconds\": " << sample_seconds << ", \"samples\": " << samples.shape()[0]
      << ", \"evaluation\": " << metrics << ", \"refine_steps\": " << refine_steps
      << ", \"refine_relaxation\": " << relaxed << ", \"evaluation_refined\": " << refined << "}\n";
  write_text(dir / "results.json", res.str());
  if (a.flag("json")) {
    std::printf("%s", res.str().c_str());
    return 0;
  }
  std::printf("trained %lld epochs in %.1f s; %lld samples in %.1f s -> %s\n", static_cast<long long>(run.epoch()),
              train_seconds, static_cast<long long>(samples.shape()[0]), sample_seconds,
              (dir / "samples.npy").string().c_str());
  if (metrics != "null") {
    io::Json j = io::parse_json(metrics, "metrics");
    const io::Json* m = j.find("metrics");
    auto num = [&](const char* k) {
      const io::Json* v = m ? m->find(k) : nullptr;
      return v && v->kind == io::Json::Kind::number ? std::stod(v->text) : NAN;
    };
    std::printf("against %s (%lld vs %lld): %s\n", ref_source.c_str(), static_cast<long long>(num("n_samples")),
                static_cast<long long>(num("n_reference")), summary(metrics).c_str());
    if (refined != "null") {
      std::printf("after %lld MALA refinement steps (beyond the paper; %lld of %lld outlier rows relaxed first): %s\n",
                  static_cast<long long>(refine_steps), static_cast<long long>(relax.relaxed),
                  static_cast<long long>(relax.outliers), summary(refined).c_str());
    }
    std::string pngs;
    for (const auto& p : plots)
      if (p.size() > 4 && p.compare(p.size() - 4, 4, ".png") == 0) pngs += (pngs.empty() ? "" : ", ") + p;
    std::printf("plots: %s; all numbers: %s\n", pngs.c_str(), (dir / "results.json").string().c_str());
  }
  return 0;
}

int run_sample(const Args& a) {
  const std::string ckpt = a.str("checkpoint");
  ORBIT_CHECK(fs::is_regular_file(ckpt), "no such file '", ckpt, "'");
  IdemConfig c = diffusion::read_checkpoint_config(ckpt);
  c.device = Device::parse(a.str("device"));
  if (a.has("integration-steps")) c.integration_steps = a.integer("integration-steps", 1, 100000000);
  Idem run(c);
  run.load(ckpt);
  const int64_t n = a.integer("n", 1, 100000000);
  auto t0 = std::chrono::steady_clock::now();
  Tensor s = run.sample(n, static_cast<uint64_t>(a.integer("seed", 0, INT64_MAX)));
  const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  write_npy(a.str("out"), s.cast(DType::f32));
  if (!a.flag("quiet"))
    std::printf("%lld %s samples in %.2f s on %s -> %s\n", static_cast<long long>(n), c.system.c_str(), sec,
                c.device.str().c_str(), a.str("out").c_str());
  return 0;
}

int run_eval(const Args& a) {
  const std::string ckpt = a.str("checkpoint");
  ORBIT_CHECK(fs::is_regular_file(ckpt), "no such file '", ckpt, "'");
  IdemConfig c = diffusion::read_checkpoint_config(ckpt);
  c.device = Device::parse(a.str("device"));
  std::string source;
  Tensor reference = reference_for(c, a, source);
  ORBIT_CHECK(reference.defined() && reference.numel() > 0, "no reference set for ", c.system, ": pass --reference");
  Tensor samples;
  if (a.has("samples")) {
    samples = read_npy(a.str("samples"));
    systems::check_configurations(systems::system_by_name(c.system), samples, "'" + a.str("samples") + "'");
    samples = samples.cast(DType::f64);
  } else {
    Idem run(c);
    run.load(ckpt);
    samples = run.sample(a.integer("n", 2, 100000), static_cast<uint64_t>(a.integer("seed", 0, INT64_MAX)));
  }
  std::string m = evaluate(c, samples, reference, source, a.integer("n", 2, 100000), a.str("plots"));
  const int64_t refine_steps = a.integer("refine-steps", 0, 100000000);
  if (refine_steps > 0) {
    systems::RelaxReport relax;
    Tensor r = refine(c, samples, refine_steps, c.device, &relax);
    std::string mr = evaluate(c, r, reference, source, a.integer("n", 2, 100000),
                              a.str("plots").empty() ? "" : a.str("plots") + "_refined");
    m = "{\"plain\": " + m + ", \"refine_steps\": " + std::to_string(refine_steps) +
        ", \"relaxation\": " + relax_json(relax) + ", \"refined\": " + mr + "}";
  }
  std::printf("%s\n", m.c_str());
  if (a.has("out")) write_text(a.str("out"), m + "\n");
  return 0;
}

}  // namespace

// The first n rows (all when fewer) of configurations x ([rows, D], or one [D]), as f64.
Tensor first_rows(const Tensor& x, int64_t n, int64_t D) {
  const int64_t rows = x.rank() == 1 ? 1 : x.shape()[0];
  n = std::min(n, rows);
  std::vector<double> v = x.cast(DType::f64).to_vector();
  v.resize(static_cast<size_t>(n * D));
  return Tensor::from(Shape({n, D}), v);
}

int run_nll(const Args& a) {
  const std::string train_path = a.str("samples");
  ORBIT_CHECK(fs::is_regular_file(train_path), "no such file '", train_path, "'");
  diffusion::CfmConfig c = diffusion::CfmConfig::preset(a.str("system"), a.str("preset"));
  if (a.has("steps")) c.steps = a.integer("steps", 0, 100000000);
  if (a.has("ode-steps")) c.ode_steps = a.integer("ode-steps", 1, 100000);
  if (a.has("hidden")) c.hidden = a.integer("hidden", 1, 100000);
  if (a.flag("hutchinson")) c.hutchinson = true;
  c.seed = static_cast<uint64_t>(a.integer("seed", 0, INT64_MAX));
  c.device = Device::parse(a.str("device"));
  const systems::System sys = systems::system_by_name(c.system);
  Tensor train = read_npy(train_path);
  systems::check_configurations(sys, train, "'" + train_path + "'");
  IdemConfig ic = IdemConfig::preset(c.system, "quick");
  ic.seed = c.seed;
  std::string source;
  Tensor test = reference_for(ic, a, source);
  ORBIT_CHECK(test.defined() && test.numel() > 0, "no test set for ", c.system, ": pass --reference");
  test = first_rows(test, a.integer("n", 1, 10000000), sys.flat_dim());
  const int64_t n = test.shape()[0];

  // --weigh is read before the flow trains (minutes), so a bad file fails at once.
  Tensor weigh_in;
  ORBIT_CHECK(a.has("weigh") || (!a.has("weigh-n") && !a.has("weighed-out")),
              "--weigh-n and --weighed-out need --weigh (the samples to weigh)");
  if (a.has("weigh")) {
    const std::string wpath = a.str("weigh");
    ORBIT_CHECK(fs::is_regular_file(wpath), "no such file '", wpath, "' (--weigh)");
    if (fs::equivalent(wpath, train_path))
      std::fprintf(stderr, "orbit: warning: --weigh is the flow's own training set: the flow fits those points more "
                           "closely than the sampler's density, which biases the weights (weigh a second draw)\n");
    Tensor wx = read_npy(wpath);
    systems::check_configurations(sys, wx, "'" + wpath + "'");
    weigh_in = first_rows(wx, a.integer("weigh-n", 2, 10000000), sys.flat_dim());
    ORBIT_CHECK(weigh_in.shape()[0] >= 2, "--weigh needs at least 2 configurations; '", wpath, "' holds ",
                weigh_in.shape()[0]);
  }
  // --flow keeps the trained flow: loaded when the file exists (training resumes to --steps, or is
  // skipped when done), written every --flow-every steps and at the end, so hours of training survive
  // an interrupted run and one flow serves several evaluations.
  const std::string flow = a.has("flow") ? a.str("flow") : std::string();
  ORBIT_CHECK(!flow.empty() || !a.has("flow-every"), "--flow-every needs --flow (the flow checkpoint file)");
  const int64_t flow_every = a.integer("flow-every", 1, INT64_MAX);
  diffusion::Cfm cfm(c);
  int64_t resumed_from = 0;
  if (!flow.empty()) {
    // Checked before hours of training, not at the first checkpoint.
    ORBIT_CHECK(!fs::is_directory(flow), "--flow '", flow, "' is a folder; pass a file path (e.g. ", flow,
                "/flow.safetensors)");
    const fs::path parent = fs::path(flow).parent_path();
    ORBIT_CHECK(parent.empty() || fs::is_directory(parent), "--flow '", flow, "': no folder '", parent.string(), "'");
  }
  if (!flow.empty() && fs::exists(flow)) {
    cfm.load(flow);
    resumed_from = cfm.steps_done();
    std::fprintf(stderr, "orbit: flow '%s': %lld of %lld training steps done%s\n", flow.c_str(),
                 static_cast<long long>(resumed_from), static_cast<long long>(c.steps),
                 resumed_from == c.steps ? ", no training needed" : ", resuming");
  }
  util::Progress::Options po;
  po.quiet = a.flag("quiet");
  po.initial = resumed_from;
  util::Progress bar(c.steps, "cfm " + c.system, po);
  auto t0 = std::chrono::steady_clock::now();
  int stopped_by = 0;
  const double time_limit = a.has("time-limit") ? a.positive("time-limit") : 0.0;
  ORBIT_CHECK(time_limit == 0 || !flow.empty(), "--time-limit needs --flow (where the flow trained so far is kept)");
  bool out_of_time = false;
  {
    diffusion::Cfm::TrainHooks hooks;
    hooks.on_step = [&](int64_t k, double loss) { bar.update(k, {{"loss", loss}}); };
    hooks.log_every = 50;
    // With --flow a first Ctrl-C ends training after the step in progress, with the flow saved.
    std::optional<util::StopOnSignal> stop;
    if (!flow.empty()) {
      stop.emplace("saving the flow after this training step");
      hooks.on_checkpoint = [&](int64_t) { cfm.save(flow); };
      hooks.checkpoint_every = flow_every;
      hooks.stop = [&] {
        out_of_time = time_limit > 0 &&
                      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() >= time_limit &&
                      cfm.steps_done() < c.steps;
        return stop->requested() || out_of_time;
      };
    }
    cfm.train(train.cast(DType::f64), hooks);
    if (stop && stop->requested()) stopped_by = stop->signal();
  }
  bar.finish();
  if (stopped_by != 0) {
    std::fprintf(stderr, "orbit idem nll: stopped at training step %lld of %lld; the flow is in %s: run the same "
                 "command to continue\n", static_cast<long long>(cfm.steps_done()), static_cast<long long>(c.steps),
                 flow.c_str());
    return util::exit_status_for_signal(stopped_by);
  }
  if (out_of_time) {
    std::fprintf(stderr, "orbit idem nll: --time-limit %g s reached at training step %lld of %lld; the flow is in %s: "
                 "run the same command to continue\n", time_limit, static_cast<long long>(cfm.steps_done()),
                 static_cast<long long>(c.steps), flow.c_str());
    return util::kExitUnfinished;
  }
  const double train_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  auto t1 = std::chrono::steady_clock::now();
  // The likelihood integrates the ODE with one reverse pass per coordinate at each stage (exact
  // divergence): minutes to hours, so both integrations show progress in RK4 steps (a bar opened on
  // the first report, with the total the integration gives).
  std::optional<util::Progress> nll_bar, is_bar;
  auto bar_for = [&po](std::optional<util::Progress>& bar, std::string label) {
    return [&bar, &po, label](int64_t done, int64_t total) {
      if (!bar) bar.emplace(total, label, po);
      bar->update(done);
    };
  };
  diffusion::CfmLikelihood l = cfm.nll(test, 250, bar_for(nll_bar, "nll " + c.system));
  nll_bar.reset();
  const double nll_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  diffusion::CfmImportance w =
      cfm.importance(a.integer("importance-n", 2, 1000000), c.seed + 1, bar_for(is_bar, "model samples " + c.system));
  is_bar.reset();
  // Beyond the paper: the model's own samples, and the same samples resampled by their importance
  // weights (towards exp(-E) / Z), scored against the test set like the sampler's output.
  Tensor resampled = diffusion::importance_resample(w.x, w.log_w, w.n, c.seed + 2);
  const std::string plots = a.str("plots");
  auto plot = [&plots](const char* what) { return plots.empty() ? plots : plots + what; };
  const std::string m_model = evaluate(ic, w.x, test, source, n, plot("_model"));
  const std::string m_resampled = evaluate(ic, resampled, test, source, n, plot("_model_resampled"));
  if (a.has("reweighted-out")) write_npy(a.str("reweighted-out"), resampled);
  // Beyond the paper: the sampler's own (held-out) samples weighted by the flow as their learned density.
  std::string m_weigh;
  if (a.has("weigh")) {
    const std::string wpath = a.str("weigh");
    std::optional<util::Progress> w_bar;
    diffusion::CfmImportance sw = cfm.weigh(weigh_in, 250, bar_for(w_bar, "weigh " + c.system));
    w_bar.reset();
    Tensor sw_resampled = diffusion::importance_resample(sw.x, sw.log_w, sw.n, c.seed + 3);
    if (a.has("weighed-out")) write_npy(a.str("weighed-out"), sw_resampled);
    std::ostringstream w;
    w.precision(8);
    w << ", \"sampler_weights\": {\"samples\": " << io::json_quote(wpath) << ", \"n\": " << sw.n
      << ", \"ess\": " << sw.ess << ", \"log_z\": " << sw.log_z
      << ", \"plain\": " << evaluate(ic, sw.x, test, source, n, plot("_weigh"))
      << ", \"resampled\": " << evaluate(ic, sw_resampled, test, source, n, plot("_weigh_resampled")) << "}";
    m_weigh = w.str();
  }
  std::ostringstream o;
  o.precision(8);
  o << "{\"system\": \"" << c.system << "\", \"train_samples\": " << io::json_quote(train_path)
    << ", \"test\": " << io::json_quote(source) << ", \"n_test\": " << n << ", \"nll\": " << l.mean
    << ", \"nll_stderr\": " << l.stderr_ << ", \"log_z\": " << w.log_z << ", \"ess\": " << w.ess
    << ", \"importance_n\": " << w.n << ", \"divergence\": \"" << (c.hutchinson ? "hutchinson" : "exact")
    << "\", \"ode_steps\": " << c.ode_steps << ", \"cfm_steps\": " << c.steps
    << ", \"flow\": " << (flow.empty() ? std::string("null") : io::json_quote(flow))
    << ", \"cfm_steps_loaded\": " << resumed_from << ", \"train_seconds\": " << train_s
    << ", \"nll_seconds\": " << nll_s << ", \"importance\": {\"model_samples\": " << m_model
    << ", \"resampled\": " << m_resampled << "}" << m_weigh << "}";
  std::printf("%s\n", o.str().c_str());
  if (a.has("out")) write_text(a.str("out"), o.str() + "\n");
  return 0;
}

Command idem_nll_command() {
  return Command("idem nll", "NLL of a test set under a flow-matching model trained on a sampler's output (iDEM's "
                             "likelihood evaluation), with log Z and ESS",
                 {{"system", "gmm40, dw4, lj13 or lj55", "", false, true},
                  {"samples", "the sampler's output .npy (original units) the CFM is trained on", "", false, true},
                  {"reference", "test set .npy (default: the shipped DW4/LJ13 test rows, LJ55 MCMC rows; GMM: exact samples)"},
                  {"n", "test configurations evaluated", "1000"},
                  {"preset", "paper or quick", "quick"},
                  {"steps", "override: CFM training steps"},
                  {"ode-steps", "override: RK4 steps of the probability-flow ODE"},
                  {"hidden", "override: network width"},
                  {"hutchinson", "Hutchinson divergence estimate instead of the exact trace", "", true},
                  {"flow", "flow checkpoint (.safetensors): loaded if it exists (training resumes up to --steps, or is "
                           "skipped when done; same --preset / overrides / --seed / --samples required), written while training"},
                  {"flow-every", "write --flow every this many training steps (and after the last)", "500"},
                  {"time-limit", "seconds of flow training, then stop with the flow saved (needs --flow; exit status "
                                 "75 while steps remain: run the same command again)"},
                  {"importance-n", "model samples for log Z, ESS and the importance-resampled set", "1000"},
                  {"reweighted-out", "write the model samples resampled by their importance weights (.npy)"},
                  {"weigh", "beyond the paper: weight these sampler outputs (.npy; a draw the CFM was not trained on) "
                            "by exp(-E) / q, q the CFM as the sampler's learned density; report ESS and the resampled metrics"},
                  {"weigh-n", "rows of --weigh used", "1000"},
                  {"weighed-out", "write the --weigh samples resampled by their importance weights (.npy)"},
                  {"plots", "file prefix: energy and distance histograms of the model samples, resampled or not "
                            "(PREFIX_model*, and with --weigh PREFIX_weigh*)"},
                  {"out", "also write the JSON here"}},
                 run_nll);
}

Command idem_train_command() {
  return Command("idem train", "train an iDEM diffusion sampler from an energy alone (gmm40, dw4, lj13, lj55)",
                 {{"system", "gmm40, dw4, lj13 or lj55", "", false, true},
                  {"preset", "paper (the official configs) or quick (2 CPU cores, minutes)", "quick"},
                  {"out", "folder: checkpoint.safetensors, metrics.jsonl, samples.npy, results.json, plots", "", false, true},
                  {"resume", "continue from OUT/checkpoint.safetensors when it exists", "", true},
                  {"time-limit", "seconds of training, then stop after the epoch with the checkpoint written (exit "
                                 "status 75 while epochs remain: add --resume to continue)"},
                  {"epochs", "override: epochs (x steps-per-epoch gradient steps, then a buffer refresh)"},
                  {"steps-per-epoch", "override: gradient steps per epoch"},
                  {"batch", "override: points per gradient step"},
                  {"K", "override: Monte-Carlo copies of the score target"},
                  {"hidden", "override: network width"},
                  {"layers", "override: EGNN layers / MLP blocks"},
                  {"lr", "override: Adam learning rate"},
                  {"integration-steps", "override: reverse-SDE steps"},
                  {"eval-n", "samples for the final metrics"},
                  {"pdem", "pDEM: points from the prior instead of the buffer", "", true},
                  {"json", "print the results JSON instead of the summary", "", true},
                  {"refine-steps", "beyond the paper: also report the samples after this many MALA steps on the energy", "0"},
                  {"reference", "reference .npy for the metrics (default: the shipped DW4/LJ13 test rows, LJ55 MCMC rows; GMM: exact)"}},
                 run_train);
}

Command idem_sample_command() {
  return Command("idem sample", "reverse-SDE samples of a trained iDEM checkpoint",
                 {{"checkpoint", "an orbit idem checkpoint", "", false, true},
                  {"n", "number of samples", "", false, true},
                  {"out", "output .npy [n, D] f32 (original units)", "", false, true},
                  {"integration-steps", "override the checkpoint's SDE steps"}},
                 run_sample);
}

Command idem_eval_command() {
  return Command("idem eval", "iDEM metrics (x-W2, energy and distance W2, distance TV) of a checkpoint's samples",
                 {{"checkpoint", "an orbit idem checkpoint", "", false, true},
                  {"reference", "reference .npy (default: the shipped DW4/LJ13 test rows, LJ55 MCMC rows; GMM: exact samples)"},
                  {"samples", "evaluate these samples instead of drawing new ones"},
                  {"n", "samples per side", "1000"},
                  {"plots", "write PREFIX_energy and PREFIX_distances histograms (.svg, .png)"},
                  {"refine-steps", "beyond the paper: also evaluate after this many MALA steps on the energy", "0"},
                  {"out", "also write the JSON here"}},
                 run_eval);
}

}  // namespace orbit::cli
