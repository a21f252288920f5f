// Shared plumbing of the elementwise ops (unary.cpp, binary.cpp): result dtypes, broadcasting
// views, same-device checks, and the in-place protocol. Not part of the public API.
#pragma once

#include <functional>

#include "lamina/autograd/node.h"
#include "lamina/core/kernel_table.h"
#include "lamina/ops/ops.h"

namespace lamina::elementwise {

// PyTorch's result_type over the operands (Python numbers rank lowest; undefined ones are skipped).
DType result_type(const Tensor& a, const Tensor& b);
DType result_type(const std::vector<Tensor>& operands);
// Whether a value of dtype `from` may be written into a tensor of dtype `to` (no float->int, ...).
bool can_cast(DType from, DType to);
// PyTorch's name of a dtype in error messages: Float, Double, Int, Long, Bool.
const char* type_name(DType dtype);
// In-place ops: "<op>: result type Float can't be cast to the desired output type Int".
void check_can_cast(DType result, DType out, const char* op);
// "<op>: not implemented for 'Bool'" (NotImplementedError), PyTorch's error for unsupported dtypes.
[[noreturn]] void fail_dtype(const char* op, DType dtype);
// Float functions of integer tensors compute in the default float dtype.
DType float_dtype(DType dtype);
// A view of t with 0 strides on broadcast dims (no autograd).
Tensor expand_view(const Tensor& t, const Shape& shape);
// t in `dtype` (a raw copy when it differs; no autograd).
Tensor cast(const Tensor& t, DType dtype);
// "add: expected all tensors to be on the same device, but found cpu and cuda".
void check_same_device(const Tensor& a, const Tensor& b, const char* op);
// Rejects writing into a tensor where several elements share memory (an expanded view).
void check_no_internal_overlap(const Tensor& t, const char* op);

// out = op(x) with out dtype `out_dtype`, x already in the computation dtype.
Tensor unary_forward(UnaryOp op, const Tensor& x, DType out_dtype, const char* name,
                     const UnaryParams& params = {});
// out = op(a, b) computed in `compute`, written as `out_dtype`.
Tensor binary_forward(BinaryOp op, const Tensor& a, const Tensor& b, DType compute, DType out_dtype,
                      const char* name);

// Whether `t` is a view of another tensor (shares its storage and version counter).
bool is_view(const Tensor& t);
// Whether an in-place write into `self` with inputs `others` must be recorded by autograd.
bool inplace_needs_grad(const Tensor& self, const std::vector<Tensor>& others);
// Raises if an in-place write into `self` would break autograd: a leaf that requires grad, or a
// view of one. (Views of non-leaf tensors are fine: see rebase_view_history.)
void check_inplace_autograd(const Tensor& self, const char* op);
// After writing `result` (which carries the autograd history) into the view `self`: the view's
// base gets a CopySlices node (the region's gradient to `result`, the rest to the base's old
// history) and `self` becomes that region of the new base.
void rebase_view_history(const Tensor& self, const Tensor& result, const char* op);

// In-place protocol. Without autograd, `kernel_inplace` writes straight into `self`. With
// autograd, `out_of_place(self_or_copy)` builds the result and its graph node, which is then
// copied into `self`, whose history is rebased onto that node (for a view: its base's history,
// see rebase_view_history). `saves_self` says the backward formula needs the original value of
// self, which is then passed as a copy.
Tensor& apply_inplace(Tensor& self, const std::vector<Tensor>& others, const char* name,
                      const std::function<void()>& kernel_inplace,
                      const std::function<Tensor(const Tensor&)>& out_of_place, bool saves_self);

}  // namespace lamina::elementwise
