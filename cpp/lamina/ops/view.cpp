// Views: each op computes a new geometry (shape, strides, offset) over the same storage. Ops that
// pick a sub-region (narrow, select, slice, diagonal, as_strided) compute their geometry with a
// pure function that backward re-applies to a contiguous layout of the input's shape: the
// gradient is that region of a zero tensor filled with the incoming gradient (view_scatter).
#include <algorithm>
#include <numeric>

#include "lamina/ops/elementwise.h"
#include "lamina/core/profiler.h"

namespace lamina {

using autograd::Node;

namespace {

struct Geometry {
  Shape shape;
  Strides strides;
  int64_t offset = 0;
};

Geometry geometry_of(const Tensor& t) { return {t.shape(), t.strides(), t.offset()}; }
Geometry contiguous_geometry(const Shape& shape) { return {shape, contiguous_strides(shape), 0}; }

Tensor view_with(const Tensor& x, const Geometry& g) { return make_view(x, g.shape, g.strides, g.offset); }

// out = zeros(base_shape); out viewed with `region` = grad. Backward: the region of the gradient.
Tensor view_scatter(const Tensor& grad, const Shape& base_shape, const Geometry& region);

struct ViewScatterBackward : Node {
  Geometry region;
  std::string name() const override { return "AsStridedScatterBackward0"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    // `region` is relative to a contiguous tensor at offset 0; the gradient may be a contiguous
    // view further into its storage (the gradient of another view), so shift by its offset.
    Tensor g = contiguous(grads[0]);
    Geometry r = region;
    r.offset += g.offset();
    return {view_with(g, r)};
  }
};

Tensor view_scatter(const Tensor& grad, const Shape& base_shape, const Geometry& region) {
  Tensor out = zeros(base_shape, {grad.dtype(), grad.device()});
  copy_into(view_with(out, region), grad);
  if (auto node = autograd::make_node<ViewScatterBackward>(grad)) {
    node->region = region;
    autograd::set_history(out, node);
  }
  return out;
}

// Backward of a region view: scatter the gradient into zeros of the input's shape.
struct RegionBackward : Node {
  Shape input_shape;
  Geometry region;  // relative to a contiguous tensor of input_shape
  std::string label;
  std::string name() const override { return label; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    return {view_scatter(grads[0], input_shape, region)};
  }
};

template <class F>
Tensor region_view(const Tensor& x, const char* label, F&& geometry_fn) {
  Tensor out = view_with(x, geometry_fn(geometry_of(x)));
  if (auto node = autograd::make_node<RegionBackward>(x)) {
    node->input_shape = x.shape();
    node->region = geometry_fn(contiguous_geometry(x.shape()));
    node->label = label;
    autograd::set_history(out, node);
  }
  return out;
}

struct ReshapeBackward : Node {
  Shape input_shape;
  std::string label;
  std::string name() const override { return label; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override { return {reshape(grads[0], input_shape)}; }
};

Tensor reshape_view(const Tensor& x, const Shape& shape, const Strides& strides, const char* label) {
  Tensor out = make_view(x, shape, strides, x.offset());
  if (auto node = autograd::make_node<ReshapeBackward>(x)) {
    node->input_shape = x.shape();
    node->label = label;
    autograd::set_history(out, node);
  }
  return out;
}

// Resolves one -1 in `shape` against numel.
Shape infer_size(const Shape& shape, int64_t numel, const char* op) {
  Shape out = shape;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      LAMINA_CHECK(infer < 0, op, ": only one dimension can be inferred");
      infer = int64_t(i);
    } else {
      LAMINA_CHECK(shape[i] >= 0, op, ": invalid shape dimension ", shape[i]);
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    LAMINA_CHECK(known != 0 && numel % known == 0, op, ": shape '", str(shape), "' is invalid for input of size ", numel);
    out[size_t(infer)] = numel / known;
  } else {
    LAMINA_CHECK(known == numel, op, ": shape '", str(shape), "' is invalid for input of size ", numel);
  }
  return out;
}

// Strides that let `shape` view memory laid out as (old_shape, old_strides), if any (PyTorch's
// computeStride): each run of old dims that is contiguous in memory may be re-split freely.
bool compute_view_strides(const Shape& old_shape, const Strides& old_strides, const Shape& shape, Strides& out) {
  out.assign(shape.size(), 0);
  if (numel(old_shape) == 0 || old_shape.empty()) {  // empty or 0-d: any layout works
    out = contiguous_strides(shape);
    return true;
  }
  int64_t view_d = int64_t(shape.size()) - 1;
  int64_t chunk_base_stride = old_strides.empty() ? 1 : old_strides.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t d = int64_t(old_shape.size()) - 1; d >= 0; --d) {
    tensor_numel *= old_shape[size_t(d)];
    if (d == 0 || (old_shape[size_t(d - 1)] != 1 &&
                   old_strides[size_t(d - 1)] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || shape[size_t(view_d)] == 1)) {
        out[size_t(view_d)] = view_numel * chunk_base_stride;
        view_numel *= shape[size_t(view_d)];
        --view_d;
      }
      if (view_numel != tensor_numel) return false;
      if (d > 0) {
        chunk_base_stride = old_strides[size_t(d - 1)];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  return view_d == -1;
}

}  // namespace

Tensor view(const Tensor& x, const Shape& shape) {
  LAMINA_PROFILE_OP("view", x);
  Shape s = infer_size(shape, x.numel(), "view");
  Strides strides;
  LAMINA_CHECK(compute_view_strides(x.shape(), x.strides(), s, strides),
               "view: view size is not compatible with input tensor's size and stride (at least one dimension "
               "spans across two contiguous subspaces). Use .reshape(...) instead.");
  return reshape_view(x, s, strides, "ViewBackward0");
}

Tensor reshape(const Tensor& x, const Shape& shape) {
  LAMINA_PROFILE_OP("reshape", x);
  Shape s = infer_size(shape, x.numel(), "reshape");
  Strides strides;
  if (compute_view_strides(x.shape(), x.strides(), s, strides)) return reshape_view(x, s, strides, "ViewBackward0");
  return reshape_view(clone(x), s, contiguous_strides(s), "ReshapeAliasBackward0");
}

Tensor as_strided(const Tensor& x, const Shape& shape, const Strides& strides, int64_t offset) {
  LAMINA_PROFILE_OP("as_strided", x);
  LAMINA_CHECK(shape.size() == strides.size(), "as_strided: mismatch in length of strides and shape");
  check_shape(shape, x.itemsize(), "as_strided");
  LAMINA_CHECK(offset >= 0, "as_strided: negative storage offset ", offset);
  // offset + sum(size * stride) elements, in bytes, must fit in int64 even for an empty view:
  // kernels multiply strides by sizes and item sizes before they know a tensor is empty, and a
  // wrapped bounds sum would let the view address foreign memory.
  int64_t reach = offset, last = offset;
  bool overflow = false, empty = false;
  for (size_t i = 0; i < shape.size(); ++i) {
    LAMINA_CHECK(strides[i] >= 0, "as_strided: negative strides are not supported, got ", strides[i]);
    int64_t span = 0;
    overflow |= __builtin_mul_overflow(std::max<int64_t>(shape[i], 1), strides[i], &span);
    overflow |= __builtin_add_overflow(reach, span, &reach);
    empty |= shape[i] == 0;
    if (!overflow && shape[i] > 0) last += (shape[i] - 1) * strides[i];  // <= reach: no overflow
  }
  int64_t reach_bytes = 0;
  overflow |= __builtin_mul_overflow(reach, int64_t(x.itemsize()), &reach_bytes);
  LAMINA_CHECK(!overflow, "as_strided: storage size calculation overflowed with sizes ", str(shape),
               ", strides ", str(strides), " and storage offset ", offset);
  if (empty) last = -1;
  int64_t capacity = int64_t(x.storage()->nbytes() / x.itemsize());
  if (last >= capacity) {  // the bytes needed, as a number when it fits in int64
    int64_t bytes = 0;
    bool huge = __builtin_mul_overflow(last, int64_t(x.itemsize()), &bytes) ||
                __builtin_add_overflow(bytes, int64_t(x.itemsize()), &bytes);
    throw Error(detail::cat("as_strided: setStorage: sizes ", str(shape), ", strides ", str(strides), ", storage offset ",
                       offset, " requiring ", huge ? std::string("more than 2^63") : std::to_string(bytes),
                       " bytes is out of bounds for storage of size ", x.storage()->nbytes()));
  }
  if (autograd::needs_grad(x)) {
    LAMINA_CHECK(x.is_contiguous(), "as_strided: backward through a non-contiguous input is not supported");
    for (size_t i = 0; i < shape.size(); ++i)
      LAMINA_CHECK(!(strides[i] == 0 && shape[i] > 1), "as_strided: backward through an overlapping view is "
                   "not supported");
  }
  return region_view(x, "AsStridedBackward0", [&](const Geometry& g) {
    // Relative to the input's first element, so backward can replay it on a contiguous layout.
    return Geometry{shape, strides, g.offset + (offset - x.offset())};
  });
}

Tensor permute(const Tensor& x, const std::vector<int64_t>& dims) {
  LAMINA_PROFILE_OP("permute", x);
  LAMINA_CHECK(int64_t(dims.size()) == x.dim(), "permute: number of dims don't match in permute: got ",
               dims.size(), " dims for a ", x.dim(), "-d tensor");
  std::vector<int64_t> wrapped;
  std::vector<bool> seen(size_t(x.dim()), false);
  Shape shape;
  Strides strides;
  for (int64_t d : dims) {
    int64_t w = wrap_dim(d, x.dim(), "permute");
    LAMINA_CHECK(!seen[size_t(w)], "permute: repeated dim ", w, " in permutation");
    seen[size_t(w)] = true;
    wrapped.push_back(w);
    shape.push_back(x.shape()[size_t(w)]);
    strides.push_back(x.strides()[size_t(w)]);
  }
  struct PermuteBackward : Node {
    std::vector<int64_t> inverse;
    std::string name() const override { return "PermuteBackward0"; }
    std::vector<Tensor> apply(std::vector<Tensor>&& grads) override { return {permute(grads[0], inverse)}; }
  };
  Tensor out = make_view(x, shape, strides, x.offset());
  if (auto node = autograd::make_node<PermuteBackward>(x)) {
    node->inverse.resize(wrapped.size());
    for (size_t i = 0; i < wrapped.size(); ++i) node->inverse[size_t(wrapped[i])] = int64_t(i);
    autograd::set_history(out, node);
  }
  return out;
}

Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1) {
  LAMINA_PROFILE_OP("transpose", x);
  if (x.dim() == 0) {
    wrap_dim(dim0, 0, "transpose");
    wrap_dim(dim1, 0, "transpose");
    return permute(x, {});
  }
  std::vector<int64_t> perm(size_t(x.dim()));
  std::iota(perm.begin(), perm.end(), 0);
  std::swap(perm[size_t(wrap_dim(dim0, x.dim(), "transpose"))], perm[size_t(wrap_dim(dim1, x.dim(), "transpose"))]);
  return permute(x, perm);
}

Tensor t(const Tensor& x) {
  LAMINA_PROFILE_OP("t", x);
  LAMINA_CHECK(x.dim() <= 2, "t: t() expects a tensor with <= 2 dimensions, but self is ", x.dim(), "D");
  return x.dim() < 2 ? permute(x, x.dim() == 1 ? std::vector<int64_t>{0} : std::vector<int64_t>{}) : transpose(x, 0, 1);
}

Tensor mT(const Tensor& x) {
  LAMINA_PROFILE_OP("mT", x);
  LAMINA_CHECK(x.dim() >= 2, "mT: tensor.mT is only supported on matrices or batches of matrices. Got ",
               x.dim(), "-D tensor.");
  return transpose(x, -2, -1);
}

Tensor expand(const Tensor& x, const Shape& shape) {
  LAMINA_PROFILE_OP("expand", x);
  LAMINA_CHECK(shape.size() >= size_t(x.dim()), "expand: the number of sizes provided (", shape.size(),
               ") must be greater or equal to the number of dimensions in the tensor (", x.dim(), ")");
  Shape out_shape(shape.size());
  Strides strides(shape.size());
  size_t lead = shape.size() - size_t(x.dim());
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i < lead) {
      LAMINA_CHECK(shape[i] >= 0, "expand: the expanded size of the tensor (", shape[i],
                   ") isn't allowed in a leading, non-existing dimension ", i);
      out_shape[i] = shape[i];
      strides[i] = 0;
      continue;
    }
    int64_t have = x.shape()[i - lead];
    int64_t want = shape[i] == -1 ? have : shape[i];
    LAMINA_CHECK(have == want || have == 1, "expand: the expanded size of the tensor (", want,
                 ") must match the existing size (", have, ") at non-singleton dimension ", i,
                 ".  Target sizes: ", str(shape), ".  Tensor sizes: ", str(x.shape()));
    out_shape[i] = want;
    strides[i] = have == want ? x.strides()[i - lead] : 0;
  }
  check_shape(out_shape, x.itemsize(), "expand");
  if (out_shape == x.shape()) return x;
  struct ExpandBackward : Node {
    Shape input_shape;
    std::string name() const override { return "ExpandBackward0"; }
    std::vector<Tensor> apply(std::vector<Tensor>&& grads) override { return {sum_to(grads[0], input_shape)}; }
  };
  Tensor out = make_view(x, out_shape, strides, x.offset());
  if (auto node = autograd::make_node<ExpandBackward>(x)) {
    node->input_shape = x.shape();
    autograd::set_history(out, node);
  }
  return out;
}

Tensor expand_as(const Tensor& x, const Tensor& other) {
  LAMINA_PROFILE_OP("expand_as", x, other);
  return expand(x, other.shape());
}

Tensor squeeze(const Tensor& x) {
  LAMINA_PROFILE_OP("squeeze", x);
  Shape shape;
  Strides strides;
  for (int64_t d = 0; d < x.dim(); ++d) {
    if (x.shape()[size_t(d)] == 1) continue;
    shape.push_back(x.shape()[size_t(d)]);
    strides.push_back(x.strides()[size_t(d)]);
  }
  return reshape_view(x, shape, strides, "SqueezeBackward0");
}

Tensor squeeze(const Tensor& x, const std::vector<int64_t>& dims) {
  LAMINA_PROFILE_OP("squeeze", x);
  Dims wrapped = wrap_dims(dims, x.dim(), "squeeze");
  Shape shape;
  Strides strides;
  for (int64_t d = 0; d < x.dim(); ++d) {
    bool listed = std::find(wrapped.begin(), wrapped.end(), d) != wrapped.end();
    if (listed && x.shape()[size_t(d)] == 1) continue;
    shape.push_back(x.shape()[size_t(d)]);
    strides.push_back(x.strides()[size_t(d)]);
  }
  return reshape_view(x, shape, strides, "SqueezeBackward1");
}

Tensor unsqueeze(const Tensor& x, int64_t dim) {
  LAMINA_PROFILE_OP("unsqueeze", x);
  int64_t d = wrap_dim(dim, x.dim() + 1, "unsqueeze");
  Shape shape = x.shape();
  Strides strides = x.strides();
  int64_t stride = size_t(d) < strides.size() ? strides[size_t(d)] * shape[size_t(d)] : 1;
  shape.insert(shape.begin() + d, 1);
  strides.insert(strides.begin() + d, stride);
  check_shape(shape, x.itemsize(), "unsqueeze");
  return reshape_view(x, shape, strides, "UnsqueezeBackward0");
}

Tensor flatten(const Tensor& x, int64_t start_dim, int64_t end_dim) {
  LAMINA_PROFILE_OP("flatten", x);
  int64_t s = wrap_dim(start_dim, x.dim(), "flatten"), e = wrap_dim(end_dim, x.dim(), "flatten");
  if (x.dim() == 0) return reshape(x, {1});
  LAMINA_CHECK(s <= e, "flatten: flatten() has invalid args: start_dim cannot come after end_dim");
  Shape shape(x.shape().begin(), x.shape().begin() + s);
  int64_t n = 1;
  for (int64_t d = s; d <= e; ++d) n *= x.shape()[size_t(d)];
  shape.push_back(n);
  shape.insert(shape.end(), x.shape().begin() + e + 1, x.shape().end());
  return reshape(x, shape);
}

Tensor unflatten(const Tensor& x, int64_t dim, const Shape& sizes) {
  LAMINA_PROFILE_OP("unflatten", x);
  LAMINA_CHECK(x.dim() > 0, "unflatten: Dimension specified as ", dim, " but tensor has no dimensions");
  int64_t d = wrap_dim(dim, x.dim(), "unflatten");
  LAMINA_CHECK(!sizes.empty(), "unflatten: sizes must be non-empty");
  Shape inner = infer_size(sizes, x.shape()[size_t(d)], "unflatten");
  Shape shape(x.shape().begin(), x.shape().begin() + d);
  shape.insert(shape.end(), inner.begin(), inner.end());
  shape.insert(shape.end(), x.shape().begin() + d + 1, x.shape().end());
  return view(x, shape);
}

Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end, int64_t step) {
  LAMINA_PROFILE_OP("slice", x);
  LAMINA_CHECK(x.dim() > 0, "slice() cannot be applied to a 0-dim tensor.");
  int64_t d = wrap_dim(dim, x.dim(), "slice");
  LAMINA_CHECK_VALUE(step > 0, "slice: step must be greater than zero, got ", step);
  int64_t size = x.shape()[size_t(d)];
  auto clampi = [&](int64_t v) { return v < 0 ? std::max<int64_t>(v + size, 0) : std::min(v, size); };
  int64_t b = clampi(start), e = std::max(clampi(end), b);
  int64_t len = e > b ? (e - b - 1) / step + 1 : 0;  // no overflow for huge steps
  return region_view(x, "SliceBackward0", [&](const Geometry& g) {
    Geometry r = g;
    r.offset += b * g.strides[size_t(d)];
    r.shape[size_t(d)] = len;
    if (len > 1) r.strides[size_t(d)] *= step;  // a step past the end would overflow the stride
    return r;
  });
}

Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length) {
  LAMINA_PROFILE_OP("narrow", x);
  LAMINA_CHECK(x.dim() > 0, "narrow() cannot be applied to a 0-dim tensor.");
  int64_t d = wrap_dim(dim, x.dim(), "narrow");
  int64_t size = x.shape()[size_t(d)];
  LAMINA_CHECK_INDEX(start >= -size && start <= size, "narrow: start (", start, ") out of range for dimension ",
                     d, " of size ", size);
  if (start < 0) start += size;
  LAMINA_CHECK(length >= 0 && start + length <= size, "narrow: start (", start, ") + length (", length,
               ") exceeds dimension size (", size, ").");
  return slice(x, d, start, start + length, 1);
}

Tensor select(const Tensor& x, int64_t dim, int64_t index) {
  LAMINA_PROFILE_OP("select", x);
  LAMINA_CHECK_INDEX(x.dim() > 0, "select() cannot be applied to a 0-dim tensor.");
  int64_t d = wrap_dim(dim, x.dim(), "select");
  int64_t size = x.shape()[size_t(d)];
  LAMINA_CHECK_INDEX(index >= -size && index < size, "select: index ", index, " is out of bounds for dimension ",
                     d, " with size ", size);
  int64_t i = index < 0 ? index + size : index;
  return region_view(x, "SelectBackward0", [&](const Geometry& g) {
    Geometry r = g;
    r.offset += i * g.strides[size_t(d)];
    r.shape.erase(r.shape.begin() + d);
    r.strides.erase(r.strides.begin() + d);
    return r;
  });
}

Tensor diagonal(const Tensor& x, int64_t offset, int64_t dim1, int64_t dim2) {
  LAMINA_PROFILE_OP("diagonal", x);
  int64_t a = wrap_dim(dim1, x.dim(), "diagonal"), b = wrap_dim(dim2, x.dim(), "diagonal");
  LAMINA_CHECK(a != b, "diagonal: dimensions cannot be identical ", dim1, ", ", dim2);
  LAMINA_DCHECK(x.dim() >= 2);  // a 0-d or 1-d tensor has no two distinct dims
  return region_view(x, "DiagonalBackward0", [&](const Geometry& g) {
    int64_t na = g.shape[size_t(a)], nb = g.shape[size_t(b)];
    int64_t len = offset >= 0 ? std::max<int64_t>(0, std::min(na, nb - offset))
                              : std::max<int64_t>(0, std::min(na + offset, nb));
    Geometry r;
    r.offset = g.offset;
    if (len > 0) r.offset += offset >= 0 ? offset * g.strides[size_t(b)] : -offset * g.strides[size_t(a)];
    for (int64_t d = 0; d < int64_t(g.shape.size()); ++d) {
      if (d == a || d == b) continue;
      r.shape.push_back(g.shape[size_t(d)]);
      r.strides.push_back(g.strides[size_t(d)]);
    }
    r.shape.push_back(len);
    r.strides.push_back(g.strides[size_t(a)] + g.strides[size_t(b)]);
    return r;
  });
}

namespace {
// Tensor.unfold's windows may overlap (step < size), so its gradient adds each window's gradient
// back at its positions: one index_add over the window elements laid out along `dim`
// (differentiable again: index_add's backward is index_select).
struct UnfoldBackward : Node {
  Shape input_shape;
  int64_t dim = 0, size = 0, step = 1;
  std::string name() const override { return "UnfoldBackward0"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    const Tensor& g = grads[0];  // input_shape with dim -> windows, plus a trailing dim of `size`
    const int64_t windows = g.shape()[size_t(dim)];
    Tensor starts = unsqueeze(arange(Scalar(int64_t(0)), Scalar(windows * step), Scalar(step), DType::Int64,
                                     g.device()), 1);
    Tensor positions = reshape(starts + arange(Scalar(int64_t(0)), Scalar(size), Scalar(int64_t(1)), DType::Int64,
                                               g.device()), {windows * size});
    Tensor per_position = flatten(movedim(g, {g.dim() - 1}, {dim + 1}), dim, dim + 1);
    return {index_add(zeros(input_shape, {g.dtype(), g.device()}), dim, positions, per_position, Scalar(int64_t(1)))};
  }
};
}  // namespace

// Tensor.unfold: every window of `size` elements along dim, `step` apart, as a new last dim.
Tensor unfold(const Tensor& x, int64_t dim, int64_t size, int64_t step) {
  LAMINA_PROFILE_OP("unfold", x);
  if (x.dim() == 0) {  // PyTorch: a 0-d tensor unfolds as one element of dim 0
    wrap_dim(dim, 0, "unfold");
    return reshape(unfold(reshape(x, {1}), 0, size, step), {size});
  }
  const int64_t d = wrap_dim(dim, x.dim(), "unfold");
  const int64_t length = x.shape()[size_t(d)];
  LAMINA_CHECK(size >= 0, "unfold: size is ", size, " but must be >= 0");
  LAMINA_CHECK(size <= length, "unfold: maximum size for tensor at dimension ", d, " is ", length, " but size is ",
               size);
  LAMINA_CHECK(step > 0, "unfold: step is ", step, " but must be > 0");
  Shape shape = x.shape();
  Strides strides = x.strides();
  shape[size_t(d)] = (length - size) / step + 1;
  strides[size_t(d)] *= shape[size_t(d)] > 1 ? step : 1;  // a step past the end would overflow the stride
  shape.push_back(size);
  strides.push_back(x.strides()[size_t(d)]);
  Tensor out = make_view(x, shape, strides, x.offset());
  if (auto node = autograd::make_node<UnfoldBackward>(x)) {
    node->input_shape = x.shape();
    node->dim = d;
    node->size = size;
    node->step = step;
    autograd::set_history(out, node);
  }
  return out;
}

namespace {
// Several views of one input (unbind, split): the gradient joins the pieces back together.
struct JoinBackward : Node {
  int64_t dim = 0;
  bool stacked = false;  // unbind: pieces lost the dim
  std::string label;
  std::string name() const override { return label; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    return {stacked ? stack(grads, dim) : cat(grads, dim)};
  }
};

std::vector<Tensor> join_history(std::vector<Tensor> pieces, const Tensor& x, int64_t dim, bool stacked,
                                 const char* label) {
  auto node = autograd::make_node<JoinBackward>(x);
  if (!node) return pieces;
  node->dim = dim;
  node->stacked = stacked;
  node->label = label;
  for (Tensor& p : pieces) {
    p.impl()->clear_autograd();  // replace the per-piece history with the joint node
    autograd::set_history(p, node);
  }
  return pieces;
}
}  // namespace

std::vector<Tensor> unbind(const Tensor& x, int64_t dim) {
  LAMINA_PROFILE_OP("unbind", x);
  int64_t d = wrap_dim(dim, x.dim(), "unbind");
  LAMINA_CHECK_INDEX(x.dim() > 0, "unbind: dimension specified as 0 but tensor has no dimensions");
  std::vector<Tensor> pieces;
  {
    autograd::GradModeGuard no_grad(false);
    for (int64_t i = 0; i < x.shape()[size_t(d)]; ++i) pieces.push_back(select(x, d, i));
  }
  return join_history(pieces, x, d, true, "UnbindBackward0");
}

std::vector<Tensor> split_with_sizes(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim) {
  LAMINA_PROFILE_OP("split_with_sizes", x);
  LAMINA_CHECK(x.dim() > 0, "split: cannot split a 0-dim tensor");
  int64_t d = wrap_dim(dim, x.dim(), "split");
  int64_t total = 0;
  for (int64_t s : sizes) {
    LAMINA_CHECK(s >= 0, "split_with_sizes: expects split_sizes have only non-negative entries, but got ", s);
    total += s;
  }
  LAMINA_CHECK(total == x.shape()[size_t(d)], "split_with_sizes: expects split_sizes to sum exactly to ",
               x.shape()[size_t(d)], " (input tensor's size at dimension ", d, "), but got split_sizes with sum ",
               total);
  std::vector<Tensor> pieces;
  {
    autograd::GradModeGuard no_grad(false);
    int64_t start = 0;
    for (int64_t s : sizes) {
      pieces.push_back(narrow(x, d, start, s));
      start += s;
    }
  }
  return join_history(pieces, x, d, false, "SplitWithSizesBackward0");
}

std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim) {
  LAMINA_PROFILE_OP("split", x);
  LAMINA_CHECK(x.dim() > 0, "split: cannot split a 0-dim tensor");
  int64_t d = wrap_dim(dim, x.dim(), "split");
  int64_t size = x.shape()[size_t(d)];
  LAMINA_CHECK(split_size > 0 || (split_size == 0 && size == 0),
               "split: split_size can only be 0 if dimension size is 0, but got dimension size of ", size);
  std::vector<int64_t> sizes;
  if (size == 0) sizes.push_back(0);
  for (int64_t start = 0; start < size; start += split_size) sizes.push_back(std::min(split_size, size - start));
  return split_with_sizes(x, sizes, d);
}

std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim) {
  LAMINA_PROFILE_OP("chunk", x);
  LAMINA_CHECK(x.dim() > 0, "chunk expects at least a 1-dimensional tensor");
  LAMINA_CHECK(chunks > 0, "chunk expects `chunks` to be greater than 0, got: ", chunks);
  int64_t d = wrap_dim(dim, x.dim(), "chunk");
  int64_t size = x.shape()[size_t(d)];
  int64_t piece = (size + chunks - 1) / chunks;
  if (piece == 0) {  // PyTorch: an empty dim gives `chunks` empty pieces
    return split_with_sizes(x, std::vector<int64_t>(size_t(chunks), 0), d);
  }
  return split(x, piece, d);
}

Tensor movedim(const Tensor& x, const std::vector<int64_t>& source, const std::vector<int64_t>& destination) {
  LAMINA_PROFILE_OP("movedim", x);
  LAMINA_CHECK(source.size() == destination.size(), "movedim: Invalid source or destination dims: source (",
               str(source), " dims) should contain the same number of dims as destination (", str(destination), " dims)");
  Dims src = wrap_dims(source, x.dim(), "movedim");  // also rejects repeats
  Dims dst = wrap_dims(destination, x.dim(), "movedim");
  if (x.dim() == 0) return permute(x, {});  // dims 0 and -1 name the scalar itself: nothing moves
  std::vector<int64_t> perm(size_t(x.dim()), -1);
  std::vector<bool> used(size_t(x.dim()), false);
  for (size_t i = 0; i < source.size(); ++i) {
    int64_t s = wrap_dim(source[i], x.dim(), "movedim"), t = wrap_dim(destination[i], x.dim(), "movedim");
    perm[size_t(t)] = s;
    used[size_t(s)] = true;
  }
  int64_t next = 0;
  for (auto& p : perm) {
    if (p != -1) continue;
    while (used[size_t(next)]) ++next;
    p = next++;
  }
  return permute(x, perm);
}

}  // namespace lamina
