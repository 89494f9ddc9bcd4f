// Sample-quality metrics (see metrics.h for the exact definitions).
#include "models/systems/metrics.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numeric>
#include <sstream>

#include "engine/error.h"
#include "engine/io/json.h"
#include "kernels/scalar/philox.h"

namespace orbit::systems {

namespace {

void check_finite(std::span<const double> v, const char* what) {
  for (size_t i = 0; i < v.size(); ++i)
    ORBIT_CHECK(std::isfinite(v[i]), what, ": value ", i, " of ", v.size(), " is ", v[i], "; values must be finite");
}

void check_set(const ConfigSet& s, const char* what) {
  ORBIT_CHECK(s.n >= 1 && s.flat_dim >= 1, what, ": need at least one configuration of at least one value, got [",
              s.n, ", ", s.flat_dim, "]");
  ORBIT_CHECK(static_cast<int64_t>(s.x.size()) == s.n * s.flat_dim, what, ": holds ", s.x.size(),
              " values, expected n * flat_dim = ", s.n * s.flat_dim);
  check_finite(s.x, what);
}

// numpy.histogram's edges for `bins` equal bins over the values' [min, max].
std::vector<double> numpy_edges(std::span<const double> values, int bins) {
  double lo = *std::min_element(values.begin(), values.end());
  double hi = *std::max_element(values.begin(), values.end());
  if (lo == hi) {
    lo -= 0.5;
    hi += 0.5;
  }
  std::vector<double> e(static_cast<size_t>(bins) + 1);
  const double step = (hi - lo) / bins;
  for (int i = 0; i < bins; ++i) e[i] = lo + i * step;
  e[bins] = hi;
  return e;
}

// The bin of x for increasing edges (last bin closed), or -1 outside [edges.front(), edges.back()].
int bin_of(const std::vector<double>& edges, double x) {
  if (!(x >= edges.front() && x <= edges.back())) return -1;
  const int bins = static_cast<int>(edges.size()) - 1;
  int b = static_cast<int>(std::upper_bound(edges.begin(), edges.end(), x) - edges.begin()) - 1;
  return std::min(b, bins - 1);
}

std::string num(double x) {
  if (!std::isfinite(x)) return "null";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.10g", x);
  return buf;
}

std::string stats_json(const Stats& s) {
  return "{\"mean\": " + num(s.mean) + ", \"std\": " + num(s.std) + ", \"min\": " + num(s.min) +
         ", \"max\": " + num(s.max) + "}";
}

std::string counts_json(const std::vector<int64_t>& c) {
  std::string s = "[";
  for (size_t i = 0; i < c.size(); ++i) s += (i ? ", " : "") + std::to_string(c[i]);
  return s + "]";
}

std::vector<double> finite_only(const std::vector<double>& v, int64_t& dropped) {
  std::vector<double> out;
  out.reserve(v.size());
  for (double x : v)
    if (std::isfinite(x)) out.push_back(x);
  dropped = static_cast<int64_t>(v.size() - out.size());
  return out;
}

}  // namespace

W2Result w2_1d(std::span<const double> a_in, std::span<const double> b_in) {
  ORBIT_CHECK(!a_in.empty() && !b_in.empty(), "w2_1d: both sets need at least one value, got ", a_in.size(),
              " and ", b_in.size());
  check_finite(a_in, "w2_1d: first set");
  check_finite(b_in, "w2_1d: second set");
  std::vector<double> a(a_in.begin(), a_in.end()), b(b_in.begin(), b_in.end());
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  const int64_t n = static_cast<int64_t>(a.size()), m = static_cast<int64_t>(b.size());
  long double acc = 0;
  if (n == m) {
    for (int64_t i = 0; i < n; ++i) {
      const long double d = static_cast<long double>(a[i]) - b[i];
      acc += d * d;
    }
    acc /= n;
  } else {
    // Quantile functions: F_a^-1(t) = a[i] on ((i)/n, (i+1)/n]. Walk the merged step points; the
    // comparison (i+1)/n vs (j+1)/m is done exactly in integers.
    int64_t i = 0, j = 0;
    long double t = 0;
    while (i < n && j < m) {
      const __int128 lhs = static_cast<__int128>(i + 1) * m, rhs = static_cast<__int128>(j + 1) * n;
      const long double next = lhs <= rhs ? static_cast<long double>(i + 1) / n : static_cast<long double>(j + 1) / m;
      const long double d = static_cast<long double>(a[i]) - b[j];
      acc += (next - t) * d * d;
      t = next;
      if (lhs <= rhs) ++i;
      if (rhs <= lhs) ++j;
    }
  }
  W2Result r;
  r.w2_squared = static_cast<double>(acc);
  r.w2 = std::sqrt(r.w2_squared);
  return r;
}

W2Result w2_exact(const ConfigSet& a, const ConfigSet& b, Assignment* assignment) {
  check_set(a, "x-W2: first set");
  check_set(b, "x-W2: second set");
  ORBIT_CHECK(a.flat_dim == b.flat_dim, "x-W2: the sets have different dimensions, ", a.flat_dim, " and ",
              b.flat_dim);
  ORBIT_CHECK(a.n == b.n, "x-W2: exact OT here matches equal-size sets only, got ", a.n, " and ", b.n,
              " configurations (subsample both to the same size)");
  auto cost = squared_distance_matrix(a.x, b.x, a.n, b.n, a.flat_dim);
  Assignment sol = solve_assignment(cost, a.n);
  W2Result r;
  r.w2_squared = sol.cost / static_cast<double>(a.n);
  r.w2 = std::sqrt(r.w2_squared);
  if (assignment) *assignment = std::move(sol);
  return r;
}

void remove_mean(ConfigSet& s, int n_particles, int dim) {
  ORBIT_CHECK(n_particles >= 1 && dim >= 1 && s.flat_dim == static_cast<int64_t>(n_particles) * dim,
              "remove_mean: configurations of ", s.flat_dim, " values are not ", n_particles, " particles x ", dim);
  for (int64_t r = 0; r < s.n; ++r) {
    double* x = s.x.data() + r * s.flat_dim;
    for (int k = 0; k < dim; ++k) {
      double m = 0;
      for (int p = 0; p < n_particles; ++p) m += x[p * dim + k];
      m /= n_particles;
      for (int p = 0; p < n_particles; ++p) x[p * dim + k] -= m;
    }
  }
}

std::vector<double> pooled_pair_distances(const ConfigSet& s, int n_particles, int dim) {
  ORBIT_CHECK(n_particles >= 2 && dim >= 1 && s.flat_dim == static_cast<int64_t>(n_particles) * dim,
              "pair distances: configurations of ", s.flat_dim, " values are not ", n_particles, " particles x ",
              dim, " (at least 2 particles)");
  std::vector<double> d;
  d.reserve(static_cast<size_t>(s.n) * n_particles * (n_particles - 1) / 2);
  for (int64_t r = 0; r < s.n; ++r) {
    const double* x = s.x.data() + r * s.flat_dim;
    for (int i = 0; i < n_particles; ++i)
      for (int j = i + 1; j < n_particles; ++j) {
        double q = 0;
        for (int k = 0; k < dim; ++k) {
          const double t = x[i * dim + k] - x[j * dim + k];
          q += t * t;
        }
        d.push_back(std::sqrt(q));
      }
  }
  return d;
}

TotalVariation histogram_tv(std::span<const double> reference, std::span<const double> generated, int bins) {
  ORBIT_CHECK(bins >= 1, "histogram TV: bins must be >= 1, got ", bins);
  ORBIT_CHECK(!reference.empty() && !generated.empty(), "histogram TV: both sets need values, got ",
              reference.size(), " reference and ", generated.size(), " generated");
  check_finite(reference, "histogram TV: reference");
  check_finite(generated, "histogram TV: generated");
  TotalVariation t;
  t.edges = numpy_edges(reference, bins);
  t.ref_counts.assign(bins, 0);
  t.gen_counts.assign(bins, 0);
  int64_t ref_total = 0, gen_total = 0;
  for (double x : reference) {
    int b = bin_of(t.edges, x);
    if (b >= 0) ++t.ref_counts[b], ++ref_total;
  }
  for (double x : generated) {
    int b = bin_of(t.edges, x);
    if (b >= 0)
      ++t.gen_counts[b], ++gen_total;
    else
      ++t.gen_outside;
  }
  if (gen_total == 0) {
    t.tv = 1;
    return t;
  }
  long double s = 0;
  for (int b = 0; b < bins; ++b)
    s += std::fabs(static_cast<long double>(t.ref_counts[b]) / ref_total -
                   static_cast<long double>(t.gen_counts[b]) / gen_total);
  t.tv = static_cast<double>(0.5L * s);
  return t;
}

ModeCoverage mode_coverage(const ConfigSet& s, std::span<const double> means, int dim, double min_fraction) {
  ORBIT_CHECK(dim >= 1 && s.flat_dim == dim, "mode coverage: configurations of ", s.flat_dim,
              " values, means of dimension ", dim);
  ORBIT_CHECK(!means.empty() && means.size() % dim == 0, "mode coverage: ", means.size(),
              " mean values do not form [K, ", dim, "]");
  ORBIT_CHECK(min_fraction >= 0 && min_fraction <= 1, "mode coverage: the minimum fraction must be in [0, 1], got ",
              min_fraction);
  ModeCoverage c;
  c.modes = static_cast<int>(means.size() / dim);
  c.min_fraction = min_fraction;
  c.counts.assign(c.modes, 0);
  for (int64_t r = 0; r < s.n; ++r) {
    const double* x = s.x.data() + r * dim;
    int best = 0;
    double best_d = std::numeric_limits<double>::infinity();
    for (int k = 0; k < c.modes; ++k) {
      double q = 0;
      for (int i = 0; i < dim; ++i) {
        const double t = x[i] - means[k * dim + i];
        q += t * t;
      }
      if (q < best_d) best_d = q, best = k;
    }
    ++c.counts[best];
  }
  for (int64_t cnt : c.counts)
    if (s.n > 0 && static_cast<double>(cnt) >= min_fraction * static_cast<double>(s.n)) ++c.covered;
  return c;
}

Stats stats_of(std::span<const double> v) {
  Stats s;
  if (v.empty()) {
    s.mean = s.std = s.min = s.max = std::numeric_limits<double>::quiet_NaN();
    return s;
  }
  long double sum = 0;
  for (double x : v) sum += x;
  const long double mean = sum / v.size();
  long double sq = 0;
  for (double x : v) sq += (x - mean) * (x - mean);
  s.mean = static_cast<double>(mean);
  s.std = static_cast<double>(std::sqrt(sq / v.size()));
  s.min = *std::min_element(v.begin(), v.end());
  s.max = *std::max_element(v.begin(), v.end());
  return s;
}

SampleMetrics compute_metrics(ConfigSet samples, ConfigSet reference, const MetricsOptions& opts) {
  return compute_metrics(std::move(samples), std::move(reference), opts, nullptr);
}

SampleMetrics compute_metrics(ConfigSet samples, ConfigSet reference, const MetricsOptions& opts, MetricsData* data) {
  check_set(samples, "samples");
  check_set(reference, "reference");
  const int64_t flat = static_cast<int64_t>(opts.n_particles) * opts.dim;
  ORBIT_CHECK(samples.flat_dim == flat && reference.flat_dim == flat, "metrics: ", opts.system, " configurations have ",
              flat, " values (", opts.n_particles, " x ", opts.dim, "), got samples with ", samples.flat_dim,
              " and reference with ", reference.flat_dim);
  SampleMetrics m;
  m.system = opts.system;
  m.n_samples = samples.n;
  m.n_reference = reference.n;
  m.flat_dim = flat;
  if (opts.molecule) {
    remove_mean(samples, opts.n_particles, opts.dim);
    remove_mean(reference, opts.n_particles, opts.dim);
    m.centred = true;
  }

  Assignment sol;
  auto t0 = std::chrono::steady_clock::now();
  m.x_w2 = w2_exact(samples, reference, &sol);
  m.x_w2_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  m.x_w2_certificate = sol.certificate;
  ORBIT_CHECK(sol.certificate.certified, "metrics: the optimal-transport solve failed its optimality check (min ",
              "reduced cost ", sol.certificate.min_reduced_cost, ", matched slack ", sol.certificate.max_matched_slack,
              ", tolerance ", sol.certificate.tolerance, ")");

  MetricsData local;
  MetricsData& d = data ? *data : local;
  d = {};
  if (opts.energy) {
    auto es = opts.energy(samples), er = opts.energy(reference);
    ORBIT_CHECK(static_cast<int64_t>(es.size()) == samples.n && static_cast<int64_t>(er.size()) == reference.n,
                "metrics: the energy function returned ", es.size(), " and ", er.size(), " values for ", samples.n,
                " and ", reference.n, " configurations");
    d.energy_samples = finite_only(es, m.energy_nonfinite_samples);
    d.energy_reference = finite_only(er, m.energy_nonfinite_reference);
    ORBIT_CHECK(!d.energy_samples.empty() && !d.energy_reference.empty(),
                "metrics: no finite energies (samples: ", es.size() - d.energy_samples.size(), " of ", es.size(),
                " non-finite; reference: ", er.size() - d.energy_reference.size(), " of ", er.size(), ")");
    m.has_energy = true;
    m.energy_w2 = w2_1d(d.energy_samples, d.energy_reference);
    m.energy_samples = stats_of(d.energy_samples);
    m.energy_reference = stats_of(d.energy_reference);
  }

  if (opts.molecule && opts.n_particles >= 2) {
    d.dist_samples = pooled_pair_distances(samples, opts.n_particles, opts.dim);
    d.dist_reference = pooled_pair_distances(reference, opts.n_particles, opts.dim);
    m.has_distances = true;
    m.dist_w2 = w2_1d(d.dist_samples, d.dist_reference);
    TotalVariation tv = histogram_tv(d.dist_reference, d.dist_samples, opts.tv_bins);
    m.dist_tv = tv.tv;
    m.dist_outside_fraction = static_cast<double>(tv.gen_outside) / static_cast<double>(d.dist_samples.size());
    m.dist_samples = stats_of(d.dist_samples);
    m.dist_reference = stats_of(d.dist_reference);
  }

  if (flat == 2) {
    d.points_samples = samples.x;
    d.points_reference = reference.x;
    d.means = opts.gmm_means;
  }

  if (!opts.gmm_means.empty()) {
    m.has_modes = true;
    m.modes_samples = mode_coverage(samples, opts.gmm_means, opts.dim * opts.n_particles, opts.mode_min_fraction);
    m.modes_reference = mode_coverage(reference, opts.gmm_means, opts.dim * opts.n_particles, opts.mode_min_fraction);
  }
  return m;
}

std::string SampleMetrics::to_json() const {
  std::ostringstream o;
  o << "{\"system\": " << io::json_quote(system) << ", \"n_samples\": " << n_samples
    << ", \"n_reference\": " << n_reference << ", \"flat_dim\": " << flat_dim
    << ", \"centred\": " << (centred ? "true" : "false");
  o << ", \"x_w2\": " << num(x_w2.w2) << ", \"x_w2_squared\": " << num(x_w2.w2_squared)
    << ", \"x_w2_certificate\": {\"certified\": " << (x_w2_certificate.certified ? "true" : "false")
    << ", \"min_reduced_cost\": " << num(x_w2_certificate.min_reduced_cost)
    << ", \"max_matched_slack\": " << num(x_w2_certificate.max_matched_slack)
    << ", \"gap_bound\": " << num(x_w2_certificate.gap_bound) << ", \"tolerance\": " << num(x_w2_certificate.tolerance)
    << "}, \"x_w2_seconds\": " << num(x_w2_seconds);
  if (has_energy)
    o << ", \"energy_w2\": " << num(energy_w2.w2) << ", \"energy_w2_squared\": " << num(energy_w2.w2_squared)
      << ", \"energy_samples\": " << stats_json(energy_samples)
      << ", \"energy_reference\": " << stats_json(energy_reference)
      << ", \"energy_nonfinite_samples\": " << energy_nonfinite_samples
      << ", \"energy_nonfinite_reference\": " << energy_nonfinite_reference;
  if (has_distances)
    o << ", \"dist_w2\": " << num(dist_w2.w2) << ", \"dist_w2_squared\": " << num(dist_w2.w2_squared)
      << ", \"dist_tv\": " << num(dist_tv) << ", \"dist_outside_fraction\": " << num(dist_outside_fraction)
      << ", \"dist_samples\": " << stats_json(dist_samples) << ", \"dist_reference\": " << stats_json(dist_reference);
  if (has_modes) {
    auto modes = [](const ModeCoverage& c) {
      return "{\"covered\": " + std::to_string(c.covered) + ", \"modes\": " + std::to_string(c.modes) +
             ", \"fraction\": " + num(c.fraction()) + ", \"counts\": " + counts_json(c.counts) + "}";
    };
    o << ", \"mode_min_fraction\": " << num(modes_samples.min_fraction)
      << ", \"modes_samples\": " << modes(modes_samples) << ", \"modes_reference\": " << modes(modes_reference);
  }
  o << ", \"idem_names\": {\"x_w2\": \"2-Wasserstein\", \"energy_w2_squared\": \"energy_w2\", "
       "\"dist_w2_squared\": \"dist_w2\", \"dist_tv\": \"dist_total_var\"}}";
  return o.str();
}

std::vector<int64_t> subsample_rows(int64_t total, int64_t n, uint64_t seed, uint64_t stream) {
  ORBIT_CHECK(n >= 0 && total >= 0, "subsample: bad sizes n = ", n, ", total = ", total);
  ORBIT_CHECK(n <= total, "subsample: asked for ", n, " rows but only ", total, " are available");
  // A random 64-bit key per row; the n smallest keys (ties by index) are a uniform random subset.
  std::vector<std::pair<uint64_t, int64_t>> keys(static_cast<size_t>(total));
  for (int64_t i = 0; i < total; ++i) {
    auto w = scalar::philox_draw(seed, stream, 0, static_cast<uint64_t>(i));
    keys[i] = {(static_cast<uint64_t>(w.v[0]) << 32) | w.v[1], i};
  }
  std::partial_sort(keys.begin(), keys.begin() + n, keys.end());
  std::vector<int64_t> rows(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) rows[i] = keys[i].second;
  std::sort(rows.begin(), rows.end());
  return rows;
}

}  // namespace orbit::systems
