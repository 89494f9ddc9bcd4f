#include "models/diffusion/cfm.h"

#include "kernels/scalar/random.h"

#include <cmath>
#include <cstdio>
#include <optional>
#include <random>
#include <sstream>

#include "engine/autodiff.h"
#include "engine/io/crc32.h"
#include "engine/io/json.h"
#include "engine/io/safetensors.h"
#include "engine/optim/checkpoint.h"
#include "engine/ops.h"
#include "engine/optim/schedule.h"
#include "engine/optim/train_step.h"
#include "engine/program.h"
#include "engine/util/hash.h"
#include "models/diffusion/ode_batch_cache.h"
#include "models/diffusion/score_model.h"

namespace orbit::diffusion {

namespace {
OdeOptions ode_options(const CfmConfig& c) {
  OdeOptions o;
  o.solver = c.ode_solver;
  o.steps = c.ode_steps;
  o.atol = o.rtol = c.ode_tol;
  o.max_nfe = c.ode_max_nfe;
  return o;
}
}  // namespace

CfmConfig CfmConfig::preset(const std::string& system, const std::string& preset) {
  ORBIT_CHECK(preset == "paper" || preset == "quick", "--preset must be paper or quick, got '", preset, "'");
  CfmConfig c;
  c.system = system;
  const systems::System s = systems::system_by_name(system);  // throws naming the known systems
  // iDEM's cfm_prior_std: DW4 2, LJ13 2, LJ55 1, GMM 50 (original units; 1 in normalised units).
  c.prior_std = system == "gmm40" ? 1.0 : system == "lj55" ? 1.0 : 2.0;
  c.layers = s.is_molecule() ? (system == "dw4" ? 3 : 5) : 3;
  c.hutchinson = system == "lj55";
  if (preset == "paper") {
    c.hidden = 128;
    c.batch = 512;
    c.steps = 20000;
    c.ode_steps = 100;  // when rk4 is asked for
    c.ode_solver = "dopri5";  // iDEM's likelihood: dopri5 at atol = rtol = 1e-5 (LJ55: 1e-3)
    c.ode_tol = system == "lj55" ? 1e-3 : 1e-5;
  } else {
    c.hidden = system == "gmm40" ? 64 : 32;
    c.batch = 256;
    c.steps = 1500;
    c.ode_steps = 40;
  }
  return c;
}

void CfmConfig::validate() const {
  (void)systems::system_by_name(system);
  ORBIT_CHECK(hidden >= 1 && layers >= 1 && batch >= 1 && steps >= 0, "bad CFM sizes");
  ode_options(*this).validate();
  ORBIT_CHECK(prior_std > 0 && lr > 0, "CFM prior std and lr must be > 0");
}

std::string CfmConfig::training_json() const {
  std::ostringstream o;
  o.precision(17);
  o << "{\"system\": " << io::json_quote(system) << ", \"hidden\": " << hidden << ", \"layers\": " << layers
    << ", \"prior_std\": " << prior_std << ", \"batch\": " << batch << ", \"steps\": " << steps << ", \"lr\": " << lr
    << ", \"seed\": " << seed << "}";
  return o.str();
}

struct Cfm::Impl {
  systems::System sys;  // original units
  double scale = 1;     // sample units = original / scale
  int64_t steps_done = 0;
  std::mt19937_64 pick_rng;  // draws the training rows; part of the checkpoint
  std::string data_id;       // fingerprint of the training samples (empty before training or loading)
  std::unique_ptr<optim::TrainStep> step;
  std::shared_ptr<optim::Optimizer> opt;
  std::map<int64_t, std::unique_ptr<Program>> field;  // by batch size: (v, div) at (t, z)
  std::optional<OdeBatchCache> eval_cache;             // set_eval_cache()
};

Cfm::Cfm(const CfmConfig& cfg) : cfg_(cfg), store_(std::make_shared<ParamStore>()), impl_(std::make_unique<Impl>()) {
  cfg_.validate();
  impl_->sys = systems::system_by_name(cfg_.system);
  impl_->scale = cfg_.system == "gmm40" ? 50.0 : 1.0;
  const systems::System& s = impl_->sys;
  const int64_t D = s.flat_dim(), B = cfg_.batch;
  Graph g;
  // Training: the dense EGNN path with the fused message op on every device (LJ13 paper preset, batch
  // 512, two threads: 0.85 -> 0.61 s a step against the edge-list path; docs/cpu.md).
  ScoreNet net = build_score_net(g, "flow", s, cfg_.hidden, cfg_.layers, DType::f32, false);
  net.init(*store_, cfg_.seed);
  if (!cfg_.device.is_cpu())
    for (auto& name : store_->names()) store_->set(name, store_->get(name).to(cfg_.device));
  impl_->pick_rng.seed(cfg_.seed + 17);
  Var x1 = g.input("x1", Shape({B, D}));
  Var t = random_uniform(g, Shape({B, 1}), cfg_.seed);
  Var x0 = center(s, cfg_.prior_std * random_normal(g, Shape({B, D}), cfg_.seed));
  Var xt = (1.0 - t) * x0 + t * x1;
  Var loss = mean(square(net(t, xt) - (x1 - x0)));
  impl_->opt = std::make_shared<optim::Adam>(std::make_shared<optim::CosineLr>(cfg_.lr, std::max<int64_t>(cfg_.steps, 1)));
  impl_->step = std::make_unique<optim::TrainStep>(g, loss, net.params(), store_, impl_->opt, cfg_.device);
}

Cfm::~Cfm() = default;

namespace {
// Rows of x in sample units, mean-removed for particle systems, as f64.
Tensor to_sample_units(const systems::System& s, const Tensor& x, double scale) {
  Tensor y = x.cast(DType::f64).clone();
  double* p = y.data<double>();
  const int64_t n = y.shape()[0], D = s.flat_dim();
  for (int64_t i = 0; i < y.numel(); ++i) p[i] /= scale;
  if (s.is_molecule())
    for (int64_t b = 0; b < n; ++b)
      for (int k = 0; k < s.dim; ++k) {
        double m = 0;
        for (int i = 0; i < s.n_particles; ++i) m += p[b * D + i * s.dim + k] / s.n_particles;
        for (int i = 0; i < s.n_particles; ++i) p[b * D + i * s.dim + k] -= m;
      }
  return y;
}
}  // namespace

namespace {
// Identifies a training set: its row count and the CRC-32 of its f64 values (a resumed or reused flow
// must see the samples it was trained on).
std::string data_fingerprint(const Tensor& samples) {
  Tensor d = samples.cast(DType::f64);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%lld rows, crc32 %08x", static_cast<long long>(d.shape()[0]),
                static_cast<unsigned>(io::crc32(d.data<double>(), static_cast<size_t>(d.numel()) * sizeof(double))));
  return buf;
}
}  // namespace

int64_t Cfm::steps_done() const { return impl_->steps_done; }

std::string Cfm::check_training_samples(const Tensor& samples) const {
  systems::check_configurations(impl_->sys, samples, "the CFM training samples");
  ORBIT_CHECK(samples.rank() == 2 && samples.shape()[0] >= 2, "the CFM needs at least 2 training samples");
  const std::string id = data_fingerprint(samples);
  ORBIT_CHECK(impl_->data_id.empty() || impl_->data_id == id, "this flow was trained on other samples (",
              impl_->data_id, ") than the ones given (", id, ")");
  return id;
}

void Cfm::train(const Tensor& samples, const TrainHooks& hooks) {
  const systems::System& s = impl_->sys;
  ORBIT_CHECK(hooks.log_every >= 1 && hooks.checkpoint_every >= 0,
              "CFM training: log_every must be >= 1, checkpoint_every >= 0");
  impl_->data_id = check_training_samples(samples);
  Tensor data = to_sample_units(s, samples, impl_->scale);
  const int64_t N = data.shape()[0], D = s.flat_dim(), B = cfg_.batch;
  std::uniform_int_distribution<int64_t> pick(0, N - 1);
  double acc = 0;
  int64_t cnt = 0;
  for (int64_t k = impl_->steps_done + 1; k <= cfg_.steps; ++k) {
    Tensor x1 = Tensor::empty(Shape({B, D}), DType::f32);
    for (int64_t b = 0; b < B; ++b) {
      const int64_t r = pick(impl_->pick_rng);
      for (int64_t j = 0; j < D; ++j) x1.data<float>()[b * D + j] = static_cast<float>(data.data<double>()[r * D + j]);
    }
    acc += impl_->step->run({{"x1", x1.to(cfg_.device)}}).loss;
    ++cnt;
    impl_->steps_done = k;
    const bool stop = hooks.stop && hooks.stop();
    if (hooks.on_step && (k % hooks.log_every == 0 || k == cfg_.steps || stop)) {
      hooks.on_step(k, acc / cnt);
      acc = 0;
      cnt = 0;
    }
    if (hooks.on_checkpoint &&
        ((hooks.checkpoint_every > 0 && k % hooks.checkpoint_every == 0) || k == cfg_.steps || stop))
      hooks.on_checkpoint(k);
    if (stop) return;
  }
}

void Cfm::save(const std::string& path) const {
  optim::CheckpointState st;
  st.params = store_.get();
  st.optimizer = impl_->opt.get();
  st.run_index = impl_->step->program().run_index();
  st.meta["kind"] = "orbit-cfm";
  st.meta["config"] = cfg_.training_json();
  st.meta["steps_done"] = std::to_string(impl_->steps_done);
  st.meta["data"] = impl_->data_id;
  std::ostringstream rng;
  rng << impl_->pick_rng;
  st.meta["pick_rng"] = rng.str();
  optim::save_checkpoint(path, st);
}

void Cfm::load(const std::string& path) {
  // The metadata first, so a checkpoint of another kind or configuration is named as such (not as a
  // parameter of the wrong shape); then the state.
  std::map<std::string, std::string> head;
  {
    std::map<std::string, Tensor> tensors;
    read_safetensors(path, tensors, head);
  }
  auto meta = [&](const char* key) -> const std::string& {
    auto it = head.find(key);
    ORBIT_CHECK(it != head.end(), "'", path, "' is not an orbit flow (CFM) checkpoint: no '", key, "' in its metadata");
    return it->second;
  };
  ORBIT_CHECK(meta("kind") == "orbit-cfm", "'", path, "' is not an orbit flow (CFM) checkpoint (kind '", meta("kind"), "')");
  const std::string& stored = meta("config");
  const std::string mine = cfg_.training_json();
  if (stored != mine) {
    const io::Json a = io::parse_json(stored, "'" + path + "' config"), b = io::parse_json(mine, "the flow config");
    ORBIT_CHECK(a.kind == io::Json::Kind::object, "'", path, "': its config is not a JSON object");
    for (const auto& [k, v] : b.members) {
      const io::Json* w = a.find(k);
      ORBIT_CHECK(w != nullptr, "'", path, "' has no '", k, "' in its training configuration");
      ORBIT_CHECK(w->text == v.text, "'", path, "' was trained with ", k, " ", w->text, ", this run asks for ", v.text,
                  " (pass the same --preset and overrides, or another --flow file)");
    }
    ORBIT_CHECK(false, "'", path, "' has a different training configuration: ", stored);
  }
  uint64_t done = 0;
  const io::Json dj = io::parse_json(meta("steps_done"), "'" + path + "' steps_done");
  ORBIT_CHECK(io::json_uint(dj, static_cast<uint64_t>(cfg_.steps), done), "'", path, "': steps_done '",
              meta("steps_done"), "' is not an integer in [0, ", cfg_.steps, "]");
  std::istringstream rng(meta("pick_rng"));
  std::mt19937_64 r;
  rng >> r;
  ORBIT_CHECK(!rng.fail(), "'", path, "': its row-sampling RNG state is unreadable");
  optim::CheckpointState st;  // the state last, once the metadata is known good
  st.params = store_.get();
  st.optimizer = impl_->opt.get();
  optim::load_checkpoint(path, st);
  impl_->pick_rng = r;
  impl_->steps_done = static_cast<int64_t>(done);
  impl_->data_id = meta("data");
  impl_->step->program().set_run_index(st.run_index);
  impl_->field.clear();  // field programs compiled before the load may hold the old weights: recompiled
  if (!cfg_.device.is_cpu())
    for (auto& name : store_->names()) store_->set(name, store_->get(name).to(cfg_.device));
}

namespace {

// The program giving the velocity and its divergence at (t, z) for a batch of B points.
Program& field_program(Cfm::Impl& m, const CfmConfig& c, const std::shared_ptr<ParamStore>& store, int64_t B) {
  auto it = m.field.find(B);
  if (it != m.field.end()) return *it->second;
  const systems::System& s = m.sys;
  const int64_t D = s.flat_dim();
  Graph g;
  // The field and its divergence: the edge-list path on the CPU. The divergence is D reverse passes
  // (one with Hutchinson), and the fused message op's VJP recomputes the edges' forward in each, where
  // the expanded graph computes it once (LJ13, exact trace: 19.0 vs 26.3 s for 8 rows; Hutchinson 5.9
  // vs 6.7 s for 32). Same parameters either way: a flow trained on one path evaluates on the other.
  ScoreNet net = build_score_net(g, "flow", s, c.hidden, c.layers, DType::f32, c.device.is_cpu());
  Var z = g.input("z", Shape({B, D}));
  Var t = g.input("t", Shape({B, 1}));
  Var v = net(t, z);
  Var div;
  if (c.hutchinson) {
    // The probe is an input, drawn once per integration (as FFJORD does): a probe redrawn at every
    // evaluation would make the field noisy, which an adaptive solver reads as error.
    Var eps = center(s, g.input("eps", Shape({B, D})));
    Var jt_eps = grad(sum(v * eps), {z})[0];
    div = sum(jt_eps * eps, {1}, true);
  } else {
    for (int64_t i = 0; i < D; ++i) {
      Var gi = grad(sum(slice(v, 1, i, i + 1)), {z})[0];
      Var term = slice(gi, 1, i, i + 1);
      div = div.valid() ? div + term : term;
    }
  }
  CompileOptions o;
  o.params = store;
  auto p = std::make_unique<Program>(compile(g, {v, div}, c.device, o));
  Program& ref = *p;
  m.field[B] = std::move(p);
  return ref;
}

// Integrates dz/dt = v, da/dt = div v from t0 to t1; z: [B, D] f64 in place; returns a(t1) - a(t0)
// per point. progress(t) after every step. `probe_stream` picks the Hutchinson probe of this
// integration (one per batch).
std::vector<double> integrate(Cfm::Impl& m, const CfmConfig& c, const std::shared_ptr<ParamStore>& store, Tensor& z,
                              double t0, double t1, const std::function<void(double)>& progress, OdeStats& stats,
                              uint64_t probe_stream) {
  const int64_t B = z.shape()[0], D = z.shape()[1];
  Program& p = field_program(m, c, store, B);
  Tensor eps;
  if (c.hutchinson) {
    eps = Tensor::empty(Shape({B, D}), DType::f32);
    for (int64_t i = 0; i < B * D; ++i)
      eps.data<float>()[i] = scalar::random_normal<float>(c.seed + 3, probe_stream, 0, static_cast<uint64_t>(i));
    eps = eps.to(c.device);
  }
  // The state: the points (B * D), then the accumulated divergence (B).
  auto field = [&](double t, const std::vector<double>& y, std::vector<double>& dy) {
    Tensor zt = Tensor::empty(Shape({B, D}), DType::f32);
    for (int64_t i = 0; i < B * D; ++i) zt.data<float>()[i] = static_cast<float>(y[i]);
    Feeds in{{"z", zt.to(c.device)}, {"t", Tensor::full(Shape({B, 1}), t, DType::f32).to(c.device)}};
    if (c.hutchinson) in.emplace_back("eps", eps);
    auto out = p.run(in);
    const std::vector<double> v = out[0].to_vector(), d = out[1].to_vector();
    dy.resize(static_cast<size_t>(B * D + B));
    std::copy(v.begin(), v.end(), dy.begin());
    std::copy(d.begin(), d.end(), dy.begin() + B * D);
  };
  std::vector<double> y = z.to_vector();
  y.resize(static_cast<size_t>(B * D + B), 0.0);
  const std::vector<double> y0 = y;
  OdeStats st;
  try {
    st = integrate_ode(field, y, t0, t1, {B * D, B}, ode_options(c), progress);
  } catch (const OdeBudgetExceeded& e) {
    // As iDEM does, a batch the adaptive solver cannot finish within its budget is integrated again
    // with fixed steps (here RK4 with ode_steps), so one stiff row does not lose the whole evaluation.
    std::fprintf(stderr, "orbit: warning: %s; integrating these %lld rows again with %lld RK4 steps\n", e.what(),
                 static_cast<long long>(B), static_cast<long long>(c.ode_steps));
    stats += e.stats;
    ++stats.fallbacks;
    OdeOptions rk = ode_options(c);
    rk.solver = "rk4";
    y = y0;
    st = integrate_ode(field, y, t0, t1, {B * D, B}, rk, progress);
  }
  stats += st;
  std::copy(y.begin(), y.begin() + B * D, z.data<double>());
  return std::vector<double>(y.begin() + B * D, y.end());
}

// Progress of an integration as whole units per batch: RK4 steps, or thousandths of the interval for
// the adaptive solver (whose step count is not known in advance).
int64_t progress_units(const CfmConfig& c) { return c.ode_solver == "rk4" ? c.ode_steps : 1000; }
int64_t progress_done(const CfmConfig& c, double t, double t0, double t1) {
  return std::llround(static_cast<double>(progress_units(c)) * std::abs(t - t0) / std::abs(t1 - t0));
}

// What an integrated batch depends on besides its input rows, as the evaluation cache's key: the
// weights (a hash of every parameter's name and bytes), the training configuration, the ODE settings
// (the RK4 fallback's steps too), the direction and the batch's probe stream.
std::string batch_key_prefix(const CfmConfig& c, const ParamStore& store, double t0, double t1) {
  uint64_t h = util::kFnv1aOffset;
  for (const std::string& name : store.names()) {
    const Tensor w = store.get(name).to(Device::cpu());
    h = util::fnv1a(name, h);
    h = util::fnv1a(w.raw(), w.nbytes(), h);
  }
  std::ostringstream o;
  o.precision(17);
  o << "orbit-cfm-ode weights " << std::hex << h << std::dec << " training " << c.training_json() << " solver "
    << c.ode_solver << " steps " << c.ode_steps << " tol " << c.ode_tol << " max_nfe " << c.ode_max_nfe
    << " hutchinson " << c.hutchinson << " t0 " << t0 << " t1 " << t1;
  return o.str();
}

// integrate() over the rows of z ([N, D] f64, in place), `batch` rows at a time (each batch its own
// probe stream, probe_base + its first row); returns the accumulated divergence of every row.
// progress(done, total) in progress_units() per batch. With an evaluation cache, batches found there
// are taken from it and every batch integrated here is kept in it.
std::vector<double> integrate_rows(Cfm::Impl& m, const CfmConfig& c, const std::shared_ptr<ParamStore>& store, Tensor& z,
                                   double t0, double t1, int64_t batch, const Cfm::ProgressFn& progress, OdeStats& stats,
                                   uint64_t probe_base) {
  ORBIT_CHECK(batch >= 1, "the ODE batch must be >= 1, got ", batch);
  const int64_t N = z.shape()[0], D = z.shape()[1];
  const int64_t units = progress_units(c), total = (N + batch - 1) / batch * units;
  if (progress) progress(0, total);  // a bar opened here times the first step too
  const std::string key_prefix = m.eval_cache ? batch_key_prefix(c, *store, t0, t1) : std::string();
  std::vector<double> a(static_cast<size_t>(N));
  for (int64_t off = 0; off < N; off += batch) {
    const int64_t B = std::min(batch, N - off), base = off / batch * units;
    const uint64_t probe = probe_base + static_cast<uint64_t>(off);
    Tensor zb = Tensor::empty(Shape({B, D}), DType::f64);
    std::copy(z.data<double>() + off * D, z.data<double>() + (off + B) * D, zb.data<double>());
    const std::string key = m.eval_cache ? key_prefix + " probe " + std::to_string(probe) : std::string();
    std::optional<OdeBatch> done;
    if (m.eval_cache) done = m.eval_cache->find(key, zb);
    if (done) {
      ++done->stats.cached;
      if (progress) progress(base + units, total);
    } else {
      const Tensor z_in = m.eval_cache ? zb.clone() : Tensor();
      OdeBatch r;
      r.a = integrate(m, c, store, zb, t0, t1, [&](double t) {
        if (progress) progress(base + progress_done(c, t, t0, t1), total);
      }, r.stats, probe);
      r.z = zb;
      if (m.eval_cache) m.eval_cache->store(key, z_in, r);
      done = std::move(r);
    }
    stats += done->stats;
    std::copy(done->z.data<double>(), done->z.data<double>() + B * D, z.data<double>() + off * D);
    std::copy(done->a.begin(), done->a.end(), a.begin() + off);
  }
  return a;
}

// log N(z; 0, s^2) on the sample space (mean-free subspace for particle systems) of each row.
std::vector<double> prior_logp(const systems::System& s, const Tensor& z, double sd) {
  const int64_t B = z.shape()[0], D = z.shape()[1];
  const double dof = s.is_molecule() ? static_cast<double>((s.n_particles - 1) * s.dim) : static_cast<double>(D);
  std::vector<double> out(B);
  for (int64_t b = 0; b < B; ++b) {
    double r2 = 0;
    for (int64_t j = 0; j < D; ++j) r2 += z.data<double>()[b * D + j] * z.data<double>()[b * D + j];
    out[b] = -0.5 * r2 / (sd * sd) - 0.5 * dof * std::log(2 * M_PI * sd * sd);
  }
  return out;
}

}  // namespace

void Cfm::set_eval_cache(const std::string& dir) {
  if (dir.empty())
    impl_->eval_cache.reset();
  else
    impl_->eval_cache.emplace(dir);
}

CfmLikelihood Cfm::nll(const Tensor& x, int64_t batch, const ProgressFn& progress) {
  const systems::System& s = impl_->sys;
  systems::check_configurations(s, x, "the configurations");
  Tensor data = to_sample_units(s, x.rank() == 1 ? x.reshaped(Shape({1, s.flat_dim()})) : x, impl_->scale);
  const int64_t N = data.shape()[0], D = s.flat_dim();
  // Densities in sample units -> original units: the Jacobian of x = scale * y over the free dimensions.
  const double dof = s.is_molecule() ? static_cast<double>((s.n_particles - 1) * s.dim) : static_cast<double>(D);
  const double unit = dof * std::log(impl_->scale);
  CfmLikelihood r;
  r.nll = Tensor::empty(Shape({N}), DType::f64);
  // From data (t = 1) to the prior (t = 0): a = int_1^0 div = -int_0^1 div.
  // data (a fresh copy in sample units) is integrated in place.
  const std::vector<double> a = integrate_rows(*impl_, cfg_, store_, data, 1.0, 0.0, batch, progress, r.ode, 0);
  const std::vector<double> lp = prior_logp(s, data, cfg_.prior_std);
  for (int64_t b = 0; b < N; ++b) r.nll.data<double>()[b] = -(lp[b] + a[b]) + unit;
  std::vector<double> v = r.nll.to_vector();
  double m = 0, q = 0;
  for (double u : v) m += u / N;
  for (double u : v) q += (u - m) * (u - m);
  r.mean = m;
  r.stderr_ = N > 1 ? std::sqrt(q / (N - 1) / N) : 0;
  return r;
}

void Cfm::sample(int64_t n, uint64_t seed, Tensor& x, std::vector<double>& log_q, const ProgressFn& progress,
                 OdeStats* stats, int64_t batch) {
  ORBIT_CHECK(n >= 1, "number of samples must be >= 1");
  const systems::System& s = impl_->sys;
  const int64_t D = s.flat_dim();
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> n01;
  Tensor z = Tensor::empty(Shape({n, D}), DType::f64);
  for (int64_t i = 0; i < n * D; ++i) z.data<double>()[i] = cfg_.prior_std * n01(rng);
  z = to_sample_units(s, z, 1.0);  // mean-free
  std::vector<double> lp0 = prior_logp(s, z, cfg_.prior_std);
  OdeStats st;
  // a = int_0^1 div; a probe stream of its own, apart from nll()'s.
  const std::vector<double> a = integrate_rows(*impl_, cfg_, store_, z, 0.0, 1.0, batch, progress, st, uint64_t{1} << 62);
  if (stats) *stats = st;
  const double dof = s.is_molecule() ? static_cast<double>((s.n_particles - 1) * s.dim) : static_cast<double>(D);
  x = z;
  for (int64_t i = 0; i < x.numel(); ++i) x.data<double>()[i] *= impl_->scale;
  log_q.resize(n);
  for (int64_t b = 0; b < n; ++b) log_q[b] = lp0[b] - a[b] - dof * std::log(impl_->scale);
}

CfmImportance importance_weights(const systems::System& s, const Tensor& x, const std::vector<double>& log_q) {
  const int64_t n = static_cast<int64_t>(log_q.size());
  ORBIT_CHECK(x.rank() == 2 && x.shape()[0] == n, "importance_weights: ", n, " log densities for configurations of shape ",
              x.shape().str());
  std::vector<double> e = systems::energies(s, x).to_vector(), logw(static_cast<size_t>(n));
  double mx = -INFINITY, mean = 0;
  int64_t finite = 0;
  for (int64_t b = 0; b < n; ++b) {
    logw[b] = -e[b] - log_q[b];
    if (std::isfinite(logw[b])) {
      mx = std::max(mx, logw[b]);
      mean += logw[b];
      ++finite;
    }
  }
  CfmImportance r;
  r.n = n;
  ORBIT_CHECK(finite > 0, "no finite importance weight among ", n, " configurations");
  r.log_z = mean / finite;
  double z1 = 0, z2 = 0;
  for (double lw : logw)
    if (std::isfinite(lw)) {
      const double w = std::exp(lw - mx);
      z1 += w;
      z2 += w * w;
    }
  r.ess = z1 * z1 / z2 / n;
  r.x = x;
  r.log_w = std::move(logw);
  return r;
}

CfmImportance Cfm::importance(int64_t n, uint64_t seed, const ProgressFn& progress, int64_t batch) {
  Tensor x;
  std::vector<double> log_q;
  OdeStats st;
  sample(n, seed, x, log_q, progress, &st, batch);
  CfmImportance r = importance_weights(impl_->sys, x, log_q);
  r.ode = st;
  return r;
}

CfmImportance Cfm::weigh(const Tensor& x, int64_t batch, const ProgressFn& progress) {
  Tensor x2 = (x.rank() == 1 ? x.reshaped(Shape({1, impl_->sys.flat_dim()})) : x).cast(DType::f64);
  CfmLikelihood l = nll(x2, batch, progress);
  std::vector<double> log_q = l.nll.to_vector();
  for (double& v : log_q) v = -v;
  CfmImportance r = importance_weights(impl_->sys, x2, log_q);
  r.ode = l.ode;
  return r;
}

Tensor importance_resample(const Tensor& x, const std::vector<double>& log_w, int64_t n, uint64_t seed) {
  ORBIT_CHECK(x.rank() == 2 && x.shape()[0] == static_cast<int64_t>(log_w.size()), "importance_resample: ",
              log_w.size(), " weights for samples of shape ", x.shape().str());
  ORBIT_CHECK(n >= 1, "importance_resample: n must be >= 1, got ", n);
  double mx = -INFINITY;
  for (double lw : log_w)
    if (std::isfinite(lw)) mx = std::max(mx, lw);
  ORBIT_CHECK(std::isfinite(mx), "importance_resample: no finite importance weight among ", log_w.size(), " samples");
  std::vector<double> cdf(log_w.size());
  double total = 0;
  for (size_t i = 0; i < log_w.size(); ++i) {
    total += std::isfinite(log_w[i]) ? std::exp(log_w[i] - mx) : 0.0;
    cdf[i] = total;
  }
  const double u0 = scalar::random_uniform<double>(seed, 0, 0, 0);  // in [0, 1)
  const int64_t D = x.shape()[1];
  Tensor xd = x.cast(DType::f64);
  std::vector<double> src = xd.to_vector(), out(static_cast<size_t>(n * D));
  size_t j = 0;
  for (int64_t k = 0; k < n; ++k) {
    const double target = (static_cast<double>(k) + u0) / static_cast<double>(n) * total;
    while (j + 1 < cdf.size() && cdf[j] <= target) ++j;
    std::copy(src.begin() + static_cast<int64_t>(j) * D, src.begin() + static_cast<int64_t>(j + 1) * D,
              out.begin() + k * D);
  }
  return Tensor::from(Shape({n, D}), out);
}

}  // namespace orbit::diffusion
