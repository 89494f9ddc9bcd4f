// `orbit pinn train`: one PINN run (heat or Burgers, with or without the Lie point symmetry loss),
// and `orbit pinn study`: the sample-efficiency comparison (error vs collocation budget, with and
// without the symmetry loss, several seeds) as a table, JSON and a plot.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/io/npy.h"
#include "engine/plot/plot.h"
#include "engine/util/jsonl_log.h"
#include "engine/util/progress.h"
#include "models/pinn/trainer.h"
#include "tools/commands.h"

namespace orbit::cli {

namespace {
namespace fs = std::filesystem;
using pinn::PinnConfig;

std::vector<int64_t> int_list(const std::string& s, const char* what) {
  std::vector<int64_t> v;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t used = 0;
    long long x = 0;
    try {
      x = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    ORBIT_CHECK(used == item.size() && !item.empty() && x > 0, "--", what, " expects positive integers separated by commas, got '", s, "'");
    v.push_back(x);
  }
  ORBIT_CHECK(!v.empty(), "--", what, " is empty");
  return v;
}

PinnConfig config_from(const Args& a) {
  PinnConfig c = PinnConfig::preset(a.str("preset"), pinn::pde_from_name(a.str("pde")));
  std::string sym = a.str("symmetry");
  c.symmetry = pinn::symmetry_form_from_name(sym == "on" ? "evolutionary" : sym);
  if (a.has("samples")) c.samples = static_cast<int>(a.integer("samples", 1, 10000000));
  if (a.has("ic-samples")) c.ic_samples = static_cast<int>(a.integer("ic-samples", 1, 10000000));
  if (a.has("bc-samples")) c.bc_samples = static_cast<int>(a.integer("bc-samples", 1, 10000000));
  if (a.has("steps")) c.steps = static_cast<int>(a.integer("steps", 1, 100000000));
  if (a.has("lr")) c.lr = a.positive("lr");
  if (a.has("hidden")) c.hidden = int_list(a.str("hidden"), "hidden");
  if (a.has("w-symmetry")) c.w_symmetry = a.real("w-symmetry");
  c.seed = static_cast<uint64_t>(a.integer("seed", 0, 1LL << 62));
  c.problem_seed = static_cast<uint64_t>(a.integer("problem-seed", 0, 1LL << 62));
  c.device = Device::parse(a.str("device"));
  return c;
}

std::vector<OptionSpec> pinn_options() {
  return {{"pde", "heat or burgers", "heat"},
          {"preset", "quick (minutes on 2 CPU cores) or paper", "quick"},
          {"symmetry", "off, on (= evolutionary), point (form A) or evolutionary (form B)", "off"},
          {"samples", "interior collocation points (default from the preset)", ""},
          {"ic-samples", "initial-condition points", ""},
          {"bc-samples", "periodic boundary pairs", ""},
          {"steps", "Adam steps", ""},
          {"lr", "Adam learning rate (cosine decay to 1%)", ""},
          {"hidden", "hidden widths, e.g. 32,32,32", ""},
          {"w-symmetry", "weight of the symmetry loss", ""},
          {"problem-seed", "which initial condition (sum of sines)", "1"}};
}

void save_plots(const fs::path& dir, const PinnConfig& c, const pinn::PinnResult& r) {
  const auto& ref = r.reference;
  plot::Figure fig(1400, 900);
  auto& sol = fig.axes(std::string("u(x, t): ") + pinn::pde_name(c.pde) + " (lines: reference, dots: PINN)", "x", "u");
  auto& err = fig.axes("pointwise error at the same times", "x", "u_pinn - u_ref");
  for (int k = 0; k < 4; ++k) {
    int j = (ref.nt - 1) * k / 3;
    std::vector<double> u_ref(ref.u.begin() + static_cast<long>(j) * ref.nx, ref.u.begin() + static_cast<long>(j + 1) * ref.nx);
    std::vector<double> u_nn(r.prediction.begin() + static_cast<long>(j) * ref.nx,
                             r.prediction.begin() + static_cast<long>(j + 1) * ref.nx);
    std::vector<double> e(ref.nx);
    for (int i = 0; i < ref.nx; ++i) e[i] = u_nn[i] - u_ref[i];
    char label[32];
    std::snprintf(label, sizeof label, "t = %.3g", ref.t[j]);
    sol.line(ref.x, u_ref, label);
    plot::ScatterStyle dots;
    dots.color = sol.series().back().color;  // the dots take their reference line's colour
    sol.scatter(ref.x, u_nn, "", dots);
    err.line(ref.x, e, label);
  }
  std::vector<double> steps, total, ic, res, sym;
  for (auto& h : r.history) {
    steps.push_back(h.step);
    total.push_back(h.loss);
    ic.push_back(h.ic);
    res.push_back(h.residual);
    sym.push_back(h.symmetry);
  }
  auto& loss = fig.axes("losses", "step", "loss");
  loss.line(steps, total, "total").line(steps, ic, "initial condition").line(steps, res, "residual");
  if (c.symmetry != pinn::SymmetryForm::none) loss.line(steps, sym, "symmetry");
  loss.log_y();
  std::vector<double> t_axis, rel_t;
  for (int j = 0; j < ref.nt; ++j) {
    double num = 0, den = 0;
    for (int i = 0; i < ref.nx; ++i) {
      double d = r.prediction[static_cast<size_t>(j) * ref.nx + i] - ref.at(j, i);
      num += d * d;
      den += ref.at(j, i) * ref.at(j, i);
    }
    t_axis.push_back(ref.t[j]);
    rel_t.push_back(std::sqrt(num / std::max(den, 1e-300)));
  }
  fig.axes("relative L2 error over time", "t", "error").line(t_axis, rel_t, "PINN");
  fig.save((dir / "pinn.png").string());
  fig.save((dir / "pinn.svg").string());
}

int run_train(const Args& a) {
  PinnConfig c = config_from(a);
  const fs::path dir = a.str("out");
  fs::create_directories(dir);
  util::JsonlLog log((dir / "metrics.jsonl").string());
  util::Progress bar(c.steps, "pinn", util::Progress::Options{a.flag("quiet")});
  auto r = pinn::train_pinn(c, [&](const pinn::PinnLog& l) {
    bar.update(l.step, {{"loss", l.loss}, {"res", l.residual}});
    log.write({{"step", l.step}, {"loss", l.loss}, {"ic", l.ic}, {"bc", l.bc}, {"residual", l.residual},
               {"symmetry", l.symmetry}, {"lr", l.lr}});
  });
  bar.finish();
  const int nx = r.reference.nx, nt = r.reference.nt;
  write_npy((dir / "prediction.npy").string(), Tensor::from<double>({nt, nx}, r.prediction));
  write_npy((dir / "reference.npy").string(), Tensor::from<double>({nt, nx}, r.reference.u));
  std::ofstream js(dir / "results.json");
  js.precision(10);
  js << "{\"config\": " << c.json() << ", \"rel_l2\": " << r.rel_l2 << ", \"train_seconds\": " << r.seconds
     << ", \"kernels_per_step\": " << r.kernels << ", \"final_loss\": " << r.history.back().loss << "}\n";
  ORBIT_CHECK(js.good(), "cannot write results.json in '", dir.string(), "'");
  save_plots(dir, c, r);
  std::printf("%s, symmetry %s, %d samples: relative L2 error %.4f (%d steps in %.1f s)\n", pinn::pde_name(c.pde),
              pinn::symmetry_form_name(c.symmetry), c.samples, r.rel_l2, c.steps, r.seconds);
  std::printf("wrote %s/{results.json, metrics.jsonl, prediction.npy, reference.npy, pinn.png, pinn.svg}\n",
              dir.string().c_str());
  return 0;
}

int run_study(const Args& a) {
  PinnConfig base = config_from(a);
  const auto budgets = int_list(a.str("budgets"), "budgets");
  const int seeds = static_cast<int>(a.integer("seeds", 1, 100));
  std::vector<std::string> forms;
  {
    std::stringstream ss(a.str("forms"));
    std::string f;
    while (std::getline(ss, f, ',')) {
      pinn::symmetry_form_from_name(f);
      forms.push_back(f);
    }
  }
  const fs::path dir = a.str("out");
  fs::create_directories(dir);
  util::JsonlLog log((dir / "runs.jsonl").string());
  const int64_t total = static_cast<int64_t>(budgets.size() * forms.size()) * seeds;
  util::Progress bar(total, "study", util::Progress::Options{a.flag("quiet")});
  plot::Figure fig(900, 600);
  auto& ax = fig.axes(std::string("PINN sample efficiency: ") + pinn::pde_name(base.pde), "collocation points",
                      "relative L2 error (mean over seeds)");
  std::ostringstream table;
  table << "| samples |";
  for (auto& f : forms) table << " " << f << " (mean ± sd) |";
  table << "\n|---|";
  for (size_t k = 0; k < forms.size(); ++k) table << "---|";
  table << "\n";
  std::vector<std::vector<double>> means(forms.size());
  int64_t done = 0;
  for (auto n : budgets) {
    table << "| " << n << " |";
    for (size_t k = 0; k < forms.size(); ++k) {
      std::vector<double> errs;
      for (int s = 0; s < seeds; ++s) {
        PinnConfig c = base;
        c.samples = static_cast<int>(n);
        c.symmetry = pinn::symmetry_form_from_name(forms[k]);
        c.seed = base.seed + static_cast<uint64_t>(s);
        auto r = pinn::train_pinn(c);
        errs.push_back(r.rel_l2);
        log.write({{"samples", n}, {"symmetry", forms[k]}, {"seed", c.seed}, {"rel_l2", r.rel_l2}, {"seconds", r.seconds}});
        bar.update(++done, {{"err", r.rel_l2}});
      }
      double m = 0, v = 0;
      for (double e : errs) m += e / errs.size();
      for (double e : errs) v += (e - m) * (e - m) / std::max<size_t>(1, errs.size() - 1);
      means[k].push_back(m);
      char cell[64];
      std::snprintf(cell, sizeof cell, " %.4f ± %.4f |", m, std::sqrt(v));
      table << cell;
    }
    table << "\n";
  }
  bar.finish();
  std::vector<double> xs(budgets.begin(), budgets.end());
  for (size_t k = 0; k < forms.size(); ++k) {
    ax.line(xs, means[k], "symmetry " + forms[k]);
    plot::ScatterStyle dots;
    dots.color = ax.series().back().color;
    ax.scatter(xs, means[k], "", dots);
  }
  ax.log_y();
  fig.save((dir / "study.png").string());
  fig.save((dir / "study.svg").string());
  std::ofstream(dir / "study.md") << "PINN study: " << pinn::pde_name(base.pde) << ", " << seeds
                                  << " seed(s), config " << base.json() << "\n\n" << table.str();
  std::printf("%s", table.str().c_str());
  std::printf("wrote %s/{study.md, runs.jsonl, study.png, study.svg}\n", dir.string().c_str());
  return 0;
}

}  // namespace

Command pinn_train_command() {
  auto opts = pinn_options();
  opts.push_back({"out", "output folder", "pinn_out"});
  return Command("pinn train", "train a PINN on the heat or Burgers equation, optionally with the Lie point symmetry loss",
                 opts, run_train);
}

Command pinn_study_command() {
  auto opts = pinn_options();
  opts.push_back({"budgets", "collocation budgets, e.g. 250,500,1000,2000", "250,500,1000,2000"});
  opts.push_back({"forms", "symmetry settings to compare", "off,evolutionary"});
  opts.push_back({"seeds", "runs per setting", "3"});
  opts.push_back({"out", "output folder", "pinn_study"});
  return Command("pinn study", "error vs number of samples, with and without the symmetry loss, over seeds", opts,
                 run_study);
}

}  // namespace orbit::cli
