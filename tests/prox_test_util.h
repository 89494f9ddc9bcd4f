// Shared by the weight-sharing prox tests on the CPU (test_prox.cpp) and the GPU (test_gpu_prox.cpp):
// options, Gaussian and worst-case ("cascade") inputs, and vector comparisons.
#pragma once
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "models/sharing/prox.h"

namespace orbit::prox_test {

inline sharing::ProxOptions with(sharing::ProxAlgorithm a, double l1 = 0, double rho = 0) {
  return sharing::ProxOptions{l1, rho, a};
}

inline double max_abs(const std::vector<double>& v) {
  double m = 0;
  for (double x : v) m = std::max(m, std::fabs(x));
  return m;
}

inline double max_diff(const std::vector<double>& a, const std::vector<double>& b) {
  REQUIRE(a.size() == b.size());
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

inline std::vector<double> normal(std::mt19937_64& rng, int64_t d, double sigma) {
  std::normal_distribution<double> n(0, sigma);
  std::vector<double> w(static_cast<size_t>(d));
  for (auto& x : w) x = n(rng);
  return w;
}

// The cascade input: sorted z = x + v = [d^2, 1, 2, ..., d-1] with t = d^3 (shuffled): imminent
// collisions needs d rounds on it.
inline std::vector<double> cascade(int64_t d, double t, std::mt19937_64& rng) {
  std::vector<double> w(static_cast<size_t>(d));
  for (int64_t k = 0; k < d; ++k) {
    double zk = k == 0 ? double(d) * double(d) : double(k);
    w[static_cast<size_t>(k)] = zk - t * double(d - 1 - 2 * k) / double(d - 1);
  }
  std::shuffle(w.begin(), w.end(), rng);
  return w;
}

}  // namespace orbit::prox_test
