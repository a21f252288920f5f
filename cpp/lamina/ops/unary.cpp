// Elementwise functions of one tensor, each followed by its backward formula (written with lamina
// ops, so it is itself differentiable).
#include <cmath>

#include "lamina/ops/elementwise.h"
#include "lamina/core/profiler.h"

namespace lamina {

using autograd::Node;
using autograd::SavedTensor;

namespace {

// How an op treats dtypes: Float promotes integers to the default float dtype, FloatOnly rejects
// them (PyTorch has no integer kernel for gelu, silu, softplus), Same keeps the input dtype
// (rejecting bool), Predicate writes bool.
enum class Kind { Float, FloatOnly, Same, Predicate };

DType compute_dtype(const Tensor& x, Kind kind, const char* name) {
  if (kind == Kind::FloatOnly && !x.is_floating_point()) elementwise::fail_dtype(name, x.dtype());
  if (kind == Kind::Same && x.dtype() == DType::Bool) elementwise::fail_dtype(name, x.dtype());
  return kind == Kind::Float ? elementwise::float_dtype(x.dtype()) : x.dtype();
}

// Base of the unary backward nodes: the input and/or output, saved when the formula needs them.
struct UnaryBackward : Node {
  static constexpr bool kSavesSelf = false, kSavesResult = false;
  SavedTensor self_, result_;
  UnaryParams params;
  Tensor self() { return unpack(self_); }
  Tensor result() { return unpack(result_); }
};

// Attaches N as out's grad_fn (when x needs grad), saving what its formula reads.
template <class N>
Tensor record_unary(Tensor out, const Tensor& x, const UnaryParams& params = {}) {
  if (auto node = autograd::make_node<N>(x)) {
    node->params = params;
    autograd::set_history(out, node);
    if (N::kSavesSelf) node->save(node->self_, x);
    if (N::kSavesResult) node->save(node->result_, out, /*is_output=*/true);
  }
  return out;
}

template <class N>
Tensor unary_op(UnaryOp op, const Tensor& x, const char* name, Kind kind, const UnaryParams& params = {}) {
  DType compute = compute_dtype(x, kind, name);
  DType out_dtype = kind == Kind::Predicate ? DType::Bool : compute;
  Tensor out = elementwise::unary_forward(op, elementwise::cast(x, compute), out_dtype, name, params);
  if constexpr (!std::is_same_v<N, void>) {
    if (is_floating_point(out_dtype)) record_unary<N>(out, x, params);
  }
  return out;
}

// In-place form: the same op written back into x (which must be able to hold the result).
template <class N>
Tensor& unary_inplace(UnaryOp op, Tensor& x, const char* name, Kind kind, Tensor (*out_of_place)(const Tensor&),
                      const UnaryParams& params = {}) {
  DType compute = compute_dtype(x, kind, name);
  elementwise::check_can_cast(compute, x.dtype(), name);
  return elementwise::apply_inplace(
      x, {}, name, [&] { LAMINA_KERNEL(x.device(), unary, name)(op, x, x, params); },
      [&](const Tensor& self) { return out_of_place(self); }, N::kSavesSelf);
}

#define LAMINA_UNARY_NODE(Name, saves_self, saves_result, formula)             \
  struct Name : UnaryBackward {                                                \
    static constexpr bool kSavesSelf = saves_self, kSavesResult = saves_result; \
    std::string name() const override { return #Name "0"; }                    \
    std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {          \
      const Tensor& g = grads[0];                                              \
      return {formula};                                                        \
    }                                                                          \
  };

// d/dx x*s(x) = s(x) * (1 + x * (1 - s(x)))
Tensor silu_grad(const Tensor& g, const Tensor& x) {
  Tensor s = sigmoid(x);
  return g * s * (x * (1 - s) + 1);
}

// The formulas group their factors as PyTorch's derivatives do, so that overflow (inf) and inf * 0
// (NaN) land on the same elements in both libraries.
LAMINA_UNARY_NODE(NegBackward, false, false, neg(g))
LAMINA_UNARY_NODE(AbsBackward, true, false, g * sign(self()))
LAMINA_UNARY_NODE(SignBackward, false, false, zeros_like(g))
LAMINA_UNARY_NODE(ExpBackward, false, true, g * result())
LAMINA_UNARY_NODE(LogBackward, true, false, g / self())
LAMINA_UNARY_NODE(Log1PBackward, true, false, g / (self() + 1))
LAMINA_UNARY_NODE(Expm1Backward, false, true, g * (result() + 1))
LAMINA_UNARY_NODE(SqrtBackward, false, true, g / (result() * 2))
LAMINA_UNARY_NODE(RsqrtBackward, false, true, (g * -0.5) * pow(result(), wrapped_scalar(3.0)))
LAMINA_UNARY_NODE(SinBackward, true, false, g * cos(self()))
LAMINA_UNARY_NODE(CosBackward, true, false, -(g * sin(self())))
LAMINA_UNARY_NODE(TanBackward, false, true, g * (square(result()) + 1))
LAMINA_UNARY_NODE(AsinBackward, true, false, g * rsqrt(1 - square(self())))
LAMINA_UNARY_NODE(AcosBackward, true, false, g * -rsqrt(1 - square(self())))
LAMINA_UNARY_NODE(AtanBackward, true, false, g / (square(self()) + 1))
LAMINA_UNARY_NODE(SinhBackward, true, false, g * cosh(self()))
LAMINA_UNARY_NODE(CoshBackward, true, false, g * sinh(self()))
LAMINA_UNARY_NODE(AsinhBackward, true, false, g * rsqrt(square(self()) + 1))
LAMINA_UNARY_NODE(AcoshBackward, true, false, g * rsqrt(square(self()) - 1))
LAMINA_UNARY_NODE(AtanhBackward, true, false, g * reciprocal(1 - square(self())))
LAMINA_UNARY_NODE(TanhBackward, false, true, g * (1 - square(result())))
LAMINA_UNARY_NODE(SigmoidBackward, false, true, g * (1 - result()) * result())
LAMINA_UNARY_NODE(ReluBackward, false, true, grad_unless(le(result(), wrapped_scalar(0.0)), g))  // NaN passes
LAMINA_UNARY_NODE(SiluBackward, true, false, silu_grad(g, self()))
LAMINA_UNARY_NODE(ErfBackward, true, false, exp(-square(self())) * M_2_SQRTPI * g)
LAMINA_UNARY_NODE(ReciprocalBackward, false, true, -(g * square(result())))
LAMINA_UNARY_NODE(SquareBackward, true, false, g * (self() * 2))  // PyTorch's grouping: 2x may overflow first
LAMINA_UNARY_NODE(FloorBackward, false, false, zeros_like(g))
LAMINA_UNARY_NODE(CeilBackward, false, false, zeros_like(g))
LAMINA_UNARY_NODE(RoundBackward, false, false, zeros_like(g))
LAMINA_UNARY_NODE(TruncBackward, false, false, zeros_like(g))
#undef LAMINA_UNARY_NODE

struct GeluBackward : UnaryBackward {
  static constexpr bool kSavesSelf = true, kSavesResult = false;
  std::string name() const override { return "GeluBackward0"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    const Tensor& g = grads[0];
    Tensor x = self();
    if (!params.has_p0) {  // exact: Phi(x) + x * phi(x)
      Tensor cdf = (erf(x * M_SQRT1_2) + 1) * 0.5;
      Tensor pdf = exp(square(x) * -0.5) * (0.5 * M_2_SQRTPI * M_SQRT1_2);
      return {g * (cdf + x * pdf)};
    }
    // tanh approximation: d/dx 0.5 x (1 + tanh(k (x + c x^3)))
    const double k = 0.7978845608028654, c = 0.044715;
    Tensor x2 = square(x);
    Tensor t = tanh((x + x2 * x * c) * k);
    Tensor left = (t + 1) * 0.5;
    Tensor right = x * (1 - square(t)) * (x2 * (3 * c) + 1) * (0.5 * k);
    return {g * (left + right)};
  }
};

struct SoftplusBackward : UnaryBackward {
  static constexpr bool kSavesSelf = true, kSavesResult = false;
  std::string name() const override { return "SoftplusBackward0"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    double beta = params.p0.to_double(), threshold = params.p1.to_double();
    Tensor z = self() * beta, limit = wrapped_scalar(threshold);
    // PyTorch's softplus_double_backward passes curvature only where z < threshold (strictly),
    // while the first derivative takes the sigmoid branch up to z == threshold: at the boundary
    // the sigmoid's input is held constant.
    Tensor z_curved = where(lt(z, limit), z, detach(z));
    return {where(gt(z, limit), grads[0], grads[0] * sigmoid(z_curved))};
  }
};

struct MishBackward : UnaryBackward {
  static constexpr bool kSavesSelf = true, kSavesResult = false;
  std::string name() const override { return "MishBackward0"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    Tensor x = self(), t = tanh(softplus(x));
    return {grads[0] * (t + x * sigmoid(x) * (1 - t * t))};
  }
};

// The gradient passes where min <= x <= max (bounds inclusive, NaN blocked, as in PyTorch).
struct ClampBackward : UnaryBackward {
  static constexpr bool kSavesSelf = true, kSavesResult = false;
  std::string name() const override { return "ClampBackward1"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    Tensor x = self();
    Tensor lo = params.has_p0 ? ge(x, wrapped_scalar(params.p0)) : Tensor();
    Tensor hi = params.has_p1 ? le(x, wrapped_scalar(params.p1)) : Tensor();
    return {grad_where(!lo.defined() ? hi : !hi.defined() ? lo : logical_and(lo, hi), grads[0])};
  }
};

// hardtanh (and relu6): the gradient passes strictly inside (min, max), and for NaN; PyTorch's
// convention at the kinks, unlike clamp's inclusive bounds.
struct HardtanhBackward : UnaryBackward {
  static constexpr bool kSavesSelf = true, kSavesResult = false;
  std::string name() const override { return "HardtanhBackward0"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    Tensor x = self();
    return {grad_unless(logical_or(le(x, wrapped_scalar(params.p0)), ge(x, wrapped_scalar(params.p1))), grads[0])};
  }
};

// hardsigmoid = clamp(x + 3, 0, 6) / 6: slope 1/6 strictly inside (-3, 3), 0 elsewhere and for NaN.
struct HardsigmoidBackward : UnaryBackward {
  static constexpr bool kSavesSelf = true, kSavesResult = false;
  std::string name() const override { return "HardsigmoidBackward0"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    Tensor x = self();
    return {grad_where(logical_and(gt(x, wrapped_scalar(-3.0)), lt(x, wrapped_scalar(3.0))), grads[0] / 6)};
  }
};

// hardswish = x * hardsigmoid(x): 0 for x <= -3, x / 3 + 1/2 for -3 < x < 3, 1 from 3 on (and NaN).
struct HardswishBackward : UnaryBackward {
  static constexpr bool kSavesSelf = true, kSavesResult = false;
  std::string name() const override { return "HardswishBackward0"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    Tensor x = self(), g = grads[0];
    Tensor inside = where(lt(x, wrapped_scalar(3.0)), g * (x / 3 + 0.5), g);
    return {grad_unless(le(x, wrapped_scalar(-3.0)), inside)};
  }
};

// elu (selu, celu): PyTorch's elu_backward, g scale where x > 0, else g scale alpha input_scale
// exp(x input_scale). Differentiating the forward's expm1 instead gave g (expm1(x) + 1), which cancels
// to 0 once expm1 rounds to -1 (float32 x below about -17). params: p0 = alpha, p1 = input_scale;
// the scale is folded into the saved factors below.
struct EluBackward : UnaryBackward {
  static constexpr bool kSavesSelf = true, kSavesResult = false;
  double scale = 1;
  std::string name() const override { return "EluBackward0"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    Tensor x = self(), g = grads[0], zero = wrapped_scalar(0.0);
    const double alpha = params.p0.to_double(), input_scale = params.p1.to_double();
    // As PyTorch, x = 0 takes the exp branch's value (exp(0) = 1) with PyTorch's zero curvature
    // there, and NaN takes the x > 0 branch. exp of min(x, 0): the dropped branch stays finite, or
    // its zero gradient would meet exp(inf) in the double backward (0 * inf = NaN).
    Tensor c = g * (scale * alpha * input_scale);
    Tensor negative = where(lt(x, zero), c * exp(clamp(x, std::nullopt, Scalar(0.0)) * input_scale), c);
    return {where(le(x, zero), negative, g * scale)};
  }
};

}  // namespace

Tensor neg(const Tensor& x) {
  LAMINA_PROFILE_OP("neg", x);
  LAMINA_CHECK(x.dtype() != DType::Bool, "neg: Negation, the `-` operator, on a bool tensor is not supported. "
               "If you are trying to invert a mask, use the `~` or `logical_not()` operator instead.");
  return unary_op<NegBackward>(UnaryOp::Neg, x, "neg", Kind::Same);
}
Tensor abs(const Tensor& x) {
  LAMINA_PROFILE_OP("abs", x);
  return unary_op<AbsBackward>(UnaryOp::Abs, x, "abs", Kind::Same);
}
Tensor sign(const Tensor& x) {
  LAMINA_PROFILE_OP("sign", x);
  if (x.dtype() == DType::Bool) return clone(x);
  return unary_op<SignBackward>(UnaryOp::Sign, x, "sign", Kind::Same);
}
Tensor exp(const Tensor& x) {
  LAMINA_PROFILE_OP("exp", x);
  return unary_op<ExpBackward>(UnaryOp::Exp, x, "exp", Kind::Float);
}
Tensor log(const Tensor& x) {
  LAMINA_PROFILE_OP("log", x);
  return unary_op<LogBackward>(UnaryOp::Log, x, "log", Kind::Float);
}
Tensor log1p(const Tensor& x) {
  LAMINA_PROFILE_OP("log1p", x);
  return unary_op<Log1PBackward>(UnaryOp::Log1p, x, "log1p", Kind::Float);
}
Tensor expm1(const Tensor& x) {
  LAMINA_PROFILE_OP("expm1", x);
  return unary_op<Expm1Backward>(UnaryOp::Expm1, x, "expm1", Kind::Float);
}
Tensor sqrt(const Tensor& x) {
  LAMINA_PROFILE_OP("sqrt", x);
  return unary_op<SqrtBackward>(UnaryOp::Sqrt, x, "sqrt", Kind::Float);
}
Tensor rsqrt(const Tensor& x) {
  LAMINA_PROFILE_OP("rsqrt", x);
  return unary_op<RsqrtBackward>(UnaryOp::Rsqrt, x, "rsqrt", Kind::Float);
}
Tensor sin(const Tensor& x) {
  LAMINA_PROFILE_OP("sin", x);
  return unary_op<SinBackward>(UnaryOp::Sin, x, "sin", Kind::Float);
}
Tensor cos(const Tensor& x) {
  LAMINA_PROFILE_OP("cos", x);
  return unary_op<CosBackward>(UnaryOp::Cos, x, "cos", Kind::Float);
}
Tensor tan(const Tensor& x) {
  LAMINA_PROFILE_OP("tan", x);
  return unary_op<TanBackward>(UnaryOp::Tan, x, "tan", Kind::Float);
}
Tensor asin(const Tensor& x) {
  LAMINA_PROFILE_OP("asin", x);
  return unary_op<AsinBackward>(UnaryOp::Asin, x, "asin", Kind::Float);
}
Tensor acos(const Tensor& x) {
  LAMINA_PROFILE_OP("acos", x);
  return unary_op<AcosBackward>(UnaryOp::Acos, x, "acos", Kind::Float);
}
Tensor atan(const Tensor& x) {
  LAMINA_PROFILE_OP("atan", x);
  return unary_op<AtanBackward>(UnaryOp::Atan, x, "atan", Kind::Float);
}
Tensor sinh(const Tensor& x) {
  LAMINA_PROFILE_OP("sinh", x);
  return unary_op<SinhBackward>(UnaryOp::Sinh, x, "sinh", Kind::Float);
}
Tensor cosh(const Tensor& x) {
  LAMINA_PROFILE_OP("cosh", x);
  return unary_op<CoshBackward>(UnaryOp::Cosh, x, "cosh", Kind::Float);
}
Tensor asinh(const Tensor& x) {
  LAMINA_PROFILE_OP("asinh", x);
  return unary_op<AsinhBackward>(UnaryOp::Asinh, x, "asinh", Kind::Float);
}
Tensor acosh(const Tensor& x) {
  LAMINA_PROFILE_OP("acosh", x);
  return unary_op<AcoshBackward>(UnaryOp::Acosh, x, "acosh", Kind::Float);
}
Tensor atanh(const Tensor& x) {
  LAMINA_PROFILE_OP("atanh", x);
  return unary_op<AtanhBackward>(UnaryOp::Atanh, x, "atanh", Kind::Float);
}
Tensor tanh(const Tensor& x) {
  LAMINA_PROFILE_OP("tanh", x);
  return unary_op<TanhBackward>(UnaryOp::Tanh, x, "tanh", Kind::Float);
}
Tensor sigmoid(const Tensor& x) {
  LAMINA_PROFILE_OP("sigmoid", x);
  return unary_op<SigmoidBackward>(UnaryOp::Sigmoid, x, "sigmoid", Kind::Float);
}
Tensor relu(const Tensor& x) {
  LAMINA_PROFILE_OP("relu", x);
  LAMINA_CHECK(x.dtype() != DType::Bool, "relu: Boolean inputs not supported for relu");
  return unary_op<ReluBackward>(UnaryOp::Relu, x, "relu", Kind::Same);
}
static UnaryOp gelu_op(const std::string& approximate, const char* name) {
  LAMINA_CHECK(approximate == "none" || approximate == "tanh", name,
               ": approximate argument must be either none or tanh, got '", approximate, "'");
  return approximate == "tanh" ? UnaryOp::GeluTanh : UnaryOp::Gelu;
}
Tensor gelu(const Tensor& x, const std::string& approximate) {
  LAMINA_PROFILE_OP("gelu", x);
  UnaryParams params;
  params.has_p0 = gelu_op(approximate, "gelu") == UnaryOp::GeluTanh;  // tells the backward which formula
  return unary_op<GeluBackward>(gelu_op(approximate, "gelu"), x, "gelu", Kind::FloatOnly, params);
}
Tensor silu(const Tensor& x) {
  LAMINA_PROFILE_OP("silu", x);
  return unary_op<SiluBackward>(UnaryOp::Silu, x, "silu", Kind::FloatOnly);
}
Tensor softplus(const Tensor& x, double beta, double threshold) {
  LAMINA_PROFILE_OP("softplus", x);
  UnaryParams params{Scalar(beta), Scalar(threshold), true, true};
  return unary_op<SoftplusBackward>(UnaryOp::Softplus, x, "softplus", Kind::FloatOnly, params);
}
Tensor hardtanh(const Tensor& x, Scalar min, Scalar max) {
  LAMINA_PROFILE_OP("hardtanh", x);
  LAMINA_CHECK_VALUE(min.to_double() <= max.to_double(), "hardtanh: min_val (", min.to_double(),
                     ") cannot be greater than max_val (", max.to_double(), ")");
  UnaryParams params{min, max, true, true};
  return unary_op<HardtanhBackward>(UnaryOp::Clamp, x, "hardtanh", Kind::Same, params);
}
// hardsigmoid and hardswish compute their forward without recording and attach their own node.
Tensor hardsigmoid(const Tensor& x) {
  LAMINA_PROFILE_OP("hardsigmoid", x);
  if (!x.is_floating_point()) elementwise::fail_dtype("hardsigmoid", x.dtype());
  Tensor out;
  {
    autograd::GradModeGuard no_grad(false);
    out = clamp(x + 3, Scalar(0.0), Scalar(6.0)) / 6;
  }
  return record_unary<HardsigmoidBackward>(out, x);
}
Tensor hardswish(const Tensor& x) {
  LAMINA_PROFILE_OP("hardswish", x);
  if (!x.is_floating_point()) elementwise::fail_dtype("hardswish", x.dtype());
  Tensor out;
  {
    autograd::GradModeGuard no_grad(false);
    out = x * hardsigmoid(x);
  }
  return record_unary<HardswishBackward>(out, x);
}
Tensor elu(const Tensor& x, double alpha, double scale, double input_scale) {
  LAMINA_PROFILE_OP("elu", x);
  if (!x.is_floating_point()) elementwise::fail_dtype("elu", x.dtype());
  Tensor out;
  {
    autograd::GradModeGuard no_grad(false);
    // expm1 of min(x, 0): the branch where() drops stays finite.
    Tensor negative = expm1(clamp(x, std::nullopt, Scalar(0.0)) * input_scale) * (alpha * scale);
    out = where(gt(x, wrapped_scalar(0.0)), scale == 1 ? x : x * scale, negative);
  }
  UnaryParams params{Scalar(alpha), Scalar(input_scale), true, true};
  if (auto node = autograd::make_node<EluBackward>(x)) {
    node->params = params;
    node->scale = scale;
    autograd::set_history(out, node);
    node->save(node->self_, x);
  }
  return out;
}
// mish = x tanh(softplus(x)), with PyTorch's mish_backward g (t + x sigmoid(x) (1 - t^2)),
// t = tanh(softplus(x)). Differentiating the composite instead sent inf * 0 = NaN into its product
// rule where softplus' gradient meets an infinite x (the fuzzer found it).
Tensor mish(const Tensor& x) {
  LAMINA_PROFILE_OP("mish", x);
  if (!x.is_floating_point()) elementwise::fail_dtype("mish", x.dtype());
  Tensor out;
  {
    autograd::GradModeGuard no_grad(false);
    out = x * tanh(softplus(x));
  }
  return record_unary<MishBackward>(out, x);
}
Tensor erf(const Tensor& x) {
  LAMINA_PROFILE_OP("erf", x);
  return unary_op<ErfBackward>(UnaryOp::Erf, x, "erf", Kind::Float);
}
Tensor reciprocal(const Tensor& x) {
  LAMINA_PROFILE_OP("reciprocal", x);
  return unary_op<ReciprocalBackward>(UnaryOp::Reciprocal, x, "reciprocal", Kind::Float);
}
// square(bool) is an int64 tensor (bool ** 2 promotes like bool * int).
Tensor square(const Tensor& x) {
  LAMINA_PROFILE_OP("square", x);
  Tensor in = x.dtype() == DType::Bool ? elementwise::cast(x, DType::Int64) : x;
  return unary_op<SquareBackward>(UnaryOp::Square, in, "square", Kind::Same);
}
Tensor floor(const Tensor& x) {
  LAMINA_PROFILE_OP("floor", x);
  return unary_op<FloorBackward>(UnaryOp::Floor, x, "floor", Kind::Same);
}
Tensor ceil(const Tensor& x) {
  LAMINA_PROFILE_OP("ceil", x);
  return unary_op<CeilBackward>(UnaryOp::Ceil, x, "ceil", Kind::Same);
}
Tensor round(const Tensor& x) {
  LAMINA_PROFILE_OP("round", x);
  return unary_op<RoundBackward>(UnaryOp::Round, x, "round", Kind::Same);
}
Tensor trunc(const Tensor& x) {
  LAMINA_PROFILE_OP("trunc", x);
  return unary_op<TruncBackward>(UnaryOp::Trunc, x, "trunc", Kind::Same);
}

// round to `decimals` places as PyTorch computes it: nearbyint(x * 10^d) / 10^d in x's dtype
// (x / 10^-d and * 10^-d for negative d). Its gradient is zero, like round's.
Tensor round(const Tensor& x, int64_t decimals) {
  LAMINA_PROFILE_OP("round", x);
  if (decimals == 0) return round(x);
  if (!x.is_floating_point()) elementwise::fail_dtype("round", x.dtype());
  Tensor out;
  {
    autograd::GradModeGuard no_grad(false);
    Tensor ten = wrapped_scalar(std::pow(10.0, double(decimals > 0 ? decimals : -decimals)), x.device());
    out = decimals > 0 ? div(round(mul(x, ten)), ten) : mul(round(div(x, ten)), ten);
  }
  return record_unary<RoundBackward>(out, x);
}
Tensor logical_not(const Tensor& x) {
  LAMINA_PROFILE_OP("logical_not", x);
  return unary_op<void>(UnaryOp::LogicalNot, x, "logical_not", Kind::Predicate);
}
Tensor bitwise_not(const Tensor& x) {
  LAMINA_PROFILE_OP("bitwise_not", x);
  if (x.is_floating_point()) elementwise::fail_dtype("bitwise_not", x.dtype());
  return elementwise::unary_forward(UnaryOp::BitwiseNot, x, x.dtype(), "bitwise_not");
}
Tensor isnan(const Tensor& x) {
  LAMINA_PROFILE_OP("isnan", x);
  return unary_op<void>(UnaryOp::IsNan, x, "isnan", Kind::Predicate);
}
Tensor isinf(const Tensor& x) {
  LAMINA_PROFILE_OP("isinf", x);
  return unary_op<void>(UnaryOp::IsInf, x, "isinf", Kind::Predicate);
}
Tensor isfinite(const Tensor& x) {
  LAMINA_PROFILE_OP("isfinite", x);
  return unary_op<void>(UnaryOp::IsFinite, x, "isfinite", Kind::Predicate);
}

// ---- clamp: bounds are numbers (one kernel pass) or tensors (a composite) ----

static Tensor bound_tensor(const std::optional<Scalar>& s, Device device) {
  return s ? wrapped_scalar(*s, device) : Tensor();
}

// The result dtype of clamp: PyTorch's result_type over the input and the given bounds.
static DType clamp_dtype(const Tensor& x, const Tensor& min, const Tensor& max, const char* name) {
  LAMINA_CHECK(min.defined() || max.defined(), name, ": At least one of 'min' or 'max' must not be None");
  DType dtype = elementwise::result_type({x, min, max});
  if (dtype == DType::Bool) elementwise::fail_dtype(name, dtype);
  return dtype;
}

static UnaryParams clamp_params(std::optional<Scalar> min, std::optional<Scalar> max) {
  UnaryParams p;
  if (min) p.p0 = *min, p.has_p0 = true;
  if (max) p.p1 = *max, p.has_p1 = true;
  return p;
}

Tensor clamp(const Tensor& x, std::optional<Scalar> min, std::optional<Scalar> max) {
  LAMINA_PROFILE_OP("clamp", x);
  DType dtype = clamp_dtype(x, bound_tensor(min, x.device()), bound_tensor(max, x.device()), "clamp");
  Tensor in = dtype == x.dtype() ? x : to(x, dtype);
  return unary_op<ClampBackward>(UnaryOp::Clamp, in, "clamp", Kind::Same, clamp_params(min, max));
}

namespace {
// Tensor bounds, out = min(max(x, lo), hi): the gradient goes to x where lo <= x <= hi, to lo
// where x < lo <= hi, and to hi where x > hi or lo > hi (then out is hi everywhere).
struct ClampTensorBackward : Node {
  SavedTensor x_, min_, max_;
  std::string name() const override { return "ClampBackward0"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    Tensor x = unpack(x_), lo = unpack(min_), hi = unpack(max_), g = grads[0], zero = wrapped_scalar(0.0);
    Tensor ge_lo = lo.defined() ? ge(x, lo) : Tensor(), le_hi = hi.defined() ? le(x, hi) : Tensor();
    Tensor to_x = !lo.defined() ? le_hi : !hi.defined() ? ge_lo : logical_and(ge_lo, le_hi);
    Tensor to_lo, to_hi;
    if (lo.defined()) to_lo = hi.defined() ? logical_and(logical_not(ge_lo), le(lo, hi)) : logical_not(ge_lo);
    if (hi.defined()) to_hi = lo.defined() ? logical_or(logical_not(le_hi), gt(lo, hi)) : logical_not(le_hi);
    auto part = [&](size_t i, const Tensor& mask) {
      return needs_input_grad(i) ? sum_to(where(mask, g, zero), input_meta[i].shape) : Tensor();
    };
    return {part(0, to_x), part(1, to_lo), part(2, to_hi)};
  }
};
}  // namespace

Tensor clamp(const Tensor& x, const Tensor& min, const Tensor& max) {
  LAMINA_PROFILE_OP("clamp", x, min, max);
  DType dtype = clamp_dtype(x, min, max, "clamp");
  Shape shape = x.shape();
  for (const Tensor& b : {min, max}) {
    if (!b.defined()) continue;
    elementwise::check_same_device(x, b, "clamp");
    shape = broadcast_shapes(shape, b.shape(), "clamp");
  }
  Tensor out;
  {
    autograd::GradModeGuard no_grad(false);  // min(max(x, lo), hi): NaN anywhere gives NaN
    out = elementwise::cast(x, dtype);
    if (min.defined()) out = maximum(out, min);
    if (max.defined()) out = minimum(out, max);
    if (out.is_same(x)) out = clone(x);
  }
  if (is_floating_point(dtype)) {
    if (auto node = autograd::make_node<ClampTensorBackward>(x, min, max)) {
      autograd::set_history(out, node);
      node->save(node->x_, x);
      node->save(node->min_, min);
      node->save(node->max_, max);
    }
  }
  return out;
}

// ---- in-place variants ----

#define LAMINA_UNARY_INPLACE(fn, Node, Op, kind) \
  Tensor& fn##_(Tensor& x) { return unary_inplace<Node>(UnaryOp::Op, x, #fn "_", Kind::kind, fn); }
LAMINA_UNARY_INPLACE(abs, AbsBackward, Abs, Same)
LAMINA_UNARY_INPLACE(exp, ExpBackward, Exp, Float)
LAMINA_UNARY_INPLACE(log, LogBackward, Log, Float)
LAMINA_UNARY_INPLACE(log1p, Log1PBackward, Log1p, Float)
LAMINA_UNARY_INPLACE(expm1, Expm1Backward, Expm1, Float)
LAMINA_UNARY_INPLACE(sqrt, SqrtBackward, Sqrt, Float)
LAMINA_UNARY_INPLACE(rsqrt, RsqrtBackward, Rsqrt, Float)
LAMINA_UNARY_INPLACE(sin, SinBackward, Sin, Float)
LAMINA_UNARY_INPLACE(cos, CosBackward, Cos, Float)
LAMINA_UNARY_INPLACE(tan, TanBackward, Tan, Float)
LAMINA_UNARY_INPLACE(asin, AsinBackward, Asin, Float)
LAMINA_UNARY_INPLACE(acos, AcosBackward, Acos, Float)
LAMINA_UNARY_INPLACE(atan, AtanBackward, Atan, Float)
LAMINA_UNARY_INPLACE(sinh, SinhBackward, Sinh, Float)
LAMINA_UNARY_INPLACE(cosh, CoshBackward, Cosh, Float)
LAMINA_UNARY_INPLACE(asinh, AsinhBackward, Asinh, Float)
LAMINA_UNARY_INPLACE(acosh, AcoshBackward, Acosh, Float)
LAMINA_UNARY_INPLACE(atanh, AtanhBackward, Atanh, Float)
LAMINA_UNARY_INPLACE(tanh, TanhBackward, Tanh, Float)
LAMINA_UNARY_INPLACE(sigmoid, SigmoidBackward, Sigmoid, Float)
LAMINA_UNARY_INPLACE(erf, ErfBackward, Erf, Float)
LAMINA_UNARY_INPLACE(reciprocal, ReciprocalBackward, Reciprocal, Float)
LAMINA_UNARY_INPLACE(floor, FloorBackward, Floor, Same)
LAMINA_UNARY_INPLACE(ceil, CeilBackward, Ceil, Same)
LAMINA_UNARY_INPLACE(round, RoundBackward, Round, Same)
LAMINA_UNARY_INPLACE(trunc, TruncBackward, Trunc, Same)
#undef LAMINA_UNARY_INPLACE

Tensor& neg_(Tensor& x) {
  LAMINA_PROFILE_OP("neg_", x);
  LAMINA_CHECK(x.dtype() != DType::Bool, "neg_: Negation, the `-` operator, on a bool tensor is not supported. "
               "If you are trying to invert a mask, use the `~` or `logical_not()` operator instead.");
  return unary_inplace<NegBackward>(UnaryOp::Neg, x, "neg_", Kind::Same, neg);
}
Tensor& relu_(Tensor& x) {
  LAMINA_PROFILE_OP("relu_", x);
  LAMINA_CHECK(x.dtype() != DType::Bool, "relu_: Boolean inputs not supported for relu");
  return unary_inplace<ReluBackward>(UnaryOp::Relu, x, "relu_", Kind::Same, relu);
}
Tensor& sign_(Tensor& x) {
  LAMINA_PROFILE_OP("sign_", x);
  if (x.dtype() == DType::Bool) {  // sign of a bool is itself; still an in-place write
    return elementwise::apply_inplace(x, {}, "sign_", [] {}, [](const Tensor& self) { return sign(self); }, false);
  }
  return unary_inplace<SignBackward>(UnaryOp::Sign, x, "sign_", Kind::Same, sign);
}
Tensor& square_(Tensor& x) {
  LAMINA_PROFILE_OP("square_", x);
  if (x.dtype() == DType::Bool) elementwise::check_can_cast(DType::Int64, DType::Bool, "square_");
  return unary_inplace<SquareBackward>(UnaryOp::Square, x, "square_", Kind::Same, square);
}

Tensor& clamp_(Tensor& x, std::optional<Scalar> min, std::optional<Scalar> max) {
  LAMINA_PROFILE_OP("clamp_", x);
  DType dtype = clamp_dtype(x, bound_tensor(min, x.device()), bound_tensor(max, x.device()), "clamp_");
  elementwise::check_can_cast(dtype, x.dtype(), "clamp_");
  UnaryParams p = clamp_params(min, max);
  return elementwise::apply_inplace(
      x, {}, "clamp_", [&] { LAMINA_KERNEL(x.device(), unary, "clamp_")(UnaryOp::Clamp, x, x, p); },
      [&](const Tensor& self) { return clamp(self, min, max); }, true);
}

Tensor& clamp_(Tensor& x, const Tensor& min, const Tensor& max) {
  LAMINA_PROFILE_OP("clamp_", x, min, max);
  DType dtype = clamp_dtype(x, min, max, "clamp_");
  elementwise::check_can_cast(dtype, x.dtype(), "clamp_");
  Shape shape = x.shape();
  for (const Tensor& b : {min, max}) {
    if (!b.defined()) continue;
    elementwise::check_same_device(x, b, "clamp_");
    shape = broadcast_shapes(shape, b.shape(), "clamp_");
  }
  LAMINA_CHECK(shape == x.shape(), "clamp_: output with shape ", str(x.shape()),
               " doesn't match the broadcast shape ", str(shape));
  return elementwise::apply_inplace(
      x, {min, max}, "clamp_",
      [&] {
        autograd::GradModeGuard no_grad(false);
        copy_into(x, clamp(x, min, max));
      },
      [&](const Tensor& self) { return clamp(self, min, max); }, true);
}

}  // namespace lamina
