#include "engine/tensor.h"

#include <limits>
#include <sstream>

#include "engine/allocator.h"
#include "engine/backend_hooks.h"

namespace orbit {

const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "f32";
    case DType::f64: return "f64";
    case DType::i32: return "i32";
    case DType::i64: return "i64";
  }
  return "?";
}

DType dtype_from_name(const std::string& n) {
  if (n == "f32" || n == "float32") return DType::f32;
  if (n == "f64" || n == "float64") return DType::f64;
  if (n == "i32" || n == "int32") return DType::i32;
  if (n == "i64" || n == "int64") return DType::i64;
  throw Error("unknown dtype '" + n + "': expected f32, f64, i32 or i64");
}

Storage::Storage(size_t bytes, Device device) : bytes_(bytes), device_(device) {
  alloc_ = &allocator_for(device);
  ptr_ = alloc_->allocate(bytes);
}

Storage::~Storage() {
  if (ptr_) alloc_->deallocate(ptr_, bytes_);
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  // Shape keeps numel() within int64; the byte count must fit as well (it would wrap to a small
  // allocation).
  ORBIT_CHECK(shape.numel() <= std::numeric_limits<int64_t>::max() / static_cast<int64_t>(dtype_size(dtype)),
              "a tensor of shape ", shape.str(), " and dtype ", dtype_name(dtype), " would need more than 2^63 bytes");
  Tensor t;
  t.shape_ = shape;
  t.dtype_ = dtype;
  t.device_ = device;
  t.storage_ = std::make_shared<Storage>(t.nbytes(), device);
  return t;
}

Tensor Tensor::view_of(std::shared_ptr<Storage> storage, size_t offset, const Shape& shape, DType dtype) {
  Tensor t;
  t.shape_ = shape;
  t.dtype_ = dtype;
  t.device_ = storage->device();
  ORBIT_CHECK(offset + t.nbytes() <= storage->bytes(), "Tensor::view_of: view of ", t.nbytes(),
              " bytes at offset ", offset, " exceeds storage of ", storage->bytes(), " bytes");
  t.storage_ = std::move(storage);
  t.offset_ = offset;
  return t;
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  return full(shape, 0.0, dtype, device);
}

Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, Device::cpu());
  dispatch_all(dtype, [&]<class T>() {
    T* p = t.data<T>();
    for (int64_t i = 0, n = t.numel(); i < n; ++i) p[i] = static_cast<T>(value);
  });
  return device.is_cpu() ? t : t.to(device);
}

Tensor Tensor::scalar(double value, DType dtype) { return full(Shape{}, value, dtype); }

void* Tensor::raw() const {
  return storage_ ? static_cast<char*>(storage_->data()) + offset_ : nullptr;
}

double Tensor::at(int64_t i) const {
  ORBIT_CHECK(device_.is_cpu(), "Tensor::at on a ", device_.str(), " tensor; copy it to the CPU first");
  ORBIT_CHECK(i >= 0 && i < numel(), "Tensor::at: index ", i, " out of range for ", numel(), " elements");
  return dispatch_all(dtype_, [&]<class T>() { return static_cast<double>(data<T>()[i]); });
}

double Tensor::item() const {
  ORBIT_CHECK(numel() == 1, "Tensor::item on a tensor of shape ", shape_.str());
  return device_.is_cpu() ? at(0) : to(Device::cpu()).at(0);
}

std::vector<double> Tensor::to_vector() const {
  Tensor h = device_.is_cpu() ? *this : to(Device::cpu());
  std::vector<double> v(numel());
  for (int64_t i = 0; i < numel(); ++i) v[i] = h.at(i);
  return v;
}

Tensor Tensor::to(Device d) const {
  Tensor t = empty(shape_, dtype_, d);
  t.copy_from(*this);
  return t;
}

void Tensor::copy_from(const Tensor& src) {
  ORBIT_CHECK(src.shape_ == shape_ && src.dtype_ == dtype_, "copy_from: source ", src.shape_.str(), " ",
              dtype_name(src.dtype_), " does not match destination ", shape_.str(), " ", dtype_name(dtype_));
  size_t n = nbytes();
  if (n == 0) return;
  if (device_.is_cpu() && src.device_.is_cpu()) {
    std::memcpy(raw(), src.raw(), n);
    return;
  }
  auto cp = backend_hooks().cuda_memcpy;
  ORBIT_CHECK(cp != nullptr, "copy between ", src.device_.str(), " and ", device_.str(),
              " needs the CUDA backend");
  int kind = src.device_.is_cpu() ? 0 : (device_.is_cpu() ? 1 : 2);
  cp(raw(), src.raw(), n, kind);
}

Tensor Tensor::cast(DType dt) const {
  ORBIT_CHECK(device_.is_cpu(), "Tensor::cast runs on CPU tensors");
  Tensor t = empty(shape_, dt);
  dispatch_all(dtype_, [&]<class S>() {
    dispatch_all(dt, [&]<class D>() {
      const S* s = data<S>();
      D* d = t.data<D>();
      for (int64_t i = 0; i < numel(); ++i) d[i] = static_cast<D>(s[i]);
    });
  });
  return t;
}

Tensor Tensor::reshaped(const Shape& s) const {
  ORBIT_CHECK(s.numel() == numel(), "reshaped: ", shape_.str(), " has ", numel(), " elements, ", s.str(),
              " has ", s.numel());
  Tensor t = *this;
  t.shape_ = s;
  return t;
}

Tensor Tensor::rows(int64_t begin, int64_t count) const {
  ORBIT_CHECK(rank() >= 1, "rows: a scalar has no rows");
  ORBIT_CHECK(begin >= 0 && count >= 0 && begin + count <= shape_[0], "rows: [", begin, ", ", begin + count,
              ") is outside the ", shape_[0], " rows of ", shape_.str());
  Tensor t = *this;
  t.shape_[0] = count;
  t.offset_ += static_cast<size_t>(begin) * (shape_[0] > 0 ? nbytes() / static_cast<size_t>(shape_[0]) : 0);
  return t;
}

std::string Tensor::str(int max_elems) const {
  std::ostringstream os;
  os << "Tensor(" << dtype_name(dtype_) << ", " << shape_.str() << ", " << device_.str();
  if (defined() && numel() > 0) {
    Tensor h = device_.is_cpu() ? *this : to(Device::cpu());
    os << ", [";
    int64_t n = std::min<int64_t>(numel(), max_elems);
    for (int64_t i = 0; i < n; ++i) os << (i ? ", " : "") << h.at(i);
    if (numel() > n) os << ", ...";
    os << "]";
  }
  os << ")";
  return os.str();
}

}  // namespace orbit
