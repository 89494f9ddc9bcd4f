// Tensor: a dtype, a static shape, a device and a contiguous view into shared storage.
#pragma once
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "engine/device.h"
#include "engine/dtype.h"
#include "engine/shape.h"

namespace orbit {

class Allocator;

// A block of device memory owned by its allocator.
class Storage {
 public:
  Storage(size_t bytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return ptr_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
  Device device_;
  Allocator* alloc_ = nullptr;
};

class Tensor {
 public:
  Tensor() = default;

  static Tensor empty(const Shape& shape, DType dtype, Device device = Device::cpu());
  static Tensor zeros(const Shape& shape, DType dtype, Device device = Device::cpu());
  static Tensor full(const Shape& shape, double value, DType dtype, Device device = Device::cpu());
  static Tensor scalar(double value, DType dtype = DType::f32);
  template <class T>
  static Tensor from(const Shape& shape, const std::vector<T>& values);
  // A view of `shape`/`dtype` at byte `offset` into `storage` (used by the memory planner).
  static Tensor view_of(std::shared_ptr<Storage> storage, size_t offset, const Shape& shape, DType dtype);

  bool defined() const { return storage_ != nullptr || shape_.numel() == 0; }
  const Shape& shape() const { return shape_; }
  DType dtype() const { return dtype_; }
  Device device() const { return device_; }
  int rank() const { return shape_.rank(); }
  int64_t numel() const { return shape_.numel(); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }

  void* raw() const;
  template <class T>
  T* data() const {
    ORBIT_CHECK(dtype_ == dtype_of<T>(), "tensor holds ", dtype_name(dtype_), ", accessed as ",
                dtype_name(dtype_of<T>()));
    return static_cast<T*>(raw());
  }

  // Element i (flat, row-major) converted to double; CPU tensors only.
  double at(int64_t i) const;
  double item() const;  // the single element of a one-element tensor
  std::vector<double> to_vector() const;  // every element as double (copies from the GPU if needed)

  Tensor to(Device d) const;      // copy to another device (same device: a deep copy)
  Tensor clone() const { return to(device_); }
  Tensor cast(DType dt) const;    // CPU conversion
  Tensor reshaped(const Shape& s) const;  // same storage, new shape of equal numel
  // Rows [begin, begin + count) of dim 0: same storage (a tensor is contiguous, so the rows are too).
  Tensor rows(int64_t begin, int64_t count) const;
  void copy_from(const Tensor& src);      // same shape and dtype, any devices

  std::string str(int max_elems = 8) const;

 private:
  std::shared_ptr<Storage> storage_;
  size_t offset_ = 0;
  Shape shape_;
  DType dtype_ = DType::f32;
  Device device_;
};

template <class T>
Tensor Tensor::from(const Shape& shape, const std::vector<T>& values) {
  ORBIT_CHECK(static_cast<int64_t>(values.size()) == shape.numel(), "Tensor::from: ", values.size(),
              " values for shape ", shape.str());
  Tensor t = empty(shape, dtype_of<T>());
  if (!values.empty()) std::memcpy(t.raw(), values.data(), values.size() * sizeof(T));
  return t;
}

}  // namespace orbit
