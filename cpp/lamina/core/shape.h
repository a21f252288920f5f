// Shapes and strides (in elements, int64), broadcasting and dimension wrapping.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace lamina {

using Shape = std::vector<int64_t>;
using Strides = std::vector<int64_t>;

// Tensors have at most this many dims; fixed-size loop state in the kernels relies on it.
constexpr int kMaxDims = 25;

// Prints a shape as a Python tuple: (2, 3), (4,), ().
struct ShapeStr {
  const Shape& shape;
};
std::ostream& operator<<(std::ostream& os, ShapeStr s);
inline ShapeStr str(const Shape& shape) { return ShapeStr{shape}; }
std::string shape_string(const Shape& shape);

int64_t numel(const Shape& shape);
// Checks dims are non-negative, ndim <= kMaxDims and numel * itemsize fits in int64.
void check_shape(const Shape& shape, size_t itemsize, const char* op);
Strides contiguous_strides(const Shape& shape);
bool is_contiguous(const Shape& shape, const Strides& strides);

// The broadcast of two shapes; throws "<op>: shapes (2, 3) and (4,) cannot be broadcast".
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);
bool is_expandable_to(const Shape& from, const Shape& to);

// Wraps a possibly negative dim; IndexError naming the op when out of range.
int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op);
// Wraps a list of dims (empty = all dims) into a sorted bitmask-free list; rejects repeats.
std::vector<int64_t> wrap_dims(const std::vector<int64_t>& dims, int64_t ndim, const char* op);

}  // namespace lamina
