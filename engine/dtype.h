// Element types and compile-time dispatch over them.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "engine/error.h"

namespace orbit {

enum class DType : uint8_t { f32, f64, i32, i64 };

constexpr size_t dtype_size(DType t) {
  return (t == DType::f32 || t == DType::i32) ? 4 : 8;
}
constexpr bool is_float(DType t) { return t == DType::f32 || t == DType::f64; }
constexpr bool is_int(DType t) { return !is_float(t); }
const char* dtype_name(DType t);
DType dtype_from_name(const std::string& name);  // "f32" ... ; throws on unknown

template <class T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::f32; }
template <> constexpr DType dtype_of<double>() { return DType::f64; }
template <> constexpr DType dtype_of<int32_t>() { return DType::i32; }
template <> constexpr DType dtype_of<int64_t>() { return DType::i64; }

// Calls f.template operator()<T>() with T the C++ type of dt.
template <class F>
decltype(auto) dispatch_all(DType dt, F&& f) {
  switch (dt) {
    case DType::f32: return f.template operator()<float>();
    case DType::f64: return f.template operator()<double>();
    case DType::i32: return f.template operator()<int32_t>();
    case DType::i64: return f.template operator()<int64_t>();
  }
  throw Error("dispatch_all: corrupt dtype");
}

template <class F>
decltype(auto) dispatch_float(DType dt, F&& f) {
  switch (dt) {
    case DType::f32: return f.template operator()<float>();
    case DType::f64: return f.template operator()<double>();
    default: throw Error(detail::cat("expected a floating dtype, got ", dtype_name(dt)));
  }
}

template <class F>
decltype(auto) dispatch_int(DType dt, F&& f) {
  switch (dt) {
    case DType::i32: return f.template operator()<int32_t>();
    case DType::i64: return f.template operator()<int64_t>();
    default: throw Error(detail::cat("expected an integer dtype, got ", dtype_name(dt)));
  }
}

}  // namespace orbit
