// Factories: allocate (after checking the shape) and fill through the kernel table.
#include <cmath>

#include "lamina/core/kernel_table.h"
#include "lamina/ops/ops.h"

namespace lamina {

static Tensor allocate(const Shape& shape, TensorOptions options, const char* op, bool zeroed = false) {
  check_shape(shape, itemsize(options.dtype), op);
  return make_tensor(shape, options.dtype, options.device, zeroed);
}

Tensor empty(const Shape& shape, TensorOptions options) { return allocate(shape, options, "empty"); }

Tensor zeros(const Shape& shape, TensorOptions options) {
  if (options.device.is_cpu()) return allocate(shape, options, "zeros", /*zeroed=*/true);
  Tensor t = allocate(shape, options, "zeros");
  LAMINA_KERNEL(options.device, fill, "zeros")(t, Scalar(int64_t(0)));
  return t;
}

Tensor full(const Shape& shape, Scalar value, TensorOptions options) {
  Tensor t = allocate(shape, options, "full");
  LAMINA_KERNEL(options.device, fill, "full")(t, value);
  return t;
}

Tensor ones(const Shape& shape, TensorOptions options) { return full(shape, Scalar(int64_t(1)), options); }

static TensorOptions options_of(const Tensor& t) { return TensorOptions{t.dtype(), t.device()}; }
Tensor empty_like(const Tensor& t) { return empty(t.shape(), options_of(t)); }
Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), options_of(t)); }
Tensor ones_like(const Tensor& t) { return ones(t.shape(), options_of(t)); }
Tensor full_like(const Tensor& t, Scalar value) { return full(t.shape(), value, options_of(t)); }

Tensor scalar_tensor(Scalar value, DType dtype, Device device) { return full({}, value, {dtype, device}); }

Tensor wrapped_scalar(Scalar value, Device device) {
  // Stored at full precision (float64 / int64 / bool); type promotion treats a wrapped float as
  // the default float dtype (elementwise.cpp).
  DType dtype = value.is_float() ? DType::Float64 : value.is_bool() ? DType::Bool : DType::Int64;
  Tensor t = scalar_tensor(value, dtype, device);
  t.impl()->is_wrapped_number = true;
  return t;
}

Tensor arange(Scalar start, Scalar end, Scalar step, std::optional<DType> dtype, Device device) {
  bool any_float = start.is_float() || end.is_float() || step.is_float();
  DType dt = dtype ? *dtype : any_float ? default_float_dtype() : DType::Int64;
  double s = start.to_double(), e = end.to_double(), st = step.to_double();
  LAMINA_CHECK(std::isfinite(s) && std::isfinite(e), "arange: unsupported range: ", s, " -> ", e);
  LAMINA_CHECK(st != 0, "arange: step must be nonzero");
  LAMINA_CHECK((st > 0 && e >= s) || (st < 0 && e <= s) || s == e,
               "arange: upper bound and larger bound inconsistent with step sign");
  double n = std::ceil((e - s) / st);
  LAMINA_CHECK(n >= 0 && n < 9.2e18, "arange: invalid number of elements ", n);
  Tensor out = allocate({int64_t(n)}, {dt, device}, "arange");
  if (out.numel() > 0) LAMINA_KERNEL(device, arange, "arange")(out, start, step);
  return out;
}

Tensor linspace(double start, double end, int64_t steps, TensorOptions options) {
  LAMINA_CHECK(steps >= 0, "linspace: number of steps must be non-negative, got ", steps);
  Tensor out = allocate({steps}, options, "linspace");
  if (steps == 1) LAMINA_KERNEL(options.device, fill, "linspace")(out, Scalar(start));
  else if (steps > 1) LAMINA_KERNEL(options.device, linspace, "linspace")(out, start, end);
  return out;
}

Tensor eye(int64_t n, int64_t m, TensorOptions options) {
  if (m < 0) m = n;
  LAMINA_CHECK(n >= 0 && m >= 0, "eye: n and m must be non-negative, got n=", n, ", m=", m);
  Tensor out = zeros({n, m}, options);
  Tensor diag = make_view(out, {std::min(n, m)}, {m + 1}, 0);
  if (diag.numel() > 0) LAMINA_KERNEL(options.device, fill, "eye")(diag, Scalar(int64_t(1)));
  return out;
}

}  // namespace lamina
