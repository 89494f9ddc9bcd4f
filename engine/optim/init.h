// Parameter initialisers. Weights follow orbit's x W convention: a weight of shape [..., fan_out] has
// fan_in = product of the other dims and fan_out = the last dim (a bias [n]: fan_in = fan_out = n).
// Values come from the Philox stream keyed by (seed, hash of the parameter name), so a parameter's
// initial value does not depend on the order in which parameters are created.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

#include "engine/graph.h"
#include "engine/param_store.h"

namespace orbit::init {

struct Initializer {
  enum class Kind { constant, uniform, normal, xavier_uniform, xavier_normal, kaiming_uniform, kaiming_normal, custom };
  Kind kind = Kind::constant;
  double a = 0, b = 0;  // constant: value; uniform: [a, b); normal: mean a, std b; xavier / kaiming: gain a
  std::function<void(Tensor&, uint64_t seed)> fill;  // custom: fills a CPU tensor

  static Initializer zeros() { return {Kind::constant, 0, 0, {}}; }
  static Initializer ones() { return {Kind::constant, 1, 0, {}}; }
  static Initializer constant(double v) { return {Kind::constant, v, 0, {}}; }
  static Initializer uniform(double lo, double hi) { return {Kind::uniform, lo, hi, {}}; }
  static Initializer normal(double mean, double std) { return {Kind::normal, mean, std, {}}; }
  static Initializer xavier_uniform(double gain = 1) { return {Kind::xavier_uniform, gain, 0, {}}; }
  static Initializer xavier_normal(double gain = 1) { return {Kind::xavier_normal, gain, 0, {}}; }
  // Kaiming (He) with fan_in; gain sqrt(2) suits ReLU.
  static Initializer kaiming_uniform(double gain = 1.4142135623730951) { return {Kind::kaiming_uniform, gain, 0, {}}; }
  static Initializer kaiming_normal(double gain = 1.4142135623730951) { return {Kind::kaiming_normal, gain, 0, {}}; }
  static Initializer custom(std::function<void(Tensor&, uint64_t)> f) { return {Kind::custom, 0, 0, std::move(f)}; }
};

// A new tensor of `shape` / `dtype` on `device` filled by `init` for parameter `name`.
Tensor make(const std::string& name, const Shape& shape, DType dtype, const Initializer& init, uint64_t seed,
            Device device = Device::cpu());

// Creates (or overwrites) store entry `p.name()` for a parameter node of a graph.
void param(ParamStore& store, Var p, const Initializer& init, uint64_t seed, Device device = Device::cpu());

}  // namespace orbit::init
