// Ops that build a new tensor out of rearranged elements: cat, stack, flip, roll, repeat, tile,
// tril, triu. None has a kernel of its own: each is a few calls of the strided copy kernel over
// internal views (flip reads through a view with negated strides, which never leaves this file;
// repeat reads through a view with 0 strides), or one call of the where kernel (tril/triu, with a
// mask built from arange comparisons). Backward formulas reuse the ops: flip the gradient, roll
// it back, sum the copies of a repeat, keep the same triangle.
#include <algorithm>

#include "lamina/ops/elementwise.h"
#include "lamina/core/profiler.h"

namespace lamina {

using autograd::Node;

namespace {

// A sub-range of `t` along dim d, without autograd (output slices and input pieces).
Tensor range_view(const Tensor& t, int64_t d, int64_t start, int64_t length) {
  Shape shape = t.shape();
  shape[size_t(d)] = length;
  return make_view(t, shape, t.strides(), t.offset() + start * t.strides()[size_t(d)]);
}

int64_t positive_mod(int64_t a, int64_t n) {
  int64_t r = a % n;
  return r < 0 ? r + n : r;
}

struct CatBackward : Node {
  int64_t dim = 0;
  std::vector<int64_t> sizes;  // each input's extent along dim (-1: an ignored empty 1-d input)
  std::string name() const override { return "CatBackward0"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    std::vector<Tensor> out;
    int64_t start = 0;
    for (size_t i = 0; i < sizes.size(); ++i) {
      if (sizes[i] < 0) {
        out.push_back(needs_input_grad(i) ? zeros(input_meta[i].shape, {grads[0].dtype(), grads[0].device()}) : Tensor());
        continue;
      }
      out.push_back(needs_input_grad(i) ? narrow(grads[0], dim, start, sizes[i]) : Tensor());
      start += sizes[i];
    }
    return out;
  }
};

struct StackBackward : Node {
  int64_t dim = 0;
  std::string name() const override { return "StackBackward0"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    std::vector<Tensor> out;
    for (size_t i = 0; i < next_edges.size(); ++i)
      out.push_back(needs_input_grad(i) ? select(grads[0], dim, int64_t(i)) : Tensor());
    return out;
  }
};

// The tensor PyTorch measures the others against: the first that is not a legacy empty 1-d one.
const Tensor& cat_reference(const std::vector<Tensor>& tensors) {
  for (const Tensor& t : tensors)
    if (!(t.dim() == 1 && t.numel() == 0)) return t;
  return tensors[0];
}

// Checks the inputs and returns the output shape; sizes[i] is input i's extent along d.
Shape cat_shape(const std::vector<Tensor>& tensors, const Tensor& ref, int64_t d, std::vector<int64_t>& sizes) {
  Shape shape = ref.shape();
  shape[size_t(d)] = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    elementwise::check_same_device(t, ref, "cat");
    if (t.dim() == 1 && t.numel() == 0 && ref.dim() != 1) {
      sizes.push_back(-1);
      continue;
    }
    LAMINA_CHECK(t.dim() == ref.dim(), "cat: Tensors must have same number of dimensions: got ", ref.dim(),
                 " and ", t.dim());
    for (int64_t k = 0; k < t.dim(); ++k)
      LAMINA_CHECK(k == d || t.shape()[size_t(k)] == ref.shape()[size_t(k)],
                   "cat: Sizes of tensors must match except in dimension ", d, ". Expected size ",
                   ref.shape()[size_t(k)], " but got size ", t.shape()[size_t(k)], " for tensor number ", i,
                   " in the list.");
    sizes.push_back(t.shape()[size_t(d)]);
    shape[size_t(d)] += t.shape()[size_t(d)];
  }
  return shape;
}

// cat without autograd; `sizes` receives each input's extent along the wrapped dim `d`.
Tensor cat_impl(const std::vector<Tensor>& tensors, int64_t dim, int64_t& d, std::vector<int64_t>& sizes) {
  LAMINA_CHECK_VALUE(!tensors.empty(), "cat: expected a non-empty list of Tensors");
  for (size_t i = 0; i < tensors.size(); ++i)
    LAMINA_CHECK(tensors[i].dim() > 0, "cat: zero-dimensional tensor (at position ", i, ") cannot be concatenated");
  const Tensor& ref = cat_reference(tensors);
  // When every input is a legacy empty (0,) tensor PyTorch skips them all and never looks at dim.
  const bool all_legacy_empty = ref.dim() == 1 && ref.numel() == 0;
  d = all_legacy_empty ? 0 : wrap_dim(dim, ref.dim(), "cat");
  DType dtype = tensors[0].dtype();
  for (const Tensor& t : tensors) dtype = promote_types(dtype, t.dtype());
  Shape shape = cat_shape(tensors, ref, d, sizes);
  check_shape(shape, itemsize(dtype), "cat");
  Tensor out = make_tensor(shape, dtype, ref.device());
  int64_t start = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (sizes[i] <= 0) continue;
    copy_into(range_view(out, d, start, sizes[i]), tensors[i]);
    start += sizes[i];
  }
  return out;
}

}  // namespace

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  LAMINA_PROFILE_OP("cat", tensors);
  int64_t d = 0;
  std::vector<int64_t> sizes;
  Tensor out = cat_impl(tensors, dim, d, sizes);
  if (is_floating_point(out.dtype())) {
    if (auto node = autograd::make_node_from<CatBackward>(tensors)) {
      node->dim = d;
      node->sizes = sizes;
      autograd::set_history(out, node);
    }
  }
  return out;
}

Tensor stack(const std::vector<Tensor>& tensors, int64_t dim) {
  LAMINA_PROFILE_OP("stack", tensors);
  LAMINA_CHECK_VALUE(!tensors.empty(), "stack: expects a non-empty TensorList");
  int64_t d = wrap_dim(dim, tensors[0].dim() + 1, "stack");
  std::vector<Tensor> expanded;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    LAMINA_CHECK(t.shape() == tensors[0].shape(), "stack: expects each tensor to be equal size, but got ",
                 str(tensors[0].shape()), " at entry 0 and ", str(t.shape()), " at entry ", i);
    // An unsqueezed view without autograd: the gradient is recorded once, by StackBackward.
    Shape shape = t.shape();
    Strides strides = t.strides();
    shape.insert(shape.begin() + d, 1);
    strides.insert(strides.begin() + d, 1);
    expanded.push_back(make_view(t, shape, strides, t.offset()));
  }
  int64_t cat_dim = 0;
  std::vector<int64_t> sizes;
  Tensor out = cat_impl(expanded, d, cat_dim, sizes);
  if (is_floating_point(out.dtype())) {
    if (auto node = autograd::make_node_from<StackBackward>(tensors)) {
      node->dim = d;
      autograd::set_history(out, node);
    }
  }
  return out;
}

// ---- flip ----------------------------------------------------------------------------------

namespace {
struct FlipBackward : Node {
  std::vector<int64_t> dims;
  std::string name() const override { return "FlipBackward0"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override { return {flip(grads[0], dims)}; }
};
}  // namespace

Tensor flip(const Tensor& x, const std::vector<int64_t>& dims) {
  LAMINA_PROFILE_OP("flip", x);
  std::vector<int64_t> wrapped = wrap_dims(dims, x.dim(), "flip");
  Tensor out = make_tensor(x.shape(), x.dtype(), x.device());
  if (x.numel() > 0) {
    // Read x backwards along the flipped dims: start at the last element, negate the stride.
    Strides strides = x.strides();
    int64_t offset = x.offset();
    for (int64_t d : wrapped) {
      if (d >= x.dim()) continue;  // dim 0 of a 0-d tensor
      offset += (x.shape()[size_t(d)] - 1) * strides[size_t(d)];
      strides[size_t(d)] = -strides[size_t(d)];
    }
    copy_into(out, make_view(x, x.shape(), strides, offset));
  }
  if (auto node = autograd::make_node<FlipBackward>(x)) {
    node->dims = wrapped;
    autograd::set_history(out, node);
  }
  return out;
}

// ---- roll ----------------------------------------------------------------------------------

namespace {

struct RollBackward : Node {
  std::vector<int64_t> shifts, dims;  // shifts normalised to [0, size)
  std::string name() const override { return "RollBackward0"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    std::vector<int64_t> back;
    for (int64_t s : shifts) back.push_back(-s);
    return {roll(grads[0], back, dims)};
  }
};

// out = src rolled by s along d (0 < s < size): the last s entries move to the front.
void roll_into(const Tensor& out, const Tensor& src, int64_t d, int64_t s) {
  int64_t n = src.shape()[size_t(d)];
  copy_into(range_view(out, d, s, n - s), range_view(src, d, 0, n - s));
  copy_into(range_view(out, d, 0, s), range_view(src, d, n - s, s));
}

// Rolls along each (dim, shift) in turn; shifts are already in [0, size).
Tensor roll_dims(const Tensor& x, const std::vector<int64_t>& shifts, const std::vector<int64_t>& dims) {
  Tensor cur = x;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (shifts[i] == 0) continue;
    Tensor next = make_tensor(x.shape(), x.dtype(), x.device());
    roll_into(next, cur, dims[i], shifts[i]);
    cur = next;
  }
  if (cur.is_same(x)) {  // nothing moved: still a fresh tensor, like PyTorch
    cur = make_tensor(x.shape(), x.dtype(), x.device());
    copy_into(cur, x);
  }
  return cur;
}

}  // namespace

Tensor roll(const Tensor& x, const std::vector<int64_t>& shifts, const std::vector<int64_t>& dims) {
  LAMINA_PROFILE_OP("roll", x);
  LAMINA_CHECK(!shifts.empty(), "roll: `shifts` required");
  LAMINA_CHECK(dims.empty() ? shifts.size() == 1 : shifts.size() == dims.size(),
               "roll: shifts and dimensions must align. shifts: ", shifts.size(), ", dims:", dims.size());
  std::vector<int64_t> wrapped, normalised;
  Tensor out;
  if (dims.empty()) {
    // No dims: roll the flattened tensor and restore the shape.
    int64_t n = x.numel();
    normalised.push_back(n == 0 ? 0 : positive_mod(shifts[0], n));
    Tensor flat = x.is_contiguous() ? x : contiguous(detach(x));
    out = make_tensor(x.shape(), x.dtype(), x.device());
    if (n > 0) {
      Tensor flat_in = make_view(flat, {n}, {1}, flat.offset()), flat_out = make_view(out, {n}, {1}, 0);
      if (normalised[0] == 0) copy_into(flat_out, flat_in);
      else roll_into(flat_out, flat_in, 0, normalised[0]);
    }
  } else {
    LAMINA_CHECK_INDEX(x.dim() > 0, "roll: Dimension specified as ", dims[0], " but tensor has no dimensions");
    for (size_t i = 0; i < dims.size(); ++i) {
      int64_t d = wrap_dim(dims[i], x.dim(), "roll");
      int64_t n = x.shape()[size_t(d)];
      wrapped.push_back(d);
      normalised.push_back(n == 0 ? 0 : positive_mod(shifts[i], n));
    }
    out = roll_dims(x, normalised, wrapped);
  }
  if (auto node = autograd::make_node<RollBackward>(x)) {
    node->shifts = normalised;
    node->dims = wrapped;
    autograd::set_history(out, node);
  }
  return out;
}

// ---- repeat / tile -------------------------------------------------------------------------
//
// Seen as (r0, s0, r1, s1, ...), the output of repeat is contiguous memory and the input is x
// with stride 0 on every r dim: one strided copy. Only pairs with r > 1 and s > 1 add a dim, so
// the interleaved view stays within kMaxDims except for very high-rank inputs, which are handled
// in stages (leading dims first).

namespace {

// Merges neighbouring dims that are contiguous with each other in both layouts; drops size-1 dims.
void coalesce(Shape& shape, Strides& a, Strides& b) {
  Shape s;
  Strides sa, sb;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 1) continue;
    if (!s.empty() && sa.back() == a[i] * shape[i] && sb.back() == b[i] * shape[i]) {
      s.back() *= shape[i];
      sa.back() = a[i];
      sb.back() = b[i];
      continue;
    }
    s.push_back(shape[i]);
    sa.push_back(a[i]);
    sb.push_back(b[i]);
  }
  shape = s;
  a = sa;
  b = sb;
}

// Writes src (same rank as reps) repeated `reps` times into the contiguous tensor out.
void repeat_into(const Tensor& out, const Tensor& src, const Shape& reps) {
  Shape shape;
  Strides in;
  for (size_t i = 0; i < reps.size(); ++i) {
    shape.push_back(reps[i]);
    in.push_back(0);
    shape.push_back(src.shape()[i]);
    in.push_back(src.strides()[i]);
  }
  Strides outs = contiguous_strides(shape);
  coalesce(shape, outs, in);
  if (shape.size() <= size_t(kMaxDims)) {
    copy_into(make_view(out, shape, outs, out.offset()), make_view(src, shape, in, src.offset()));
    return;
  }
  // Too many dims for one strided loop: repeat the leading half of the dims, then the rest.
  // Contiguous operands make the untouched dims coalesce, so each stage has fewer dims.
  Tensor source = src.is_contiguous() ? src : contiguous(detach(src));
  size_t half = reps.size() / 2;
  Shape first = reps, second = reps, mid_shape = src.shape();
  for (size_t i = 0; i < reps.size(); ++i) {
    (i < half ? second : first)[i] = 1;
    if (i < half) mid_shape[i] *= reps[i];
  }
  Tensor mid = make_tensor(mid_shape, src.dtype(), src.device());
  repeat_into(mid, source, first);
  repeat_into(out, mid, second);
}

// The gradient of repeat: grad seen as (r0, s0, r1, s1, ...) summed over the r dims. Runs of
// unrepeated dims are merged so the split shape fits in kMaxDims, staged like repeat_into.
Tensor sum_repeats(const Tensor& grad, const Shape& padded, const Shape& reps) {
  Shape split;
  std::vector<int64_t> sum_dims;
  bool run = false;  // the last split dim is a merged run of unrepeated dims
  for (size_t i = 0; i < reps.size(); ++i) {
    if (reps[i] == 1) {
      if (run) split.back() *= padded[i];
      else split.push_back(padded[i]);
      run = true;
      continue;
    }
    sum_dims.push_back(int64_t(split.size()));
    split.push_back(reps[i]);
    run = padded[i] != 1;  // unrepeated dims may merge into s_i, never into a summed r_i
    if (run) split.push_back(padded[i]);
  }
  if (sum_dims.empty()) return reshape(grad, padded);
  if (split.size() <= size_t(kMaxDims)) return reshape(sum(reshape(grad, split), sum_dims), padded);
  size_t half = reps.size() / 2;  // sum the trailing copies first, then the leading ones
  Shape first = reps, second = reps, mid_shape = padded;
  for (size_t i = 0; i < reps.size(); ++i) {
    (i < half ? first : second)[i] = 1;
    if (i < half) mid_shape[i] *= reps[i];
  }
  return sum_repeats(sum_repeats(grad, mid_shape, first), padded, second);
}

struct RepeatBackward : Node {
  Shape padded, reps;
  std::string name() const override { return "RepeatBackward0"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    return {reshape(sum_repeats(grads[0], padded, reps), input_meta[0].shape)};
  }
};

}  // namespace

Tensor repeat(const Tensor& x, const std::vector<int64_t>& repeats) {
  LAMINA_PROFILE_OP("repeat", x);
  LAMINA_CHECK(int64_t(repeats.size()) >= x.dim(), "repeat: Number of dimensions of repeat dims can not be "
               "smaller than number of dimensions of tensor, got ", repeats.size(), " for a ", x.dim(), "-d tensor");
  LAMINA_CHECK(repeats.size() <= size_t(kMaxDims), "repeat: tensors support at most ", kMaxDims, " dims, got ",
               repeats.size());
  size_t lead = repeats.size() - size_t(x.dim());
  Shape padded(lead, 1), out_shape;
  Strides strides(lead, 0);
  padded.insert(padded.end(), x.shape().begin(), x.shape().end());
  strides.insert(strides.end(), x.strides().begin(), x.strides().end());
  bool overflow = false;
  for (size_t i = 0; i < repeats.size(); ++i) {
    int64_t n = 0;
    overflow |= __builtin_mul_overflow(padded[i], repeats[i], &n);
    out_shape.push_back(n);
  }
  for (size_t i = 0; i < repeats.size(); ++i)
    LAMINA_CHECK(repeats[i] >= 0, "repeat: Trying to create tensor with negative dimension ",
                 std::min(out_shape[i], repeats[i]), ": ", str(out_shape));
  LAMINA_CHECK(!overflow, "repeat: repeating shape ", str(x.shape()), " by ", str(repeats), " has too many elements");
  check_shape(out_shape, x.itemsize(), "repeat");
  Tensor out = make_tensor(out_shape, x.dtype(), x.device());
  if (out.numel() > 0) repeat_into(out, make_view(x, padded, strides, x.offset()), repeats);
  if (auto node = autograd::make_node<RepeatBackward>(x)) {
    node->padded = padded;
    node->reps = repeats;
    autograd::set_history(out, node);
  }
  return out;
}

Tensor tile(const Tensor& x, const std::vector<int64_t>& reps) {
  LAMINA_PROFILE_OP("tile", x);
  // Fewer reps than dims: the leading dims are repeated once (numpy's tile).
  std::vector<int64_t> full = reps;
  if (int64_t(full.size()) < x.dim()) full.insert(full.begin(), size_t(x.dim()) - full.size(), 1);
  return repeat(x, full);
}

// ---- tril / triu ---------------------------------------------------------------------------

namespace {

// Where the triangle keeps x[..., i, j]: j <= i + k (lower) or j >= i + k (upper), as an (n, m)
// bool mask compared straight from two aranges (no (n, m) temporary besides the mask).
Tensor triangle_mask(int64_t n, int64_t m, int64_t k, bool lower, Device device) {
  autograd::GradModeGuard no_grad(false);
  // j - i lies in (-n, m): clamping k to [-n, m] changes no comparison and keeps i + k in range.
  k = std::clamp(k, -n, m);
  Tensor rows = reshape(arange(Scalar(k), Scalar(n + k), Scalar(int64_t(1)), DType::Int64, device), {n, 1});
  Tensor cols = arange(Scalar(int64_t(0)), Scalar(m), Scalar(int64_t(1)), DType::Int64, device);
  return lower ? le(cols, rows) : ge(cols, rows);
}

// out = x on the kept triangle, 0 elsewhere (out may be x itself: the where kernel is elementwise).
void triangle_into(const Tensor& out, const Tensor& x, int64_t k, bool lower, const char* name) {
  if (x.numel() == 0) return;
  Tensor mask = triangle_mask(x.size(-2), x.size(-1), k, lower, x.device());
  Tensor zero = scalar_tensor(Scalar(int64_t(0)), x.dtype(), x.device());
  LAMINA_KERNEL(x.device(), where, name)(out, elementwise::expand_view(mask, x.shape()), x,
                                          elementwise::expand_view(zero, x.shape()));
}

void check_triangle_input(const Tensor& x, const char* name) {
  LAMINA_CHECK(x.dim() >= 2, name, ": input tensor must have at least 2 dimensions, got a ", x.dim(), "-d tensor");
}

struct TriangleBackward : Node {
  int64_t k = 0;
  bool lower = true;
  std::string name() const override { return lower ? "TrilBackward0" : "TriuBackward0"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    return {lower ? tril(grads[0], k) : triu(grads[0], k)};
  }
};

Tensor triangle(const Tensor& x, int64_t k, bool lower, const char* name) {
  check_triangle_input(x, name);
  Tensor out = make_tensor(x.shape(), x.dtype(), x.device());
  triangle_into(out, x, k, lower, name);
  if (auto node = autograd::make_node<TriangleBackward>(x)) {
    node->k = k;
    node->lower = lower;
    autograd::set_history(out, node);
  }
  return out;
}

Tensor& triangle_(Tensor& x, int64_t k, bool lower, const char* name) {
  check_triangle_input(x, name);
  return elementwise::apply_inplace(
      x, {}, name, [&] { triangle_into(x, x, k, lower, name); },
      [&](const Tensor& self) { return lower ? tril(self, k) : triu(self, k); }, /*saves_self=*/false);
}

}  // namespace

Tensor tril(const Tensor& x, int64_t diagonal) {
  LAMINA_PROFILE_OP("tril", x);
  return triangle(x, diagonal, true, "tril");
}
Tensor triu(const Tensor& x, int64_t diagonal) {
  LAMINA_PROFILE_OP("triu", x);
  return triangle(x, diagonal, false, "triu");
}
Tensor& tril_(Tensor& x, int64_t diagonal) {
  LAMINA_PROFILE_OP("tril_", x);
  return triangle_(x, diagonal, true, "tril_");
}
Tensor& triu_(Tensor& x, int64_t diagonal) {
  LAMINA_PROFILE_OP("triu_", x);
  return triangle_(x, diagonal, false, "triu_");
}

}  // namespace lamina
