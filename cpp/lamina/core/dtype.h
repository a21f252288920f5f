// Element types and PyTorch's type-promotion rules.
// DType lists every element type once; `dispatch` turns a runtime DType into a compile-time C++
// type for kernels. Adding float16/bfloat16 means a new enum value, a storage type and a case here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "lamina/core/error.h"

namespace lamina {

enum class DType : uint8_t { Bool, Int32, Int64, Float32, Float64 };
constexpr int kNumDTypes = 5;

size_t itemsize(DType dtype);
const char* dtype_name(DType dtype);  // "float32"
bool is_floating_point(DType dtype);
bool is_integral(DType dtype, bool include_bool);
DType promote_types(DType a, DType b);
DType default_float_dtype();
void set_default_float_dtype(DType dtype);

// How an operand takes part in type promotion: tensors with dims outrank 0-d tensors, which
// outrank Python scalars ("wrapped numbers"), within the same category (bool < int < float).
enum class OperandRank : uint8_t { Dimensioned, ZeroDim, Wrapped };
struct ResultTypeState {
  int dim = -1, zero = -1, wrapped = -1;  // best dtype seen per rank, -1 = none
  void update(DType dtype, OperandRank rank);
  DType result() const;
};

template <class T>
struct TypeTag {
  using type = T;
};

// Calls f(TypeTag<T>{}) with T the C++ type of `dtype`.
template <class F>
decltype(auto) dispatch(DType dtype, F&& f) {
  switch (dtype) {
    case DType::Bool: return f(TypeTag<bool>{});
    case DType::Int32: return f(TypeTag<int32_t>{});
    case DType::Int64: return f(TypeTag<int64_t>{});
    case DType::Float32: return f(TypeTag<float>{});
    case DType::Float64: return f(TypeTag<double>{});
  }
  return f(TypeTag<float>{});  // unreachable: every DType is handled above
}
template <class F>
decltype(auto) dispatch_float(DType dtype, F&& f) {
  if (dtype == DType::Float64) return f(TypeTag<double>{});
  return f(TypeTag<float>{});
}

template <class T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<bool>() { return DType::Bool; }
template <> constexpr DType dtype_of<int32_t>() { return DType::Int32; }
template <> constexpr DType dtype_of<int64_t>() { return DType::Int64; }
template <> constexpr DType dtype_of<float>() { return DType::Float32; }
template <> constexpr DType dtype_of<double>() { return DType::Float64; }

}  // namespace lamina
