// Integrators for the probability-flow ODE of the likelihood model: fixed-step classical Runge-Kutta
// and adaptive Dormand-Prince 5(4) with error control (iDEM integrates its CNF likelihood with dopri5
// at atol = rtol = 1e-5). The state is a flat f64 vector made of blocks (for the CFM: the points, then
// their log-density change); the error norm is the largest of the blocks' RMS norms, each component
// scaled by atol + rtol * max(|y_old|, |y_new|), so a small block (the log densities) is controlled as
// tightly as the large one.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/error.h"

namespace orbit::diffusion {


// dy = f(t, y); dy has y's size on return.
using OdeField = std::function<void(double t, const std::vector<double>& y, std::vector<double>& dy)>;

struct OdeOptions {
  std::string solver = "rk4";  // rk4 | dopri5
  int64_t steps = 50;          // rk4: steps over [t0, t1]
  double atol = 1e-5, rtol = 1e-5;
  int64_t max_nfe = 3000;      // dopri5: more field evaluations than this is an error (naming t and h)
  void validate() const;
};

struct OdeStats {
  int64_t nfe = 0;       // field evaluations
  int64_t accepted = 0;  // steps
  int64_t rejected = 0;  // dopri5 steps retried with a smaller h
  int64_t fallbacks = 0; // integrations redone with fixed steps after dopri5 exhausted its budget (callers)
  int64_t cached = 0;    // batches read from an evaluation cache (callers; their work is counted above)

  OdeStats& operator+=(const OdeStats& o) {
    nfe += o.nfe;
    accepted += o.accepted;
    rejected += o.rejected;
    fallbacks += o.fallbacks;
    cached += o.cached;
    return *this;
  }
};

// dopri5 ran out of its evaluation budget (a caller may fall back to fixed steps, as iDEM does);
// `stats` is the work done until then.
class OdeBudgetExceeded : public Error {
 public:
  OdeBudgetExceeded(const std::string& what, const OdeStats& s) : Error(what), stats(s) {}
  OdeStats stats;
};

// Integrates y from t0 to t1 (either direction) in place. `blocks` are the sizes of y's parts (their sum
// is y.size()). progress(t) after every accepted step. Throws on a non-finite field value, and
// OdeBudgetExceeded (y then unspecified) when dopri5 needs more than max_nfe evaluations.
OdeStats integrate_ode(const OdeField& f, std::vector<double>& y, double t0, double t1,
                       const std::vector<int64_t>& blocks, const OdeOptions& o,
                       const std::function<void(double t)>& progress = {});

}  // namespace orbit::diffusion
