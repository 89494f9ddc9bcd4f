// `orbit idem nll`: iDEM's likelihood evaluation. A conditional flow-matching model
// (models/diffusion/cfm.h) trained on a sampler's output, kept in a resumable checkpoint with --flow,
// gives the test set's NLL, log Z and ESS; beyond the paper, importance resampling of its own samples
// and importance weights for a second draw of the sampler.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <optional>
#include <sstream>

#include "engine/io/json.h"
#include "engine/io/npy.h"
#include "engine/orbit.h"
#include "engine/util/interrupt.h"
#include "engine/util/progress.h"
#include "models/diffusion/cfm.h"
#include "models/diffusion/idem.h"
#include "models/systems/system.h"
#include "tools/cli_idem_shared.h"
#include "tools/commands.h"

namespace orbit::cli {

namespace {
namespace fs = std::filesystem;
using diffusion::IdemConfig;
using idem_cli::evaluate;
using idem_cli::first_rows;
using idem_cli::reference_for;
using idem_cli::write_text;

// Work done by the probability-flow integrations (summed over batches).
std::string ode_json(const diffusion::OdeStats& s) {
  std::ostringstream o;
  o << "{\"nfe\": " << s.nfe << ", \"steps\": " << s.accepted << ", \"rejected\": " << s.rejected
    << ", \"rk4_fallbacks\": " << s.fallbacks << ", \"cached_batches\": " << s.cached << "}";
  return o.str();
}

std::string tol_json(const diffusion::CfmConfig& c) {
  if (c.ode_solver != "dopri5") return "null";
  std::ostringstream o;
  o.precision(17);
  o << c.ode_tol;
  return o.str();
}

int run_nll(const Args& a) {
  const std::string train_path = a.str("samples");
  ORBIT_CHECK(fs::is_regular_file(train_path), "no such file '", train_path, "'");
  diffusion::CfmConfig c = diffusion::CfmConfig::preset(a.str("system"), a.str("preset"));
  if (a.has("steps")) c.steps = a.integer("steps", 0, 100000000);
  // The solver: --ode-solver, else the one the other ODE options set, else the preset's (paper: dopri5,
  // as iDEM; quick: rk4).
  if (a.has("ode-solver"))
    c.ode_solver = a.str("ode-solver");
  else if (a.has("ode-steps"))
    c.ode_solver = "rk4";
  else if (a.has("ode-tol") || a.has("ode-max-nfe"))
    c.ode_solver = "dopri5";
  ORBIT_CHECK(c.ode_solver == "rk4" || c.ode_solver == "dopri5", "--ode-solver must be rk4 or dopri5, got '",
              c.ode_solver, "'");
  ORBIT_CHECK(c.ode_solver == "dopri5" || (!a.has("ode-tol") && !a.has("ode-max-nfe")),
              "--ode-tol and --ode-max-nfe set the adaptive solver (dopri5), not rk4");
  ORBIT_CHECK(c.ode_solver == "rk4" || !a.has("ode-steps"), "--ode-steps sets the fixed-step solver (rk4); dopri5 "
              "chooses its steps from --ode-tol");
  if (a.has("ode-steps")) c.ode_steps = a.integer("ode-steps", 1, 100000);
  if (a.has("ode-tol")) c.ode_tol = a.positive("ode-tol");
  if (a.has("ode-max-nfe")) c.ode_max_nfe = a.integer("ode-max-nfe", 8, INT64_MAX);
  // Read before training (hours for the paper preset), so a bad value fails at once.
  const int64_t ode_batch = a.integer("ode-batch", 1, 1000000);
  const int64_t importance_n = a.integer("importance-n", 2, 1000000);
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
  // Every output's folder, once the arguments are known good and before any training.
  prepare_outputs(a, {"out", "flow", "reweighted-out", "weighed-out"}, {"plots"});
  diffusion::Cfm cfm(c);
  int64_t resumed_from = 0;
  if (!flow.empty()) {
    // Checked before hours of training, not at the first checkpoint (its folder was made above).
    ORBIT_CHECK(!fs::is_directory(flow), "--flow '", flow, "' is a folder; pass a file path (e.g. ", flow,
                "/flow.safetensors)");
  }
  // The evaluation's finished ODE batches are kept (by default beside the flow), so an interrupted
  // evaluation resumes; the folder is made now, before any training.
  std::string eval_cache = a.has("eval-cache") ? a.str("eval-cache") : flow.empty() ? std::string() : flow + ".eval";
  if (eval_cache == "none") eval_cache.clear();
  if (!eval_cache.empty()) cfm.set_eval_cache(eval_cache);
  // --eval-only: the kept flow as it is, also part-trained (to watch a long training).
  const bool eval_only = a.flag("eval-only");
  ORBIT_CHECK(!eval_only || (!flow.empty() && fs::exists(flow)), "--eval-only evaluates a kept flow: pass --flow with an "
              "existing file");
  ORBIT_CHECK(!eval_only || !a.has("time-limit") || !eval_cache.empty(),
              "--eval-only does not train, and without the evaluation cache (--eval-cache none) --time-limit has "
              "nothing to limit");
  if (!flow.empty() && fs::exists(flow)) {
    cfm.load(flow);
    resumed_from = cfm.steps_done();
    std::fprintf(stderr, "orbit: flow '%s': %lld of %lld training steps done%s\n", flow.c_str(),
                 static_cast<long long>(resumed_from), static_cast<long long>(c.steps),
                 resumed_from == c.steps ? ", no training needed" : eval_only ? ", evaluated as it is (--eval-only)" : ", resuming");
  }
  util::Progress::Options po;
  po.quiet = a.flag("quiet");
  po.initial = resumed_from;
  util::Progress::Options train_po = po;
  train_po.quiet = po.quiet || eval_only;
  util::Progress bar(c.steps, "cfm " + c.system, train_po);
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
    if (eval_only)
      (void)cfm.check_training_samples(train.cast(DType::f64));  // the JSON names them: they must be the flow's
    else
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
  // divergence): minutes to hours, so every integration shows progress in RK4 steps (a bar opened on
  // the first report, with the total the integration gives). With the evaluation cache, Ctrl-C /
  // SIGTERM and --time-limit end the evaluation too, at the next ODE step: the finished batches are
  // kept, and the same command continues with the rest.
  struct EvalStopped {};
  std::optional<util::StopOnSignal> eval_stop;
  if (!eval_cache.empty()) eval_stop.emplace("stopping the evaluation; its finished ODE batches are kept in " + eval_cache);
  auto must_stop = [&] {
    return eval_stop && (eval_stop->requested() ||
                         (time_limit > 0 &&
                          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() >= time_limit));
  };
  std::optional<util::Progress> nll_bar, is_bar, w_bar;
  auto bar_for = [&po, &must_stop](std::optional<util::Progress>& bar, std::string label) {
    return [&bar, &po, &must_stop, label](int64_t done, int64_t total) {
      if (must_stop()) throw EvalStopped{};
      if (!bar) bar.emplace(total, label, po);
      bar->update(done);
    };
  };
  diffusion::CfmLikelihood l;
  diffusion::CfmImportance w;
  std::optional<diffusion::CfmImportance> sw;
  double nll_s = 0;
  try {
    l = cfm.nll(test, ode_batch, bar_for(nll_bar, "nll " + c.system));
    nll_bar.reset();
    nll_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
    // The headline number as soon as it is known (the model samples take as long again).
    if (!po.quiet) {
      const std::string from_cache =
          l.ode.cached > 0 ? ", " + std::to_string(l.ode.cached) + " batches from " + eval_cache : std::string();
      std::fprintf(stderr, "orbit: %s NLL %.6f +- %.6f over %lld test configurations (%.0f s%s)\n", c.system.c_str(),
                   l.mean, l.stderr_, static_cast<long long>(n), nll_s, from_cache.c_str());
    }
    w = cfm.importance(importance_n, c.seed + 1, bar_for(is_bar, "model samples " + c.system), ode_batch);
    is_bar.reset();
    if (a.has("weigh")) sw = cfm.weigh(weigh_in, ode_batch, bar_for(w_bar, "weigh " + c.system));
    w_bar.reset();
  } catch (const EvalStopped&) {
    nll_bar.reset();
    is_bar.reset();
    w_bar.reset();
    const int sig = eval_stop->signal();
    std::fprintf(stderr, "orbit idem nll: %s during the evaluation; its finished ODE batches are in %s: run the same "
                 "command to continue\n", sig != 0 ? "stopped" : "--time-limit reached", eval_cache.c_str());
    return sig != 0 ? util::exit_status_for_signal(sig) : util::kExitUnfinished;
  }
  eval_stop.reset();
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
  if (sw) {
    const std::string wpath = a.str("weigh");
    Tensor sw_resampled = diffusion::importance_resample(sw->x, sw->log_w, sw->n, c.seed + 3);
    if (a.has("weighed-out")) write_npy(a.str("weighed-out"), sw_resampled);
    std::ostringstream ws;
    ws.precision(8);
    ws << ", \"sampler_weights\": {\"samples\": " << io::json_quote(wpath) << ", \"n\": " << sw->n
       << ", \"ess\": " << sw->ess << ", \"log_z\": " << sw->log_z
       << ", \"plain\": " << evaluate(ic, sw->x, test, source, n, plot("_weigh"))
       << ", \"resampled\": " << evaluate(ic, sw_resampled, test, source, n, plot("_weigh_resampled")) << "}";
    m_weigh = ws.str();
  }
  std::ostringstream o;
  o.precision(8);
  o << "{\"system\": \"" << c.system << "\", \"train_samples\": " << io::json_quote(train_path)
    << ", \"test\": " << io::json_quote(source) << ", \"n_test\": " << n << ", \"nll\": " << l.mean
    << ", \"nll_stderr\": " << l.stderr_ << ", \"log_z\": " << w.log_z << ", \"ess\": " << w.ess
    << ", \"importance_n\": " << w.n << ", \"divergence\": \"" << (c.hutchinson ? "hutchinson" : "exact")
    << "\", \"ode_solver\": \"" << c.ode_solver << "\", \"ode_steps\": " << c.ode_steps << ", \"ode_tol\": "
    << tol_json(c) << ", \"nll_ode\": " << ode_json(l.ode)
    << ", \"importance_ode\": " << ode_json(w.ode) << ", \"cfm_steps\": " << c.steps
    << ", \"flow\": " << (flow.empty() ? std::string("null") : io::json_quote(flow))
    << ", \"eval_cache\": " << (eval_cache.empty() ? std::string("null") : io::json_quote(eval_cache))
    << ", \"cfm_steps_loaded\": " << resumed_from << ", \"train_seconds\": " << train_s
    << ", \"nll_seconds\": " << nll_s << ", \"importance\": {\"model_samples\": " << m_model
    << ", \"resampled\": " << m_resampled << "}" << m_weigh << "}";
  std::printf("%s\n", o.str().c_str());
  if (a.has("out")) write_text(a.str("out"), o.str() + "\n");
  return 0;
}

}  // namespace

Command idem_nll_command() {
  return Command("idem nll", "NLL of a test set under a flow-matching model trained on a sampler's output (iDEM's "
                             "likelihood evaluation), with log Z and ESS",
                 {{"system", "gmm40, dw4, lj13 or lj55", "", false, true},
                  {"samples", "the sampler's output .npy (original units) the CFM is trained on", "", false, true},
                  {"reference", "test set .npy (default: the shipped DW4/LJ13 test rows, LJ55 MCMC rows; GMM: exact samples)"},
                  {"n", "test configurations evaluated", "1000"},
                  {"preset", "paper or quick", "quick"},
                  {"steps", "override: CFM training steps"},
                  {"ode-solver", "probability-flow ODE solver: dopri5 (adaptive, iDEM's; --preset paper) or rk4 (fixed "
                                 "steps; --preset quick)"},
                  {"ode-steps", "rk4 steps of the probability-flow ODE (implies rk4; quick preset 40)"},
                  {"ode-tol", "dopri5's atol = rtol (implies dopri5; default 1e-5 as iDEM, LJ55 1e-3)"},
                  {"ode-max-nfe", "dopri5: field evaluations per batch before it is integrated again with --ode-steps "
                                  "RK4 steps, as iDEM falls back to fixed steps (default 3000)"},
                  {"ode-batch", "rows integrated together (test rows, model samples, --weigh rows): memory and "
                                "shared step sizes against speed", "250"},
                  {"hidden", "override: network width"},
                  {"hutchinson", "Hutchinson divergence estimate instead of the exact trace", "", true},
                  {"flow", "flow checkpoint (.safetensors): loaded if it exists (training resumes up to --steps, or is "
                           "skipped when done; same --preset / overrides / --seed / --samples required), written while training"},
                  {"eval-cache", "folder keeping each finished ODE batch of the evaluation, so that an interrupted "
                                 "evaluation resumes (default: FLOW.eval with --flow; 'none': off)"},
                  {"eval-only", "evaluate the --flow file as it is, without training it further (a part-trained flow "
                                "too; the JSON's cfm_steps_loaded says how far it is)", "", true},
                  {"flow-every", "write --flow every this many training steps (and after the last)", "500"},
                  {"time-limit", "seconds for the command: flow training, then (with the evaluation cache) the "
                                 "evaluation; stops with the work kept (needs --flow; exit status 75 while work "
                                 "remains: run the same command again)"},
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

}  // namespace orbit::cli
