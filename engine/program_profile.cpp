// Per-kernel timing of a compiled Program (ORBIT_PROFILE=1 or Program::enable_profile()).
//
// Every run brackets each kernel with a timestamp: a CUDA event recorded on the program's stream on
// the GPU (so a kernel's time includes any idle gap before it, which is how a launch-bound program
// shows itself), the wall clock on the CPU. The totals are reported by op, by kind of kernel (op, shape,
// dtype, fused group) and by kernel; the report
// goes to stderr when the last copy of the program is destroyed. The first timed run is kept out of
// the totals when later runs exist: it pays one-time costs (first touch of the arena's pages, library
// and module loading) that made a CPU PINN step's profile show 111 ms per run against a 73 ms median.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>

#include "engine/backend_hooks.h"
#include "engine/fused.h"
#include "engine/op_registry.h"
#include "engine/program.h"

namespace orbit {

struct Program::Profile {
  std::string device;
  void* stream = nullptr;
  std::vector<std::string> op, label;  // per step: op name; "%id name shape dtype"
  std::vector<std::string> kind;       // per step: "op shape dtype [fused ops]", the same for repeated work
  std::vector<double> total_ms;         // per step, summed over runs
  std::vector<void*> events;            // CUDA: steps + 1
  std::vector<std::chrono::steady_clock::time_point> stamps;  // CPU: steps + 1
  int runs = 0;              // runs in total_ms
  double first_run_ms = -1;  // the first run's kernel time, until a second run replaces it in the totals
  std::vector<double> first_ms;
  std::vector<double> block_ms;  // per step: a row-blocked kernel's time over this run's blocks
  bool marked = false;

  ~Profile() {
    if (runs > 0 || first_run_ms >= 0) std::cerr << report();
    for (void* e : events) backend_hooks().cuda_event_destroy(e);
  }

  std::string report() const {
    std::ostringstream os;
    // With a single run, that run (one-time costs included) is all there is to show.
    const std::vector<double>& tot = runs ? total_ms : first_ms;
    const int n = runs ? runs : (first_ms.empty() ? 0 : 1);
    double sum = 0;
    for (double t : tot) sum += t;
    const double per_run = n ? sum / n : 0;
    os << "== orbit profile: program on " << device << ", " << op.size() << " kernels, " << n << " runs, "
       << std::fixed << std::setprecision(3) << per_run << " ms per run (kernel time"
       << (stream ? " incl. idle gaps before each kernel" : "") << ")";
    if (runs && first_run_ms >= 0) os << "; the first run, not included: " << first_run_ms << " ms";
    if (!runs && n) os << "; its only run, one-time costs included";
    os << "\n";
    if (!n) return os.str();
    // Kernel time and count per key (op name, or kind), largest time first.
    struct Total {
      double ms = 0;
      int kernels = 0;
      std::string key;
    };
    auto totals = [&](const std::vector<std::string>& keys) {
      std::map<std::string, Total> by;
      for (size_t k = 0; k < keys.size(); ++k) {
        Total& t = by[keys[k]];
        t.ms += tot[k];
        t.kernels += 1;
        t.key = keys[k];
      }
      std::vector<Total> v;
      for (auto& [key, t] : by) v.push_back(t);
      std::sort(v.begin(), v.end(), [](const Total& x, const Total& y) { return x.ms > y.ms || (x.ms == y.ms && x.key > y.key); });
      return v;
    };
    os << "by op (ms per run, share, kernels):\n";
    for (const Total& t : totals(op))
      os << "  " << std::left << std::setw(22) << t.key << std::right << std::setw(10) << t.ms / n << "  "
         << std::setw(5) << std::setprecision(1) << (sum > 0 ? 100 * t.ms / sum : 0) << "%  " << t.kernels << "\n"
         << std::setprecision(3);
    // Kernels of one kind (op, shape, dtype, fused group): a program of many repeated passes (a
    // divergence as D reverse sweeps, unrolled steps) spreads its time over hundreds of them.
    const std::vector<Total> kinds = totals(kind);
    os << "by kind (ms per run, share, kernels):\n";
    for (size_t j = 0; j < std::min<size_t>(kinds.size(), 25); ++j)
      os << "  " << std::setw(9) << kinds[j].ms / n << "  " << std::setw(5) << std::setprecision(1)
         << (sum > 0 ? 100 * kinds[j].ms / sum : 0) << "%  " << std::setprecision(3) << std::setw(5) << kinds[j].kernels
         << "  " << kinds[j].key << "\n";
    std::vector<size_t> order(op.size());
    for (size_t k = 0; k < order.size(); ++k) order[k] = k;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return tot[a] > tot[b]; });
    const size_t top = std::min<size_t>(order.size(), 25);
    os << "slowest kernels (ms per run, share):\n";
    for (size_t j = 0; j < top; ++j) {
      const size_t k = order[j];
      os << "  " << std::setw(9) << tot[k] / n << "  " << std::setw(5) << std::setprecision(1)
         << (sum > 0 ? 100 * tot[k] / sum : 0) << "%  " << std::setprecision(3) << op[k] << " " << label[k] << "\n";
    }
    return os.str();
  }
};

void Program::enable_profile() {
  if (profile_) return;
  auto p = std::make_shared<Profile>();
  p->device = device_.str();
  p->stream = stream_.get();
  for (const Step& s : steps_) {
    const Node& node = graph_.node(s.node);
    std::string name = ops().get(node.op).name;
    if (auto* f = dynamic_cast<const FusedAttr*>(node.attr.get())) name += "[" + f->ops + "]";
    p->op.push_back(ops().get(node.op).name);
    const std::string group = name != p->op.back() ? " " + name.substr(p->op.back().size()) : "";
    p->label.push_back("%" + std::to_string(s.node) + " '" + node.name + "' " + node.shape.str() + " " +
                       dtype_name(node.dtype) + group);
    p->kind.push_back(p->op.back() + " " + node.shape.str() + " " + dtype_name(node.dtype) + group);
  }
  p->total_ms.assign(steps_.size(), 0.0);
  p->block_ms.assign(steps_.size(), -1.0);
  if (stream_) {
    for (size_t k = 0; k <= steps_.size(); ++k) p->events.push_back(backend_hooks().cuda_event_create());
  } else {
    p->stamps.resize(steps_.size() + 1);
  }
  profile_ = std::move(p);
}

std::string Program::profile_report() const { return profile_ ? profile_->report() : "profiling is off\n"; }

void Program::profile_mark(int step) {
  Profile& p = *profile_;
  if (p.stream) backend_hooks().cuda_event_record(p.events[step], p.stream);
  else p.stamps[step] = std::chrono::steady_clock::now();
  p.marked = true;
}

void Program::profile_add(int step, double ms) {
  Profile& p = *profile_;
  p.block_ms[step] = std::max(p.block_ms[step], 0.0) + ms;
}

void Program::profile_collect() {
  Profile& p = *profile_;
  if (!p.marked) return;
  p.marked = false;
  std::vector<double> ms(p.total_ms.size());
  for (size_t k = 0; k < ms.size(); ++k) {
    if (p.block_ms[k] >= 0) {  // a row-blocked kernel: its blocks' times (no stamps around it)
      ms[k] = p.block_ms[k];
      p.block_ms[k] = -1;
    } else if (p.stream) {
      ms[k] = backend_hooks().cuda_event_elapsed_ms(p.events[k], p.events[k + 1]);
    } else {
      ms[k] = std::chrono::duration<double, std::milli>(p.stamps[k + 1] - p.stamps[k]).count();
    }
  }
  if (p.first_run_ms < 0 && p.runs == 0 && p.first_ms.empty()) {  // the first run: held back
    p.first_ms = ms;
    p.first_run_ms = 0;
    for (double t : ms) p.first_run_ms += t;
    return;
  }
  for (size_t k = 0; k < ms.size(); ++k) p.total_ms[k] += ms[k];
  ++p.runs;
}

}  // namespace orbit
