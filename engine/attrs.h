// Typed op attributes. Each op that needs parameters has its own struct (never raw int arrays);
// the CRTP base gives printing, equality and hashing (for CSE) from the struct's `fields()` tie.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "engine/dtype.h"
#include "engine/shape.h"

namespace orbit {

class AttrBase {
 public:
  virtual ~AttrBase() = default;
  virtual std::string str() const = 0;
  virtual bool equals(const AttrBase& other) const = 0;
  virtual size_t hash() const = 0;
};

namespace detail {
inline void put(std::ostream& os, double v) { os << v; }
inline void put(std::ostream& os, bool v) { os << (v ? "true" : "false"); }
inline void put(std::ostream& os, DType v) { os << dtype_name(v); }
inline void put(std::ostream& os, const Shape& v) { os << v.str(); }
inline void put(std::ostream& os, const std::string& v) { os << '"' << v << '"'; }
template <class T>
  requires std::is_integral_v<T>
void put(std::ostream& os, T v) { os << v; }
template <class T>
void put(std::ostream& os, const std::vector<T>& v) {
  os << '[';
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) os << ", ";
    put(os, v[i]);
  }
  os << ']';
}
}  // namespace detail

template <class Derived>
class Attr : public AttrBase {
 public:
  std::string str() const override {
    std::ostringstream os;
    os.precision(17);
    os << Derived::kName << '(';
    bool first = true;
    std::apply([&](const auto&... f) { ((os << (first ? "" : ", "), detail::put(os, f), first = false), ...); },
               self().fields());
    os << ')';
    return os.str();
  }
  bool equals(const AttrBase& other) const override {
    auto* o = dynamic_cast<const Derived*>(&other);
    return o && o->fields() == self().fields();
  }
  size_t hash() const override { return std::hash<std::string>{}(str()); }

 private:
  const Derived& self() const { return static_cast<const Derived&>(*this); }
};

// ---- attributes of the built-in ops ----
struct PowScalarAttr : Attr<PowScalarAttr> {
  static constexpr const char* kName = "pow_scalar";
  double exponent = 1;
  auto fields() const { return std::tie(exponent); }
};
struct ClampAttr : Attr<ClampAttr> {
  static constexpr const char* kName = "clamp";
  double lo = 0, hi = 0;
  auto fields() const { return std::tie(lo, hi); }
};
struct ReduceAttr : Attr<ReduceAttr> {
  static constexpr const char* kName = "reduce";
  std::vector<int64_t> axes;  // normalised, sorted, unique
  bool keepdims = false;
  auto fields() const { return std::tie(axes, keepdims); }
};
struct AxisAttr : Attr<AxisAttr> {
  static constexpr const char* kName = "axis";
  int64_t axis = 0;
  auto fields() const { return std::tie(axis); }
};
struct MatmulAttr : Attr<MatmulAttr> {
  static constexpr const char* kName = "matmul";
  bool trans_a = false, trans_b = false;
  auto fields() const { return std::tie(trans_a, trans_b); }
};
struct ShapeAttr : Attr<ShapeAttr> {
  static constexpr const char* kName = "shape";
  Shape shape;
  auto fields() const { return std::tie(shape); }
};
struct PermuteAttr : Attr<PermuteAttr> {
  static constexpr const char* kName = "permute";
  std::vector<int64_t> perm;
  auto fields() const { return std::tie(perm); }
};
struct SliceAttr : Attr<SliceAttr> {
  static constexpr const char* kName = "slice";
  std::vector<int64_t> starts, ends;  // one per axis, normalised, 0 <= start <= end <= dim
  auto fields() const { return std::tie(starts, ends); }
};
struct PadAttr : Attr<PadAttr> {
  static constexpr const char* kName = "pad";
  std::vector<int64_t> lo, hi;  // one per axis, >= 0
  double value = 0;
  auto fields() const { return std::tie(lo, hi, value); }
};
struct SegmentAttr : Attr<SegmentAttr> {
  static constexpr const char* kName = "segment";
  int64_t num_segments = 0;
  int64_t axis = 0;
  bool sorted = false;  // ids promised non-decreasing (checked at run time)
  auto fields() const { return std::tie(num_segments, axis, sorted); }
};
struct CastAttr : Attr<CastAttr> {
  static constexpr const char* kName = "cast";
  DType to = DType::f32;
  auto fields() const { return std::tie(to); }
};
struct RandomAttr : Attr<RandomAttr> {
  static constexpr const char* kName = "random";
  Shape shape;
  DType dtype = DType::f32;
  uint64_t seed = 0;
  uint64_t stream = 0;  // distinguishes random nodes that share a seed
  auto fields() const { return std::tie(shape, dtype, seed, stream); }
};

}  // namespace orbit
