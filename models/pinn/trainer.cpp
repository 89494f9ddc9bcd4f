#include "models/pinn/trainer.h"

#include <chrono>
#include <cmath>
#include <memory>
#include <sstream>

#include "engine/optim/train_step.h"
#include "engine/orbit.h"
#include "kernels/scalar/random.h"
#include "models/nn/mlp.h"

namespace orbit::pinn {

PinnConfig PinnConfig::preset(const std::string& name, Pde pde) {
  PinnConfig c;
  c.pde = pde;
  if (name == "quick") return c;
  if (name == "paper") {
    c.hidden = {64, 64, 64, 64};
    c.steps = 20000;
    c.lr = 1e-3;
    c.ic_samples = 256;
    c.bc_samples = 128;
    c.test_nx = 256;
    c.test_nt = 65;
    return c;
  }
  throw Error("unknown preset '" + name + "': expected quick or paper");
}

std::string PinnConfig::json() const {
  std::ostringstream os;
  os.precision(17);
  os << "{\"pde\": \"" << pde_name(pde) << "\", \"symmetry\": \"" << symmetry_form_name(symmetry)
     << "\", \"samples\": " << samples << ", \"ic_samples\": " << ic_samples << ", \"bc_samples\": " << bc_samples
     << ", \"hidden\": [";
  for (size_t i = 0; i < hidden.size(); ++i) os << (i ? ", " : "") << hidden[i];
  os << "], \"steps\": " << steps << ", \"lr\": " << lr << ", \"w_ic\": " << w_ic << ", \"w_bc\": " << w_bc
     << ", \"w_residual\": " << w_residual << ", \"w_symmetry\": " << w_symmetry << ", \"seed\": " << seed
     << ", \"problem_seed\": " << problem_seed << ", \"ic_terms\": " << ic_terms << ", \"test_nx\": " << test_nx
     << ", \"test_nt\": " << test_nt << ", \"device\": \"" << device.str() << "\"}";
  return os.str();
}

namespace {

void validate(const PinnConfig& c) {
  ORBIT_CHECK(c.samples >= 1 && c.samples <= 10000000, "samples must be in [1, 1e7], got ", c.samples);
  ORBIT_CHECK(c.ic_samples >= 1 && c.bc_samples >= 1, "ic_samples and bc_samples must be positive");
  ORBIT_CHECK(c.steps >= 1, "steps must be positive");
  ORBIT_CHECK(c.lr > 0 && std::isfinite(c.lr), "lr must be positive");
  ORBIT_CHECK(!c.hidden.empty(), "the network needs at least one hidden layer");
  for (double w : {c.w_ic, c.w_bc, c.w_residual, c.w_symmetry})
    ORBIT_CHECK(w >= 0 && std::isfinite(w), "loss weights must be finite and >= 0");
  ORBIT_CHECK(c.test_nx >= 4 && c.test_nt >= 2, "the test grid needs nx >= 4 and nt >= 2");
}

// n points with x, t uniform on the given ranges (Philox stream `stream` of `seed`).
Tensor sample_points(int64_t n, double x0, double x1, double t0, double t1, uint64_t seed, uint64_t stream) {
  Tensor X = Tensor::empty({n, 2}, DType::f64);
  double* p = X.data<double>();
  for (int64_t i = 0; i < n; ++i) {
    p[2 * i] = x0 + (x1 - x0) * scalar::random_uniform<double>(seed, stream, 0, 2 * i);
    p[2 * i + 1] = t0 + (t1 - t0) * scalar::random_uniform<double>(seed, stream, 0, 2 * i + 1);
  }
  return X;
}

}  // namespace

PinnResult train_pinn(const PinnConfig& cfg, const std::function<void(const PinnLog&)>& on_log, int log_every) {
  validate(cfg);
  const Problem prob = Problem::standard(cfg.pde, cfg.problem_seed, cfg.ic_terms);
  const double L = prob.length, T = prob.t_end;

  Graph g;
  Var x_ic = g.input("x_ic", {cfg.ic_samples, 2}, DType::f64);
  Var u_ic = g.input("u_ic", {cfg.ic_samples, 1}, DType::f64);
  Var x_b0 = g.input("x_b0", {cfg.bc_samples, 2}, DType::f64);
  Var x_b1 = g.input("x_b1", {cfg.bc_samples, 2}, DType::f64);
  Var x_r = g.input("x_r", {cfg.samples, 2}, DType::f64);
  std::vector<int64_t> widths{2};
  widths.insert(widths.end(), cfg.hidden.begin(), cfg.hidden.end());
  widths.push_back(1);
  nn::MLP net(g, "u", widths, nn::Activation::tanh, DType::f64);
  // The network sees (x, t) scaled to [-1, 1]^2; derivatives are taken in physical units.
  Var centre = g.constant(Tensor::from<double>({2}, {L / 2, T / 2}), "centre");
  Var inv_half = g.constant(Tensor::from<double>({2}, {2 / L, 2 / T}), "inv_half");
  auto u_of = [&](Var X) { return net((X - centre) * inv_half); };

  Var loss_ic = mean(square(u_of(x_ic) - u_ic));
  Var loss_bc = mean(square(u_of(x_b0) - u_of(x_b1)));
  Jet jet = make_jet(x_r, u_of, cfg.symmetry == SymmetryForm::evolutionary);
  // Residuals are measured in units of the time horizon (T * Delta): in those units u_t is O(u), so
  // the residual and symmetry losses weigh like the data losses whatever T and nu are.
  Var loss_res = mean(square(residual(prob, jet) * T));
  Var loss_sym = symmetry_loss(prob, jet, x_r, cfg.symmetry) * (T * T);
  Var loss = cfg.w_ic * loss_ic + cfg.w_bc * loss_bc + cfg.w_residual * loss_res;
  if (cfg.symmetry != SymmetryForm::none) loss = loss + cfg.w_symmetry * loss_sym;

  auto store = std::make_shared<ParamStore>();
  net.init(*store, cfg.seed);
  if (!cfg.device.is_cpu())  // parameters live where the step runs (the optimizer updates them there)
    for (auto& name : store->names()) store->set(name, store->get(name).to(cfg.device));
  auto adam = std::make_shared<optim::Adam>(std::make_shared<optim::CosineLr>(cfg.lr, cfg.steps, cfg.lr * 0.01));
  optim::TrainStep step(g, loss, net.params(), store, adam, cfg.device, {loss_ic, loss_bc, loss_res, loss_sym});

  // Training data: drawn once (the sample budget is fixed), from streams of the run's seed.
  Tensor xi = sample_points(cfg.ic_samples, 0, L, 0, 0, cfg.seed, 1);
  Tensor ui = Tensor::empty({cfg.ic_samples, 1}, DType::f64);
  for (int i = 0; i < cfg.ic_samples; ++i) ui.data<double>()[i] = prob.u0(xi.data<double>()[2 * i]);
  Tensor xb0 = sample_points(cfg.bc_samples, 0, 0, 0, T, cfg.seed, 2), xb1 = xb0.clone();
  for (int i = 0; i < cfg.bc_samples; ++i) xb1.data<double>()[2 * i] = L;
  Tensor xr = sample_points(cfg.samples, 0, L, 0, T, cfg.seed, 3);
  const Feeds feeds{{"x_ic", xi}, {"u_ic", ui}, {"x_b0", xb0}, {"x_b1", xb1}, {"x_r", xr}};

  PinnResult res;
  res.kernels = step.program().num_kernels();
  auto t0 = std::chrono::steady_clock::now();
  for (int s = 1; s <= cfg.steps; ++s) {
    double lr = adam->lr();
    auto r = step.run(feeds);
    if (s % log_every == 0 || s == cfg.steps || s == 1) {
      PinnLog lg{s, r.loss, r.extra[0].item(), r.extra[1].item(), r.extra[2].item(), r.extra[3].item(), lr};
      res.history.push_back(lg);
      if (on_log) on_log(lg);
    }
  }
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  // Evaluation on the test grid against the exact solution.
  res.reference = exact_solution(prob, cfg.test_nx, cfg.test_nt, 8192 / cfg.test_nx * cfg.test_nx);
  const int64_t n = static_cast<int64_t>(cfg.test_nx) * cfg.test_nt;
  Graph ge;
  Var xe = ge.input("x", {n, 2}, DType::f64);
  nn::MLP net_e(ge, "u", widths, nn::Activation::tanh, DType::f64);
  Var ce = ge.constant(Tensor::from<double>({2}, {L / 2, T / 2})), he = ge.constant(Tensor::from<double>({2}, {2 / L, 2 / T}));
  CompileOptions eo;
  eo.params = store;
  Program eval = compile(ge, {net_e((xe - ce) * he)}, cfg.device, eo);
  Tensor pts = Tensor::empty({n, 2}, DType::f64);
  for (int j = 0; j < cfg.test_nt; ++j)
    for (int i = 0; i < cfg.test_nx; ++i) {
      pts.data<double>()[2 * (j * cfg.test_nx + i)] = res.reference.x[i];
      pts.data<double>()[2 * (j * cfg.test_nx + i) + 1] = res.reference.t[j];
    }
  res.prediction = eval.run({{"x", pts}})[0].to_vector();
  res.rel_l2 = relative_l2(res.prediction, res.reference.u);
  return res;
}

}  // namespace orbit::pinn
