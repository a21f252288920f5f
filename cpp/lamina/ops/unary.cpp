// Elementwise functions of one tensor, each followed by its backward formula (written with lamina
// ops, so it is itself differentiable).
#include <cmath>

#include "lamina/ops/elementwise.h"

namespace lamina {

using autograd::Node;
using autograd::SavedTensor;

namespace {

// How an op treats dtypes: Float promotes integers to the default float dtype, Same keeps the
// input dtype (rejecting bool), Predicate writes bool.
enum class Kind { Float, Same, Predicate };

// Base of the unary backward nodes: the input and/or output, saved when the formula needs them.
struct UnaryBackward : Node {
  static constexpr bool kSavesSelf = false, kSavesResult = false;
  SavedTensor self_, result_;
  UnaryParams params;
  Tensor self() { return unpack(self_); }
  Tensor result() { return unpack(result_); }
};

template <class N>
Tensor unary_op(UnaryOp op, const Tensor& x, const char* name, Kind kind, const UnaryParams& params = {}) {
  if (kind == Kind::Same)
    LAMINA_CHECK_TYPE(x.dtype() != DType::Bool, name, ": not supported for bool tensors");
  DType compute = kind == Kind::Float ? elementwise::float_dtype(x.dtype()) : x.dtype();
  DType out_dtype = kind == Kind::Predicate ? DType::Bool : compute;
  Tensor out = elementwise::unary_forward(op, elementwise::cast(x, compute), out_dtype, name, params);
  if constexpr (!std::is_same_v<N, void>) {
    if (is_floating_point(out_dtype)) {
      if (auto node = autograd::make_node<N>(x)) {
        node->params = params;
        autograd::set_history(out, node);
        if (N::kSavesSelf) node->save(node->self_, x);
        if (N::kSavesResult) node->save(node->result_, out, /*is_output=*/true);
      }
    }
  }
  return out;
}

// In-place form: the same op written back into x (which must be able to hold the result).
template <class N>
Tensor& unary_inplace(UnaryOp op, Tensor& x, const char* name, Kind kind, Tensor (*out_of_place)(const Tensor&),
                      const UnaryParams& params = {}) {
  DType compute = kind == Kind::Float ? elementwise::float_dtype(x.dtype()) : x.dtype();
  LAMINA_CHECK(compute == x.dtype(), name, "_: result type ", dtype_name(compute),
               " can't be cast to the desired output type ", dtype_name(x.dtype()));
  if (kind == Kind::Same)
    LAMINA_CHECK_TYPE(x.dtype() != DType::Bool, name, "_: not supported for bool tensors");
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

LAMINA_UNARY_NODE(NegBackward, false, false, neg(g))
LAMINA_UNARY_NODE(AbsBackward, true, false, g * sign(self()))
LAMINA_UNARY_NODE(SignBackward, false, false, zeros_like(g))
LAMINA_UNARY_NODE(ExpBackward, false, true, g * result())
LAMINA_UNARY_NODE(LogBackward, true, false, g / self())
LAMINA_UNARY_NODE(Log1PBackward, true, false, g / (self() + 1))
LAMINA_UNARY_NODE(Expm1Backward, false, true, g * (result() + 1))
LAMINA_UNARY_NODE(SqrtBackward, false, true, g / (result() * 2))
LAMINA_UNARY_NODE(RsqrtBackward, false, true, g * result() * square(result()) * -0.5)
LAMINA_UNARY_NODE(SinBackward, true, false, g * cos(self()))
LAMINA_UNARY_NODE(CosBackward, true, false, -(g * sin(self())))
LAMINA_UNARY_NODE(TanhBackward, false, true, g * (1 - square(result())))
LAMINA_UNARY_NODE(SigmoidBackward, false, true, g * result() * (1 - result()))
LAMINA_UNARY_NODE(ReluBackward, false, true, g * gt(result(), wrapped_scalar(0.0)))
LAMINA_UNARY_NODE(SiluBackward, true, false, silu_grad(g, self()))
LAMINA_UNARY_NODE(ErfBackward, true, false, g * exp(-square(self())) * M_2_SQRTPI)
LAMINA_UNARY_NODE(ReciprocalBackward, false, true, -(g * square(result())))
LAMINA_UNARY_NODE(SquareBackward, true, false, g * self() * 2)
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
    Tensor z = self() * beta;
    return {where(gt(z, wrapped_scalar(threshold)), grads[0], grads[0] * sigmoid(z))};
  }
};

// The gradient passes where min <= x <= max (bounds inclusive, as in PyTorch).
struct ClampBackward : UnaryBackward {
  static constexpr bool kSavesSelf = true, kSavesResult = false;
  std::string name() const override { return "ClampBackward1"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    Tensor x = self(), g = grads[0];
    if (params.has_p0) g = g * ge(x, wrapped_scalar(params.p0));
    if (params.has_p1) g = g * le(x, wrapped_scalar(params.p1));
    return {g};
  }
};

}  // namespace

Tensor neg(const Tensor& x) {
  LAMINA_CHECK_TYPE(x.dtype() != DType::Bool, "neg: Negation, the `-` operator, on a bool tensor is not "
                    "supported. If you are trying to invert a mask, use the `~` or `logical_not()` operator instead.");
  return unary_op<NegBackward>(UnaryOp::Neg, x, "neg", Kind::Same);
}
Tensor abs(const Tensor& x) { return unary_op<AbsBackward>(UnaryOp::Abs, x, "abs", Kind::Same); }
Tensor sign(const Tensor& x) {
  if (x.dtype() == DType::Bool) return clone(x);
  return unary_op<SignBackward>(UnaryOp::Sign, x, "sign", Kind::Same);
}
Tensor exp(const Tensor& x) { return unary_op<ExpBackward>(UnaryOp::Exp, x, "exp", Kind::Float); }
Tensor log(const Tensor& x) { return unary_op<LogBackward>(UnaryOp::Log, x, "log", Kind::Float); }
Tensor log1p(const Tensor& x) { return unary_op<Log1PBackward>(UnaryOp::Log1p, x, "log1p", Kind::Float); }
Tensor expm1(const Tensor& x) { return unary_op<Expm1Backward>(UnaryOp::Expm1, x, "expm1", Kind::Float); }
Tensor sqrt(const Tensor& x) { return unary_op<SqrtBackward>(UnaryOp::Sqrt, x, "sqrt", Kind::Float); }
Tensor rsqrt(const Tensor& x) { return unary_op<RsqrtBackward>(UnaryOp::Rsqrt, x, "rsqrt", Kind::Float); }
Tensor sin(const Tensor& x) { return unary_op<SinBackward>(UnaryOp::Sin, x, "sin", Kind::Float); }
Tensor cos(const Tensor& x) { return unary_op<CosBackward>(UnaryOp::Cos, x, "cos", Kind::Float); }
Tensor tanh(const Tensor& x) { return unary_op<TanhBackward>(UnaryOp::Tanh, x, "tanh", Kind::Float); }
Tensor sigmoid(const Tensor& x) { return unary_op<SigmoidBackward>(UnaryOp::Sigmoid, x, "sigmoid", Kind::Float); }
Tensor relu(const Tensor& x) { return unary_op<ReluBackward>(UnaryOp::Relu, x, "relu", Kind::Same); }
Tensor gelu(const Tensor& x, const std::string& approximate) {
  LAMINA_CHECK_VALUE(approximate == "none" || approximate == "tanh",
                     "gelu: approximate must be 'none' or 'tanh', got '", approximate, "'");
  UnaryParams params;
  params.has_p0 = approximate == "tanh";
  return unary_op<GeluBackward>(params.has_p0 ? UnaryOp::GeluTanh : UnaryOp::Gelu, x, "gelu", Kind::Float, params);
}
Tensor silu(const Tensor& x) { return unary_op<SiluBackward>(UnaryOp::Silu, x, "silu", Kind::Float); }
Tensor softplus(const Tensor& x, double beta, double threshold) {
  LAMINA_CHECK_VALUE(beta != 0, "softplus: beta must be nonzero");
  UnaryParams params{Scalar(beta), Scalar(threshold), true, true};
  return unary_op<SoftplusBackward>(UnaryOp::Softplus, x, "softplus", Kind::Float, params);
}
Tensor erf(const Tensor& x) { return unary_op<ErfBackward>(UnaryOp::Erf, x, "erf", Kind::Float); }
Tensor reciprocal(const Tensor& x) {
  return unary_op<ReciprocalBackward>(UnaryOp::Reciprocal, x, "reciprocal", Kind::Float);
}
Tensor square(const Tensor& x) { return unary_op<SquareBackward>(UnaryOp::Square, x, "square", Kind::Same); }
Tensor floor(const Tensor& x) { return unary_op<FloorBackward>(UnaryOp::Floor, x, "floor", Kind::Same); }
Tensor ceil(const Tensor& x) { return unary_op<CeilBackward>(UnaryOp::Ceil, x, "ceil", Kind::Same); }
Tensor round(const Tensor& x) { return unary_op<RoundBackward>(UnaryOp::Round, x, "round", Kind::Same); }
Tensor trunc(const Tensor& x) { return unary_op<TruncBackward>(UnaryOp::Trunc, x, "trunc", Kind::Same); }
Tensor logical_not(const Tensor& x) { return unary_op<void>(UnaryOp::LogicalNot, x, "logical_not", Kind::Predicate); }
Tensor bitwise_not(const Tensor& x) {
  LAMINA_CHECK_TYPE(!x.is_floating_point(), "bitwise_not: only integer and bool tensors are supported, got ",
                    dtype_name(x.dtype()));
  return elementwise::unary_forward(UnaryOp::BitwiseNot, x, x.dtype(), "bitwise_not");
}
Tensor isnan(const Tensor& x) { return unary_op<void>(UnaryOp::IsNan, x, "isnan", Kind::Predicate); }
Tensor isinf(const Tensor& x) { return unary_op<void>(UnaryOp::IsInf, x, "isinf", Kind::Predicate); }
Tensor isfinite(const Tensor& x) { return unary_op<void>(UnaryOp::IsFinite, x, "isfinite", Kind::Predicate); }

static UnaryParams clamp_params(const Tensor& x, std::optional<Scalar> min, std::optional<Scalar> max) {
  LAMINA_CHECK(min || max, "clamp: At least one of 'min' or 'max' must not be None");
  LAMINA_CHECK_TYPE(x.is_floating_point() || !((min && min->is_float()) || (max && max->is_float())),
                    "clamp: float bounds for an integer tensor of dtype ", dtype_name(x.dtype()),
                    " are not supported; convert the tensor to a float dtype first");
  UnaryParams p;
  if (min) p.p0 = *min, p.has_p0 = true;
  if (max) p.p1 = *max, p.has_p1 = true;
  return p;
}

Tensor clamp(const Tensor& x, std::optional<Scalar> min, std::optional<Scalar> max) {
  return unary_op<ClampBackward>(UnaryOp::Clamp, x, "clamp", Kind::Same, clamp_params(x, min, max));
}

// Tensor bounds: a composite of maximum/minimum (their gradients route to x or the bound).
Tensor clamp(const Tensor& x, const Tensor& min, const Tensor& max) {
  LAMINA_CHECK(min.defined() || max.defined(), "clamp: At least one of 'min' or 'max' must not be None");
  Tensor out = x;
  if (min.defined()) out = maximum(out, min);
  if (max.defined()) out = minimum(out, max);
  return out;
}

Tensor& neg_(Tensor& x) { return unary_inplace<NegBackward>(UnaryOp::Neg, x, "neg", Kind::Same, neg); }
Tensor& abs_(Tensor& x) { return unary_inplace<AbsBackward>(UnaryOp::Abs, x, "abs", Kind::Same, abs); }
Tensor& exp_(Tensor& x) { return unary_inplace<ExpBackward>(UnaryOp::Exp, x, "exp", Kind::Float, exp); }
Tensor& log_(Tensor& x) { return unary_inplace<LogBackward>(UnaryOp::Log, x, "log", Kind::Float, log); }
Tensor& sqrt_(Tensor& x) { return unary_inplace<SqrtBackward>(UnaryOp::Sqrt, x, "sqrt", Kind::Float, sqrt); }
Tensor& tanh_(Tensor& x) { return unary_inplace<TanhBackward>(UnaryOp::Tanh, x, "tanh", Kind::Float, tanh); }
Tensor& sigmoid_(Tensor& x) {
  return unary_inplace<SigmoidBackward>(UnaryOp::Sigmoid, x, "sigmoid", Kind::Float, sigmoid);
}
Tensor& relu_(Tensor& x) { return unary_inplace<ReluBackward>(UnaryOp::Relu, x, "relu", Kind::Same, relu); }
Tensor& clamp_(Tensor& x, std::optional<Scalar> min, std::optional<Scalar> max) {
  UnaryParams p = clamp_params(x, min, max);
  LAMINA_CHECK_TYPE(x.dtype() != DType::Bool, "clamp_: not supported for bool tensors");
  return elementwise::apply_inplace(
      x, {}, "clamp_", [&] { LAMINA_KERNEL(x.device(), unary, "clamp_")(UnaryOp::Clamp, x, x, p); },
      [&](const Tensor& self) { return clamp(self, min, max); }, true);
}

}  // namespace lamina
