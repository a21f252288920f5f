// Ops that move elements along one dim through an index tensor: gather, scatter(_add),
// index_select, index_add, and one_hot on top of scatter. As in index.cpp the kernels see a view
// of the target with stride 0 along `dim` plus int64 element offsets (index * stride). A 0-d
// tensor acts as a 1-d tensor of size 1 here, as in PyTorch. Index values are range-checked
// before any kernel runs; negative indices are errors, as in PyTorch.
#include "lamina/ops/index_common.h"
#include "lamina/core/profiler.h"

namespace lamina {

using autograd::Node;
using autograd::SavedTensor;

namespace {

Tensor at_least_1d(const Tensor& t) { return t.dim() == 0 ? make_view(t, {1}, {1}, t.offset()) : t; }

// The int64 form of an int32/int64 index tensor.
Tensor index_int64(const Tensor& index, const Tensor& x, const char* op, const char* expected) {
  LAMINA_CHECK(index.dtype() == DType::Int64 || index.dtype() == DType::Int32, op, ": Expected dtype ", expected,
               " for index, got ", dtype_name(index.dtype()));
  elementwise::check_same_device(x, index, op);
  return elementwise::cast(index, DType::Int64);
}

// t viewed with `shape` (no larger than t's) and stride 0 along dim.
Tensor along_view(const Tensor& t, int64_t dim, const Shape& shape) {
  Strides strides = t.strides();
  strides[size_t(dim)] = 0;
  return make_view(t, shape, strides, t.offset());
}

// Offsets of a 1-d index along `dim` of a tensor of `shape` (varying along dim only).
Tensor vector_offsets(const Tensor& index, int64_t stride, int64_t dim, const Shape& shape) {
  Tensor off = stride == 1 ? index : mul(index, wrapped_scalar(stride));
  Strides strides(shape.size(), 0);
  strides[size_t(dim)] = off.strides()[0];
  return make_view(off, shape, strides, off.offset());
}

// The gradient of src: g (of index's shape) padded with zeros to src's shape.
Tensor fit_to(const Tensor& g, const Shape& shape) {
  if (g.shape() == shape) return g;
  Tensor t = g.dim() == 0 ? reshape(g, {1}) : g;
  Shape target = shape.empty() ? Shape{1} : shape;
  for (int64_t k = 0; k < t.dim(); ++k) {
    int64_t missing = target[size_t(k)] - t.shape()[size_t(k)];
    if (missing <= 0) continue;
    Shape pad = t.shape();
    pad[size_t(k)] = missing;
    t = cat({t, zeros(pad, {t.dtype(), t.device()})}, k);
  }
  return reshape(t, shape);
}

// Checks the shapes of scatter(x, dim, index, src) (src undefined: a fill value).
void check_scatter(const Tensor& x, int64_t d, const Tensor& index, const Tensor& src, const char* op) {
  Tensor xs = at_least_1d(x), is = at_least_1d(index);
  LAMINA_CHECK(xs.dim() == is.dim(), op, ": Index tensor must have the same number of dimensions as self tensor (",
               index.dim(), " vs ", x.dim(), ")");
  if (!src.defined()) {
    for (int64_t k = 0; k < is.dim(); ++k)
      LAMINA_CHECK(k == d || is.shape()[size_t(k)] <= xs.shape()[size_t(k)], op, ": Expected index ",
                   str(index.shape()), " to be no larger than self ", str(x.shape()), " apart from dimension ", d);
    return;
  }
  Tensor ss = at_least_1d(src);
  elementwise::check_same_device(x, src, op);
  LAMINA_CHECK(src.dtype() == x.dtype(), op, ": Expected self.dtype to be equal to src.dtype, got ",
               dtype_name(x.dtype()), " and ", dtype_name(src.dtype()));
  LAMINA_CHECK(ss.dim() == is.dim(), op, ": Index tensor must have the same number of dimensions as src tensor (",
               index.dim(), " vs ", src.dim(), ")");
  for (int64_t k = 0; k < is.dim(); ++k) {
    int64_t n = is.shape()[size_t(k)];
    LAMINA_CHECK((k == d || n <= xs.shape()[size_t(k)]) && n <= ss.shape()[size_t(k)], op, ": Expected index ",
                 str(index.shape()), " to be no larger than self ", str(x.shape()), " apart from dimension ", d,
                 " and to be no larger size than src ", str(src.shape()));
  }
}

// x[..., index[p], ...] = src[p] (or +=) along d, for p over index's shape; src undefined: `value`.
void scatter_kernel(const Tensor& x, int64_t d, const Tensor& index, const Tensor& src, Scalar value,
                    bool accumulate, const char* op) {
  if (index.numel() == 0) return;
  autograd::GradModeGuard no_grad(false);
  Tensor xs = at_least_1d(x), is = at_least_1d(index);
  Tensor values;
  if (src.defined()) {
    Tensor ss = at_least_1d(src.shares_storage(x) ? clone(src) : src);
    values = make_view(ss, is.shape(), ss.strides(), ss.offset());
  } else {
    values = elementwise::expand_view(full({}, value, {x.dtype(), x.device()}), is.shape());
  }
  int64_t stride = xs.strides()[size_t(d)];
  Tensor offset = stride == 1 && !is.shares_storage(x) ? is : mul(is, wrapped_scalar(stride));
  LAMINA_KERNEL(x.device(), index_put, op)(along_view(xs, d, is.shape()), values, offset, accumulate);
}

// Base of the scatter family's nodes: the index and dim, and src's shape.
struct ScatterNode : Node {
  SavedTensor index_;
  int64_t dim = 0;
  Shape src_shape;
};

// The positions of a scatter whose write was not overwritten by a later position (see
// last_writers in index.cpp): replaying the scatter with position numbers finds them.
Tensor last_writers(const Shape& target_shape, int64_t dim, const Tensor& index) {
  autograd::GradModeGuard no_grad(false);
  Tensor positions = reshape(arange(Scalar(int64_t(0)), Scalar(index.numel()), Scalar(int64_t(1)), DType::Int64,
                                    index.device()), index.shape());
  Tensor writer = full(target_shape, Scalar(int64_t(-1)), {DType::Int64, index.device()});
  scatter_(writer, dim, index, positions);
  return eq(gather(writer, dim, index), positions);
}

// src gets the gradient of the elements it ended up in (with repeated indices, the last write).
struct ScatterBackward : ScatterNode {
  std::string name() const override { return "ScatterBackward0"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    const Tensor& g = grads[0];
    Tensor idx = unpack(index_);
    Tensor gx = needs_input_grad(0) ? scatter(g, dim, idx, Scalar(0.0)) : Tensor();
    Tensor gs;
    if (needs_input_grad(1)) {
      Tensor kept = where(last_writers(g.shape(), dim, idx), gather(g, dim, idx), wrapped_scalar(0.0));
      gs = fit_to(kept, src_shape);
    }
    return {gx, gs};
  }
};

struct ScatterValueBackward : ScatterNode {
  std::string name() const override { return "ScatterBackward1"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    return {scatter(grads[0], dim, unpack(index_), Scalar(0.0))};
  }
};

struct ScatterAddBackward : ScatterNode {
  std::string name() const override { return "ScatterAddBackward0"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    const Tensor& g = grads[0];
    Tensor gs = needs_input_grad(1) ? fit_to(gather(g, dim, unpack(index_)), src_shape) : Tensor();
    return {needs_input_grad(0) ? g : Tensor(), gs};
  }
};

// The in-place scatter protocol: check, write, then record node N (inputs x and src, if any).
template <class N>
Tensor& scatter_inplace(Tensor& x, int64_t dim, const Tensor& index, const Tensor& src, Scalar value,
                        bool accumulate, const char* op) {
  int64_t d = wrap_dim(dim, x.dim(), op);
  Tensor idx = index_int64(index, x, op, "int32/int64");
  check_scatter(x, d, idx, src, op);
  indexing::check_range(idx, d, at_least_1d(x).shape()[size_t(d)], false, op);
  elementwise::check_no_internal_overlap(x, op);
  autograd::check_inplace(x, op);
  std::shared_ptr<N> node;
  if (x.is_floating_point()) node = src.defined() ? autograd::make_node<N>(x, src) : autograd::make_node<N>(x);
  scatter_kernel(x, d, idx, src, value, accumulate, op);
  x.bump_version();
  if (node) {
    node->dim = d;
    node->src_shape = src.defined() ? src.shape() : Shape{};
    node->save(node->index_, idx);
    autograd::set_history(x, node);
  }
  return x;
}

}  // namespace

Tensor& scatter_(Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  LAMINA_PROFILE_OP("scatter_", x, index, src);
  LAMINA_CHECK(src.defined(), "scatter_: expected a src tensor");
  return scatter_inplace<ScatterBackward>(x, dim, index, src, Scalar(), false, "scatter_");
}

Tensor& scatter_add_(Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  LAMINA_PROFILE_OP("scatter_add_", x, index, src);
  LAMINA_CHECK(src.defined(), "scatter_add_: expected a src tensor");
  return scatter_inplace<ScatterAddBackward>(x, dim, index, src, Scalar(), true, "scatter_add_");
}

Tensor scatter(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  LAMINA_PROFILE_OP("scatter", x, index, src);
  LAMINA_CHECK(src.defined(), "scatter: expected a src tensor");
  Tensor out = clone(x);
  return scatter_inplace<ScatterBackward>(out, dim, index, src, Scalar(), false, "scatter");
}

Tensor scatter(const Tensor& x, int64_t dim, const Tensor& index, Scalar value) {
  LAMINA_PROFILE_OP("scatter", x, index);
  Tensor out = clone(x);
  return scatter_inplace<ScatterValueBackward>(out, dim, index, Tensor(), value, false, "scatter");
}

Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  LAMINA_PROFILE_OP("scatter_add", x, index, src);
  LAMINA_CHECK(src.defined(), "scatter_add: expected a src tensor");
  Tensor out = clone(x);
  return scatter_inplace<ScatterAddBackward>(out, dim, index, src, Scalar(), true, "scatter_add");
}

namespace {
struct GatherBackward : Node {
  SavedTensor index_;
  int64_t dim = 0;
  std::string name() const override { return "GatherBackward0"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    const Tensor& g = grads[0];
    Tensor zero = zeros(input_meta[0].shape, {g.dtype(), g.device()});
    return {scatter_add(zero, dim, unpack(index_), g)};
  }
};
}  // namespace

Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
  LAMINA_PROFILE_OP("gather", x, index);
  const char* op = "gather";
  int64_t d = wrap_dim(dim, x.dim(), op);
  Tensor idx = index_int64(index, x, op, "int32/int64");
  Tensor xs = at_least_1d(x), is = at_least_1d(idx);
  LAMINA_CHECK(xs.dim() == is.dim(), op, ": Index tensor must have the same number of dimensions as input tensor (",
               index.dim(), " vs ", x.dim(), ")");
  for (int64_t k = 0; k < is.dim(); ++k)
    LAMINA_CHECK(k == d || is.shape()[size_t(k)] <= xs.shape()[size_t(k)], op, ": Size does not match at dimension ",
                 k, " expected index ", str(index.shape()), " to be no larger than self ", str(x.shape()),
                 " apart from dimension ", d);
  indexing::check_range(idx, d, xs.shape()[size_t(d)], false, op);
  Tensor out = make_tensor(index.shape(), x.dtype(), x.device());
  if (out.numel() > 0) {
    autograd::GradModeGuard no_grad(false);
    int64_t stride = xs.strides()[size_t(d)];
    Tensor offset = stride == 1 ? is : mul(is, wrapped_scalar(stride));
    LAMINA_KERNEL(x.device(), index_gather, op)(at_least_1d(out), along_view(xs, d, is.shape()), offset);
  }
  if (out.is_floating_point()) {
    if (auto node = autograd::make_node<GatherBackward>(x)) {
      node->dim = d;
      autograd::set_history(out, node);
      node->save(node->index_, idx);
    }
  }
  return out;
}

namespace {
// A vector index for index_select / index_add_: int64, 1-d.
Tensor vector_index(const Tensor& index, const Tensor& x, const char* op, const char* expected) {
  Tensor idx = index_int64(index, x, op, expected);
  LAMINA_CHECK_INDEX(index.dim() <= 1, op, ": Index is supposed to be a vector, got a tensor of shape ",
                     str(index.shape()));
  return idx.dim() == 0 ? make_view(idx, {1}, {1}, idx.offset()) : idx;
}

struct IndexSelectBackward : Node {
  SavedTensor index_;
  int64_t dim = 0;
  std::string name() const override { return "IndexSelectBackward0"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    const Tensor& g = grads[0];
    Tensor zero = zeros(input_meta[0].shape, {g.dtype(), g.device()});
    return {index_add(zero, dim, unpack(index_), g)};
  }
};

struct IndexAddBackward : Node {
  SavedTensor index_;
  int64_t dim = 0;
  Scalar alpha;
  std::string name() const override { return "IndexAddBackward0"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    const Tensor& g = grads[0];
    Tensor gs;
    if (needs_input_grad(1)) {
      gs = reshape(index_select(g, dim, unpack(index_)), input_meta[1].shape);
      if (alpha.is_float() || alpha.to_int() != 1) gs = gs * alpha;
    }
    return {needs_input_grad(0) ? g : Tensor(), gs};
  }
};
}  // namespace

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  LAMINA_PROFILE_OP("index_select", x, index);
  const char* op = "index_select";
  int64_t d = wrap_dim(dim, x.dim(), op);
  Tensor idx = vector_index(index, x, op, "int32 or int64");
  LAMINA_CHECK(x.dim() > 0 || idx.numel() == 1, op, ": Index to scalar can have only 1 value, got ", idx.numel(),
               " value(s)");
  Tensor xs = at_least_1d(x);
  indexing::check_range(idx, d, xs.shape()[size_t(d)], false, op);
  Shape shape = xs.shape();
  shape[size_t(d)] = idx.numel();
  Tensor out = make_tensor(x.dim() == 0 ? Shape{} : shape, x.dtype(), x.device());
  if (out.numel() > 0) {
    autograd::GradModeGuard no_grad(false);
    Tensor offset = vector_offsets(idx, xs.strides()[size_t(d)], d, shape);
    LAMINA_KERNEL(x.device(), index_gather, op)(at_least_1d(out), along_view(xs, d, shape), offset);
  }
  if (out.is_floating_point()) {
    if (auto node = autograd::make_node<IndexSelectBackward>(x)) {
      node->dim = d;
      autograd::set_history(out, node);
      node->save(node->index_, idx);
    }
  }
  return out;
}

Tensor& index_add_(Tensor& x, int64_t dim, const Tensor& index, const Tensor& source, Scalar alpha) {
  LAMINA_PROFILE_OP("index_add_", x, index, source);
  const char* op = "index_add_";
  int64_t d = wrap_dim(dim, x.dim(), op);
  Tensor idx = vector_index(index, x, op, "int32/int64");
  if (idx.shares_storage(x)) idx = clone(idx);  // x's writes must not change the index
  elementwise::check_same_device(x, source, op);
  LAMINA_CHECK(source.dtype() == x.dtype(), op, ": self (", dtype_name(x.dtype()), ") and source (",
               dtype_name(source.dtype()), ") must have the same scalar type");
  Tensor xs = at_least_1d(x), ss = at_least_1d(source);
  bool same = xs.dim() == ss.dim();
  for (int64_t k = 0; same && k < xs.dim(); ++k) same = k == d || xs.shape()[size_t(k)] == ss.shape()[size_t(k)];
  LAMINA_CHECK(same, op, ": source tensor shape must match self tensor shape, excluding the specified dimension. "
               "Got self.shape = ", str(x.shape()), " source.shape = ", str(source.shape()));
  LAMINA_CHECK(idx.numel() == ss.shape()[size_t(d)], op, ": Number of indices (", idx.numel(),
               ") should be equal to source.size(dim): (", ss.shape()[size_t(d)], "), for dim: ", d);
  indexing::check_range(idx, d, xs.shape()[size_t(d)], false, op);
  elementwise::check_no_internal_overlap(x, op);
  autograd::check_inplace(x, op);
  auto node = x.is_floating_point() ? autograd::make_node<IndexAddBackward>(x, source) : nullptr;
  if (source.numel() > 0) {
    autograd::GradModeGuard no_grad(false);
    bool scaled = alpha.is_float() || alpha.to_int() != 1;
    Tensor src = scaled ? elementwise::cast(mul(source, wrapped_scalar(alpha)), x.dtype())
                        : source.shares_storage(x) ? clone(source) : source;
    Tensor offset = vector_offsets(idx, xs.strides()[size_t(d)], d, ss.shape());
    LAMINA_KERNEL(x.device(), index_put, op)(along_view(xs, d, ss.shape()), at_least_1d(src), offset, true);
  }
  x.bump_version();
  if (node) {
    node->dim = d;
    node->alpha = alpha;
    node->save(node->index_, idx);
    autograd::set_history(x, node);
  }
  return x;
}

Tensor index_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& source, Scalar alpha) {
  LAMINA_PROFILE_OP("index_add", x, index, source);
  Tensor out = clone(x);
  return index_add_(out, dim, index, source, alpha);
}

Tensor one_hot(const Tensor& x, int64_t num_classes) {
  LAMINA_PROFILE_OP("one_hot", x);
  LAMINA_CHECK(x.dtype() == DType::Int64, "one_hot: one_hot is only applicable to index tensor of type LongTensor, "
               "got ", dtype_name(x.dtype()));
  LAMINA_CHECK(num_classes >= -1, "one_hot: num_classes must be -1 or non-negative, got ", num_classes);
  if (x.numel() == 0) {
    LAMINA_CHECK(num_classes != -1, "one_hot: Can not infer total number of classes from empty tensor.");
  } else {
    auto [lo, hi] = indexing::min_max(x);
    LAMINA_CHECK(lo >= 0, "one_hot: Class values must be non-negative.");
    if (num_classes == -1) num_classes = hi + 1;
    LAMINA_CHECK(hi < num_classes, "one_hot: Class values must be smaller than num_classes.");
  }
  Shape shape = x.shape();
  shape.push_back(num_classes);
  Tensor out = zeros(shape, {DType::Int64, x.device()});
  autograd::GradModeGuard no_grad(false);
  scatter_kernel(out, out.dim() - 1, unsqueeze(x, -1), Tensor(), Scalar(int64_t(1)), false, "one_hot");
  return out;
}

}  // namespace lamina
