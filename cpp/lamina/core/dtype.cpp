// Type promotion follows PyTorch: categories bool < integral < floating; within the result of
// `result_type`, a lower-rank operand only matters when it is of a higher category.
#include "lamina/core/dtype.h"

#include <atomic>

namespace lamina {

size_t itemsize(DType dtype) {
  switch (dtype) {
    case DType::Bool: return 1;
    case DType::Int32: return 4;
    case DType::Int64: return 8;
    case DType::Float32: return 4;
    case DType::Float64: return 8;
  }
  return 0;
}

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::Bool: return "bool";
    case DType::Int32: return "int32";
    case DType::Int64: return "int64";
    case DType::Float32: return "float32";
    case DType::Float64: return "float64";
  }
  return "unknown";
}

bool is_floating_point(DType dtype) { return dtype == DType::Float32 || dtype == DType::Float64; }

bool is_integral(DType dtype, bool include_bool) {
  return dtype == DType::Int32 || dtype == DType::Int64 || (include_bool && dtype == DType::Bool);
}

static int category(DType dtype) {
  return dtype == DType::Bool ? 0 : is_integral(dtype, false) ? 1 : 2;
}

DType promote_types(DType a, DType b) {
  if (a == b) return a;
  int ca = category(a), cb = category(b);
  if (ca != cb) return ca > cb ? a : b;
  return itemsize(a) >= itemsize(b) ? a : b;  // same category: the wider type
}

static std::atomic<DType> g_default_float{DType::Float32};
DType default_float_dtype() { return g_default_float.load(); }
void set_default_float_dtype(DType dtype) {
  LAMINA_CHECK_TYPE(is_floating_point(dtype), "set_default_dtype: only floating-point types are "
                    "supported as the default type, got ", dtype_name(dtype));
  g_default_float.store(dtype);
}

void ResultTypeState::update(DType dtype, OperandRank rank) {
  int& slot = rank == OperandRank::Dimensioned ? dim : rank == OperandRank::ZeroDim ? zero : wrapped;
  slot = slot < 0 ? int(dtype) : int(promote_types(DType(slot), dtype));
}

// PyTorch's combine_categories: the higher-ranked result wins unless the lower one is of a
// strictly higher category, in which case the two are promoted.
static int combine(int higher, int lower) {
  if (higher < 0) return lower;
  if (lower < 0) return higher;
  if (category(DType(lower)) > category(DType(higher))) return int(promote_types(DType(higher), DType(lower)));
  return higher;
}

DType ResultTypeState::result() const {
  int r = combine(dim, combine(zero, wrapped));
  return r < 0 ? default_float_dtype() : DType(r);
}

}  // namespace lamina
