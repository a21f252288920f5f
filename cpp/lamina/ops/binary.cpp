// Elementwise functions of two tensors with broadcasting and type promotion, each followed by its
// backward formula. Gradients of broadcast inputs are summed back to the input's shape.
#include <cmath>

#include "lamina/ops/elementwise.h"
#include "lamina/core/profiler.h"

namespace lamina {

using autograd::Node;
using autograd::SavedTensor;

namespace {

// Base of binary backward nodes: saves a and/or b when the formula needs them, and sums a
// gradient back to an input's (pre-broadcast) shape.
struct BinaryBackward : Node {
  static constexpr bool kSavesA = false, kSavesB = false;
  SavedTensor a_, b_;
  Tensor a() { return unpack(a_); }
  Tensor b() { return unpack(b_); }
  Tensor fit(size_t input, const Tensor& grad) { return sum_to(grad, input_meta[input].shape); }
};

template <class N>
Tensor record(Tensor out, const Tensor& a, const Tensor& b) {
  if (!out.is_floating_point()) return out;
  if (auto node = autograd::make_node<N>(a, b)) {
    autograd::set_history(out, node);
    if (N::kSavesA) node->save(node->a_, a);
    if (N::kSavesB) node->save(node->b_, b);
  }
  return out;
}

// The gradient of `a` in maximum(a, b): none where a loses, half on ties (PyTorch's rule), all
// where a wins or either side is NaN. minimum(a, b) is the same with the comparison mirrored.
Tensor max_grad(const Tensor& g, const Tensor& a, const Tensor& b) {
  return grad_unless(lt(a, b), where(eq(a, b), g * 0.5, g));
}

// 1 / (a^2 + b^2) for atan2's gradients, taken as 0 where it is infinite (at the origin, or where
// the squares underflow): PyTorch's gradient there is 0, not 0 / 0.
Tensor atan2_scale(const Tensor& a, const Tensor& b) {
  Tensor r = reciprocal(square(a) + square(b));
  return where(isinf(r), wrapped_scalar(0.0), r);
}

#define LAMINA_BINARY_NODE(Name, saves_a, saves_b, grad_a, grad_b)    \
  struct Name : BinaryBackward {                                      \
    static constexpr bool kSavesA = saves_a, kSavesB = saves_b;       \
    std::string name() const override { return #Name "0"; }           \
    std::vector<Tensor> apply(std::vector<Tensor>&& grads) override { \
      const Tensor& g = grads[0];                                     \
      Tensor ga = needs_input_grad(0) ? fit(0, grad_a) : Tensor();    \
      Tensor gb = needs_input_grad(1) ? fit(1, grad_b) : Tensor();    \
      return {ga, gb};                                                \
    }                                                                 \
  };

LAMINA_BINARY_NODE(AddBackward, false, false, g, g)
LAMINA_BINARY_NODE(SubBackward, false, false, g, neg(g))
LAMINA_BINARY_NODE(MulBackward, true, true, g * b(), g * a())
// d/db a / b = -g (a / b) / b, PyTorch's grouping: b^2 would underflow (x / x at x = 1e-30 in float32
// gave -inf) or overflow first.
LAMINA_BINARY_NODE(DivBackward, true, true, g / b(), -(g * ((a() / b()) / b())))
LAMINA_BINARY_NODE(Atan2Backward, true, true, g * b() * atan2_scale(a(), b()), g * neg(a()) * atan2_scale(a(), b()))
// a^b: d/da = b a^(b-1), taken as 0 where b == 0 (also at a == 0, where a^(b-1) is inf);
// d/db = a^b log(a), taken as 0 where a == 0 and b >= 0. Grouped as PyTorch's pow_backward,
// g (b a^(b-1)) and g (a^b log(a)), so overflow (inf) and NaN land on the same elements.
LAMINA_BINARY_NODE(PowBackward, true, true,
                   where(eq(b(), wrapped_scalar(0.0)), wrapped_scalar(0.0), g * (b() * pow(a(), to(b(), g.dtype()) - 1))),
                   g * where(logical_and(eq(a(), wrapped_scalar(0.0)), ge(b(), wrapped_scalar(0.0))),
                             wrapped_scalar(0.0), pow(a(), b()) * log(a())))
LAMINA_BINARY_NODE(MaximumBackward, true, true, max_grad(g, a(), b()), max_grad(g, b(), a()))
LAMINA_BINARY_NODE(MinimumBackward, true, true, max_grad(g, b(), a()), max_grad(g, a(), b()))
LAMINA_BINARY_NODE(RemainderBackward, true, true, g, -(g * div(a(), b(), "floor")))
LAMINA_BINARY_NODE(FmodBackward, true, true, g, -(g * div(a(), b(), "trunc")))
LAMINA_BINARY_NODE(FloorDivideBackward, false, false, zeros_like(g), zeros_like(g))
#undef LAMINA_BINARY_NODE

DType promoted(const Tensor& a, const Tensor& b) { return elementwise::result_type(a, b); }

// Integer division by zero is an error (on x86 it would trap), as in PyTorch.
void check_divisor(const Tensor& a, const Tensor& b, DType compute, const char* name) {
  if (is_floating_point(compute) || a.numel() == 0 || b.numel() == 0) return;  // nothing is divided
  bool has_zero = any(eq(b, wrapped_scalar(int64_t(0))), {}, false).data<bool>()[0];
  LAMINA_CHECK(!has_zero, name, ": ZeroDivisionError (integer division by zero)");
}

// Subtraction of bools is an error in PyTorch (not a logical op).
void check_sub_bool(const Tensor& a, const Tensor& b, const char* name) {
  bool ab = a.dtype() == DType::Bool, bb = b.dtype() == DType::Bool;
  LAMINA_CHECK(!(ab && bb), name, ": Subtraction, the `-` operator, with two bool tensors is not supported. "
               "Use the `^` or `logical_xor()` operator instead.");
  LAMINA_CHECK(!(ab || bb), name, ": Subtraction, the `-` operator, with a bool tensor is not supported. "
               "If you are trying to invert a mask, use the `~` or `logical_not()` operator instead.");
}

// Integer-only arithmetic (floor/trunc division, remainder, fmod, pow) has no bool kernel.
void check_not_bool(DType compute, const char* name) {
  if (compute == DType::Bool) elementwise::fail_dtype(name, compute);
}

void check_rounding_mode(const std::string& mode, const char* name) {
  LAMINA_CHECK(mode == "trunc" || mode == "floor", name,
               ": expected rounding_mode to be one of None, 'trunc', or 'floor' but found '", mode, "'");
}

template <class N>
Tensor arith(BinaryOp op, const Tensor& a, const Tensor& b, DType compute, const char* name) {
  return record<N>(elementwise::binary_forward(op, a, b, compute, compute, name), a, b);
}

// Comparisons and logical ops: computed in the promoted dtype, written as bool, no gradient.
Tensor predicate(BinaryOp op, const Tensor& a, const Tensor& b, const char* name) {
  return elementwise::binary_forward(op, a, b, promoted(a, b), DType::Bool, name);
}

DType bitwise_dtype(const Tensor& a, const Tensor& b, const char* name) {
  DType compute = promoted(a, b);
  if (is_floating_point(compute)) elementwise::fail_dtype(name, compute);
  return compute;
}

Tensor bitwise(BinaryOp op, const Tensor& a, const Tensor& b, const char* name) {
  DType compute = bitwise_dtype(a, b, name);
  return elementwise::binary_forward(op, a, b, compute, compute, name);
}

// Scales b by alpha for add/sub (alpha must be an integer for integer tensors).
Tensor scaled(const Tensor& a, const Tensor& b, Scalar alpha, const char* name) {
  if (!alpha.is_float() && alpha.to_int() == 1) return b;
  LAMINA_CHECK(!alpha.is_float() || is_floating_point(promoted(a, b)), name,
               ": For integral input tensors, argument alpha must not be a floating point number.");
  return mul(b, wrapped_scalar(alpha, b.device()));
}

// What every in-place binary op checks first (as PyTorch does, before dtype support): same
// device, a result dtype that fits a, and a broadcast that keeps a's shape.
void check_inplace_args(const Tensor& a, const Tensor& b, DType compute, const char* name) {
  elementwise::check_same_device(a, b, name);
  elementwise::check_can_cast(compute, a.dtype(), name);
  Shape shape = broadcast_shapes(a.shape(), b.shape(), name);
  LAMINA_CHECK(shape == a.shape(), name, ": output with shape ", str(a.shape()),
               " doesn't match the broadcast shape ", str(shape));
}

// The in-place form of a binary op: a = op(a, b), a keeps its dtype and shape.
Tensor& binary_inplace(BinaryOp op, Tensor& a, const Tensor& b, DType compute, const char* name,
                       const std::function<Tensor(const Tensor&)>& out_of_place, bool saves_self) {
  check_inplace_args(a, b, compute, name);
  const Shape& shape = a.shape();
  return elementwise::apply_inplace(a, {b}, name, [&] {
    // A b that overlaps a (other than being a itself) is read before any element is written.
    Tensor bb = b.shares_storage(a) && !b.is_same(a) ? clone(detach(b)) : b;
    if (compute == a.dtype()) {
      LAMINA_KERNEL(a.device(), binary, name)(op, a, a, elementwise::expand_view(elementwise::cast(bb, compute), shape));
    } else {
      copy_into(a, elementwise::binary_forward(op, a, bb, compute, compute, name));
    }
  }, out_of_place, saves_self);
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b, Scalar alpha) {
  LAMINA_PROFILE_OP("add", a, b);
  Tensor bs = scaled(a, b, alpha, "add");
  return arith<AddBackward>(BinaryOp::Add, a, bs, promoted(a, bs), "add");
}

Tensor sub(const Tensor& a, const Tensor& b, Scalar alpha) {
  LAMINA_PROFILE_OP("sub", a, b);
  check_sub_bool(a, b, "sub");
  Tensor bs = scaled(a, b, alpha, "sub");
  return arith<SubBackward>(BinaryOp::Sub, a, bs, promoted(a, bs), "sub");
}

Tensor mul(const Tensor& a, const Tensor& b) {
  LAMINA_PROFILE_OP("mul", a, b);
  return arith<MulBackward>(BinaryOp::Mul, a, b, promoted(a, b), "mul");
}

// Division rounded toward zero or down; integers raise on a zero divisor, as in PyTorch.
static Tensor rounded_div(const Tensor& a, const Tensor& b, bool trunc, const char* name) {
  DType compute = promoted(a, b);
  check_not_bool(compute, name);
  check_divisor(a, b, compute, name);
  BinaryOp op = trunc ? BinaryOp::TruncDivide : BinaryOp::FloorDivide;
  return arith<FloorDivideBackward>(op, a, b, compute, name);
}

Tensor div(const Tensor& a, const Tensor& b, const std::string& rounding_mode) {
  LAMINA_PROFILE_OP("div", a, b);
  if (rounding_mode.empty()) {
    return arith<DivBackward>(BinaryOp::Div, a, b, elementwise::float_dtype(promoted(a, b)), "div");
  }
  check_rounding_mode(rounding_mode, "div");
  return rounded_div(a, b, rounding_mode == "trunc", "div");
}

Tensor floor_divide(const Tensor& a, const Tensor& b) {
  LAMINA_PROFILE_OP("floor_divide", a, b);
  return rounded_div(a, b, false, "floor_divide");
}

Tensor remainder(const Tensor& a, const Tensor& b) {
  LAMINA_PROFILE_OP("remainder", a, b);
  DType compute = promoted(a, b);
  check_not_bool(compute, "remainder");
  check_divisor(a, b, compute, "remainder");
  return arith<RemainderBackward>(BinaryOp::Remainder, a, b, compute, "remainder");
}

Tensor fmod(const Tensor& a, const Tensor& b) {
  LAMINA_PROFILE_OP("fmod", a, b);
  DType compute = promoted(a, b);
  check_not_bool(compute, "fmod");
  check_divisor(a, b, compute, "fmod");
  return arith<FmodBackward>(BinaryOp::Fmod, a, b, compute, "fmod");
}

// An integer base with a negative integer exponent that is a Python number is an error; a
// tensor of negative exponents gives 0 (or +-1 for bases +-1), as in PyTorch.
void check_pow(const Tensor& b, DType compute, const char* name) {
  if (compute == DType::Bool && !b.impl()->is_wrapped_number) elementwise::fail_dtype(name, compute);
  if (is_floating_point(compute) || !b.impl()->is_wrapped_number || b.dtype() != DType::Int64) return;
  LAMINA_CHECK(b.data<int64_t>()[0] >= 0, name, ": Integers to negative integer powers are not allowed.");
}

// x ** n for a constant exponent n in {1, 2, 3, -1} (a number or a 0-d tensor needing no
// gradient, as in PowBackward's b - 1): vectorized multiplications (or a division) give the same
// correctly rounded results as std::pow, element by element, at a small fraction of its cost.
// Returns an undefined tensor for other exponents.
Tensor pow_by_multiplication(const Tensor& a, const Tensor& b, DType compute) {
  if (b.dim() != 0 || !b.device().is_cpu() || b.dtype() == DType::Bool || autograd::needs_grad(b)) return Tensor();
  double e = dispatch(b.dtype(), [&](auto tag) { return double(*b.data<typename decltype(tag)::type>()); });
  bool reciprocal = e == -1 && is_floating_point(compute);
  if (e != 1 && e != 2 && e != 3 && !reciprocal) return Tensor();
  autograd::GradModeGuard no_grad(false);  // the caller records PowBackward
  using elementwise::binary_forward;
  Tensor x = elementwise::cast(a, compute);
  if (reciprocal) return binary_forward(BinaryOp::Div, wrapped_scalar(1.0), x, compute, compute, "pow");
  if (e == 1) return clone(x);
  Tensor sq = binary_forward(BinaryOp::Mul, x, x, compute, compute, "pow");
  return e == 2 ? sq : binary_forward(BinaryOp::Mul, sq, x, compute, compute, "pow");
}

Tensor pow(const Tensor& a, const Tensor& b) {
  LAMINA_PROFILE_OP("pow", a, b);
  DType compute = promoted(a, b);
  check_pow(b, compute, "pow");
  if (Tensor fast = pow_by_multiplication(a, b, compute); fast.defined()) return record<PowBackward>(fast, a, b);
  return arith<PowBackward>(BinaryOp::Pow, a, b, compute, "pow");
}

Tensor minimum(const Tensor& a, const Tensor& b) {
  LAMINA_PROFILE_OP("minimum", a, b);
  return arith<MinimumBackward>(BinaryOp::Minimum, a, b, promoted(a, b), "minimum");
}
Tensor maximum(const Tensor& a, const Tensor& b) {
  LAMINA_PROFILE_OP("maximum", a, b);
  return arith<MaximumBackward>(BinaryOp::Maximum, a, b, promoted(a, b), "maximum");
}
Tensor atan2(const Tensor& a, const Tensor& b) {
  LAMINA_PROFILE_OP("atan2", a, b);
  return arith<Atan2Backward>(BinaryOp::Atan2, a, b, elementwise::float_dtype(promoted(a, b)), "atan2");
}

Tensor grad_where(const Tensor& keep, const Tensor& g) {
  LAMINA_PROFILE_OP("grad_where", keep, g);
  return where(keep, g, wrapped_scalar(0.0, g.device()));
}
Tensor grad_unless(const Tensor& drop, const Tensor& g) {
  LAMINA_PROFILE_OP("grad_unless", drop, g);
  return where(drop, wrapped_scalar(0.0, g.device()), g);
}

Tensor eq(const Tensor& a, const Tensor& b) {
  LAMINA_PROFILE_OP("eq", a, b);
  return predicate(BinaryOp::Eq, a, b, "eq");
}
Tensor ne(const Tensor& a, const Tensor& b) {
  LAMINA_PROFILE_OP("ne", a, b);
  return predicate(BinaryOp::Ne, a, b, "ne");
}
Tensor lt(const Tensor& a, const Tensor& b) {
  LAMINA_PROFILE_OP("lt", a, b);
  return predicate(BinaryOp::Lt, a, b, "lt");
}
Tensor le(const Tensor& a, const Tensor& b) {
  LAMINA_PROFILE_OP("le", a, b);
  return predicate(BinaryOp::Le, a, b, "le");
}
Tensor gt(const Tensor& a, const Tensor& b) {
  LAMINA_PROFILE_OP("gt", a, b);
  return predicate(BinaryOp::Gt, a, b, "gt");
}
Tensor ge(const Tensor& a, const Tensor& b) {
  LAMINA_PROFILE_OP("ge", a, b);
  return predicate(BinaryOp::Ge, a, b, "ge");
}
Tensor logical_and(const Tensor& a, const Tensor& b) {
  LAMINA_PROFILE_OP("logical_and", a, b);
  return predicate(BinaryOp::LogicalAnd, a, b, "logical_and");
}
Tensor logical_or(const Tensor& a, const Tensor& b) {
  LAMINA_PROFILE_OP("logical_or", a, b);
  return predicate(BinaryOp::LogicalOr, a, b, "logical_or");
}
Tensor logical_xor(const Tensor& a, const Tensor& b) {
  LAMINA_PROFILE_OP("logical_xor", a, b);
  return predicate(BinaryOp::LogicalXor, a, b, "logical_xor");
}
Tensor bitwise_and(const Tensor& a, const Tensor& b) {
  LAMINA_PROFILE_OP("bitwise_and", a, b);
  return bitwise(BinaryOp::BitwiseAnd, a, b, "bitwise_and");
}
Tensor bitwise_or(const Tensor& a, const Tensor& b) {
  LAMINA_PROFILE_OP("bitwise_or", a, b);
  return bitwise(BinaryOp::BitwiseOr, a, b, "bitwise_or");
}
Tensor bitwise_xor(const Tensor& a, const Tensor& b) {
  LAMINA_PROFILE_OP("bitwise_xor", a, b);
  return bitwise(BinaryOp::BitwiseXor, a, b, "bitwise_xor");
}

namespace {
struct WhereBackward : Node {
  SavedTensor cond_;
  std::string name() const override { return "WhereBackward0"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    Tensor cond = unpack(cond_), zero = wrapped_scalar(0.0);
    const Tensor& g = grads[0];
    Tensor ga = needs_input_grad(0) ? sum_to(where(cond, g, zero), input_meta[0].shape) : Tensor();
    Tensor gb = needs_input_grad(1) ? sum_to(where(cond, zero, g), input_meta[1].shape) : Tensor();
    return {ga, gb};
  }
};
}  // namespace

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  LAMINA_PROFILE_OP("where", cond, a, b);
  LAMINA_CHECK(cond.dtype() == DType::Bool, "where: expected condition to be a boolean tensor, but got a "
               "tensor with dtype ", elementwise::type_name(cond.dtype()));
  elementwise::check_same_device(cond, a, "where");
  elementwise::check_same_device(a, b, "where");
  DType dtype = promoted(a, b);
  Shape shape = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where"), b.shape(), "where");
  Tensor out = make_tensor(shape, dtype, a.device());
  using elementwise::cast;
  using elementwise::expand_view;
  LAMINA_KERNEL(a.device(), where, "where")(out, expand_view(cond, shape), expand_view(cast(a, dtype), shape),
                                            expand_view(cast(b, dtype), shape));
  if (is_floating_point(dtype)) {
    if (auto node = autograd::make_node<WhereBackward>(a, b)) {
      autograd::set_history(out, node);
      node->save(node->cond_, cond);
    }
  }
  return out;
}

Tensor& add_(Tensor& a, const Tensor& b, Scalar alpha) {
  LAMINA_PROFILE_OP("add_", a, b);
  Tensor bs = scaled(a, b, alpha, "add_");
  return binary_inplace(BinaryOp::Add, a, bs, promoted(a, bs), "add_",
                        [&](const Tensor& self) { return add(self, bs); }, false);
}
Tensor& sub_(Tensor& a, const Tensor& b, Scalar alpha) {
  LAMINA_PROFILE_OP("sub_", a, b);
  check_inplace_args(a, b, promoted(a, b), "sub_");
  check_sub_bool(a, b, "sub_");
  Tensor bs = scaled(a, b, alpha, "sub_");
  return binary_inplace(BinaryOp::Sub, a, bs, promoted(a, bs), "sub_",
                        [&](const Tensor& self) { return sub(self, bs); }, false);
}
Tensor& mul_(Tensor& a, const Tensor& b) {
  LAMINA_PROFILE_OP("mul_", a, b);
  return binary_inplace(BinaryOp::Mul, a, b, promoted(a, b), "mul_",
                        [&](const Tensor& self) { return mul(self, b); }, true);
}
static Tensor& rounded_div_(Tensor& a, const Tensor& b, bool trunc, const char* name) {
  DType compute = promoted(a, b);
  check_inplace_args(a, b, compute, name);
  check_not_bool(compute, name);
  check_divisor(a, b, compute, name);
  BinaryOp op = trunc ? BinaryOp::TruncDivide : BinaryOp::FloorDivide;
  return binary_inplace(op, a, b, compute, name,
                        [&](const Tensor& self) { return div(self, b, trunc ? "trunc" : "floor"); }, false);
}
Tensor& div_(Tensor& a, const Tensor& b, const std::string& rounding_mode) {
  LAMINA_PROFILE_OP("div_", a, b);
  if (rounding_mode.empty()) {
    return binary_inplace(BinaryOp::Div, a, b, elementwise::float_dtype(promoted(a, b)), "div_",
                          [&](const Tensor& self) { return div(self, b); }, true);
  }
  check_rounding_mode(rounding_mode, "div_");
  return rounded_div_(a, b, rounding_mode == "trunc", "div_");
}
Tensor& floor_divide_(Tensor& a, const Tensor& b) {
  LAMINA_PROFILE_OP("floor_divide_", a, b);
  return rounded_div_(a, b, false, "floor_divide_");
}
Tensor& remainder_(Tensor& a, const Tensor& b) {
  LAMINA_PROFILE_OP("remainder_", a, b);
  check_inplace_args(a, b, promoted(a, b), "remainder_");
  check_not_bool(promoted(a, b), "remainder_");
  check_divisor(a, b, promoted(a, b), "remainder_");
  return binary_inplace(BinaryOp::Remainder, a, b, promoted(a, b), "remainder_",
                        [&](const Tensor& self) { return remainder(self, b); }, true);
}
Tensor& fmod_(Tensor& a, const Tensor& b) {
  LAMINA_PROFILE_OP("fmod_", a, b);
  check_inplace_args(a, b, promoted(a, b), "fmod_");
  check_not_bool(promoted(a, b), "fmod_");
  check_divisor(a, b, promoted(a, b), "fmod_");
  return binary_inplace(BinaryOp::Fmod, a, b, promoted(a, b), "fmod_",
                        [&](const Tensor& self) { return fmod(self, b); }, true);
}
Tensor& atan2_(Tensor& a, const Tensor& b) {
  LAMINA_PROFILE_OP("atan2_", a, b);
  return binary_inplace(BinaryOp::Atan2, a, b, elementwise::float_dtype(promoted(a, b)), "atan2_",
                        [&](const Tensor& self) { return atan2(self, b); }, true);
}
Tensor& pow_(Tensor& a, const Tensor& b) {
  LAMINA_PROFILE_OP("pow_", a, b);
  check_inplace_args(a, b, promoted(a, b), "pow_");
  check_pow(b, promoted(a, b), "pow_");
  return binary_inplace(BinaryOp::Pow, a, b, promoted(a, b), "pow_",
                        [&](const Tensor& self) { return pow(self, b); }, true);
}
Tensor& bitwise_and_(Tensor& a, const Tensor& b) {
  LAMINA_PROFILE_OP("bitwise_and_", a, b);
  check_inplace_args(a, b, promoted(a, b), "bitwise_and_");
  return binary_inplace(BinaryOp::BitwiseAnd, a, b, bitwise_dtype(a, b, "bitwise_and_"), "bitwise_and_",
                        [&](const Tensor& self) { return bitwise_and(self, b); }, false);
}
Tensor& bitwise_or_(Tensor& a, const Tensor& b) {
  LAMINA_PROFILE_OP("bitwise_or_", a, b);
  check_inplace_args(a, b, promoted(a, b), "bitwise_or_");
  return binary_inplace(BinaryOp::BitwiseOr, a, b, bitwise_dtype(a, b, "bitwise_or_"), "bitwise_or_",
                        [&](const Tensor& self) { return bitwise_or(self, b); }, false);
}
Tensor& bitwise_xor_(Tensor& a, const Tensor& b) {
  LAMINA_PROFILE_OP("bitwise_xor_", a, b);
  check_inplace_args(a, b, promoted(a, b), "bitwise_xor_");
  return binary_inplace(BinaryOp::BitwiseXor, a, b, bitwise_dtype(a, b, "bitwise_xor_"), "bitwise_xor_",
                        [&](const Tensor& self) { return bitwise_xor(self, b); }, false);
}

}  // namespace lamina
