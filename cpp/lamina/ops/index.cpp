// Advanced indexing (x[idx], x[idx] = v), masks and nonzero. Before any kernel runs, indices
// become element offsets with lamina ops: bool masks turn into nonzero coordinates, integer
// indices are range-checked (IndexError), wrapped and broadcast together, and each is scaled by
// its dim's stride. The kernels then move elements through a view of x restrided to the result
// shape (stride 0 on the broadcast index dims) plus those offsets.
#include "lamina/ops/index_common.h"
#include "lamina/core/profiler.h"

namespace lamina {

using autograd::Node;
using autograd::SavedTensor;

namespace indexing {

std::pair<int64_t, int64_t> min_max(const Tensor& index) {
  autograd::GradModeGuard no_grad(false);
  return {amin(index).data<int64_t>()[0], amax(index).data<int64_t>()[0]};
}

int64_t check_range(const Tensor& index, int64_t dim, int64_t size, bool allow_negative, const char* op) {
  if (index.numel() == 0) return 0;
  auto [lo, hi] = min_max(index);
  LAMINA_CHECK_INDEX(hi < size, op, ": index ", hi, " is out of bounds for dimension ", dim, " with size ", size);
  LAMINA_CHECK_INDEX(lo >= (allow_negative ? -size : 0), op, ": index ", lo, " is out of bounds for dimension ", dim,
                     " with size ", size);
  return lo;
}

}  // namespace indexing

namespace {

// x and its indices laid out for the kernels.
struct IndexPlan {
  Shape result_shape;
  Tensor view;    // x restrided to result_shape, stride 0 on the broadcast index dims
  Tensor offset;  // int64 element offsets, restrided to result_shape
};

// "(2, 3) at index 0": the message PyTorch gives for a mask that does not fit x.
void check_mask_shape(const Tensor& mask, const Tensor& x, size_t at, const char* op) {
  bool fits = at + size_t(mask.dim()) <= size_t(x.dim());
  for (int64_t j = 0; fits && j < mask.dim(); ++j) fits = mask.shape()[size_t(j)] == x.shape()[at + size_t(j)];
  LAMINA_CHECK_INDEX(fits, op, ": The shape of the mask ", str(mask.shape()), " at index ", at,
                     " does not match the shape of the indexed tensor ", str(x.shape()), " at index ", at);
}

// The int64 index of one dim (undefined: the whole dim). Mask coordinates are in range already.
struct DimIndex {
  Tensor index;
  bool in_range = false;
};

// Masks become one coordinate tensor per dim they cover; a 0-d bool inserts a dim of size 1
// into x, indexed by [0] (true) or by nothing (false). Returns one entry per dim of the updated x.
std::vector<DimIndex> expand_indices(Tensor& x, const std::vector<Tensor>& indices, const char* op) {
  std::vector<DimIndex> out;
  for (const Tensor& t : indices) {
    if (!t.defined()) {
      out.push_back({});
      continue;
    }
    DType dt = t.dtype();
    LAMINA_CHECK_INDEX(dt == DType::Bool || dt == DType::Int64 || dt == DType::Int32, op,
                       ": tensors used as indices must be long, int or bool tensors, got ", dtype_name(dt));
    elementwise::check_same_device(x, t, op);
    if (dt != DType::Bool) {
      out.push_back({elementwise::cast(t, DType::Int64), false});
      continue;
    }
    Tensor mask = t;
    if (t.dim() == 0) {
      x = unsqueeze(x, int64_t(out.size()));
      mask = reshape(t, {1});
    }
    check_mask_shape(mask, x, out.size(), op);
    Tensor coords = nonzero(mask);
    for (int64_t j = 0; j < mask.dim(); ++j) out.push_back({select(coords, 1, j), true});
  }
  LAMINA_CHECK_INDEX(int64_t(out.size()) <= x.dim(), op, ": too many indices for tensor of dimension ", x.dim(),
                     " (got ", out.size(), ")");
  out.resize(size_t(x.dim()));
  return out;
}

Shape broadcast_indices(const std::vector<DimIndex>& idx, const char* op) {
  Shape shape;
  std::string shapes;
  bool ok = true;
  for (const DimIndex& i : idx) {
    const Tensor& t = i.index;
    if (!t.defined()) continue;
    shapes += (shapes.empty() ? "" : ", ") + shape_string(t.shape());
    size_t n = std::max(shape.size(), t.shape().size());
    Shape out(n);
    for (size_t i = 0; i < n && ok; ++i) {
      int64_t a = i < n - shape.size() ? 1 : shape[i - (n - shape.size())];
      int64_t b = i < n - t.shape().size() ? 1 : t.shape()[i - (n - t.shape().size())];
      ok = a == b || a == 1 || b == 1;
      out[i] = a == 1 ? b : a;
    }
    if (ok) shape = out;
  }
  LAMINA_CHECK_INDEX(ok, op, ": shape mismatch: indexing tensors could not be broadcast together with shapes ", shapes);
  return shape;
}

// The sum over indexed dims of (wrapped index) * stride, broadcast to `bshape`.
Tensor element_offsets(const Tensor& x, const std::vector<DimIndex>& idx, const Shape& bshape, const char* op) {
  // An empty result reads nothing: out-of-range values there are not an error (as in PyTorch). It
  // is empty when the indices broadcast to nothing or a dim they leave alone is empty.
  bool empty_result = numel(bshape) == 0;
  for (int64_t d = 0; d < x.dim(); ++d)
    empty_result = empty_result || (!idx[size_t(d)].index.defined() && x.shape()[size_t(d)] == 0);
  Tensor offset;
  for (int64_t d = 0; d < x.dim(); ++d) {
    Tensor t = idx[size_t(d)].index;
    if (!t.defined()) continue;
    int64_t size = x.shape()[size_t(d)], stride = x.strides()[size_t(d)];
    // (Indices into an empty dim are out of range even then, as in PyTorch.)
    bool check = !idx[size_t(d)].in_range && (!empty_result || size == 0);
    int64_t lo = check ? indexing::check_range(t, d, size, true, op) : 0;
    if (lo < 0) t = where(lt(t, wrapped_scalar(int64_t(0))), add(t, wrapped_scalar(size)), t);
    if (stride != 1) t = mul(t, wrapped_scalar(stride));
    offset = offset.defined() ? add(offset, t) : t;
  }
  if (!offset.defined()) offset = zeros({}, {DType::Int64, x.device()});
  return elementwise::expand_view(offset, bshape);
}

IndexPlan plan_index(const Tensor& x, const std::vector<Tensor>& indices, const char* op) {
  autograd::GradModeGuard no_grad(false);
  Tensor self = x;
  std::vector<DimIndex> idx = expand_indices(self, indices, op);
  Shape bshape = broadcast_indices(idx, op);
  std::vector<int64_t> dims;
  for (int64_t d = 0; d < self.dim(); ++d)
    if (idx[size_t(d)].index.defined()) dims.push_back(d);
  Tensor offset = element_offsets(self, idx, bshape, op);
  if (offset.shares_storage(x)) offset = clone(offset);  // an index that aliases x may be overwritten
  // numpy's rule: adjacent index dims are replaced in place, otherwise they go first.
  bool adjacent = !dims.empty() && dims.back() - dims.front() + 1 == int64_t(dims.size());
  IndexPlan plan;
  Strides view_strides, offset_strides;
  auto push_broadcast_dims = [&] {
    for (size_t j = 0; j < bshape.size(); ++j) {
      plan.result_shape.push_back(bshape[j]);
      view_strides.push_back(0);
      offset_strides.push_back(offset.strides()[j]);
    }
  };
  if (!adjacent) push_broadcast_dims();
  for (int64_t d = 0; d < self.dim(); ++d) {
    if (idx[size_t(d)].index.defined()) {
      if (adjacent && d == dims.front()) push_broadcast_dims();
      continue;
    }
    plan.result_shape.push_back(self.shape()[size_t(d)]);
    view_strides.push_back(self.strides()[size_t(d)]);
    offset_strides.push_back(0);
  }
  check_shape(plan.result_shape, x.itemsize(), op);
  plan.view = make_view(self, plan.result_shape, view_strides, self.offset());
  plan.offset = make_view(offset, plan.result_shape, offset_strides, offset.offset());
  return plan;
}

// x[indices]: the gradient is accumulated back into zeros at the same positions.
struct IndexBackward : indexing::IndicesNode {
  Shape input_shape;
  std::string name() const override { return "IndexBackward0"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    const Tensor& g = grads[0];
    return {index_put(zeros(input_shape, {g.dtype(), g.device()}), indices(), g, true)};
  }
};

// The positions of x[indices] = v (without accumulate) whose write was not overwritten by a
// later position: replaying the write with position numbers leaves the last writers in place.
Tensor last_writers(const Shape& target_shape, const std::vector<Tensor>& idx, const Shape& result_shape,
                    Device device) {
  autograd::GradModeGuard no_grad(false);
  Tensor positions = reshape(arange(Scalar(int64_t(0)), Scalar(numel(result_shape)), Scalar(int64_t(1)),
                                    DType::Int64, device), result_shape);
  Tensor writer = full(target_shape, Scalar(int64_t(-1)), {DType::Int64, device});
  index_put_(writer, idx, positions, false);
  return eq(index(writer, idx), positions);
}

// x[indices] = values: x's gradient is zero where it was overwritten; values get the gradient of
// the elements they ended up in (with repeated indices, only the last write counts).
struct IndexPutBackward : indexing::IndicesNode {
  bool accumulate = false;
  Shape values_shape;
  std::string name() const override { return "IndexPutBackward0"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    const Tensor& g = grads[0];
    std::vector<Tensor> idx = indices();
    Tensor gx, gv;
    if (needs_input_grad(0))
      gx = accumulate ? g : index_put(g, idx, zeros({}, {g.dtype(), g.device()}), false);
    if (needs_input_grad(1)) {
      Tensor picked = index(g, idx);
      if (!accumulate)
        picked = where(last_writers(g.shape(), idx, picked.shape(), g.device()), picked, wrapped_scalar(0.0));
      gv = sum_to(picked, values_shape);
    }
    return {gx, gv};
  }
};

}  // namespace

Tensor index(const Tensor& x, const std::vector<Tensor>& indices) {
  LAMINA_PROFILE_OP("index", x, indices);
  IndexPlan plan = plan_index(x, indices, "index");
  Tensor out = make_tensor(plan.result_shape, x.dtype(), x.device());
  if (out.numel() > 0) LAMINA_KERNEL(x.device(), index_gather, "index")(out, plan.view, plan.offset);
  if (out.is_floating_point()) {
    if (auto node = autograd::make_node<IndexBackward>(x)) {
      node->input_shape = x.shape();
      node->save_indices(indices);
      autograd::set_history(out, node);
    }
  }
  return out;
}

namespace {

// Checks index_put's arguments against x and returns the plan of the indexed region.
IndexPlan plan_index_put(const Tensor& x, const std::vector<Tensor>& indices, const Tensor& values, const char* op) {
  elementwise::check_same_device(x, values, op);
  LAMINA_CHECK(values.dtype() == x.dtype() || values.impl()->is_wrapped_number, op,
               ": Index put requires the source and destination dtypes match, got ", dtype_name(x.dtype()),
               " for the destination and ", dtype_name(values.dtype()), " for the source.");
  elementwise::check_no_internal_overlap(x, op);
  IndexPlan plan = plan_index(x, indices, op);
  LAMINA_CHECK(is_expandable_to(values.shape(), plan.result_shape), op, ": shape mismatch: value tensor of shape ",
               str(values.shape()), " cannot be broadcast to indexing result of shape ", str(plan.result_shape));
  return plan;
}

// Writes values into the planned region of x, recording nothing.
void index_put_kernel(const Tensor& x, const IndexPlan& plan, const Tensor& values, bool accumulate, const char* op) {
  if (numel(plan.result_shape) == 0) return;
  autograd::GradModeGuard no_grad(false);
  Tensor v = elementwise::cast(values, x.dtype());
  if (v.shares_storage(x)) v = clone(v);  // read everything before writing
  LAMINA_KERNEL(x.device(), index_put, op)(plan.view, elementwise::expand_view(v, plan.result_shape), plan.offset,
                                           accumulate);
}

}  // namespace

Tensor index_put(const Tensor& x, const std::vector<Tensor>& indices, const Tensor& values, bool accumulate) {
  LAMINA_PROFILE_OP("index_put", x, indices, values);
  Tensor out = clone(x);
  IndexPlan plan = plan_index_put(out, indices, values, "index_put");
  auto node = out.is_floating_point() ? autograd::make_node<IndexPutBackward>(out, values) : nullptr;
  index_put_kernel(out, plan, values, accumulate, "index_put");
  if (node) {
    node->accumulate = accumulate;
    node->values_shape = values.shape();
    node->save_indices(indices);
    autograd::set_history(out, node);
  }
  return out;
}

// In place through apply_inplace, so a view of a tensor that requires grad (y[:, idx] = v) rebases
// its base's history like any other in-place op.
Tensor& index_put_(Tensor& x, const std::vector<Tensor>& indices, const Tensor& values, bool accumulate) {
  LAMINA_PROFILE_OP("index_put_", x, indices, values);
  const char* op = "index_put_";
  IndexPlan plan = plan_index_put(x, indices, values, op);
  return elementwise::apply_inplace(
      x, {values}, op, [&] { index_put_kernel(x, plan, values, accumulate, op); },
      [&](const Tensor& self) { return index_put(self, indices, values, accumulate); }, false);
}

namespace {

void check_mask_dtype(const Tensor& mask, const char* op) {
  LAMINA_CHECK(mask.dtype() == DType::Bool, op, ": only supports boolean masks, but got mask with dtype ",
               dtype_name(mask.dtype()));
}

void check_fill_value(const Tensor& x, const Tensor& value, const char* op) {
  elementwise::check_same_device(x, value, op);
  LAMINA_CHECK(value.dim() == 0, op, ": only supports a 0-dimensional value tensor, but got tensor with ",
               value.dim(), " dimension(s).");
}

// where(mask, value, x): x gets the gradient where the mask is false, value the sum of the rest.
struct MaskedFillBackward : Node {
  SavedTensor mask_;
  std::string name() const override { return "MaskedFillBackward0"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    const Tensor& g = grads[0];
    Tensor mask = unpack(mask_), zero = wrapped_scalar(0.0);
    Tensor gx = needs_input_grad(0) ? sum_to(where(mask, zero, g), input_meta[0].shape) : Tensor();
    Tensor gv = needs_input_grad(1) ? sum(where(mask, g, zero)) : Tensor();
    return {gx, gv};
  }
};

}  // namespace

Tensor masked_fill(const Tensor& x, const Tensor& mask, const Tensor& value) {
  LAMINA_PROFILE_OP("masked_fill", x, mask, value);
  check_mask_dtype(mask, "masked_fill");
  check_fill_value(x, value, "masked_fill");
  elementwise::check_same_device(x, mask, "masked_fill");
  Shape shape = broadcast_shapes(x.shape(), mask.shape(), "masked_fill");
  Tensor out = make_tensor(shape, x.dtype(), x.device());
  if (out.numel() > 0) {
    using elementwise::expand_view;
    LAMINA_KERNEL(x.device(), where, "masked_fill")(out, expand_view(mask, shape),
                                                     expand_view(elementwise::cast(value, x.dtype()), shape),
                                                     expand_view(x, shape));
  }
  if (out.is_floating_point()) {
    if (auto node = autograd::make_node<MaskedFillBackward>(x, value)) {
      autograd::set_history(out, node);
      node->save(node->mask_, mask);
    }
  }
  return out;
}

Tensor& masked_fill_(Tensor& x, const Tensor& mask, const Tensor& value) {
  LAMINA_PROFILE_OP("masked_fill_", x, mask, value);
  const char* op = "masked_fill_";
  check_mask_dtype(mask, op);
  check_fill_value(x, value, op);
  elementwise::check_same_device(x, mask, op);
  Shape shape = broadcast_shapes(x.shape(), mask.shape(), op);
  LAMINA_CHECK(shape == x.shape(), op, ": output with shape ", str(x.shape()), " doesn't match the broadcast shape ",
               str(shape));
  auto kernel = [&] {
    if (x.numel() == 0) return;
    autograd::GradModeGuard no_grad(false);
    // Inputs aliasing x differently (a flipped view, an element of x) are read before writing.
    Tensor m = mask.shares_storage(x) && !mask.is_same(x) ? clone(mask) : mask;
    Tensor v = elementwise::cast(value, x.dtype());
    if (v.shares_storage(x)) v = clone(v);
    LAMINA_KERNEL(x.device(), where, op)(x, elementwise::expand_view(m, shape), elementwise::expand_view(v, shape), x);
  };
  return elementwise::apply_inplace(x, {value}, op, kernel,
                                    [&](const Tensor& self) { return masked_fill(self, mask, value); }, false);
}

Tensor masked_select(const Tensor& x, const Tensor& mask) {
  LAMINA_PROFILE_OP("masked_select", x, mask);
  LAMINA_CHECK(mask.dtype() == DType::Bool, "masked_select: expected BoolTensor for mask, got ",
               dtype_name(mask.dtype()));
  elementwise::check_same_device(x, mask, "masked_select");
  Shape shape = broadcast_shapes(x.shape(), mask.shape(), "masked_select");
  Tensor m = elementwise::expand_view(mask, shape);
  return index(expand(x, shape), {m});
}

Tensor nonzero(const Tensor& x) {
  LAMINA_PROFILE_OP("nonzero", x);
  autograd::GradModeGuard no_grad(false);
  int64_t count = 0;
  if (x.numel() > 0) {
    Tensor flags = x.dtype() == DType::Bool ? x : ne(x, wrapped_scalar(int64_t(0)));
    count = sum(flags).data<int64_t>()[0];
  }
  Tensor out = make_tensor({count, x.dim()}, DType::Int64, x.device());
  if (count > 0 && x.dim() > 0) LAMINA_KERNEL(x.device(), nonzero, "nonzero")(out, x);
  return out;
}

}  // namespace lamina
