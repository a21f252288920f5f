// Random tensors. Each draw reserves one Philox block per element from the generator, so the
// values depend on (seed, offset, element index) only.
#include <cmath>

#include "lamina/ops/elementwise.h"

namespace lamina {

namespace {

Generator& gen_or_default(Generator* gen) { return gen ? *gen : default_generator(); }

void fill_random(const Tensor& out, RandomOp op, double a, double b, Generator* gen, const char* name) {
  if (out.numel() == 0) return;
  Generator& g = gen_or_default(gen);
  uint64_t first = g.reserve(uint64_t(out.numel()));
  LAMINA_KERNEL(out.device(), random, name)(op, out, g.seed(), first, a, b);
}

// Random ops write contiguous memory; a strided target is filled through a temporary.
Tensor& fill_random_into(Tensor& t, RandomOp op, double a, double b, Generator* gen, const char* name) {
  elementwise::check_no_internal_overlap(t, name);
  autograd::check_inplace(t, name);
  if (t.is_contiguous()) {
    fill_random(t, op, a, b, gen, name);
  } else {
    Tensor tmp = make_tensor(t.shape(), t.dtype(), t.device());
    fill_random(tmp, op, a, b, gen, name);
    copy_into(t, tmp);
  }
  t.bump_version();
  return t;
}

void check_float(DType dtype, const char* name) {
  LAMINA_CHECK_TYPE(is_floating_point(dtype), name, ": expected a floating point dtype, got ", dtype_name(dtype));
}

}  // namespace

Tensor rand(const Shape& shape, TensorOptions options, Generator* gen) {
  check_float(options.dtype, "rand");
  Tensor t = empty(shape, options);
  fill_random(t, RandomOp::Uniform, 0.0, 1.0, gen, "rand");
  return t;
}

Tensor randn(const Shape& shape, TensorOptions options, Generator* gen) {
  check_float(options.dtype, "randn");
  Tensor t = empty(shape, options);
  fill_random(t, RandomOp::Normal, 0.0, 1.0, gen, "randn");
  return t;
}

Tensor randint(int64_t low, int64_t high, const Shape& shape, TensorOptions options, Generator* gen) {
  LAMINA_CHECK(low < high, "randint: random_ expects 'from' to be less than 'to', but got from=", low,
               " >= to=", high);
  LAMINA_CHECK(double(high) - double(low) < 9.2e18, "randint: range [", low, ", ", high, ") is too large");
  Tensor t = empty(shape, options);
  fill_random(t, RandomOp::RandInt, double(low), double(high), gen, "randint");
  return t;
}

// A uniform permutation: the stable argsort of random keys in [0, 2^62). Key collisions (chance
// about n^2 / 2^63) only keep two elements in index order, so the bias is negligible.
Tensor randperm(int64_t n, TensorOptions options, Generator* gen) {
  LAMINA_CHECK(n >= 0, "randperm: n must be non-negative, got ", n);
  LAMINA_CHECK_AS(NotImplementedError, options.dtype != DType::Bool, "randperm: not implemented for 'bool'");
  double exact = options.dtype == DType::Int32 ? 0x1p31 : options.dtype == DType::Float32 ? 0x1p24
                 : options.dtype == DType::Float64 ? 0x1p53 : 0x1p63;
  LAMINA_CHECK(double(n) <= exact, "randperm: n is too large for result tensor type: '", dtype_name(options.dtype),
               "'");
  Tensor keys = empty({n}, {DType::Int64, options.device});
  fill_random(keys, RandomOp::RandInt, 0.0, 0x1p62, gen, "randperm");
  autograd::GradModeGuard no_grad(false);
  return to(argsort(keys, 0, false, true), options.dtype);
}

Tensor& uniform_(Tensor& t, double from, double to, Generator* gen) {
  check_float(t.dtype(), "uniform_");
  LAMINA_CHECK(from <= to, "uniform_: expects to return a [from, to) range, but found from=", from, " > to=", to);
  return fill_random_into(t, RandomOp::Uniform, from, to, gen, "uniform_");
}

Tensor& normal_(Tensor& t, double mean, double std, Generator* gen) {
  check_float(t.dtype(), "normal_");
  LAMINA_CHECK(std >= 0, "normal_: expects std >= 0.0, but found std ", std);
  return fill_random_into(t, RandomOp::Normal, mean, std, gen, "normal_");
}

Tensor& bernoulli_(Tensor& t, double p, Generator* gen) {
  LAMINA_CHECK(p >= 0 && p <= 1, "bernoulli_: expects p to be in [0, 1], but got p=", p);
  return fill_random_into(t, RandomOp::Bernoulli, p, 0.0, gen, "bernoulli_");
}

Tensor bernoulli(const Tensor& p, Generator* gen) {
  LAMINA_CHECK_TYPE(p.is_floating_point(), "bernoulli: expected a floating point tensor of probabilities, got ",
                    dtype_name(p.dtype()));
  autograd::GradModeGuard no_grad(false);
  bool in_range = all(logical_and(ge(p, wrapped_scalar(0.0)), le(p, wrapped_scalar(1.0)))).data<bool>()[0];
  LAMINA_CHECK(in_range, "bernoulli: all probabilities must be in [0, 1]");
  Tensor u = empty(p.shape(), {p.dtype(), p.device()});
  fill_random(u, RandomOp::Uniform, 0.0, 1.0, gen, "bernoulli");
  return to(lt(u, p), p.dtype());
}

}  // namespace lamina
