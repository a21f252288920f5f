// Reductions, each with its backward formula. Every reduction goes through `as_rows`: the reduced
// dims are moved last and the tensor is viewed as (M kept, K reduced), copying only when the
// strides cannot express that view; the kernel then reduces rows of K.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "lamina/ops/elementwise.h"
#include "lamina/core/profiler.h"

namespace lamina {

using autograd::Node;
using autograd::SavedTensor;

namespace {

struct RowsView {
  Tensor rows;         // (M, K)
  Shape out_shape;     // the result's shape (keepdim-aware)
  Shape keep_shape;    // the input's shape with reduced dims set to 1
  int64_t K = 1;       // elements per reduced row
};

// Innermost stride of `dims` of t if those dims can be merged into one, else -1.
int64_t merged_stride(const Tensor& t, const std::vector<int64_t>& dims) {
  int64_t stride = 1, expected = -1;
  for (size_t i = dims.size(); i-- > 0;) {
    int64_t d = dims[i], size = t.shape()[size_t(d)], s = t.strides()[size_t(d)];
    if (size == 1) continue;
    if (expected == -1) stride = s;
    else if (s != expected) return -1;
    expected = s * size;
  }
  return stride;
}

// dims: wrapped, sorted, unique; empty = all dims.
RowsView as_rows(const Tensor& x, std::vector<int64_t> dims, bool keepdim) {
  const int64_t nd = x.dim();
  if (nd == 0) dims.clear();  // dim 0 / -1 of a 0-d tensor name the tensor itself
  if (dims.empty())
    for (int64_t d = 0; d < nd; ++d) dims.push_back(d);
  std::vector<bool> reduced(size_t(nd), false);
  for (int64_t d : dims) reduced[size_t(d)] = true;
  std::vector<int64_t> kept;
  RowsView r;
  int64_t M = 1;
  for (int64_t d = 0; d < nd; ++d) {
    int64_t size = x.shape()[size_t(d)];
    r.keep_shape.push_back(reduced[size_t(d)] ? 1 : size);
    if (reduced[size_t(d)]) {
      r.K *= size;
      if (keepdim) r.out_shape.push_back(1);
    } else {
      kept.push_back(d);
      M *= size;
      r.out_shape.push_back(size);
    }
  }
  int64_t sM = merged_stride(x, kept), sK = merged_stride(x, dims);
  if (sM >= 0 && sK >= 0) {
    r.rows = make_view(x, {M, r.K}, {sM, sK}, x.offset());
  } else {
    std::vector<int64_t> perm = kept;
    perm.insert(perm.end(), dims.begin(), dims.end());
    r.rows = reshape(contiguous(permute(detach(x), perm)), {M, r.K});
  }
  return r;
}

Tensor run_reduce(ReduceOp op, const Tensor& x, const Dims& dims, bool keepdim, DType out_dtype, const char* name) {
  RowsView r = as_rows(elementwise::cast(x, op == ReduceOp::All || op == ReduceOp::Any ? x.dtype() : out_dtype),
                       wrap_dims(dims, x.dim(), name), keepdim);
  Tensor out = make_tensor(r.out_shape, out_dtype, x.device());
  LAMINA_KERNEL(x.device(), reduce, name)(op, reshape(out, {r.rows.shape()[0]}), r.rows);
  return out;
}

// The gradient of a reduction back to the input's shape: re-insert reduced dims, then expand.
Tensor expand_back(const Tensor& g, const Shape& input_shape, const Dims& dims, bool keepdim) {
  Tensor grad = g;
  if (!keepdim && !input_shape.empty()) {
    Dims wrapped = wrap_dims(dims, int64_t(input_shape.size()), "sum");
    if (wrapped.empty() && !input_shape.empty()) {
      grad = reshape(g, Shape(input_shape.size(), 1));
    } else {
      for (int64_t d : wrapped) grad = unsqueeze(grad, d);
    }
  }
  return expand(grad, input_shape);
}

void check_nonempty(const Tensor& x, const Dims& dims, const char* name) {
  if (x.numel() > 0) return;
  LAMINA_CHECK(!dims.empty(), name, "(): Expected reduction dim to be specified for input.numel() == 0. "
               "Specify the reduction dim with the 'dim' argument.");
  for (int64_t d : wrap_dims(dims, x.dim(), name))
    LAMINA_CHECK_INDEX(x.dim() == 0 || x.shape()[size_t(d)] != 0, name, "(): Expected reduction dim ", d,
                       " to have non-zero size.");
}

struct SumBackward : Node {
  Shape input_shape;
  Dims dims;
  bool keepdim = false;
  std::string name() const override { return "SumBackward1"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    return {expand_back(grads[0], input_shape, dims, keepdim)};
  }
};

struct MeanBackward : SumBackward {
  double count = 1;
  std::string name() const override { return "MeanBackward1"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    return {expand_back(grads[0] / count, input_shape, dims, keepdim)};
  }
};

// amax/amin: the gradient is shared evenly by the elements equal to the result.
// amax/amin: the gradient split evenly between the elements equal to the result (g * mask /
// count, so a NaN gradient reaches every element, as PyTorch's). max()/min() over all elements
// (evenly): PyTorch's evenly_distribute_backward, which writes g / count at those elements and
// exact zeros elsewhere, and counts the NaN elements when the result is NaN.
struct AmaxBackward : SumBackward {
  SavedTensor self_, result_;
  std::string label = "AmaxBackward0";
  bool evenly = false;
  std::string name() const override { return label; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    Tensor x = unpack(self_), res = expand_back(unpack(result_), input_shape, dims, keepdim);
    Tensor g = expand_back(grads[0], input_shape, dims, keepdim);
    if (evenly) {
      Tensor hit = logical_or(eq(x, res), logical_and(isnan(x), isnan(res)));
      Tensor count = sum(to(hit, g.dtype()));
      return {where(hit, g / count, zeros_like(g))};
    }
    Tensor mask = to(eq(x, res), x.dtype());
    Tensor count = expand_back(sum(mask, dims, keepdim), input_shape, dims, keepdim);
    return {g * mask / count};
  }
};

// prod: d/dx_i = product of the other elements, handling zeros without dividing by them. Each
// case is written so that its own derivative is right too (double backward): with zeros present
// the product of the others is 0 in value but not in slope, so the zero entries enter through
// Z = the sum of a row's zero entries (0, with slope 1 towards each of them).
struct ProdBackward : SumBackward {
  SavedTensor self_, result_;
  std::string name() const override { return "ProdBackward1"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    Tensor x = unpack(self_), res = unpack(result_);
    Tensor g = expand_back(grads[0], input_shape, dims, keepdim);
    Tensor zero = wrapped_scalar(0.0), one = wrapped_scalar(1.0);
    Tensor is_zero = eq(x, zero);
    Tensor nonzero_x = where(is_zero, one, x);
    Tensor zeros_in_row = expand_back(sum(is_zero, dims, keepdim), input_shape, dims, keepdim);
    Tensor prod_nonzero = expand_back(prod_dims(nonzero_x), input_shape, dims, keepdim);
    Tensor zero_sum = expand_back(sum(where(is_zero, x, zero), dims, keepdim), input_shape, dims, keepdim);
    Tensor none = g * expand_back(res, input_shape, dims, keepdim) / nonzero_x;
    // One zero: it gets the product of the rest; the others get Z times their product of the rest.
    Tensor one_zero = where(is_zero, g * prod_nonzero, g * zero_sum * prod_nonzero / nonzero_x);
    // Two zeros: each gets the other (Z minus itself) times the nonzeros; more zeros: all 0.
    Tensor two_zeros = where(is_zero, g * (zero_sum - x) * prod_nonzero, zero);
    auto count_is = [&](int64_t n) { return eq(zeros_in_row, wrapped_scalar(n)); };
    return {where(count_is(0), none, where(count_is(1), one_zero, where(count_is(2), two_zeros, zeros_like(x))))};
  }
  Tensor prod_dims(const Tensor& t) {
    Dims wrapped = wrap_dims(dims, t.dim(), "prod");
    if (wrapped.empty()) return prod(t, std::nullopt, false);
    return prod(t, wrapped[0], keepdim);
  }
};

struct NormBackward : SumBackward {
  SavedTensor self_, result_;
  double p = 2;
  std::string name() const override { return "NormBackward1"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    Tensor x = unpack(self_);
    Tensor norm = expand_back(unpack(result_), input_shape, dims, keepdim);
    Tensor g = expand_back(grads[0], input_shape, dims, keepdim);
    // x |x|^(p-2) / norm^(p-1), and 0 where the norm is 0.
    Tensor scale = p == 2 ? x / norm : x * pow(abs(x), wrapped_scalar(p - 2)) / pow(norm, wrapped_scalar(p - 1));
    return {where(eq(norm, wrapped_scalar(0.0)), wrapped_scalar(0.0), g * scale)};
  }
};

// max/min along a dim: the gradient goes to the selected index.
struct IndexReduceBackward : Node {
  Shape input_shape;
  int64_t dim = 0;
  bool keepdim = false;
  SavedTensor indices_;
  std::string label;
  std::string name() const override { return label; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    Tensor idx = unpack(indices_), g = grads[0];
    if (!keepdim && !input_shape.empty()) {
      idx = unsqueeze(idx, dim);
      g = unsqueeze(g, dim);
    }
    if (input_shape.empty()) return {g};
    // mask[..., k, ...] = (k == idx): compare an arange along `dim` with the indices.
    Shape pos_shape(input_shape.size(), 1);
    pos_shape[size_t(dim)] = input_shape[size_t(dim)];
    Tensor positions = reshape(arange(Scalar(int64_t(0)), Scalar(input_shape[size_t(dim)]), Scalar(int64_t(1)),
                                      DType::Int64, g.device()), pos_shape);
    return {grad_where(eq(positions, idx), g)};  // a select: NaN or inf in g stays at the index
  }
};

// Number of elements each output of a reduction over `dims` combines.
double reduced_count(const Tensor& x, const Dims& dims, const char* name) {
  Dims wrapped = wrap_dims(dims, x.dim(), name);
  if (wrapped.empty()) return double(x.numel());
  double n = 1;
  for (int64_t d : wrapped) n *= double(x.dim() == 0 ? 1 : x.shape()[size_t(d)]);
  return n;
}

DType sum_dtype(const Tensor& x, std::optional<DType> dtype) {
  if (dtype) return *dtype;
  return is_integral(x.dtype(), true) ? DType::Int64 : x.dtype();
}

template <class N>
std::shared_ptr<N> reduce_node(const Tensor& x, const Dims& dims, bool keepdim) {
  auto node = autograd::make_node<N>(x);
  if (node) {
    node->input_shape = x.shape();
    node->dims = dims;
    node->keepdim = keepdim;
  }
  return node;
}

}  // namespace

Tensor sum(const Tensor& x, const Dims& dims, bool keepdim, std::optional<DType> dtype) {
  LAMINA_PROFILE_OP("sum", x);
  Tensor out = run_reduce(ReduceOp::Sum, x, dims, keepdim, sum_dtype(x, dtype), "sum");
  if (out.is_floating_point())
    if (auto node = reduce_node<SumBackward>(x, dims, keepdim)) autograd::set_history(out, node);
  return out;
}

Tensor mean(const Tensor& x, const Dims& dims, bool keepdim, std::optional<DType> dtype) {
  LAMINA_PROFILE_OP("mean", x);
  DType out_dtype = dtype ? *dtype : x.dtype();
  LAMINA_CHECK(is_floating_point(out_dtype),
               "mean(): could not infer output dtype. Input dtype must be either a floating point or complex "
               "dtype. Got: ", dtype_name(out_dtype));
  Tensor out;
  double count = reduced_count(x, dims, "mean");
  {
    autograd::GradModeGuard no_grad(false);
    out = run_reduce(ReduceOp::Sum, x, dims, keepdim, out_dtype, "mean");
    div_(out, wrapped_scalar(count));
  }
  if (auto node = reduce_node<MeanBackward>(x, dims, keepdim)) {
    node->count = count;
    autograd::set_history(out, node);
  }
  return out;
}

Tensor prod(const Tensor& x, std::optional<int64_t> dim, bool keepdim, std::optional<DType> dtype) {
  LAMINA_PROFILE_OP("prod", x);
  Dims dims = dim ? Dims{*dim} : Dims{};
  Tensor out = run_reduce(ReduceOp::Prod, x, dims, dim ? keepdim : false, sum_dtype(x, dtype), "prod");
  if (out.is_floating_point()) {
    if (auto node = reduce_node<ProdBackward>(x, dims, dim ? keepdim : false)) {
      autograd::set_history(out, node);
      node->save(node->self_, x);
      node->save(node->result_, out, true);
    }
  }
  return out;
}

static Tensor amax_amin(ReduceOp op, const Tensor& x, const Dims& dims, bool keepdim, const char* name,
                        bool evenly = false) {
  check_nonempty(x, dims.empty() ? Dims{} : dims, name);
  LAMINA_CHECK(x.numel() > 0 || !dims.empty(), name, "(): cannot reduce an empty tensor");
  Tensor out = run_reduce(op, x, dims, keepdim, x.dtype(), name);
  if (out.is_floating_point()) {
    if (auto node = reduce_node<AmaxBackward>(x, dims, keepdim)) {
      node->label = evenly ? (op == ReduceOp::Max ? "MaxBackward1" : "MinBackward1")
                           : (op == ReduceOp::Max ? "AmaxBackward0" : "AminBackward0");
      node->evenly = evenly;
      autograd::set_history(out, node);
      node->save(node->self_, x);
      node->save(node->result_, out, true);
    }
  }
  return out;
}

Tensor amax(const Tensor& x, const Dims& dims, bool keepdim) {
  LAMINA_PROFILE_OP("amax", x);
  return amax_amin(ReduceOp::Max, x, dims, keepdim, "amax");
}
Tensor amin(const Tensor& x, const Dims& dims, bool keepdim) {
  LAMINA_PROFILE_OP("amin", x);
  return amax_amin(ReduceOp::Min, x, dims, keepdim, "amin");
}

Tensor max(const Tensor& x) {
  LAMINA_PROFILE_OP("max", x);
  check_nonempty(x, {}, "max");
  return amax_amin(ReduceOp::Max, x, {}, false, "max", true);
}
Tensor min(const Tensor& x) {
  LAMINA_PROFILE_OP("min", x);
  check_nonempty(x, {}, "min");
  return amax_amin(ReduceOp::Min, x, {}, false, "min", true);
}

static std::tuple<Tensor, Tensor> index_reduce(ReduceOp op, const Tensor& x, int64_t dim, bool keepdim,
                                               bool want_values, const char* name) {
  int64_t d = wrap_dim(dim, x.dim(), name);
  check_nonempty(x, {d}, name);
  Tensor source = x.dtype() == DType::Bool ? elementwise::cast(x, DType::Int32) : x;
  RowsView r = as_rows(source, x.dim() == 0 ? Dims{} : Dims{d}, keepdim);
  Tensor indices = make_tensor(r.out_shape, DType::Int64, x.device());
  Tensor values = want_values ? make_tensor(r.out_shape, source.dtype(), x.device()) : Tensor();
  int64_t M = r.rows.shape()[0];
  LAMINA_KERNEL(x.device(), arg_reduce, name)(op, want_values ? reshape(values, {M}) : Tensor(),
                                                reshape(indices, {M}), r.rows);
  if (want_values && x.dtype() == DType::Bool) values = elementwise::cast(values, DType::Bool);
  if (want_values && values.is_floating_point()) {
    if (auto node = autograd::make_node<IndexReduceBackward>(x)) {
      node->input_shape = x.shape();
      node->dim = d;
      node->keepdim = keepdim;
      node->label = op == ReduceOp::Max ? "MaxBackward0" : "MinBackward0";
      autograd::set_history(values, node);
      node->save(node->indices_, indices);
    }
  }
  return {values, indices};
}

std::tuple<Tensor, Tensor> max(const Tensor& x, int64_t dim, bool keepdim) {
  LAMINA_PROFILE_OP("max", x);
  return index_reduce(ReduceOp::Max, x, dim, keepdim, true, "max");
}
std::tuple<Tensor, Tensor> min(const Tensor& x, int64_t dim, bool keepdim) {
  LAMINA_PROFILE_OP("min", x);
  return index_reduce(ReduceOp::Min, x, dim, keepdim, true, "min");
}

static Tensor arg(ReduceOp op, const Tensor& x, std::optional<int64_t> dim, bool keepdim, const char* name) {
  LAMINA_CHECK(x.dtype() != DType::Bool, name, "(): does not support bool input");
  if (dim) return std::get<1>(index_reduce(op, x, *dim, keepdim, false, name));
  LAMINA_CHECK_INDEX(x.numel() > 0, name, "(): Expected reduction dim to be specified for input.numel() == 0.");
  Tensor flat = reshape(detach(x), {x.numel()});
  Tensor idx = std::get<1>(index_reduce(op, flat, 0, false, false, name));
  return keepdim ? reshape(idx, Shape(size_t(x.dim()), 1)) : idx;
}

Tensor argmax(const Tensor& x, std::optional<int64_t> dim, bool keepdim) {
  LAMINA_PROFILE_OP("argmax", x);
  return arg(ReduceOp::Max, x, dim, keepdim, "argmax");
}
Tensor argmin(const Tensor& x, std::optional<int64_t> dim, bool keepdim) {
  LAMINA_PROFILE_OP("argmin", x);
  return arg(ReduceOp::Min, x, dim, keepdim, "argmin");
}

namespace {
// PyTorch's var_backward, (2 / (N - correction)) g (x - mean), with its conventions where the
// degrees of freedom N - correction are not positive: over some dims the factor is taken as is
// (negative or infinite); over all of them the gradient is g NaN where x equals the mean and
// g inf elsewhere. Written with lamina ops, so it is differentiable again.
Tensor var_grad(const Tensor& g, const Tensor& x, const Dims& dims, double correction, bool keepdim) {
  const double dof = reduced_count(x, dims, "var") - correction;
  if ((x.dim() == 0 || dims.empty()) && dof <= 0) {
    Tensor flag = where(eq(x, mean(x, dims, true)), full_like(x, std::numeric_limits<double>::quiet_NaN()),
                        full_like(x, std::numeric_limits<double>::infinity()));
    return expand_back(g, x.shape(), dims, keepdim) * flag;
  }
  return expand_back(g * (2.0 / dof), x.shape(), dims, keepdim) * (x - mean(x, dims, true));
}

// var, or std = sqrt(var) whose gradient is taken as 0 where std is 0 (not g / 0), as in PyTorch.
struct VarBackward : Node {
  SavedTensor self_, result_;
  Dims dims;
  double correction = 1;
  bool keepdim = false, is_std = false;
  std::string name() const override { return is_std ? "StdBackward0" : "VarBackward0"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    Tensor g = grads[0];
    if (is_std) {
      Tensor r = unpack(result_), zero = wrapped_scalar(0.0);
      g = where(eq(r, zero), zero, g / (r * 2));
    }
    return {var_grad(g, unpack(self_), dims, correction, keepdim)};
  }
};

// Two passes over the data, accumulated in float64 for float32 input as PyTorch does (so values
// near float32's limit do not overflow the sum of squares), std's root taken before rounding back.
// The second pass is the corrected one, sum(d^2) - (sum d)^2 / N with d = x - mean: it cancels the
// rounding of the mean, so equal values have a variance of exactly 0 (the plain form gave 3e-14
// for three equal values, and std's gradient there was -100 instead of PyTorch's 0).
Tensor var_or_std(const Tensor& x, const Dims& dims, double correction, bool keepdim, bool is_std) {
  const char* name = is_std ? "std" : "var";
  LAMINA_CHECK(x.is_floating_point(), name, ": std and var only support floating point and complex dtypes, got ",
               dtype_name(x.dtype()));
  const double count = reduced_count(x, dims, name), n = std::max(0.0, count - correction);
  Tensor out;
  {
    autograd::GradModeGuard no_grad(false);
    Tensor wide = to(x, DType::Float64);
    Tensor d = wide - mean(wide, dims, true);
    Tensor plain = sum(square(d), dims, keepdim), correction_term = square(sum(d, dims, keepdim)) / count;
    // Where the sums overflow (values near the dtype's limit) the correction is inf too: keep the
    // plain sum's inf rather than inf - inf = NaN.
    Tensor squares = where(isfinite(correction_term), plain - correction_term, plain);
    Tensor v = clamp(squares, Scalar(0.0), std::nullopt) / n;  // never below 0 by rounding
    out = to(is_std ? sqrt(v) : v, x.dtype());
  }
  if (auto node = autograd::make_node<VarBackward>(x)) {
    node->dims = dims;
    node->correction = correction;
    node->keepdim = keepdim;
    node->is_std = is_std;
    node->save(node->self_, x);
    autograd::set_history(out, node);
    if (is_std) node->save(node->result_, out, true);
  }
  return out;
}
}  // namespace

Tensor var(const Tensor& x, const Dims& dims, double correction, bool keepdim) {
  LAMINA_PROFILE_OP("var", x);
  return var_or_std(x, dims, correction, keepdim, false);
}

Tensor std(const Tensor& x, const Dims& dims, double correction, bool keepdim) {
  LAMINA_PROFILE_OP("std", x);
  return var_or_std(x, dims, correction, keepdim, true);
}

Tensor logsumexp(const Tensor& x, const Dims& dims, bool keepdim) {
  LAMINA_PROFILE_OP("logsumexp", x);
  wrap_dims(dims, x.dim(), "logsumexp");  // reports bad dims under this op's name
  Tensor xf = x.is_floating_point() ? x : to(x, default_float_dtype());
  if (xf.numel() == 0) return log(sum(exp(xf), dims, keepdim));
  // Subtracting the (detached) max keeps exp finite; the gradient is exactly softmax.
  Tensor m = detach(amax(xf, dims, true));
  m = where(isinf(m), wrapped_scalar(0.0), m);
  Tensor out = log(sum(exp(xf - m), dims, true)) + m;
  if (keepdim) return out;
  Dims wrapped = wrap_dims(dims, x.dim(), "logsumexp");
  return wrapped.empty() ? reshape(out, {}) : squeeze(out, wrapped);
}

Tensor norm(const Tensor& x, double p, const Dims& dims, bool keepdim) {
  LAMINA_PROFILE_OP("norm", x);
  LAMINA_CHECK(x.is_floating_point(), "norm: Expected a floating point tensor as input. Got ",
               dtype_name(x.dtype()));
  Dims wrapped = wrap_dims(dims, x.dim(), "norm");
  if (std::isinf(p)) {
    auto zero_size = [&](int64_t d) { return x.shape()[size_t(d)] == 0; };
    bool empty = x.numel() == 0 && (wrapped.empty() || std::any_of(wrapped.begin(), wrapped.end(), zero_size));
    LAMINA_CHECK(!empty, "norm: cannot compute the ", p > 0 ? "inf" : "-inf", " norm on an empty tensor because "
                 "the operation does not have an identity");
  }
  if (std::isinf(p)) return p > 0 ? amax(abs(x), dims, keepdim) : amin(abs(x), dims, keepdim);
  if (p == 1) return sum(abs(x), dims, keepdim);
  if (p == 0) {  // counts nonzeros: piecewise constant, so its gradient is zero
    struct NormZeroBackward : Node {
      std::string name() const override { return "NormBackward1"; }
      std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
        return {zeros(input_meta[0].shape, {grads[0].dtype(), grads[0].device()})};
      }
    };
    Tensor count = sum(to(ne(detach(x), wrapped_scalar(0.0)), x.dtype()), dims, keepdim);
    if (auto node = autograd::make_node<NormZeroBackward>(x)) autograd::set_history(count, node);
    return count;
  }
  Tensor out;
  {
    autograd::GradModeGuard no_grad(false);
    out = p == 2 ? sqrt(sum(square(x), dims, keepdim))
                 : pow(sum(pow(abs(x), wrapped_scalar(p)), dims, keepdim), wrapped_scalar(1.0 / p));
  }
  if (auto node = reduce_node<NormBackward>(x, dims, keepdim)) {
    node->p = p;
    autograd::set_history(out, node);
    node->save(node->self_, x);
    node->save(node->result_, out, true);
  }
  return out;
}

namespace {
Tensor reversed_cumsum(const Tensor& v, int64_t dim) { return flip(cumsum(flip(v, {dim}), dim), {dim}); }

// The gradient of a cumulative sum is the reversed cumulative sum: total - prefix + g.
struct CumsumBackward : Node {
  int64_t dim = 0;
  std::string name() const override { return "CumsumBackward0"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    const Tensor& g = grads[0];
    if (g.dim() == 0) return {g};
    // The reversed running sum. Not sum - cumsum + g: that cancels catastrophically (g = [1e20, 1, 1]
    // gave [.., 1, 1] for [.., 2, 1]) and spreads one NaN or inf over the whole row.
    return {reversed_cumsum(g, dim)};
  }
};
}  // namespace

namespace {
// The running sum or product of x along d in dtype out_dtype, recording nothing.
Tensor cumulative(ReduceOp op, const Tensor& x, int64_t d, DType out_dtype, const char* name) {
  Tensor src = elementwise::cast(x, out_dtype);
  Tensor out = make_tensor(x.shape(), out_dtype, x.device());
  if (x.numel() > 0) {
    int64_t outer = 1, inner = 1, n = x.dim() == 0 ? 1 : x.shape()[size_t(d)];
    for (int64_t i = 0; i < d; ++i) outer *= x.shape()[size_t(i)];
    for (int64_t i = d + 1; i < x.dim(); ++i) inner *= x.shape()[size_t(i)];
    Tensor in3 = reshape(contiguous(detach(src)), {outer, n, inner});
    LAMINA_KERNEL(x.device(), cumulative, name)(op, reshape(out, {outer, n, inner}), in3);
  }
  return out;
}

// d/dx_k of out_j = prod_{m <= j} x_m, for j >= k the product that omits x_k. Under create_graph
// with a zero in x, PyTorch's O(n^2) form, whose own derivative is the second derivative: for each
// k, sum_j g_j prod(x[:k]) cumprod(x[k+1:])_j.
Tensor cumprod_grad_by_omitted_products(const Tensor& g, const Tensor& x, int64_t dim) {
  const int64_t n = x.shape()[size_t(dim)];
  std::vector<Tensor> per_k;
  for (int64_t k = 0; k < n; ++k) {
    Tensor before = prod(narrow(x, dim, 0, k), dim, true);  // 1 for k = 0
    Tensor omitted = before;
    if (k + 1 < n) omitted = cat({before, before * cumprod(narrow(x, dim, k + 1, n - k - 1), dim)}, dim);
    per_k.push_back(sum(narrow(g, dim, k, n - k) * omitted, {dim}, true));
  }
  return cat(per_k, dim);
}

// The same gradient in O(n), PyTorch's masks: before the first zero of a row, the reversed running
// sum of g * out divided by x_k; at the first zero, that sum over the products that skip it
// (cumprod with the zero read as 1); after it, 0 (every product holds that zero twice over). Its
// derivative is the second derivative only where a row has no zero.
struct CumprodBackward : Node {
  SavedTensor self_, result_;
  int64_t dim = 0;
  std::string name() const override { return "CumprodBackward0"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    Tensor g = grads[0], x = unpack(self_), out = unpack(result_);
    if (x.dim() == 0 || x.numel() <= 1 || x.shape()[size_t(dim)] == 1) return {g};  // as PyTorch: no graph on x
    if (autograd::GradMode::is_enabled() && any(eq(x, wrapped_scalar(0.0)), {}, false).data<bool>()[0])
      return {cumprod_grad_by_omitted_products(g, x, dim)};
    Tensor zeros_so_far = cumsum(eq(x, wrapped_scalar(0.0)), dim);
    Tensor before = eq(zeros_so_far, wrapped_scalar(int64_t(0)));
    Tensor first_zero = logical_and(eq(x, wrapped_scalar(0.0)), eq(zeros_so_far, wrapped_scalar(int64_t(1))));
    Tensor regular = reversed_cumsum(g * out, dim) / where(before, x, wrapped_scalar(1.0));
    Tensor skipping = reversed_cumsum(g * cumprod(where(first_zero, wrapped_scalar(1.0), x), dim), dim);
    return {where(before, regular, where(first_zero, skipping, wrapped_scalar(0.0)))};
  }
};
}  // namespace

Tensor cumsum(const Tensor& x, int64_t dim, std::optional<DType> dtype) {
  LAMINA_PROFILE_OP("cumsum", x);
  int64_t d = wrap_dim(dim, x.dim(), "cumsum");
  Tensor out = cumulative(ReduceOp::Sum, x, d, sum_dtype(x, dtype), "cumsum");
  if (out.is_floating_point()) {
    if (auto node = autograd::make_node<CumsumBackward>(x)) {
      node->dim = d;
      autograd::set_history(out, node);
    }
  }
  return out;
}

Tensor cumprod(const Tensor& x, int64_t dim, std::optional<DType> dtype) {
  LAMINA_PROFILE_OP("cumprod", x);
  int64_t d = wrap_dim(dim, x.dim(), "cumprod");
  Tensor out = cumulative(ReduceOp::Prod, x, d, sum_dtype(x, dtype), "cumprod");
  if (out.is_floating_point()) {
    if (auto node = autograd::make_node<CumprodBackward>(x)) {
      node->dim = d;
      node->save(node->self_, x);
      node->save(node->result_, out, true);
      autograd::set_history(out, node);
    }
  }
  return out;
}

Tensor all(const Tensor& x, const Dims& dims, bool keepdim) {
  LAMINA_PROFILE_OP("all", x);
  return run_reduce(ReduceOp::All, x, dims, keepdim, DType::Bool, "all");
}
Tensor any(const Tensor& x, const Dims& dims, bool keepdim) {
  LAMINA_PROFILE_OP("any", x);
  return run_reduce(ReduceOp::Any, x, dims, keepdim, DType::Bool, "any");
}

Tensor sum_to(const Tensor& grad, const Shape& shape) {
  LAMINA_PROFILE_OP("sum_to", grad);
  if (grad.shape() == shape) return grad;
  LAMINA_CHECK(is_expandable_to(shape, grad.shape()), "sum_to: shape ", str(shape),
               " is not expandable to ", str(grad.shape()));
  Dims dims;
  size_t lead = grad.shape().size() - shape.size();
  for (size_t i = 0; i < grad.shape().size(); ++i)
    if (i < lead || (shape[i - lead] == 1 && grad.shape()[i] != 1)) dims.push_back(int64_t(i));
  Tensor r = dims.empty() ? grad : sum(grad, dims, true);
  return reshape(r, shape);
}

}  // namespace lamina
