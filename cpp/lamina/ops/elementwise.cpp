#include "lamina/ops/elementwise.h"

namespace lamina::elementwise {

static OperandRank rank_of(const Tensor& t) {
  if (t.impl()->is_wrapped_number) return OperandRank::Wrapped;
  return t.dim() == 0 ? OperandRank::ZeroDim : OperandRank::Dimensioned;
}

// A wrapped Python float is stored as float64 but promotes like the default float dtype.
static DType promotion_dtype(const Tensor& t) {
  return t.impl()->is_wrapped_number && t.dtype() == DType::Float64 ? default_float_dtype() : t.dtype();
}

DType result_type(const std::vector<Tensor>& operands) {
  ResultTypeState state;
  for (const Tensor& t : operands)
    if (t.defined()) state.update(promotion_dtype(t), rank_of(t));
  return state.result();
}

DType result_type(const Tensor& a, const Tensor& b) {
  ResultTypeState state;  // the two-operand case without a vector: it runs for every binary op
  state.update(promotion_dtype(a), rank_of(a));
  state.update(promotion_dtype(b), rank_of(b));
  return state.result();
}

bool can_cast(DType from, DType to) {
  auto category = [](DType d) { return d == DType::Bool ? 0 : is_integral(d, false) ? 1 : 2; };
  return category(from) <= category(to);
}

const char* type_name(DType dtype) {
  switch (dtype) {
    case DType::Bool: return "Bool";
    case DType::Int32: return "Int";
    case DType::Int64: return "Long";
    case DType::Float32: return "Float";
    case DType::Float64: return "Double";
  }
  return "Unknown";
}

void check_can_cast(DType result, DType out, const char* op) {
  LAMINA_CHECK(can_cast(result, out), op, ": result type ", type_name(result),
               " can't be cast to the desired output type ", type_name(out));
}

void fail_dtype(const char* op, DType dtype) {
  throw NotImplementedError(detail::cat(op, ": not implemented for '", type_name(dtype), "'"));
}

DType float_dtype(DType dtype) { return is_floating_point(dtype) ? dtype : default_float_dtype(); }

Tensor expand_view(const Tensor& t, const Shape& shape) {
  if (t.shape() == shape) return t;
  Strides strides(shape.size(), 0);
  size_t off = shape.size() - t.shape().size();
  for (size_t i = 0; i < t.shape().size(); ++i)
    strides[off + i] = t.shape()[i] == 1 ? 0 : t.strides()[i];
  return make_view(t, shape, strides, t.offset());
}

Tensor cast(const Tensor& t, DType dtype) {
  if (t.dtype() == dtype) return t;
  Tensor out = make_tensor(t.shape(), dtype, t.device());
  LAMINA_KERNEL(t.device(), copy, "to")(out, t);
  out.impl()->is_wrapped_number = t.impl()->is_wrapped_number;
  return out;
}

void check_same_device(const Tensor& a, const Tensor& b, const char* op) {
  LAMINA_CHECK(a.device() == b.device(), op, ": expected all tensors to be on the same device, but found ",
               a.device().str(), " and ", b.device().str());
}

void check_no_internal_overlap(const Tensor& t, const char* op) {
  if (t.numel() == 0) return;  // nothing is written
  for (int64_t d = 0; d < t.dim(); ++d)
    LAMINA_CHECK(!(t.strides()[size_t(d)] == 0 && t.shape()[size_t(d)] > 1), op,
                 ": unsupported operation: more than one element of the written-to tensor refers to a "
                 "single memory location. Please clone() the tensor before performing the operation.");
}

Tensor unary_forward(UnaryOp op, const Tensor& x, DType out_dtype, const char* name, const UnaryParams& params) {
  Tensor out = make_tensor(x.shape(), out_dtype, x.device());
  LAMINA_KERNEL(x.device(), unary, name)(op, out, x, params);
  return out;
}

Tensor binary_forward(BinaryOp op, const Tensor& a, const Tensor& b, DType compute, DType out_dtype,
                      const char* name) {
  check_same_device(a, b, name);
  Shape shape = broadcast_shapes(a.shape(), b.shape(), name);
  Tensor out = make_tensor(shape, out_dtype, a.device(), false, name);  // checks the element count
  // References when no cast or expansion is needed: each Tensor copy is two atomic refcount ops.
  Tensor a_cast, b_cast, a_view, b_view;
  const Tensor& ac = a.dtype() == compute ? a : (a_cast = cast(a, compute));
  const Tensor& bc = b.dtype() == compute ? b : (b_cast = cast(b, compute));
  const Tensor& ae = ac.shape() == shape ? ac : (a_view = expand_view(ac, shape));
  const Tensor& be = bc.shape() == shape ? bc : (b_view = expand_view(bc, shape));
  LAMINA_KERNEL(a.device(), binary, name)(op, out, ae, be);
  return out;
}

// ---- in-place writes and autograd ----

namespace {

Tensor base_of(const Tensor& t) { return Tensor(t.impl()->view_base); }

// Backward of an in-place write into a region of a base tensor: the region's gradient goes to the
// written value, the rest to the base's previous history (PyTorch's CopySlices). Written with
// lamina ops, so it is itself differentiable.
struct CopySlices : autograd::Node {
  Shape base_shape, shape;
  Strides strides;
  int64_t offset = 0;  // the region's storage offset relative to the (contiguous) base
  std::string name() const override { return "CopySlices"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    Tensor g = contiguous(grads[0]);
    Tensor g_base, g_value;
    if (needs_input_grad(0)) {
      // A select, not a product with a 0/1 mask: an infinite gradient on the overwritten region
      // must give 0 there, not inf * 0 = NaN (as PyTorch's CopySlices, which zero-fills it).
      Tensor outside = ones(base_shape, {DType::Bool, g.device()});
      LAMINA_KERNEL(g.device(), fill, "CopySlices")(make_view(outside, shape, strides, offset), Scalar(false));
      g_base = grad_where(outside, g);
    }
    if (needs_input_grad(1)) g_value = as_strided(g, shape, strides, g.offset() + offset);
    return {g_base, g_value};
  }
};

}  // namespace

bool is_view(const Tensor& t) { return t.impl()->view_base != nullptr; }

bool inplace_needs_grad(const Tensor& self, const std::vector<Tensor>& others) {
  bool record = autograd::needs_grad(self) || (is_view(self) && autograd::needs_grad(base_of(self)));
  for (const Tensor& o : others) record = record || autograd::needs_grad(o);
  return record;
}

void check_inplace_autograd(const Tensor& self, const char* op) {
  if (!autograd::GradMode::is_enabled()) return;
  LAMINA_CHECK(!(self.requires_grad() && self.is_leaf()), op,
               ": a leaf Variable that requires grad is being used in an in-place operation.");
  if (!is_view(self)) return;
  Tensor base = base_of(self);
  LAMINA_CHECK(!(self.impl()->view_created_in_no_grad && base.requires_grad()), op,
               ": a view was created in no_grad mode and is being modified inplace with grad mode enabled. "
               "Given that this use case is ambiguous and error-prone, it is forbidden. You can clarify your code "
               "by moving both the view and the inplace either both inside the no_grad block (if you don't want "
               "the inplace to be tracked) or both outside (if you want the inplace to be tracked).");
  LAMINA_CHECK(!(base.requires_grad() && base.is_leaf()), op,
               ": a view of a leaf Variable that requires grad is being used in an in-place operation.");
  LAMINA_CHECK(!base.requires_grad() || base.is_contiguous(), op,
               ": in-place operation on a view of a non-contiguous tensor that requires grad is not supported");
}

void rebase_view_history(const Tensor& self, const Tensor& result, const char* op) {
  Tensor base = base_of(self);
  LAMINA_CHECK(base.is_contiguous(), op,
               ": in-place operation on a view of a non-contiguous tensor that requires grad is not supported");
  auto node = autograd::make_node_from<CopySlices>({base, result});
  if (!node) return;
  node->base_shape = base.shape();
  node->shape = self.shape();
  node->strides = self.strides();
  node->offset = self.offset() - base.offset();
  autograd::set_history(base, node);  // the edge to base's previous history was taken above
  autograd::rebase_history(self, as_strided(base, self.shape(), self.strides(), self.offset()));
}

Tensor& apply_inplace(Tensor& self, const std::vector<Tensor>& others, const char* name,
                      const std::function<void()>& kernel_inplace,
                      const std::function<Tensor(const Tensor&)>& out_of_place, bool saves_self) {
  check_no_internal_overlap(self, name);
  bool record = inplace_needs_grad(self, others);
  check_inplace_autograd(self, name);
  if (!record) {
    kernel_inplace();
    self.bump_version();
    return self;
  }
  Tensor result = out_of_place(saves_self ? clone(self) : self);
  {
    autograd::GradModeGuard no_grad(false);
    copy_into(self, result);
  }
  self.bump_version();
  if (is_view(self)) rebase_view_history(self, result, name);
  else autograd::rebase_history(self, result);
  return self;
}

}  // namespace lamina::elementwise
