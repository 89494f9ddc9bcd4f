// orbit_bench: a registry of benchmark workloads, one C++ file each (bench/wl_*.cpp), timed the same
// way on every device (warm-up, then `repeat` timed runs over rotated inputs, medians reported) and
// written as JSON. With --exchange DIR each measured case also writes its inputs, its outputs and a
// meta.json into DIR/<case>/, from which the PyTorch peer of the workload (bench/peers/<workload>.py)
// computes the same thing, checks agreement and times itself (bench/run.sh runs both back to back).
//
// Adding a workload: one file bench/wl_NAME.cpp with
//   static void run_name(orbit::bench::Context& ctx) { ... ctx.measure(...); ctx.record(c); }
//   ORBIT_BENCH_WORKLOAD(name, 50, "what it measures", run_name)
// and one peer module bench/peers/NAME.py (see bench/README.md).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "engine/device.h"
#include "engine/tensor.h"

namespace orbit::bench {

// tiny: seconds in total (the ctest); cpu: CPU-sized; full: the GPU sizes of ../shared/bench/torch_anchors.py.
enum class Size { tiny, cpu, full };
const char* size_name(Size s);

struct Options {
  Device device = Device::cpu();
  Size size = Size::cpu;
  int repeat = 10;  // timed runs per case
  int warmup = 3;   // untimed runs first
  double case_budget_s = 10;  // fewer timed runs (at least 3) for cases slower than this allows
  std::string exchange;  // "" : do not write peer files
  std::string only_case;  // run only cases whose name contains this ("" : all)
};

// A tiny JSON object builder (keys in insertion order; values already encoded).
class JsonObject {
 public:
  JsonObject& set(const std::string& key, const std::string& value);  // a string
  JsonObject& set(const std::string& key, const char* value) { return set(key, std::string(value)); }
  JsonObject& set(const std::string& key, double value);
  JsonObject& set(const std::string& key, int64_t value);
  JsonObject& set(const std::string& key, int value) { return set(key, static_cast<int64_t>(value)); }
  JsonObject& set(const std::string& key, bool value);
  JsonObject& set_raw(const std::string& key, const std::string& json);  // any encoded JSON value
  JsonObject& set(const std::string& key, const std::vector<int64_t>& values);
  JsonObject& set(const std::string& key, const std::vector<double>& values);
  JsonObject& set(const std::string& key, const std::vector<std::string>& values);
  std::string str(int indent = -1) const;  // indent < 0: one line
  bool empty() const { return members_.empty(); }

 private:
  std::vector<std::pair<std::string, std::string>> members_;
};
std::string json_string(const std::string& s);
std::string json_number(double v);  // null for NaN/inf

// One measured row of the table.
struct Case {
  std::string workload;  // registry name, e.g. "energy"
  std::string name;      // unique row id, e.g. "energy_lj55_B65536"
  std::string label;     // short text for the table
  std::vector<double> times_ms;
  double median_ms = 0, min_ms = 0;
  int rotations = 1;          // distinct input buffers cycled through
  double flops = 0;           // cost model for the "fraction of the card's limit" column (0: none)
  double bytes = 0;           //   minimal memory traffic (0: none)
  double work = 0;            // throughput numerator, e.g. pair terms (0: none)
  std::string work_unit;      // e.g. "pair terms"
  std::string where;          // device the orbit side ran on when it differs from --device, e.g. "cpu"
  JsonObject extra;           // anything else worth keeping (kernels, planned memory, ...)
  std::string peer;           // the peer's case kind in bench/peers/<workload>.py ("" : no peer)
  JsonObject peer_args;       // what the peer needs besides the exchanged arrays
  double tolerance = 0;       // agreement threshold on the peer's relative error
};

class Context {
 public:
  explicit Context(Options o) : opt_(std::move(o)) {}
  const Options& options() const { return opt_; }
  Device device() const { return opt_.device; }
  bool cuda() const { return opt_.device.is_cuda(); }
  Size size() const { return opt_.size; }
  // Picks one of three values by --size.
  template <class T>
  T pick(T tiny, T cpu, T full) const {
    return opt_.size == Size::tiny ? tiny : opt_.size == Size::cpu ? cpu : full;
  }
  // Whether a case named `name` is wanted (--case filter).
  bool wants(const std::string& name) const;

  // How many distinct input buffers of `bytes` each to cycle through so that the set does not fit
  // in the last-level cache (1 for inputs much larger than it, at most 8).
  int rotations_for(double bytes) const;

  // Warm-up, then options().repeat timed calls of body(rep % rotations): CUDA events on the legacy
  // default stream (which orbit's program streams and copies are ordered with) on the GPU,
  // steady_clock on the CPU. Fills times_ms, median_ms, min_ms and rotations of c.
  void measure(Case& c, int rotations, const std::function<void(int)>& body, Device where) const;
  void measure(Case& c, int rotations, const std::function<void(int)>& body) const {
    measure(c, rotations, body, opt_.device);
  }

  // The exchange folder of a case (created), or "" when --exchange is not set.
  std::string case_dir(const Case& c) const;
  // Writes t (copied to the host) as DIR/<case>/<file>.npy when exchanging.
  void save(const Case& c, const std::string& file, const Tensor& t) const;
  // Adds the case to the results, prints its line, and writes DIR/<case>/meta.json when exchanging.
  void record(Case c);
  const std::vector<Case>& results() const { return results_; }

 private:
  Options opt_;
  std::vector<Case> results_;
};

struct Workload {
  std::string name;
  int order = 100;  // position in "all" (machine ceilings first)
  std::string summary;
  std::function<void(Context&)> run;
};
bool register_workload(Workload w);
std::vector<Workload> workloads();  // sorted by order, then name

// Helpers shared by the workload files.
// Input r of a rotated set: x with its leading axis rolled by r (row i of the result is row
// (i - r) mod n of x), on `dev`. Both sides build their rotated inputs this way.
Tensor rolled(const Tensor& x, int r, Device dev);
// f32 tensors with seeded values (host).
Tensor randn_f32(const Shape& shape, uint64_t seed, double scale = 1);
Tensor rand_f32(const Shape& shape, uint64_t seed, double lo = 0, double hi = 1);
int omp_threads();
std::string device_description(Device d);

}  // namespace orbit::bench

#define ORBIT_BENCH_CAT2(a, b) a##b
#define ORBIT_BENCH_CAT(a, b) ORBIT_BENCH_CAT2(a, b)
// ORBIT_BENCH_WORKLOAD(name, order, "summary", function): registers a workload at start-up.
#define ORBIT_BENCH_WORKLOAD(NAME, ORDER, SUMMARY, FN)                                                   \
  static const bool ORBIT_BENCH_CAT(orbit_bench_registered_, NAME) =                                  \
      ::orbit::bench::register_workload(::orbit::bench::Workload{#NAME, ORDER, SUMMARY, FN});
