#include "lamina/core/shape.h"

#include <algorithm>
#include <limits>
#include <sstream>

#include "lamina/core/error.h"

namespace lamina {

std::ostream& operator<<(std::ostream& os, ShapeStr s) {
  os << '(';
  for (size_t i = 0; i < s.shape.size(); ++i) os << (i ? ", " : "") << s.shape[i];
  if (s.shape.size() == 1) os << ',';
  return os << ')';
}

std::string shape_string(const Shape& shape) {
  std::ostringstream s;
  s << str(shape);
  return s.str();
}

int64_t numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

void check_shape(const Shape& shape, size_t itemsize, const char* op) {
  LAMINA_CHECK(shape.size() <= size_t(kMaxDims), op, ": tensors support at most ", kMaxDims,
               " dims, got ", shape.size());
  for (int64_t d : shape) LAMINA_CHECK(d >= 0, op, ": negative dimension ", d, " in shape ", str(shape));
  // Sizes multiplied in order with a sticky overflow flag, as PyTorch computes a storage size:
  // (2**40, 2**40, 0) overflows before the 0 is reached and is refused.
  // Contiguous strides count a 0-sized dim as 1: (0, 2**40, 2**40) has a stride of 2**80. Counted
  // in bytes (PyTorch counts elements): kernels multiply strides by the item size even for an
  // empty tensor, and that product must not overflow.
  int64_t bytes = int64_t(itemsize > 0 ? itemsize : 1), stride_bytes = bytes;
  bool overflow = false, stride_overflow = false;
  for (int64_t d : shape) {
    overflow |= __builtin_mul_overflow(bytes, d, &bytes);
    stride_overflow |= __builtin_mul_overflow(stride_bytes, std::max<int64_t>(d, 1), &stride_bytes);
  }
  LAMINA_CHECK_AS(Error, !overflow, op, ": storage size calculation overflowed with sizes ", str(shape));
  LAMINA_CHECK_AS(Error, !stride_overflow, op, ": stride calculation overflowed with sizes ", str(shape));
}

Strides contiguous_strides(const Shape& shape) {
  Strides strides(shape.size());
  int64_t s = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = s;
    s *= std::max<int64_t>(shape[i], 1);
  }
  return strides;
}

bool is_contiguous(const Shape& shape, const Strides& strides) {
  int64_t expected = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    if (shape[i] == 0) return true;
    if (shape[i] != 1 && strides[i] != expected) return false;
    expected *= shape[i];
  }
  return true;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    LAMINA_CHECK(da == db || da == 1 || db == 1, op, ": shapes ", str(a), " and ", str(b),
                 " cannot be broadcast");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

bool is_expandable_to(const Shape& from, const Shape& to) {
  if (from.size() > to.size()) return false;
  size_t off = to.size() - from.size();
  for (size_t i = 0; i < from.size(); ++i)
    if (from[i] != 1 && from[i] != to[i + off]) return false;
  return true;
}

int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op) {
  int64_t n = std::max<int64_t>(ndim, 1);  // a 0-d tensor accepts dim 0 and -1, like PyTorch
  LAMINA_CHECK_INDEX(dim >= -n && dim < n, op, ": dim ", dim, " out of range for a ", ndim,
                     "-d tensor (expected in [", -n, ", ", n - 1, "])");
  return dim < 0 ? dim + n : dim;
}

std::vector<int64_t> wrap_dims(const std::vector<int64_t>& dims, int64_t ndim, const char* op) {
  std::vector<int64_t> out;
  for (int64_t d : dims) {
    int64_t w = wrap_dim(d, ndim, op);
    LAMINA_CHECK(std::find(out.begin(), out.end(), w) == out.end(), op, ": dim ", w,
                 " appears multiple times in the list of dims");
    out.push_back(w);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace lamina
