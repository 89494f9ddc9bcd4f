#include "models/diffusion/idem.h"

#include <algorithm>

#include <chrono>
#include <cmath>
#include <map>
#include <random>
#include <sstream>

#include "engine/io/json.h"
#include "engine/io/npy.h"
#include "engine/io/safetensors.h"
#include "engine/ops.h"
#include "engine/optim/checkpoint.h"
#include "engine/util/parse.h"
#include "engine/optim/schedule.h"
#include "engine/optim/train_step.h"
#include "engine/program.h"
#include "models/diffusion/dem_target.h"
#include "models/diffusion/score_model.h"

namespace orbit::diffusion {

// ---------------------------------------------------------------- configuration

IdemConfig IdemConfig::preset(const std::string& system, const std::string& preset) {
  ORBIT_CHECK(preset == "paper" || preset == "quick", "--preset must be paper or quick, got '", preset, "'");
  IdemConfig c;
  c.system = system;
  c.preset_name = preset;
  if (system == "gmm40") {
    c.sigma_min = 1e-5, c.sigma_max = 1.0, c.K = 500, c.clip = 70, c.lambda_h = true, c.lr = 5e-4, c.plateau = false;
    c.init_from_prior = false;
    c.layers = 3;
  } else if (system == "dw4") {
    c.sigma_min = 1e-5, c.sigma_max = 3, c.layers = 3;
  } else if (system == "lj13") {
    c.sigma_min = 0.01, c.sigma_max = 2, c.layers = 5, c.diffusion_scale = 0.9;
  } else if (system == "lj55") {
    c.sigma_min = 0.5, c.sigma_max = 4, c.layers = 5, c.K = 100, c.batch = 128, c.new_samples = 128;
    c.diffusion_scale = 0.5, c.epochs = 2000, c.val_every = 5, c.eval_n = 128, c.negative_time_steps = 10;
  } else {
    (void)systems::system_by_name(system);  // throws naming the known systems
  }
  if (preset == "quick") {
    // Sized for 2 CPU cores and a few minutes: a narrower network, fewer Monte-Carlo copies and SDE
    // steps, short epochs. The algorithm is unchanged.
    // The GMM keeps the paper's width and K and runs 300 epochs: its 2-D score target runs at the
    // CPU's vector width (kernels/cpu/isa/gmm_energy_body.inc), ~3 minutes on one core; 40 epochs
    // of a 64-wide network found 13 of the 40 modes (docs/idem.md).
    const bool gmm = system == "gmm40";
    c.hidden = gmm ? 128 : 32;
    c.K = std::min<int64_t>(c.K, gmm ? 500 : 100);
    c.batch = std::min<int64_t>(c.batch, 128);
    c.steps_per_epoch = 20;
    c.epochs = gmm ? 300 : 40;
    c.val_every = 5;
    c.new_samples = std::min<int64_t>(c.new_samples, 256);
    c.init_samples = 512;
    c.integration_steps = 100;
    c.eval_n = std::min<int64_t>(c.eval_n, 1000);
  }
  return c;
}

systems::System IdemConfig::target() const {
  return systems::system_by_name(system, {false, system == "gmm40"});
}

double IdemConfig::data_scale() const { return system == "gmm40" ? 50.0 : 1.0; }

void IdemConfig::validate() const {
  (void)target();
  GeometricSchedule check(sigma_min, sigma_max);
  (void)check;
  ORBIT_CHECK(hidden >= 1 && layers >= 1, "hidden and layers must be >= 1");
  ORBIT_CHECK(K >= 1 && batch >= 1 && steps_per_epoch >= 1 && epochs >= 0 && val_every >= 1, "K, batch, steps per epoch and val_every must be >= 1");
  ORBIT_CHECK(lr > 0 && std::isfinite(lr), "lr must be > 0, got ", lr);
  ORBIT_CHECK(buffer_max >= batch && init_samples >= 1 && new_samples >= 1, "the buffer must hold at least one batch");
  ORBIT_CHECK(integration_steps >= 1 && unroll >= 1, "integration steps and unroll must be >= 1");
  ORBIT_CHECK(diffusion_scale >= 0, "diffusion scale must be >= 0");
  ORBIT_CHECK(dtype == DType::f32 || dtype == DType::f64, "iDEM runs in f32 or f64");
}

std::string IdemConfig::json() const {
  std::ostringstream o;
  o.precision(10);
  o << "{\"system\": \"" << system << "\", \"preset\": \"" << preset_name << "\", \"hidden\": " << hidden
    << ", \"layers\": " << layers << ", \"sigma_min\": " << sigma_min << ", \"sigma_max\": " << sigma_max
    << ", \"K\": " << K << ", \"clip\": " << clip << ", \"lambda_h\": " << (lambda_h ? "true" : "false")
    << ", \"batch\": " << batch << ", \"lr\": " << lr << ", \"plateau\": " << (plateau ? "true" : "false")
    << ", \"grad_clip\": " << grad_clip << ", \"epochs\": " << epochs << ", \"steps_per_epoch\": " << steps_per_epoch
    << ", \"val_every\": " << val_every << ", \"use_buffer\": " << (use_buffer ? "true" : "false")
    << ", \"buffer_max\": " << buffer_max << ", \"init_samples\": " << init_samples
    << ", \"new_samples\": " << new_samples << ", \"init_from_prior\": " << (init_from_prior ? "true" : "false")
    << ", \"integration_steps\": " << integration_steps << ", \"diffusion_scale\": " << diffusion_scale
    << ", \"negative_time_steps\": " << negative_time_steps << ", \"negative_dt\": " << negative_dt
    << ", \"eval_n\": " << eval_n << ", \"seed\": " << seed << ", \"device\": \"" << device.str()
    << "\", \"dtype\": \"" << dtype_name(dtype) << "\"}";
  return o.str();
}

IdemConfig IdemConfig::from_json(const std::string& text, const std::string& what) {
  io::Json j = io::parse_json(text, what);
  ORBIT_CHECK(j.kind == io::Json::Kind::object, what, ": the configuration must be a JSON object");
  IdemConfig c;
  auto num = [&](const io::Json& v, const std::string& k) { return io::json_real(v, what + ": '" + k + "'"); };
  // Counts and sizes: integers written as such, in a range no setting needs to leave (validate() then
  // checks each setting's own bounds).
  auto count = [&](const io::Json& v, const std::string& k) {
    return io::json_int(v, 0, int64_t{1} << 40, what + ": '" + k + "'");
  };
  auto boolean = [&](const io::Json& v, const std::string& k) {
    ORBIT_CHECK(v.kind == io::Json::Kind::boolean, what, ": '", k, "' must be true or false");
    return v.boolean;
  };
  auto str = [&](const io::Json& v, const std::string& k) {
    ORBIT_CHECK(v.kind == io::Json::Kind::string, what, ": '", k, "' must be a string");
    return v.text;
  };
  for (auto& [k, v] : j.members) {
    if (k == "system") c.system = str(v, k);
    else if (k == "preset") c.preset_name = str(v, k);
    else if (k == "hidden") c.hidden = count(v, k);
    else if (k == "layers") c.layers = count(v, k);
    else if (k == "sigma_min") c.sigma_min = num(v, k);
    else if (k == "sigma_max") c.sigma_max = num(v, k);
    else if (k == "K") c.K = count(v, k);
    else if (k == "clip") c.clip = num(v, k);
    else if (k == "lambda_h") c.lambda_h = boolean(v, k);
    else if (k == "batch") c.batch = count(v, k);
    else if (k == "lr") c.lr = num(v, k);
    else if (k == "plateau") c.plateau = boolean(v, k);
    else if (k == "grad_clip") c.grad_clip = num(v, k);
    else if (k == "epochs") c.epochs = count(v, k);
    else if (k == "steps_per_epoch") c.steps_per_epoch = count(v, k);
    else if (k == "val_every") c.val_every = count(v, k);
    else if (k == "use_buffer") c.use_buffer = boolean(v, k);
    else if (k == "buffer_max") c.buffer_max = count(v, k);
    else if (k == "init_samples") c.init_samples = count(v, k);
    else if (k == "new_samples") c.new_samples = count(v, k);
    else if (k == "init_from_prior") c.init_from_prior = boolean(v, k);
    else if (k == "integration_steps") c.integration_steps = count(v, k);
    else if (k == "diffusion_scale") c.diffusion_scale = num(v, k);
    else if (k == "negative_time_steps") c.negative_time_steps = count(v, k);
    else if (k == "negative_dt") c.negative_dt = num(v, k);
    else if (k == "eval_n") c.eval_n = count(v, k);
    else if (k == "seed") c.seed = io::json_u64(v, what + ": 'seed'");
    else if (k == "device") c.device = Device::parse(str(v, k));
    else if (k == "dtype") {
      std::string d = str(v, k);
      ORBIT_CHECK(d == "f32" || d == "f64", what, ": dtype must be f32 or f64, got '", d, "'");
      c.dtype = d == "f32" ? DType::f32 : DType::f64;
    } else {
      throw Error(detail::cat(what, ": unknown iDEM setting '", k, "'"));
    }
  }
  c.validate();
  return c;
}

IdemConfig read_checkpoint_config(const std::string& path) {
  std::map<std::string, Tensor> tensors;
  std::map<std::string, std::string> meta;
  read_safetensors(path, tensors, meta);
  ORBIT_CHECK(meta.count("kind") && meta.at("kind") == "orbit-idem" && meta.count("config"), "'", path,
              "' is not an orbit iDEM checkpoint (no iDEM configuration in its metadata)");
  return IdemConfig::from_json(meta.at("config"), "'" + path + "' configuration");
}

// ---------------------------------------------------------------- the run

namespace {

// The dense EGNN path on every device: with the fused message-passing op (egnn_message) it overtook
// the edge-list path the CPU used before (quick preset, one core, 2026-11-27: DW4 40 epochs 18.5 vs
// 20.4 s, LJ13 3 epochs 14.4 vs 24.1 s).
ScoreNet build_net(Graph& g, const IdemConfig& c, const systems::System& s) {
  return build_score_net(g, "score", s, c.hidden, c.layers, c.dtype, /*sparse=*/false);
}

// Per-particle (molecules) or whole-vector norm clipping in graph ops: v min(1, m / (|v| + 1e-6)).
Var clip_norm(const systems::System& s, Var v, double m) {
  const int64_t group = s.is_molecule() ? s.dim : s.flat_dim();
  Var r = reshape(v, {-1, s.flat_dim() / group, group});
  Var nrm = sqrt(sum(square(r), {2}, true));
  Var f = minimum(m / (nrm + 1e-6), full(*v.graph(), 1.0, Shape({}), v.dtype()));
  return reshape(r * f, {-1, s.flat_dim()});
}

int64_t gcd64(int64_t a, int64_t b) { return b == 0 ? a : gcd64(b, a % b); }

// n draws of the prior N(0, sd^2 I) ([n, D] f64, sample units), mean-free for particle systems.
Tensor prior_draws(const systems::System& s, int64_t n, double sd, std::mt19937_64& rng) {
  const int64_t D = s.flat_dim();
  std::normal_distribution<double> n01;
  Tensor x = Tensor::empty(Shape({n, D}), DType::f64);
  double* p = x.data<double>();
  for (int64_t i = 0; i < n * D; ++i) p[i] = sd * n01(rng);
  if (s.is_molecule())
    for (int64_t b = 0; b < n; ++b)
      for (int k = 0; k < s.dim; ++k) {
        double mu = 0;
        for (int i = 0; i < s.n_particles; ++i) mu += p[b * D + i * s.dim + k] / s.n_particles;
        for (int i = 0; i < s.n_particles; ++i) p[b * D + i * s.dim + k] -= mu;
      }
  return x;
}

}  // namespace

struct Idem::Impl {
  systems::System sys;
  GeometricSchedule sched;
  std::shared_ptr<optim::Optimizer> opt;
  std::shared_ptr<optim::LrSchedule> lr;
  std::unique_ptr<optim::TrainStep> step;
  std::map<std::pair<int64_t, bool>, std::unique_ptr<Program>> samplers;
  std::map<int64_t, std::unique_ptr<Program>> negative_time;  // by batch size
  std::vector<double> buffer;  // ring of up to buffer_max configurations
  int64_t buf_size = 0, buf_next = 0;
  std::mt19937_64 rng;
  double epoch_loss_sum = 0;
  int64_t epoch_loss_count = 0;
};

Idem::Idem(const IdemConfig& cfg) : cfg_(cfg), store_(std::make_shared<ParamStore>()), impl_(std::make_unique<Impl>()) {
  cfg_.validate();
  Impl& m = *impl_;
  m.sys = cfg_.target();
  m.sched = GeometricSchedule(cfg_.sigma_min, cfg_.sigma_max);
  m.rng.seed(cfg_.seed);
  const int64_t D = m.sys.flat_dim();

  Graph g;
  ScoreNet net = build_net(g, cfg_, m.sys);
  net.init(*store_, cfg_.seed);
  if (!cfg_.device.is_cpu())
    for (auto& name : store_->names()) store_->set(name, store_->get(name).to(cfg_.device));

  // The training loss: x_t = x_0 + sqrt(h(t)) eps, t ~ U(0, 1); regress the clipped DEM target.
  Var x0 = g.input("x0", Shape({cfg_.batch, D}), cfg_.dtype);
  Var t = random_uniform(g, Shape({cfg_.batch, 1}), cfg_.seed, cfg_.dtype);
  Var h = m.sched.h(t);
  Var sigma = sqrt(h);
  Var xt = center(m.sys, x0 + sigma * center(m.sys, random_normal(g, Shape({cfg_.batch, D}), cfg_.seed, cfg_.dtype)));
  Var target = dem_score_target(m.sys, xt, sigma, cfg_.K, cfg_.seed, cfg_.clip);
  Var per_point = mean(square(net(t, xt) - target), {1}, true);
  Var loss = cfg_.lambda_h ? mean((h + 1e-3) * per_point) : mean(per_point);
  if (cfg_.plateau) m.lr = std::make_shared<optim::ReduceOnPlateau>(cfg_.lr, 0.1, 10);
  else m.lr = std::make_shared<optim::ConstantLr>(cfg_.lr);
  m.opt = std::make_shared<optim::Adam>(m.lr);
  m.opt->set_clip_norm(cfg_.grad_clip);
  m.step = std::make_unique<optim::TrainStep>(g, loss, net.params(), store_, m.opt, cfg_.device);
}

Idem::~Idem() = default;

Tensor Idem::buffer() const {
  const int64_t D = impl_->sys.flat_dim();
  std::vector<double> v(impl_->buffer.begin(), impl_->buffer.begin() + impl_->buf_size * D);
  return Tensor::from(Shape({impl_->buf_size, D}), v);
}

Tensor Idem::sample(int64_t n, uint64_t seed, bool mc_score) {
  ORBIT_CHECK(n >= 1, "number of samples must be >= 1, got ", n);
  Impl& m = *impl_;
  const int64_t D = m.sys.flat_dim(), N = cfg_.integration_steps, U = gcd64(cfg_.unroll, N);
  const double dt = 1.0 / static_cast<double>(N);
  auto key = std::make_pair(n, mc_score);
  if (!m.samplers.count(key)) {
    // U Euler-Maruyama steps of the reverse SDE from time t (fed): x <- x + g^2 s dt + lambda g sqrt(dt) z.
    Graph g;
    ScoreNet net = build_net(g, cfg_, m.sys);
    Var x = g.input("x", Shape({n, D}), cfg_.dtype);
    Var t = g.input("t", Shape({n, 1}), cfg_.dtype);
    for (int64_t k = 0; k < U; ++k) {
      Var tk = t - static_cast<double>(k) * dt;
      Var gk = m.sched.g(tk);
      Var score = mc_score ? dem_score_target(m.sys, x, sqrt(m.sched.h(tk)), cfg_.K, cfg_.seed + 7, cfg_.clip)
                           : net(tk, x);
      Var noise = random_normal(g, Shape({n, D}), cfg_.seed + 11, cfg_.dtype);
      x = center(m.sys, x + (square(gk) * dt) * score + (cfg_.diffusion_scale * std::sqrt(dt)) * gk * noise);
    }
    CompileOptions o;
    o.params = store_;
    m.samplers[key] = std::make_unique<Program>(compile(g, {x}, cfg_.device, o));
  }
  Program& p = *m.samplers[key];
  p.set_run_index(seed * 1000003ull);
  std::mt19937_64 rng(seed ^ 0xa0761d6478bd642full);
  Tensor x = prior_draws(m.sys, n, m.sched.prior_std(), rng);
  Tensor xd = x.cast(cfg_.dtype).to(cfg_.device);
  for (int64_t i = 0; i < N; i += U) {
    Tensor t = Tensor::full(Shape({n, 1}), 1.0 - static_cast<double>(i) * dt, cfg_.dtype);
    xd = p.run({{"x", xd}, {"t", t.to(cfg_.device)}})[0];
  }
  if (cfg_.negative_time_steps > 0) {
    // LJ55's negative time: x <- x + dt clip(-grad E(x)), mean removed (gradient descent on E).
    if (!m.negative_time.count(n)) {
      Graph g;
      Var xi = g.input("x", Shape({n, D}), cfg_.dtype);
      Var y = xi;
      for (int64_t k = 0; k < cfg_.negative_time_steps; ++k) {
        Var grad_e = systems::energy_op(m.sys, y, systems::EnergyOutput::grad);
        y = center(m.sys, y + cfg_.negative_dt * clip_norm(m.sys, -grad_e, cfg_.clip > 0 ? cfg_.clip : 1e30));
      }
      m.negative_time[n] = std::make_unique<Program>(compile(g, {y}, cfg_.device));
    }
    xd = m.negative_time[n]->run({{"x", xd}})[0];
  }
  Tensor out = xd.to(Device::cpu()).cast(DType::f64);
  if (cfg_.data_scale() != 1.0)
    for (int64_t i = 0; i < out.numel(); ++i) out.data<double>()[i] *= cfg_.data_scale();
  return out;
}

namespace {
void push(Idem::Impl& m, const Tensor& x_sample_units, int64_t cap) {
  const int64_t D = m.sys.flat_dim(), n = x_sample_units.shape()[0];
  if (m.buffer.empty()) m.buffer.assign(static_cast<size_t>(cap * D), 0.0);
  const double* src = x_sample_units.data<double>();
  for (int64_t i = 0; i < n; ++i) {
    // Non-finite samples (a diverged SDE path) are not stored.
    bool ok = true;
    for (int64_t k = 0; k < D; ++k) ok = ok && std::isfinite(src[i * D + k]);
    if (!ok) continue;
    std::copy(src + i * D, src + (i + 1) * D, m.buffer.begin() + m.buf_next * D);
    m.buf_next = (m.buf_next + 1) % cap;
    m.buf_size = std::min(m.buf_size + 1, cap);
  }
}
}  // namespace

void Idem::train(const std::function<bool(const IdemEpoch&)>& on_epoch) {
  Impl& m = *impl_;
  const int64_t D = m.sys.flat_dim(), B = cfg_.batch;
  const double unscale = 1.0 / cfg_.data_scale();
  auto to_sample_units = [&](Tensor x) {
    if (unscale != 1.0)
      for (int64_t i = 0; i < x.numel(); ++i) x.data<double>()[i] *= unscale;
    return x;
  };
  if (cfg_.use_buffer && m.buf_size == 0) {
    // Molecules: prior draws; GMM: the reverse SDE driven by the Monte-Carlo target itself.
    Tensor init = cfg_.init_from_prior ? prior_draws(m.sys, cfg_.init_samples, m.sched.prior_std(), m.rng)
                                       : to_sample_units(sample(cfg_.init_samples, cfg_.seed + 1, /*mc_score=*/true));
    push(m, init, cfg_.buffer_max);
  }
  while (epoch_ < cfg_.epochs) {
    auto t0 = std::chrono::steady_clock::now();
    // The host draws of an epoch (buffer rows, pDEM prior points) depend on (seed, epoch) only, so a
    // resumed run repeats an uninterrupted one exactly.
    m.rng.seed(cfg_.seed * 0x9e3779b97f4a7c15ull + static_cast<uint64_t>(epoch_) + 1);
    double loss_sum = 0, gn = 0;
    for (int64_t s = 0; s < cfg_.steps_per_epoch; ++s) {
      Tensor x0 = Tensor::empty(Shape({B, D}), DType::f64);
      if (cfg_.use_buffer) {
        std::uniform_int_distribution<int64_t> pick(0, m.buf_size - 1);
        for (int64_t b = 0; b < B; ++b) {
          int64_t r = pick(m.rng);
          std::copy(m.buffer.begin() + r * D, m.buffer.begin() + (r + 1) * D, x0.data<double>() + b * D);
        }
      } else {
        x0 = prior_draws(m.sys, B, m.sched.prior_std(), m.rng);  // pDEM
      }
      auto r = m.step->run({{"x0", x0.cast(cfg_.dtype).to(cfg_.device)}});
      loss_sum += r.loss;
      gn = r.grad_norm;
    }
    if (cfg_.use_buffer)
      push(m, to_sample_units(sample(cfg_.new_samples, cfg_.seed + 1000 + static_cast<uint64_t>(epoch_))), cfg_.buffer_max);
    const double loss = loss_sum / cfg_.steps_per_epoch;
    m.epoch_loss_sum += loss;
    ++m.epoch_loss_count;
    if ((epoch_ + 1) % cfg_.val_every == 0) {
      m.lr->observe(m.epoch_loss_sum / m.epoch_loss_count);
      m.epoch_loss_sum = 0;
      m.epoch_loss_count = 0;
    }
    IdemEpoch e;
    e.epoch = epoch_ + 1;
    e.step = m.opt->steps();
    e.loss = loss;
    e.lr = m.opt->lr();
    e.grad_norm = gn;
    e.buffer_size = m.buf_size;
    e.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    // The epoch is complete before the callback sees it: a checkpoint saved from the callback resumes
    // with the next epoch (it used to record this one as not done, so a resumed run repeated it).
    ++epoch_;
    if (on_epoch && !on_epoch(e)) break;
  }
}

void Idem::save(const std::string& path) const {
  optim::CheckpointState st;
  st.params = store_.get();
  st.optimizer = impl_->opt.get();
  st.run_index = impl_->step->program().run_index();
  st.meta["config"] = cfg_.json();
  st.meta["epoch"] = std::to_string(epoch_);
  st.meta["buffer_next"] = std::to_string(impl_->buf_next);
  std::ostringstream acc;
  acc.precision(17);
  acc << impl_->epoch_loss_sum;
  st.meta["plateau_loss_sum"] = acc.str();
  st.meta["plateau_loss_count"] = std::to_string(impl_->epoch_loss_count);
  st.meta["kind"] = "orbit-idem";
  // The replay buffer in the same file: one atomic write, so a run killed at any moment resumes
  // with the buffer of the epoch its weights come from.
  st.extra["buffer"] = buffer();
  optim::save_checkpoint(path, st);
}

void Idem::load(const std::string& path) {
  optim::CheckpointState st;
  st.params = store_.get();
  st.optimizer = impl_->opt.get();
  optim::load_checkpoint(path, st);
  ORBIT_CHECK(st.meta.count("kind") && st.meta.at("kind") == "orbit-idem", "'", path, "' is not an orbit iDEM checkpoint");
  impl_->step->program().set_run_index(st.run_index);
  ORBIT_CHECK(st.meta.count("epoch") && st.meta.count("buffer_next") && st.meta.count("plateau_loss_sum") &&
                  st.meta.count("plateau_loss_count"),
              "'", path, "' lacks the iDEM loop state (epoch, buffer position, plateau accumulator)");
  // Hostile or damaged metadata is named, never used as an index.
  auto integer = [&](const char* key, int64_t lo, int64_t hi) {
    const std::string& text = st.meta.at(key);
    int64_t v = 0;
    ORBIT_CHECK(util::parse_int64(text, v) && v >= lo && v <= hi, "'", path, "': ", key, " '", text,
                "' is not an integer in [", lo, ", ", hi, "]");
    return v;
  };
  epoch_ = integer("epoch", 0, INT64_MAX);
  impl_->epoch_loss_count = integer("plateau_loss_count", 0, INT64_MAX);
  const int64_t buffer_next = integer("buffer_next", 0, cfg_.buffer_max - 1);
  const std::string& loss_sum = st.meta.at("plateau_loss_sum");
  ORBIT_CHECK(util::parse_double(loss_sum, impl_->epoch_loss_sum) && std::isfinite(impl_->epoch_loss_sum), "'", path,
              "': plateau_loss_sum '", loss_sum, "' is not a finite number");
  // Checkpoints before 2026-11-28 kept the buffer beside the file, in path + ".buffer.npy".
  const bool inside = st.extra.count("buffer") > 0;
  const std::string where = inside ? "'" + path + "' extra/buffer" : "'" + path + ".buffer.npy'";
  Tensor buf = inside ? st.extra.at("buffer") : read_npy(path + ".buffer.npy");
  const int64_t D = impl_->sys.flat_dim();
  ORBIT_CHECK(buf.rank() == 2 && buf.shape()[1] == D && buf.shape()[0] <= cfg_.buffer_max,
              where, " has shape ", buf.shape().str(), ", expected [<= ", cfg_.buffer_max, ", ", D, "]");
  impl_->buffer.assign(static_cast<size_t>(cfg_.buffer_max * D), 0.0);
  std::vector<double> v = buf.cast(DType::f64).to_vector();
  ORBIT_CHECK(std::all_of(v.begin(), v.end(), [](double x) { return std::isfinite(x); }), where,
              " holds non-finite values");
  std::copy(v.begin(), v.end(), impl_->buffer.begin());
  impl_->buf_size = buf.shape()[0];
  impl_->buf_next = buffer_next;
  if (!cfg_.device.is_cpu())
    for (auto& name : store_->names()) store_->set(name, store_->get(name).to(cfg_.device));
}

}  // namespace orbit::diffusion
