// Random tensors. Each draw reserves one Philox block per element from the generator, so the
// values depend on (seed, offset, element index) only, never on the thread count.
// RandInt hands its int64 bounds to the kernel bit-cast into the two double parameters
// (cpu/kernels/random.cpp unpacks them): converting them to double would round bounds past 2^53.
#include <cmath>
#include <cstring>

#include "lamina/ops/elementwise.h"
#include "lamina/core/profiler.h"

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

// A fresh tensor of random values; the shape is checked under the op's own name.
Tensor random_tensor(const Shape& shape, TensorOptions options, RandomOp op, double a, double b, Generator* gen,
                     const char* name) {
  check_shape(shape, itemsize(options.dtype), name);
  Tensor t = make_tensor(shape, options.dtype, options.device);
  fill_random(t, op, a, b, gen, name);
  return t;
}

// PyTorch has no integer kernels for these distributions (NotImplementedError, a RuntimeError).
void check_float(DType dtype, const char* name) {
  LAMINA_CHECK_AS(NotImplementedError, is_floating_point(dtype), name, ": not implemented for ", dtype_name(dtype),
                  " (expects a floating point dtype)");
}

double int_bits(int64_t v) {
  double d;
  std::memcpy(&d, &v, sizeof d);
  return d;
}

// [low, high - 1] must be exactly representable in the output dtype.
void check_randint_range(int64_t low, int64_t high, DType dtype) {
  int64_t lo = INT64_MIN, hi = INT64_MAX;
  if (dtype == DType::Bool) lo = 0, hi = 1;
  if (dtype == DType::Int32) lo = INT32_MIN, hi = INT32_MAX;
  if (dtype == DType::Float32) lo = -(int64_t(1) << 24), hi = int64_t(1) << 24;
  if (dtype == DType::Float64) lo = -(int64_t(1) << 53), hi = int64_t(1) << 53;
  LAMINA_CHECK(low >= lo && high - 1 <= hi, "randint: range [", low, ", ", high, ") is out of bounds for ",
               dtype_name(dtype), " (which holds every integer in [", lo, ", ", hi, "])");
}

}  // namespace

Tensor rand(const Shape& shape, TensorOptions options, Generator* gen) {
  LAMINA_PROFILE_OP("rand");
  check_float(options.dtype, "rand");
  return random_tensor(shape, options, RandomOp::Uniform, 0.0, 1.0, gen, "rand");
}

Tensor randn(const Shape& shape, TensorOptions options, Generator* gen) {
  LAMINA_PROFILE_OP("randn");
  check_float(options.dtype, "randn");
  return random_tensor(shape, options, RandomOp::Normal, 0.0, 1.0, gen, "randn");
}

Tensor randint(int64_t low, int64_t high, const Shape& shape, TensorOptions options, Generator* gen) {
  LAMINA_PROFILE_OP("randint");
  LAMINA_CHECK(low < high, "randint: random_ expects 'from' to be less than 'to', but got from=", low,
               " >= to=", high);
  check_randint_range(low, high, options.dtype);
  // high - low fits in uint64 for any int64 pair with low < high.
  uint64_t range = uint64_t(high) - uint64_t(low);
  return random_tensor(shape, options, RandomOp::RandInt, int_bits(low), int_bits(int64_t(range)), gen, "randint");
}

// A uniform permutation: the stable argsort of random keys in [0, 2^62). Key collisions (chance
// about n^2 / 2^63) only keep two elements in index order, so the bias is negligible.
Tensor randperm(int64_t n, TensorOptions options, Generator* gen) {
  LAMINA_PROFILE_OP("randperm");
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
  LAMINA_PROFILE_OP("uniform_", t);
  check_float(t.dtype(), "uniform_");
  LAMINA_CHECK(from <= to, "uniform_: expects to return a [from, to) range, but found from=", from, " > to=", to);
  LAMINA_CHECK(std::isfinite(from) && std::isfinite(to - from), "uniform_: the range [", from, ", ", to,
               ") must be finite");
  return fill_random_into(t, RandomOp::Uniform, from, to, gen, "uniform_");
}

Tensor& normal_(Tensor& t, double mean, double std, Generator* gen) {
  LAMINA_PROFILE_OP("normal_", t);
  check_float(t.dtype(), "normal_");
  LAMINA_CHECK(std >= 0, "normal_: expects std >= 0.0, but found std ", std);
  return fill_random_into(t, RandomOp::Normal, mean, std, gen, "normal_");
}

Tensor& bernoulli_(Tensor& t, double p, Generator* gen) {
  LAMINA_PROFILE_OP("bernoulli_", t);
  LAMINA_CHECK(p >= 0 && p <= 1, "bernoulli_: expects p to be in [0, 1], but got p=", p);
  return fill_random_into(t, RandomOp::Bernoulli, p, 0.0, gen, "bernoulli_");
}

namespace {

// 1 where a uniform draw falls below p (p broadcast to `shape`), in dtype `out_dtype`.
Tensor bernoulli_draw(const Tensor& p, const Shape& shape, Generator* gen, const char* name) {
  LAMINA_CHECK_AS(NotImplementedError, p.is_floating_point(), name, ": not implemented for probabilities of dtype ",
                  dtype_name(p.dtype()), " (expects a floating point tensor)");
  autograd::GradModeGuard no_grad(false);
  if (p.numel() > 0) {
    bool in_range = all(logical_and(ge(p, wrapped_scalar(0.0)), le(p, wrapped_scalar(1.0)))).data<bool>()[0];
    LAMINA_CHECK(in_range, name, ": all probabilities must be in [0, 1]");
  }
  Tensor u = make_tensor(shape, p.dtype(), p.device());
  fill_random(u, RandomOp::Uniform, 0.0, 1.0, gen, name);
  return lt(u, p);
}

}  // namespace

Tensor bernoulli(const Tensor& p, Generator* gen) {
  LAMINA_PROFILE_OP("bernoulli", p);
  return to(bernoulli_draw(p, p.shape(), gen, "bernoulli"), p.dtype());
}

Tensor& bernoulli_(Tensor& t, const Tensor& p, Generator* gen) {
  LAMINA_PROFILE_OP("bernoulli_", t, p);
  elementwise::check_same_device(t, p, "bernoulli_");
  LAMINA_CHECK(is_expandable_to(p.shape(), t.shape()), "bernoulli_: probabilities of shape ", str(p.shape()),
               " cannot be broadcast to the tensor's shape ", str(t.shape()));
  elementwise::check_no_internal_overlap(t, "bernoulli_");
  autograd::check_inplace(t, "bernoulli_");
  Tensor draw = bernoulli_draw(p, t.shape(), gen, "bernoulli_");
  copy_into(t, draw);
  t.bump_version();
  return t;
}

namespace {
// PyTorch defines the gradient of a normal draw with respect to mean and std as zero.
struct NormalBackward : autograd::Node {
  std::string name() const override { return "NormalBackward3"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    std::vector<Tensor> out;
    for (size_t i = 0; i < next_edges.size(); ++i)
      out.push_back(needs_input_grad(i) ? zeros(input_meta[i].shape, {grads[0].dtype(), grads[0].device()}) : Tensor());
    return out;
  }
};
}  // namespace

Tensor normal(const Tensor& mean, const Tensor& std, Generator* gen) {
  LAMINA_PROFILE_OP("normal", mean, std);
  for (const Tensor* t : {&mean, &std})
    LAMINA_CHECK_AS(NotImplementedError, t->impl()->is_wrapped_number || t->is_floating_point(),
                    "normal: not implemented for ", dtype_name(t->dtype()), " (expects floating point mean and std)");
  elementwise::check_same_device(mean, std, "normal");
  Shape shape = broadcast_shapes(mean.shape(), std.shape(), "normal");
  DType dtype = elementwise::result_type(mean, std);
  check_shape(shape, itemsize(dtype), "normal");
  Tensor out;
  {
    autograd::GradModeGuard no_grad(false);
    if (std.numel() > 0) {
      bool ok = all(ge(std, wrapped_scalar(0.0))).data<bool>()[0];
      LAMINA_CHECK(ok, "normal: expects all elements of std >= 0.0");
    }
    Tensor noise = make_tensor(shape, dtype, mean.device());
    fill_random(noise, RandomOp::Normal, 0.0, 1.0, gen, "normal");
    out = add(mean, mul(std, noise));
  }
  if (auto node = autograd::make_node<NormalBackward>(mean, std)) autograd::set_history(out, node);
  return out;
}

}  // namespace lamina
