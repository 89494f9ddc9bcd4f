// `orbit mcmc`: reference samples of a Boltzmann system by many parallel MCMC chains (MALA, HMC or
// random-walk Metropolis) on the CPU or the GPU, with diagnostics written next to the samples:
// energy traces (.npy and a plot), step sizes, acceptance rates, R-hat across chain groups, and, with
// --reference, the iDEM metrics and histograms against a reference set.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "engine/io/file_io.h"
#include "engine/io/json.h"
#include "engine/io/npy.h"
#include "engine/orbit.h"
#include "engine/plot/plot.h"
#include "models/systems/evaluation.h"
#include "models/systems/mcmc.h"
#include "models/systems/metric_plots.h"
#include "models/systems/metrics.h"
#include "tools/commands.h"

namespace orbit::cli {

namespace {
namespace fs = std::filesystem;

systems::McmcConfig config_from(const Args& a) {
  systems::McmcConfig c;
  c.method = systems::parse_mcmc_method(a.str("method"));
  c.chains = a.integer("chains", 2, 10000000);
  c.groups = static_cast<int>(a.integer("groups", 2, 1000000));
  c.burn_in = a.integer("burn-in", 0, 1000000000);
  c.steps = a.integer("steps", 1, 1000000000);
  c.thin = a.integer("thin", 1, 1000000000);
  c.block = a.integer("block", 1, 1000);
  c.leapfrog = static_cast<int>(a.integer("leapfrog", 1, 100));
  c.step = a.real("step");
  c.target_accept = a.real("target-accept");
  c.beta = a.positive("beta");
  c.adapt = !a.flag("no-adapt");
  c.symmetrize = !a.flag("no-symmetrize");
  c.seed = static_cast<uint64_t>(a.integer("seed", 0, INT64_MAX));
  std::string dt = a.str("dtype");
  ORBIT_CHECK(dt == "f32" || dt == "f64", "--dtype must be f32 or f64, got '", dt, "'");
  c.dtype = dt == "f32" ? DType::f32 : DType::f64;
  c.device = Device::parse(a.str("device"));
  c.quiet = a.flag("quiet");
  return c;
}

void plot_trace(const systems::McmcResult& r, const systems::McmcConfig& c, const std::string& system,
                const fs::path& dir) {
  const int64_t blocks = r.energy_trace.shape()[0], C = r.energy_trace.shape()[1], per = C / c.groups;
  std::vector<double> all = r.energy_trace.to_vector(), steps(blocks);
  for (int64_t b = 0; b < blocks; ++b) steps[b] = static_cast<double>((b + 1) * c.block);
  plot::Figure fig(800, 480);
  auto& ax = fig.axes(system + ": mean energy of each chain group", "MCMC step", "energy");
  double lo = INFINITY, hi = -INFINITY;
  for (int g = 0; g < c.groups; ++g) {
    std::vector<double> m(blocks, 0.0);
    for (int64_t b = 0; b < blocks; ++b)
      for (int64_t k = 0; k < per; ++k) m[b] += all[b * C + g * per + k] / per;
    // The y range follows the post-burn-in part: early lattice energies would squash the picture.
    for (int64_t b = r.burn_in_blocks / 2; b < blocks; ++b) {
      lo = std::min(lo, m[b]);
      hi = std::max(hi, m[b]);
    }
    ax.line(steps, m, "group " + std::to_string(g));
  }
  if (std::isfinite(lo) && hi > lo) {
    const double pad = 0.1 * (hi - lo);
    ax.ylim(lo - pad, hi + pad);
    const double burn = static_cast<double>(r.burn_in_blocks * c.block);
    if (r.burn_in_blocks > 0) ax.line(std::vector<double>{burn, burn}, std::vector<double>{lo - pad, hi + pad}, "end of burn-in");
  }
  fig.save((dir / "energy_trace.svg").string());
  fig.save((dir / "energy_trace.png").string());
}

int run_mcmc_cmd(const Args& a) {
  systems::System sys = systems::system_by_name(a.str("system"), {a.flag("unique-pairs"), a.flag("normalised")});
  systems::McmcConfig cfg = config_from(a);
  const fs::path dir = a.str("out");
  Tensor init;
  if (a.has("init")) {
    ORBIT_CHECK(fs::is_regular_file(a.str("init")), "no such file '", a.str("init"), "'");
    init = read_npy(a.str("init"));
    systems::check_configurations(sys, init, "'" + a.str("init") + "'");
    ORBIT_CHECK(init.rank() == 2 && init.shape()[0] >= cfg.chains, "'", a.str("init"), "' has ", init.shape().str(),
                "; it needs at least --chains ", cfg.chains, " rows");
    std::vector<double> v = init.to_vector();  // the first --chains rows
    v.resize(static_cast<size_t>(cfg.chains * sys.flat_dim()));
    init = Tensor::from(Shape({cfg.chains, sys.flat_dim()}), v);
  }
  Tensor reference;
  if (a.has("reference")) {
    ORBIT_CHECK(fs::is_regular_file(a.str("reference")), "no such file '", a.str("reference"), "'");
    reference = read_npy(a.str("reference"));
    systems::check_configurations(sys, reference, "'" + a.str("reference") + "'");
    ORBIT_CHECK(reference.rank() == 2, "'", a.str("reference"), "' must be [N, ", sys.flat_dim(), "]");
  }
  fs::create_directories(dir);

  systems::McmcResult r = systems::run_mcmc(sys, cfg, a.has("init") ? &init : nullptr);
  const int64_t kept = r.samples.shape()[0];
  int64_t n_out = a.has("n") ? a.integer("n", 1, INT64_MAX) : kept;
  ORBIT_CHECK(n_out <= kept, "--n ", n_out, " is more than the ", kept, " samples kept (chains x steps / thin)");
  std::vector<int64_t> rows(n_out);  // evenly spaced over the kept samples (time-major)
  for (int64_t i = 0; i < n_out; ++i) rows[i] = i * kept / n_out;
  systems::ConfigSet out_set = systems::config_rows(r.samples, rows);
  Tensor samples = Tensor::from(Shape({n_out, sys.flat_dim()}), out_set.x).cast(DType::f32);
  write_npy((dir / "samples.npy").string(), samples);
  write_npy((dir / "energy_trace.npy").string(), r.energy_trace);
  plot_trace(r, cfg, sys.name, dir);

  std::ostringstream js;
  js.precision(10);
  js << "{\"system\": \"" << sys.name << "\", \"method\": \"" << systems::mcmc_method_name(cfg.method)
     << "\", \"device\": \"" << cfg.device.str() << "\", \"dtype\": \"" << dtype_name(cfg.dtype)
     << "\", \"chains\": " << cfg.chains << ", \"groups\": " << cfg.groups << ", \"burn_in\": " << cfg.burn_in
     << ", \"steps\": " << cfg.steps << ", \"thin\": " << cfg.thin << ", \"beta\": " << cfg.beta << ", \"symmetrize\": " << (cfg.symmetrize ? "true" : "false")
     << ", \"seed\": " << cfg.seed << ", \"samples\": " << n_out << ", \"seconds\": " << r.seconds
     << ", \"mean_energy\": " << r.mean_energy << ", \"std_energy\": " << r.std_energy
     << ", \"rhat_groups\": " << r.rhat_groups << ", \"rhat_chains\": " << r.rhat_chains << ", \"step_size\": [";
  for (size_t i = 0; i < r.step_size.size(); ++i) js << (i ? ", " : "") << r.step_size[i];
  js << "], \"acceptance\": [";
  for (size_t i = 0; i < r.acceptance.size(); ++i) js << (i ? ", " : "") << r.acceptance[i];
  js << "]";
  if (reference.defined() && reference.numel() > 0) {
    const int64_t n = std::min<int64_t>({a.integer("eval-n", 2, 100000), n_out, reference.shape()[0]});
    const uint64_t seed = cfg.seed;
    systems::ConfigSet gen = systems::config_rows(samples, systems::subsample_rows(n_out, n, seed, 0));
    systems::ConfigSet ref = systems::config_rows(reference, systems::subsample_rows(reference.shape()[0], n, seed, 1));
    systems::MetricsOptions mo = systems::metrics_options(sys);
    systems::MetricsData data;
    systems::SampleMetrics m = systems::compute_metrics(gen, ref, mo, &data);
    systems::write_metric_plots((dir / "vs_reference").string(), sys.name, data);
    js << ", \"reference\": " << io::json_quote(a.str("reference")) << ", \"metrics\": " << m.to_json();
    if (!cfg.quiet) std::printf("metrics against %s (%lld vs %lld): %s\n", a.str("reference").c_str(),
                                static_cast<long long>(n), static_cast<long long>(n), m.to_json().c_str());
  }
  js << "}\n";
  {
    io::AtomicFile f((dir / "diagnostics.json").string(), "orbit mcmc");
    const std::string text = js.str();
    f.write(text.data(), text.size());
    f.commit();
  }
  std::printf("%s %s: %lld chains, %lld + %lld steps in %.1f s on %s; E = %.4f +- %.4f, R-hat %.4f (groups) %.4f "
              "(chains), acceptance",
              sys.name.c_str(), systems::mcmc_method_name(cfg.method), static_cast<long long>(cfg.chains),
              static_cast<long long>(cfg.burn_in), static_cast<long long>(cfg.steps), r.seconds, cfg.device.str().c_str(),
              r.mean_energy, r.std_energy, r.rhat_groups, r.rhat_chains);
  for (double v : r.acceptance) std::printf(" %.3f", v);
  std::printf(" -> %s\n", (dir / "samples.npy").string().c_str());
  return 0;
}

}  // namespace

Command mcmc_command() {
  return Command(
      "mcmc", "reference samples of a Boltzmann system by parallel MCMC chains, with convergence diagnostics",
      {{"system", "gmm40, dw4, lj13 or lj55", "", false, true},
       {"out", "output folder: samples.npy, energy_trace.npy/.png/.svg, diagnostics.json", "", false, true},
       {"method", "mala, hmc or rwm (random-walk Metropolis)", "mala"},
       {"chains", "parallel chains", "256"},
       {"groups", "chain groups (divides --chains): step sizes adapt per group, R-hat compares groups", "4"},
       {"burn-in", "steps before samples are kept (step sizes adapt during it)", "2000"},
       {"steps", "steps after burn-in", "10000"},
       {"thin", "keep every chain's state every this many steps", "100"},
       {"block", "steps unrolled in one compiled program (energies are traced per block)", "10"},
       {"leapfrog", "HMC: leapfrog steps per proposal", "5"},
       {"step", "initial step size (MALA h, HMC epsilon, RWM std); 0 = per-system default", "0"},
       {"target-accept", "adaptation target; 0 = 0.574 MALA, 0.65 HMC, 0.3 RWM", "0"},
       {"beta", "inverse temperature of exp(-beta E)", "1"},
       {"no-adapt", "keep the initial step size", "", true},
       {"no-symmetrize", "particle systems: keep the samples' orientations and labels as the chains left them "
                         "(default: a random rotation/reflection and permutation per sample, exact by symmetry)", "", true},
       {"dtype", "f32 or f64", "f64"},
       {"n", "write this many samples (evenly spaced over those kept; default all)"},
       {"init", ".npy of initial configurations (>= --chains rows; default a perturbed lattice)"},
       {"reference", ".npy reference set: write the iDEM metrics and histograms against it"},
       {"eval-n", "samples per side for --reference metrics", "1000"},
       {"unique-pairs", "LJ: textbook unique-pair sum instead of iDEM's ordered pairs", "", true},
       {"normalised", "GMM: iDEM's normalised coordinates", "", true}},
      run_mcmc_cmd);
}

}  // namespace orbit::cli
