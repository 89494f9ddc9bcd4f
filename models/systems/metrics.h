// Sample-quality metrics of a Boltzmann sampler against reference samples, as the iDEM evaluation
// computes them (../shared/papers/idem-egnn-canonical-emnn.md section 1.6), with the choices it leaves
// open written down here.
//
//  - x_w2: the x-space 2-Wasserstein between two equal-size sets of flattened configurations: exact
//    optimal transport with squared Euclidean cost (solve_assignment), sqrt(mean matched cost). POT's
//    emd2 between uniform weights, as iDEM calls it, gives the same value. Different sizes are an error.
//  - energy_w2 / dist_w2: 1-D 2-Wasserstein between the two sets of energies, and between the pooled
//    unique-pair interatomic distances of all configurations. Reported both as W2 and as W2 squared.
//    iDEM's "energy_w2" and "dist_w2" are POT's emd2_1d with metric 'sqeuclidean', i.e. W2 SQUARED
//    (the *_w2_squared fields here); *_w2 is its square root.
//  - dist_tv: total variation between the histograms of pair distances: 200 equal bins spanning
//    [min, max] of the REFERENCE distances (numpy.histogram's edges, last bin closed), the generated
//    distances binned with the same edges, each histogram normalised by its own in-range count, then
//    TV = 0.5 * sum_b |p_ref(b) - p_gen(b)|, exactly as iDEM's dist_total_var. Generated distances
//    outside the reference range are therefore dropped (as in iDEM); their fraction is reported as
//    dist_outside_fraction. If none is in range iDEM would divide by zero; here TV is 1.
//  - energies: mean and (population) standard deviation of each set's energies.
//  - GMM mode coverage: each configuration is assigned to its nearest component mean (Euclidean; ties
//    to the lower index); a mode is covered when it receives at least mode_min_fraction of all
//    configurations (default 0.005 = one fifth of the 1/40 an exact sampler gives each of GMM-40's
//    equal-weight modes: with 1000 exact samples a mode gets 25 +- 5, so all 40 are covered).
//
// Molecules (translation-invariant systems) are mean-removed per configuration before every metric:
// the DW4 reference files are not centred. The library does not depend on the energy functions: the
// caller passes them as a callback (systems::energies in `orbit metrics`).
#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "models/systems/assignment.h"

namespace orbit::systems {

// A set of n configurations of flat_dim values each, row-major f64.
struct ConfigSet {
  std::vector<double> x;
  int64_t n = 0;
  int64_t flat_dim = 0;
};

struct W2Result {
  double w2 = 0;          // the 2-Wasserstein distance
  double w2_squared = 0;  // its square: what iDEM (POT emd2_1d, sqeuclidean) logs as energy_w2 / dist_w2
};

// 1-D 2-Wasserstein between the empirical distributions of a and b (uniform weights, any sizes >= 1,
// finite values): W2^2 = int_0^1 |F_a^-1(t) - F_b^-1(t)|^2 dt, computed exactly by merging the step
// points i/n and j/m of the two sorted quantile functions (equal sizes: the mean squared difference of
// the sorted values).
W2Result w2_1d(std::span<const double> a, std::span<const double> b);

// x-space 2-Wasserstein of two equal-size sets of flattened configurations (exact OT, squared
// Euclidean cost): sqrt(min over matchings of the mean squared distance). `assignment`, when given,
// receives the solve (matching, duals, certificate).
W2Result w2_exact(const ConfigSet& a, const ConfigSet& b, Assignment* assignment = nullptr);

// Removes each configuration's mean position (n_particles x dim layout) in place.
void remove_mean(ConfigSet& s, int n_particles, int dim);

// Unique-pair (i < j) interatomic distances of every configuration, pooled: [n * P(P-1)/2].
std::vector<double> pooled_pair_distances(const ConfigSet& s, int n_particles, int dim);

struct TotalVariation {
  double tv = 0;
  std::vector<double> edges;     // bins + 1 edges from the reference values
  std::vector<int64_t> ref_counts, gen_counts;
  int64_t gen_outside = 0;       // generated values outside [edges.front(), edges.back()]
};

// iDEM's histogram total variation (see the header comment): edges are numpy.histogram's
// (linspace(min, max, bins + 1) of the reference, widened by 0.5 each side if all values are equal).
TotalVariation histogram_tv(std::span<const double> reference, std::span<const double> generated, int bins = 200);

struct ModeCoverage {
  int modes = 0, covered = 0;
  double min_fraction = 0;
  std::vector<int64_t> counts;  // configurations assigned to each mode
  double fraction() const { return modes ? static_cast<double>(covered) / modes : 0; }
};

// `means` is [K, dim] row-major; s holds configurations of `dim` values.
ModeCoverage mode_coverage(const ConfigSet& s, std::span<const double> means, int dim, double min_fraction);

struct Stats {
  double mean = 0, std = 0, min = 0, max = 0;
};
Stats stats_of(std::span<const double> v);  // population standard deviation

struct MetricsOptions {
  std::string system;       // a name for the report
  int n_particles = 1;
  int dim = 2;
  bool molecule = false;    // mean-removal, pair distances and their metrics
  int tv_bins = 200;
  std::vector<double> gmm_means;  // [K, dim]: mode coverage when not empty
  double mode_min_fraction = 0.005;
  // Energies of a set of (already centred) configurations; optional.
  std::function<std::vector<double>(const ConfigSet&)> energy;
};

struct SampleMetrics {
  std::string system;
  int64_t n_samples = 0, n_reference = 0, flat_dim = 0;
  bool centred = false;

  W2Result x_w2;
  AssignmentCertificate x_w2_certificate;
  double x_w2_seconds = 0;

  bool has_energy = false;
  W2Result energy_w2;
  Stats energy_samples, energy_reference;
  // Configurations whose energy is not finite: left out of energy_w2 and the statistics.
  int64_t energy_nonfinite_samples = 0, energy_nonfinite_reference = 0;

  bool has_distances = false;
  W2Result dist_w2;
  double dist_tv = 0;
  double dist_outside_fraction = 0;
  Stats dist_samples, dist_reference;

  bool has_modes = false;
  ModeCoverage modes_samples, modes_reference;

  // One JSON object; field names say which quantity is squared (see the header comment).
  std::string to_json() const;
};

// All the metrics of `samples` against `reference` (equal sizes, flat_dim = n_particles * dim). The
// sets are copied and centred when `molecule`.
SampleMetrics compute_metrics(ConfigSet samples, ConfigSet reference, const MetricsOptions& opts);

// The histograms the plots show and the metrics use: energies and pooled distances of both sets
// (computed by compute_metrics; empty when not applicable).
struct MetricsData {
  std::vector<double> energy_samples, energy_reference, dist_samples, dist_reference;
  // Two-dimensional systems (GMM-40): the configurations themselves ([n, 2] flat) and the mixture
  // means, for a picture of where the samples lie.
  std::vector<double> points_samples, points_reference, means;
};
SampleMetrics compute_metrics(ConfigSet samples, ConfigSet reference, const MetricsOptions& opts, MetricsData* data);

// n distinct row indices of [0, total), chosen uniformly by (seed, stream) with Philox (the same on
// every platform), in increasing order. Throws when n > total.
std::vector<int64_t> subsample_rows(int64_t total, int64_t n, uint64_t seed, uint64_t stream);

}  // namespace orbit::systems
