// Factories: allocate (after checking the shape) and fill through the kernel table.
#include <cmath>

#include "lamina/core/kernel_table.h"
#include "lamina/ops/ops.h"
#include "lamina/core/profiler.h"

namespace lamina {

static Tensor allocate(const Shape& shape, TensorOptions options, const char* op, bool zeroed = false) {
  check_shape(shape, itemsize(options.dtype), op);
  return make_tensor(shape, options.dtype, options.device, zeroed, op);
}

Tensor empty(const Shape& shape, TensorOptions options) {
  LAMINA_PROFILE_OP("empty");
  return allocate(shape, options, "empty");
}

Tensor zeros(const Shape& shape, TensorOptions options) {
  LAMINA_PROFILE_OP("zeros");
  if (options.device.is_cpu()) return allocate(shape, options, "zeros", /*zeroed=*/true);
  Tensor t = allocate(shape, options, "zeros");
  LAMINA_KERNEL(options.device, fill, "zeros")(t, Scalar(int64_t(0)));
  return t;
}

// A number written into an integer tensor must fit, as in PyTorch (fills never saturate).
static void check_fits(Scalar value, DType dtype, const char* op) {
  if (dtype == DType::Bool || is_floating_point(dtype)) return;
  double lo = dtype == DType::Int32 ? -2147483648.0 : -9223372036854775808.0;
  bool fits = value.is_float() ? value.to_double() >= lo && value.to_double() < -lo
                               : dtype != DType::Int32 || (value.to_int() >= -2147483648LL && value.to_int() <= 2147483647LL);
  LAMINA_CHECK(fits, op, ": value ", value.to_double(), " cannot be converted to type ", dtype_name(dtype),
               " without overflow");
}

static Tensor filled(const Shape& shape, Scalar value, TensorOptions options, const char* op) {
  check_fits(value, options.dtype, op);
  Tensor t = allocate(shape, options, op);
  if (t.numel() > 0) LAMINA_KERNEL(options.device, fill, op)(t, value);
  return t;
}

Tensor full(const Shape& shape, Scalar value, TensorOptions options) {
  LAMINA_PROFILE_OP("full");
  return filled(shape, value, options, "full");
}
Tensor ones(const Shape& shape, TensorOptions options) {
  LAMINA_PROFILE_OP("ones");
  return filled(shape, Scalar(int64_t(1)), options, "ones");
}

static TensorOptions options_of(const Tensor& t) { return TensorOptions{t.dtype(), t.device()}; }
Tensor empty_like(const Tensor& t) { LAMINA_PROFILE_OP("empty_like", t); return empty(t.shape(), options_of(t)); }
Tensor zeros_like(const Tensor& t) { LAMINA_PROFILE_OP("zeros_like", t); return zeros(t.shape(), options_of(t)); }
Tensor ones_like(const Tensor& t) { LAMINA_PROFILE_OP("ones_like", t); return ones(t.shape(), options_of(t)); }
Tensor full_like(const Tensor& t, Scalar value) {
  LAMINA_PROFILE_OP("full_like", t);
  return full(t.shape(), value, options_of(t));
}

Tensor scalar_tensor(Scalar value, DType dtype, Device device) {
  LAMINA_PROFILE_OP("scalar_tensor");
  return filled({}, value, {dtype, device}, "scalar_tensor");
}

Tensor wrapped_scalar(Scalar value, Device device) {
  // Stored at full precision (float64 / int64 / bool); type promotion treats a wrapped float as
  // the default float dtype (elementwise.cpp).
  DType dtype = value.is_float() ? DType::Float64 : value.is_bool() ? DType::Bool : DType::Int64;
  Tensor t = scalar_tensor(value, dtype, device);
  t.impl()->is_wrapped_number = true;
  return t;
}

// Integer aranges run on the truncated bounds (PyTorch: arange(-0.5, 2.5, dtype=int64) is [0, 1]);
// the length is exact in 128-bit arithmetic.
static Tensor arange_integral(Scalar start, Scalar end, Scalar step, DType dtype, Device device) {
  auto to_int = [](Scalar v) {
    if (!v.is_float()) return v.to_int();
    double d = v.to_double();
    LAMINA_CHECK(std::isfinite(d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0,
                 "arange: unsupported range bound ", d, " for an integer dtype");
    return int64_t(d);
  };
  int64_t s = to_int(start), e = to_int(end), st = to_int(step);
  LAMINA_CHECK(st != 0, "arange: step must be nonzero");
  LAMINA_CHECK((st > 0 && e >= s) || (st < 0 && e <= s), "arange: upper bound and lower bound inconsistent with step sign");
  __int128 span = __int128(e) - s, n = (span + st - (st > 0 ? 1 : -1)) / st;  // ceil(span / st)
  LAMINA_CHECK(n <= __int128(INT64_MAX), "arange: invalid number of elements");
  Tensor out = allocate({int64_t(n)}, {dtype, device}, "arange");
  if (out.numel() > 0) LAMINA_KERNEL(device, arange, "arange")(out, Scalar(s), Scalar(st));
  return out;
}

Tensor arange(Scalar start, Scalar end, Scalar step, std::optional<DType> dtype, Device device) {
  LAMINA_PROFILE_OP("arange");
  bool any_float = start.is_float() || end.is_float() || step.is_float();
  DType dt = dtype ? *dtype : any_float ? default_float_dtype() : DType::Int64;
  LAMINA_CHECK_AS(NotImplementedError, dt != DType::Bool, "arange: not implemented for bool");
  if (!is_floating_point(dt)) return arange_integral(start, end, step, dt, device);
  double s = start.to_double(), e = end.to_double(), st = step.to_double();
  LAMINA_CHECK(std::isfinite(s) && std::isfinite(e), "arange: unsupported range: ", s, " -> ", e);
  LAMINA_CHECK(st != 0, "arange: step must be nonzero");
  LAMINA_CHECK((st > 0 && e >= s) || (st < 0 && e <= s),
               "arange: upper bound and lower bound inconsistent with step sign");
  double n = std::ceil((e - s) / st);
  LAMINA_CHECK(n >= 0 && n < 9.2e18, "arange: invalid number of elements ", n);
  Tensor out = allocate({int64_t(n)}, {dt, device}, "arange");
  if (out.numel() > 0) LAMINA_KERNEL(device, arange, "arange")(out, start, step);
  return out;
}

Tensor linspace(double start, double end, int64_t steps, TensorOptions options) {
  LAMINA_PROFILE_OP("linspace");
  LAMINA_CHECK(steps >= 0, "linspace: number of steps must be non-negative, got ", steps);
  LAMINA_CHECK_AS(NotImplementedError, options.dtype != DType::Bool, "linspace: not implemented for bool");
  Tensor out = allocate({steps}, options, "linspace");
  if (steps == 1) LAMINA_KERNEL(options.device, fill, "linspace")(out, Scalar(start));
  else if (steps > 1) LAMINA_KERNEL(options.device, linspace, "linspace")(out, start, end);
  return out;
}

Tensor eye(int64_t n, int64_t m, TensorOptions options) {
  LAMINA_PROFILE_OP("eye");
  LAMINA_CHECK(n >= 0, "eye: n must be greater or equal to 0, got ", n);
  LAMINA_CHECK(m >= 0, "eye: m must be greater or equal to 0, got ", m);
  Tensor out = zeros({n, m}, options);
  Tensor diag = make_view(out, {std::min(n, m)}, {m + 1}, 0);
  if (diag.numel() > 0) LAMINA_KERNEL(options.device, fill, "eye")(diag, Scalar(int64_t(1)));
  return out;
}

}  // namespace lamina
