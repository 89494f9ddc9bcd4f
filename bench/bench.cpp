// orbit_bench's driver: the workload registry, timing, JSON and the command line.
#include "bench/bench.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <exception>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "engine/error.h"
#include "kernels/cpu/isa.h"
#include "engine/io/npy.h"
#include "engine/version.h"
#include "kernels/scalar/random.h"

#if defined(_OPENMP)
#include <omp.h>
#endif
#if defined(ORBIT_WITH_CUDA)
#include <cuda_runtime.h>
#endif

namespace orbit::bench {

const char* size_name(Size s) {
  switch (s) {
    case Size::tiny: return "tiny";
    case Size::cpu: return "cpu";
    case Size::full: return "full";
  }
  return "?";
}

// ---------------------------------------------------------------- JSON
std::string json_string(const std::string& s) {
  std::string o = "\"";
  for (unsigned char ch : s) {
    switch (ch) {
      case '"': o += "\\\""; break;
      case '\\': o += "\\\\"; break;
      case '\n': o += "\\n"; break;
      case '\t': o += "\\t"; break;
      case '\r': o += "\\r"; break;
      default:
        if (ch < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", ch);
          o += buf;
        } else {
          o += static_cast<char>(ch);
        }
    }
  }
  return o + "\"";
}

std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

JsonObject& JsonObject::set_raw(const std::string& key, const std::string& json) {
  for (auto& [k, v] : members_)
    if (k == key) {
      v = json;
      return *this;
    }
  members_.emplace_back(key, json);
  return *this;
}
JsonObject& JsonObject::set(const std::string& key, const std::string& value) { return set_raw(key, json_string(value)); }
JsonObject& JsonObject::set(const std::string& key, double value) { return set_raw(key, json_number(value)); }
JsonObject& JsonObject::set(const std::string& key, int64_t value) { return set_raw(key, std::to_string(value)); }
JsonObject& JsonObject::set(const std::string& key, bool value) { return set_raw(key, value ? "true" : "false"); }
JsonObject& JsonObject::set(const std::string& key, const std::vector<int64_t>& values) {
  std::string s = "[";
  for (size_t i = 0; i < values.size(); ++i) s += (i ? ", " : "") + std::to_string(values[i]);
  return set_raw(key, s + "]");
}
JsonObject& JsonObject::set(const std::string& key, const std::vector<double>& values) {
  std::string s = "[";
  for (size_t i = 0; i < values.size(); ++i) s += (i ? ", " : "") + json_number(values[i]);
  return set_raw(key, s + "]");
}
JsonObject& JsonObject::set(const std::string& key, const std::vector<std::string>& values) {
  std::string s = "[";
  for (size_t i = 0; i < values.size(); ++i) s += (i ? ", " : "") + json_string(values[i]);
  return set_raw(key, s + "]");
}

std::string JsonObject::str(int indent) const {
  if (members_.empty()) return "{}";
  std::string pad = indent >= 0 ? "\n" + std::string(static_cast<size_t>(indent) + 2, ' ') : "";
  std::string end = indent >= 0 ? "\n" + std::string(static_cast<size_t>(indent), ' ') : "";
  std::string o = "{";
  for (size_t i = 0; i < members_.size(); ++i)
    o += (i ? "," : "") + pad + json_string(members_[i].first) + ": " + members_[i].second;
  return o + end + "}";
}

// ---------------------------------------------------------------- registry
namespace {
std::vector<Workload>& registry() {
  static std::vector<Workload> r;
  return r;
}
}  // namespace

bool register_workload(Workload w) {
  registry().push_back(std::move(w));
  return true;
}

std::vector<Workload> workloads() {
  auto r = registry();
  std::sort(r.begin(), r.end(), [](const Workload& a, const Workload& b) {
    return a.order != b.order ? a.order < b.order : a.name < b.name;
  });
  return r;
}

// ---------------------------------------------------------------- helpers
int omp_threads() {
#if defined(_OPENMP)
  return omp_get_max_threads();
#else
  return 1;
#endif
}

std::string device_description(Device d) {
#if defined(ORBIT_WITH_CUDA)
  if (d.is_cuda()) {
    cudaDeviceProp p{};
    if (cudaGetDeviceProperties(&p, d.index) == cudaSuccess)
      return std::string(p.name) + " (" + std::to_string(p.multiProcessorCount) + " SMs, " +
             std::to_string(p.totalGlobalMem >> 30) + " GiB)";
    return "CUDA device " + std::to_string(d.index);
  }
#endif
  std::string model = "unknown CPU";
  std::ifstream f("/proc/cpuinfo");
  for (std::string line; std::getline(f, line);)
    if (line.rfind("model name", 0) == 0) {
      auto p = line.find(':');
      if (p != std::string::npos) model = line.substr(p + 2);
      break;
    }
  return model + " (" + std::to_string(std::thread::hardware_concurrency()) + " hardware threads, " +
         cpu::isa_name(cpu::active_isa()) + " kernels)";
}

namespace {
std::string loadavg() {
  std::ifstream f("/proc/loadavg");
  std::string a, b, c;
  if (f >> a >> b >> c) return a + " " + b + " " + c;
  return "unknown";
}
}  // namespace

Tensor rolled(const Tensor& x, int r, Device dev) {
  Tensor h = x.device().is_cpu() ? x : x.to(Device::cpu());
  if (r == 0) return dev.is_cpu() ? h.clone() : h.to(dev);
  const int64_t n = h.rank() == 0 ? 1 : h.shape()[0];
  const size_t row = n == 0 ? 0 : h.nbytes() / static_cast<size_t>(n);
  Tensor o = Tensor::empty(h.shape(), h.dtype());
  const int64_t s = ((r % n) + n) % n;
  auto* src = static_cast<const char*>(h.raw());
  auto* dst = static_cast<char*>(o.raw());
  // o[i] = h[(i - s) mod n]: o[s..n) = h[0..n-s), o[0..s) = h[n-s..n)
  std::memcpy(dst + s * row, src, static_cast<size_t>(n - s) * row);
  std::memcpy(dst, src + (n - s) * row, static_cast<size_t>(s) * row);
  return dev.is_cpu() ? o : o.to(dev);
}

// Counter-based (Philox, kernels/scalar/random.h): element i depends only on (seed, i), so the fill is
// parallel and the values do not depend on the thread count.
Tensor randn_f32(const Shape& shape, uint64_t seed, double scale) {
  Tensor t = Tensor::empty(shape, DType::f32);
  float* p = t.data<float>();
  const int64_t n = t.numel();
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i)
    p[i] = static_cast<float>(scale * scalar::random_normal<double>(seed, 7, 0, static_cast<uint64_t>(i)));
  return t;
}

Tensor rand_f32(const Shape& shape, uint64_t seed, double lo, double hi) {
  Tensor t = Tensor::empty(shape, DType::f32);
  float* p = t.data<float>();
  const int64_t n = t.numel();
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i)
    p[i] = static_cast<float>(lo + (hi - lo) * scalar::random_uniform<double>(seed, 7, 0, static_cast<uint64_t>(i)));
  return t;
}

// ---------------------------------------------------------------- Context
bool Context::wants(const std::string& name) const {
  return opt_.only_case.empty() || name.find(opt_.only_case) != std::string::npos;
}

int Context::rotations_for(double bytes) const {
  const double target = (cuda() ? 256.0 : 64.0) * (1 << 20);  // well past an H100's 50 MB L2 / a CPU's L3
  int r = bytes <= 0 ? 1 : static_cast<int>(std::ceil(target / bytes));
  r = std::clamp(r, 1, 8);
  if (opt_.size == Size::tiny) r = std::min(r, 2);
  return r;
}

void Context::measure(Case& c, int rotations, const std::function<void(int)>& body, Device where) const {
  rotations = std::max(1, rotations);
  c.rotations = rotations;
  c.times_ms.clear();
  int call = 0;
  auto w0 = std::chrono::steady_clock::now();
  for (int w = 0; w < opt_.warmup; ++w) body(call++ % rotations);
#if defined(ORBIT_WITH_CUDA)
  if (where.is_cuda()) cudaDeviceSynchronize();
#endif
  // Slow cases (seconds per call) get fewer timed runs, at least 3, so one case stays within the budget.
  int repeat = opt_.repeat;
  if (opt_.warmup > 0) {
    const double per_call = std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count() / opt_.warmup;
    if (per_call * repeat > opt_.case_budget_s)
      repeat = std::max(std::min(3, opt_.repeat), static_cast<int>(opt_.case_budget_s / per_call));
  }
#if defined(ORBIT_WITH_CUDA)
  if (where.is_cuda()) {
    cudaEvent_t start, stop;
    ORBIT_CHECK(cudaEventCreate(&start) == cudaSuccess && cudaEventCreate(&stop) == cudaSuccess,
                "orbit_bench: cudaEventCreate failed");
    ORBIT_CHECK(cudaDeviceSynchronize() == cudaSuccess, "orbit_bench: a CUDA error before timing ", c.name);
    for (int r = 0; r < repeat; ++r) {
      cudaEventRecord(start, 0);  // the legacy stream: program streams are blocking streams, ordered with it
      body(call++ % rotations);
      cudaEventRecord(stop, 0);
      ORBIT_CHECK(cudaEventSynchronize(stop) == cudaSuccess, "orbit_bench: CUDA error while timing ", c.name);
      float ms = 0;
      cudaEventElapsedTime(&ms, start, stop);
      c.times_ms.push_back(ms);
    }
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
  }
#endif
  if (!where.is_cuda()) {
    for (int r = 0; r < repeat; ++r) {
      auto t0 = std::chrono::steady_clock::now();
      body(call++ % rotations);
      auto t1 = std::chrono::steady_clock::now();
      c.times_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    }
  }
  std::vector<double> s = c.times_ms;
  std::sort(s.begin(), s.end());
  const size_t n = s.size();
  c.median_ms = n == 0 ? 0 : (n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]));
  c.min_ms = n == 0 ? 0 : s.front();
}

std::string Context::case_dir(const Case& c) const {
  if (opt_.exchange.empty()) return "";
  std::filesystem::path p = std::filesystem::path(opt_.exchange) / c.name;
  std::filesystem::create_directories(p);
  return p.string();
}

void Context::save(const Case& c, const std::string& file, const Tensor& t) const {
  if (opt_.exchange.empty()) return;
  write_npy(case_dir(c) + "/" + file + ".npy", t.device().is_cpu() ? t : t.to(Device::cpu()));
}

void Context::record(Case c) {
  std::string rate;
  if (c.work > 0 && c.median_ms > 0) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "  %.4g %s/s", c.work / (c.median_ms * 1e-3), c.work_unit.c_str());
    rate = buf;
  }
  std::printf("  %-44s median %11.4f ms  min %11.4f ms  (x%d inputs)%s%s\n", c.name.c_str(), c.median_ms, c.min_ms,
              c.rotations, rate.c_str(), c.where.empty() ? "" : ("  [orbit on " + c.where + "]").c_str());
  std::fflush(stdout);
  if (!opt_.exchange.empty() && !c.peer.empty()) {
    JsonObject m;
    m.set("workload", c.workload).set("case", c.name).set("label", c.label).set("peer", c.peer);
    m.set_raw("args", c.peer_args.str());
    m.set("tolerance", c.tolerance).set("rotations", c.rotations).set("repeat", opt_.repeat);
    m.set("warmup", opt_.warmup).set("device", opt_.device.is_cuda() ? "cuda" : "cpu");
    m.set("orbit_median_ms", c.median_ms);
    std::ofstream f(case_dir(c) + "/meta.json");
    f << m.str(0) << "\n";
    ORBIT_CHECK(f.good(), "orbit_bench: cannot write ", case_dir(c), "/meta.json");
  }
  results_.push_back(std::move(c));
}

}  // namespace orbit::bench

// ---------------------------------------------------------------- main
namespace {

using namespace orbit;
using namespace orbit::bench;

void usage(std::FILE* f) {
  std::fprintf(f,
               "usage: orbit_bench [--workload NAME[,NAME...]|all] [--device cpu|cuda|auto] [--size tiny|cpu|full]\n"
               "                   [--repeat N] [--warmup N] [--json FILE] [--exchange DIR] [--case SUBSTR] [--list] [--which-device]\n"
               "  --size      default: full on cuda, cpu on cpu (tiny: a few seconds, for the test suite)\n"
               "  --exchange  write each case's inputs, outputs and meta.json into DIR/<case>/ for the PyTorch peers\n"
               "  (bench/run.sh runs orbit_bench and the peers together and prints the comparison table)\n"
               "workloads:\n");
  for (auto& w : workloads()) std::fprintf(f, "  %-10s %s\n", w.name.c_str(), w.summary.c_str());
}

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

int parse_int(const std::string& opt, const std::string& v, int lo, int hi) {
  char* end = nullptr;
  long x = std::strtol(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || x < lo || x > hi)
    throw std::runtime_error("--" + opt + " expects an integer in [" + std::to_string(lo) + ", " +
                             std::to_string(hi) + "], got '" + v + "'");
  return static_cast<int>(x);
}

int run_main(int argc, char** argv) {
  std::map<std::string, std::string> a;
  for (int i = 1; i < argc; ++i) {
    std::string w = argv[i];
    if (w == "--help" || w == "-h") {
      usage(stdout);
      return 0;
    }
    if (w == "--which-device") {  // what --device SPEC resolves to on this machine (for bench/run.sh)
      a["which"] = "1";
      continue;
    }
    if (w == "--list") {
      a["list"] = "1";
      continue;
    }
    static const char* known[] = {"workload", "device", "size", "repeat", "warmup", "json", "exchange", "case"};
    bool ok = false;
    for (const char* k : known)
      if (w == std::string("--") + k) ok = true;
    if (!ok) throw std::runtime_error("unknown option '" + w + "' (see --help)");
    if (i + 1 >= argc) throw std::runtime_error(w + " needs a value");
    if (a.count(w.substr(2))) throw std::runtime_error(w + " given twice");
    a[w.substr(2)] = argv[++i];
  }
  if (a.count("list")) {
    for (auto& w : workloads()) std::printf("%s\n", w.name.c_str());
    return 0;
  }
  Options o;
  o.device = Device::parse(a.count("device") ? a["device"] : "auto");
  if (a.count("which")) {
    std::printf("%s\n", o.device.is_cuda() ? "cuda" : "cpu");
    return 0;
  }
  std::string size = a.count("size") ? a["size"] : (o.device.is_cuda() ? "full" : "cpu");
  if (size == "tiny") o.size = Size::tiny;
  else if (size == "cpu") o.size = Size::cpu;
  else if (size == "full") o.size = Size::full;
  else throw std::runtime_error("--size expects tiny, cpu or full, got '" + size + "'");
  o.repeat = a.count("repeat") ? parse_int("repeat", a["repeat"], 1, 100000) : (o.size == Size::tiny ? 2 : 10);
  o.warmup = a.count("warmup") ? parse_int("warmup", a["warmup"], 0, 1000) : (o.size == Size::tiny ? 1 : 3);
  if (a.count("exchange")) o.exchange = a["exchange"];
  if (a.count("case")) o.only_case = a["case"];

  std::vector<Workload> todo;
  std::string sel = a.count("workload") ? a["workload"] : "all";
  auto all = workloads();
  if (sel == "all") {
    todo = all;
  } else {
    std::stringstream ss(sel);
    for (std::string name; std::getline(ss, name, ',');) {
      auto it = std::find_if(all.begin(), all.end(), [&](const Workload& w) { return w.name == name; });
      if (it == all.end()) {
        std::string names;
        for (auto& w : all) names += (names.empty() ? "" : ", ") + w.name;
        throw std::runtime_error("unknown workload '" + name + "' (known: " + names + ", all)");
      }
      todo.push_back(*it);
    }
  }

  const std::string dev_text = device_description(o.device);
  const std::string load0 = loadavg();
  std::printf("orbit_bench %s on %s (%s), size %s, %d warm-up + %d timed runs, %d OpenMP threads, load %s\n",
              orbit::version(), o.device.str().c_str(), dev_text.c_str(), size_name(o.size), o.warmup, o.repeat,
              omp_threads(), load0.c_str());
  std::fflush(stdout);
  const std::string started = utc_now();
  Context ctx(o);
  for (auto& w : todo) {
    std::printf("%s: %s\n", w.name.c_str(), w.summary.c_str());
    std::fflush(stdout);
    w.run(ctx);
  }

  if (a.count("json")) {
    std::string rows = "[";
    for (size_t i = 0; i < ctx.results().size(); ++i) {
      const Case& c = ctx.results()[i];
      JsonObject r;
      r.set("workload", c.workload).set("case", c.name).set("label", c.label);
      r.set("median_ms", c.median_ms).set("min_ms", c.min_ms).set("times_ms", c.times_ms);
      r.set("rotations", c.rotations).set("flops", c.flops).set("bytes", c.bytes);
      r.set("work", c.work).set("work_unit", c.work_unit);
      r.set("orbit_device", c.where.empty() ? (o.device.is_cuda() ? "cuda" : "cpu") : c.where);
      r.set("peer", c.peer).set_raw("extra", c.extra.str());
      rows += (i ? ",\n  " : "\n  ") + r.str();
    }
    rows += ctx.results().empty() ? "]" : "\n ]";
    JsonObject top;
    top.set("tool", "orbit_bench").set("orbit_version", orbit::version());
    top.set("device", o.device.is_cuda() ? "cuda" : "cpu").set("device_name", dev_text);
    top.set("size", size_name(o.size)).set("repeat", o.repeat).set("warmup", o.warmup);
    top.set("threads", omp_threads()).set("started", started).set("finished", utc_now());
    top.set("loadavg_start", load0).set("loadavg_end", loadavg());
    top.set_raw("results", rows);
    std::ofstream f(a["json"]);
    f << top.str(0) << "\n";
    if (!f.good()) throw std::runtime_error("cannot write " + a["json"]);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run_main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "orbit_bench: %s\n", e.what());
    return 1;
  }
}
