// A Newtonian solar system: the synthetic stand-in for the JPL Horizons ephemerides of the MC-EGNN
// solar-system task (paper spec section 3.3). Sun + 8 planets with their real masses and mean
// orbital elements (semi-major axis, eccentricity, inclination); the angles (node, perihelion, mean
// anomaly) are drawn from a seed. Units: AU, day, solar mass (G = 2.959122e-4 AU^3 / (M_sun day^2)),
// barycentric frame. Integrated with kick-drift-kick leapfrog; a frame every 30 minutes. THE DATA ARE
// SYNTHETIC: orbits are Keplerian ellipses perturbed by the planets' mutual attraction, not the real
// ephemerides (no moons, no relativity, no real phases).
//
// The task (as the paper's): x(t) -> x(t + horizon frames), splits along time: the first 14016
// frames train, the next 1752 validate, the next 1752 test (17520 = one year at 30 minutes).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace orbit::egnn {

struct SolarConfig {
  int64_t train = 14016, val = 1752, test = 1752;
  int64_t horizon = 1000;        // frames between input and target
  double frame_minutes = 30.0;   // time between frames
  int substeps = 6;              // leapfrog steps per frame
  uint64_t seed = 1;             // orbital angles

  int64_t frames() const { return train + val + test + horizon; }
  void validate() const;
};

struct SolarSystem {
  static constexpr int kBodies = 9;
  int64_t frames = 0;
  std::vector<double> loc, vel;  // [frames, 9, 3] AU, AU/day
  std::vector<double> mass;      // [9] solar masses
  std::vector<std::string> names;
};

SolarSystem simulate_solar(const SolarConfig& cfg);
double solar_energy(const SolarSystem& s, int64_t frame);  // kinetic + potential (conserved to O(dt^2))

// Files: <dir>/solar.npz with loc, vel [frames, 9, 3] f64, mass [9] f64, config [5] f64 (train, val,
// test, horizon, frame_minutes).
void save_solar(const std::string& path, const SolarConfig& cfg, const SolarSystem& s);
SolarSystem load_solar(const std::string& path, SolarConfig* cfg_out = nullptr);

// Samples of one split: x, v, y [count, 9, 3]; inputs at frames [start, start + count).
struct SolarSamples {
  int64_t count = 0, n = SolarSystem::kBodies, dim = 3;
  std::vector<double> x, v, y;
  std::vector<double> log_mass;  // [9]: log m - mean(log m)
};
enum class SolarSplit { train, val, test };
SolarSamples solar_split(const SolarSystem& s, const SolarConfig& cfg, SolarSplit split);

// The relative MSE of the paper: mean over samples and bodies of ||pred_i - y_i||^2 / ||x_i - y_i||^2.
double relative_mse(const SolarSamples& s, const std::vector<double>& pred);
// Linear baseline x + tau v with tau fitted on the training split by least squares of the relative MSE.
double fit_solar_tau(const SolarSamples& train);

}  // namespace orbit::egnn
