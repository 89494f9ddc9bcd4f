// Static shapes of up to kMaxRank dimensions, with numpy broadcasting.
#pragma once
#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace orbit {

class Shape {
 public:
  static constexpr int kMaxRank = 6;

  Shape() = default;
  Shape(std::initializer_list<int64_t> dims);
  explicit Shape(const std::vector<int64_t>& dims);

  int rank() const { return rank_; }
  int64_t operator[](int i) const { return d_[i]; }
  int64_t& operator[](int i) { return d_[i]; }
  int64_t dim(int axis) const;  // negative axes count from the back; throws if out of range
  int64_t numel() const;
  const int64_t* begin() const { return d_.data(); }
  const int64_t* end() const { return d_.data() + rank_; }
  std::vector<int64_t> vec() const { return {begin(), end()}; }
  bool operator==(const Shape& o) const;
  bool operator!=(const Shape& o) const { return !(*this == o); }
  std::string str() const;  // "[2, 3]"

  // Row-major strides in elements.
  std::array<int64_t, kMaxRank> strides() const;

 private:
  std::array<int64_t, kMaxRank> d_{};
  int rank_ = 0;
};

// numpy broadcast of two shapes; returns false when they are incompatible.
bool broadcast_shapes(const Shape& a, const Shape& b, Shape& out);
// Normalises an axis (negative counts from the back); throws naming `what` when out of range.
int normalize_axis(int64_t axis, int rank, const char* what);

}  // namespace orbit
