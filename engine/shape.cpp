#include "engine/shape.h"

#include <sstream>

#include "engine/error.h"

namespace orbit {

namespace {
void check_dims(const int64_t* b, const int64_t* e) {
  ORBIT_CHECK(e - b <= Shape::kMaxRank, "shape has ", e - b, " dimensions; orbit supports at most ",
              Shape::kMaxRank);
  // The product of the non-zero dimensions fits in int64 (even when a zero makes the shape empty), so
  // numel() and strides(), whose partial products run in any order, never overflow.
  int64_t n = 1;
  for (auto p = b; p != e; ++p) {
    ORBIT_CHECK(*p >= 0, "shape has a negative dimension ", *p);
    if (*p != 0)
      ORBIT_CHECK(!__builtin_mul_overflow(n, *p, &n), "shape has too many elements (their count overflows 64 bits)");
  }
}
}  // namespace

Shape::Shape(std::initializer_list<int64_t> dims) {
  check_dims(dims.begin(), dims.end());
  rank_ = static_cast<int>(dims.size());
  int i = 0;
  for (auto v : dims) d_[i++] = v;
}

Shape::Shape(const std::vector<int64_t>& dims) {
  check_dims(dims.data(), dims.data() + dims.size());
  rank_ = static_cast<int>(dims.size());
  for (int i = 0; i < rank_; ++i) d_[i] = dims[i];
}

int64_t Shape::dim(int axis) const { return d_[normalize_axis(axis, rank_, "Shape::dim")]; }

int64_t Shape::numel() const {
  int64_t n = 1;
  for (int i = 0; i < rank_; ++i) n *= d_[i];
  return n;
}

bool Shape::operator==(const Shape& o) const {
  if (rank_ != o.rank_) return false;
  for (int i = 0; i < rank_; ++i)
    if (d_[i] != o.d_[i]) return false;
  return true;
}

std::string Shape::str() const {
  std::ostringstream os;
  os << '[';
  for (int i = 0; i < rank_; ++i) os << (i ? ", " : "") << d_[i];
  os << ']';
  return os.str();
}

std::array<int64_t, Shape::kMaxRank> Shape::strides() const {
  std::array<int64_t, kMaxRank> s{};
  int64_t acc = 1;
  for (int i = rank_ - 1; i >= 0; --i) {
    s[i] = acc;
    acc *= d_[i];
  }
  return s;
}

bool broadcast_shapes(const Shape& a, const Shape& b, Shape& out) {
  int r = a.rank() > b.rank() ? a.rank() : b.rank();
  std::vector<int64_t> d(r);
  for (int i = 0; i < r; ++i) {
    int ia = a.rank() - r + i, ib = b.rank() - r + i;
    int64_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
    if (da != db && da != 1 && db != 1) return false;
    d[i] = da == 1 ? db : da;
  }
  out = Shape(d);
  return true;
}

int normalize_axis(int64_t axis, int rank, const char* what) {
  int64_t a = axis < 0 ? axis + rank : axis;
  ORBIT_CHECK(a >= 0 && a < rank, what, ": axis ", axis, " is out of range for rank ", rank);
  return static_cast<int>(a);
}

}  // namespace orbit
