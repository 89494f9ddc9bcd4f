// `orbit idem train | sample | eval`: iDEM diffusion samplers trained from an energy alone
// (models/diffusion/idem.h), their samples, and the iDEM table's metrics against a reference set.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <fstream>
#include <optional>
#include <sstream>

#include "engine/io/file_io.h"
#include "engine/io/json.h"
#include "engine/io/npy.h"
#include "engine/orbit.h"
#include "engine/plot/plot.h"
#include "engine/util/interrupt.h"
#include "engine/util/jsonl_log.h"
#include "engine/util/progress.h"
#include "models/diffusion/idem.h"
#include "models/systems/mcmc.h"
#include "models/systems/metrics.h"
#include "models/systems/relax.h"
#include "tools/cli_idem_shared.h"
#include "tools/commands.h"

namespace orbit::cli {

namespace {
namespace fs = std::filesystem;
using diffusion::Idem;
using diffusion::IdemConfig;
using idem_cli::evaluate;
using idem_cli::reference_for;
using idem_cli::write_text;

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
  // The guard lives while training runs; afterwards (sampling, evaluation) Ctrl-C quits at once.
  auto stop = std::make_optional<util::StopOnSignal>("saving the checkpoint after this epoch");
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
    interrupted = stop->requested();
    if (e.epoch % c.val_every == 0 || e.epoch == c.epochs || interrupted || out_of_time ||
        now - last_save > std::chrono::seconds(60)) {
      run.save(ckpt.string());
      last_save = now;
    }
    return !interrupted && !out_of_time;
  });
  bar.finish();
  const int signal_seen = stop->signal();
  stop.reset();
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
    return util::exit_status_for_signal(signal_seen);
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
  prepare_outputs(a, {"out"});
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
  prepare_outputs(a, {"out"}, {"plots"});
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
