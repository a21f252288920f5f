// Max, average and adaptive pooling over the last 1 or 2 dims of (N, C, *) or (C, *) inputs.
// Inputs are made contiguous and viewed as P = N * C planes for the kernels. Max pools save the
// index of each maximum; their gradient scatters back through it and its own gradient gathers.
// Average pools are linear maps between planes (pooling::PlaneMap), so backward is the adjoint
// kernel and double backward is the forward pool again.
#include "lamina/ops/pool.h"

#include <algorithm>

#include "lamina/ops/elementwise.h"
#include "lamina/core/profiler.h"

namespace lamina {

using autograd::Node;
using autograd::SavedTensor;

namespace pooling {

Tensor planes(const Tensor& t, int64_t H, int64_t W) {
  int64_t P = H * W == 0 ? 0 : t.numel() / (H * W);
  return make_view(t, {P, H, W}, {H * W, W, 1}, t.offset());
}

namespace {

// The gradient of y = map(x) is map.adjoint(g), and the other way round.
struct PlaneMapBackward : Node {
  std::shared_ptr<const PlaneMap> map;
  bool adjoint = false;  // this node belongs to the adjoint direction
  std::string name() const override {
    return adjoint ? map->name.substr(0, map->name.size() - 1) + "Backward0" : map->name;
  }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override { return {apply_plane_map(map, grads[0], !adjoint)}; }
};

}  // namespace

Tensor apply_plane_map(const std::shared_ptr<const PlaneMap>& map, const Tensor& x, bool adjoint) {
  const int64_t ih = adjoint ? map->OH : map->H, iw = adjoint ? map->OW : map->W;
  const int64_t oh = adjoint ? map->H : map->OH, ow = adjoint ? map->W : map->OW;
  Shape shape = x.shape();
  shape.resize(shape.size() - size_t(map->nd));
  if (map->nd == 2) shape.push_back(oh);
  shape.push_back(ow);
  Tensor out = make_tensor(shape, x.dtype(), x.device());
  if (out.numel() > 0) {
    autograd::GradModeGuard no_grad(false);
    Tensor in = contiguous(detach(x));
    if (adjoint) map->adjoint(planes(out, oh, ow), planes(in, ih, iw));
    else map->forward(planes(out, oh, ow), planes(in, ih, iw));
  }
  if (auto node = autograd::make_node<PlaneMapBackward>(x)) {
    node->map = map;
    node->adjoint = adjoint;
    autograd::set_history(out, node);
  }
  return out;
}

}  // namespace pooling

namespace {

// The geometry of one pooling call, normalised to 2-d windows (1-d: H = kh = 1).
struct PoolPlan {
  int nd = 2;
  int64_t H = 1, W = 1, OH = 1, OW = 1;
  Shape out_shape;
  Pool2dParams p;
};

std::string dims_string(const IntList& v) { return shape_string(Shape(v.begin(), v.end())); }

// allow_int: max_pool2d and avg_pool also take int32 / int64 inputs, as in PyTorch.
void check_input(const Tensor& x, int nd, const char* op, bool allow_int = false) {
  bool integer = x.dtype() == DType::Int32 || x.dtype() == DType::Int64;
  if (!x.is_floating_point() && !(allow_int && integer)) elementwise::fail_dtype(op, x.dtype());
  const int64_t d = x.dim();
  bool ok = d == nd + 1 || d == nd + 2;
  for (int64_t i = d == nd + 2 ? 1 : 0; ok && i < d; ++i) ok = x.shape()[size_t(i)] > 0;
  LAMINA_CHECK(ok, op, ": Expected ", nd + 1, "D or ", nd + 2,
               "D (batch mode) tensor with optional 0 dim batch size for input, but got: ", str(x.shape()));
}

// One value per spatial dim from an argument given once or per dim (empty: `fallback`).
IntList per_dim(const IntList& v, int nd, const IntList& fallback, const char* op, const char* what) {
  if (v.empty() && !fallback.empty()) return fallback;
  LAMINA_CHECK(v.size() == 1 || v.size() == size_t(nd), op, ": ", what, " must either be a single int, or a tuple of ",
               nd, " ints, got ", dims_string(v));
  return v.size() == 1 ? IntList(size_t(nd), v[0]) : v;
}

int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// PyTorch's pooling_output_shape, including the ceil_mode rule that the last window must start
// inside the input or its left padding.
int64_t pooled_size(int64_t in, int64_t k, int64_t pad, int64_t stride, int64_t dilation, bool ceil_mode) {
  int64_t out = floor_div(in + 2 * pad - dilation * (k - 1) - 1 + (ceil_mode ? stride - 1 : 0), stride) + 1;
  if (ceil_mode && (out - 1) * stride >= in + pad) --out;
  return out;
}

PoolPlan plan_pool(const Tensor& x, int nd, IntList kernel, IntList stride, IntList padding, IntList dilation,
                   bool ceil_mode, bool is_max, const char* op) {
  check_input(x, nd, op, !is_max || nd == 2);
  kernel = per_dim(kernel, nd, {}, op, "kernel_size");
  stride = per_dim(stride, nd, kernel, op, "stride");
  padding = per_dim(padding, nd, {}, op, "padding");
  dilation = per_dim(dilation, nd, {}, op, "dilation");
  for (int i = 0; i < nd; ++i) {
    LAMINA_CHECK(kernel[size_t(i)] > 0, op, ": kernel size should be greater than zero, but got ", dims_string(kernel));
    LAMINA_CHECK(stride[size_t(i)] > 0, op, ": stride should be greater than zero, but got ", dims_string(stride));
    LAMINA_CHECK(dilation[size_t(i)] > 0, op, ": dilation should be greater than zero, but got ", dims_string(dilation));
    LAMINA_CHECK(padding[size_t(i)] >= 0, op, ": pad must be non-negative, but got ", dims_string(padding));
    // Window extents beyond 2^62 cannot fit any input; rejecting them keeps the arithmetic exact.
    const int64_t limit = int64_t(1) << 62;
    int64_t effective = kernel[size_t(i)];
    bool fits = kernel[size_t(i)] < limit && stride[size_t(i)] < limit && padding[size_t(i)] < limit;
    if (is_max && fits) fits = !__builtin_mul_overflow(kernel[size_t(i)] - 1, dilation[size_t(i)], &effective) &&
                               ++effective < limit;
    LAMINA_CHECK(fits, op, ": kernel_size ", dims_string(kernel), ", stride ", dims_string(stride), ", padding ",
                 dims_string(padding), " and dilation ", dims_string(dilation), " are too large");
    // PyTorch bounds the padding by the kernel size itself, whatever the dilation.
    LAMINA_CHECK(padding[size_t(i)] <= kernel[size_t(i)] / 2, op,
                 ": pad should be at most half of kernel size, but got pad=", padding[size_t(i)], ", kernel_size=",
                 kernel[size_t(i)]);
  }
  PoolPlan plan;
  plan.nd = nd;
  const Shape& s = x.shape();
  const size_t sp = s.size() - size_t(nd);  // first spatial dim
  IntList out = IntList(size_t(nd), 0);
  for (int i = 0; i < nd; ++i)
    out[size_t(i)] = pooled_size(s[sp + size_t(i)], kernel[size_t(i)], padding[size_t(i)], stride[size_t(i)],
                                 dilation[size_t(i)], ceil_mode);
  LAMINA_CHECK(*std::min_element(out.begin(), out.end()) > 0, op, ": output size ", dims_string(out),
               " is too small for input ", str(s), " with kernel ", dims_string(kernel));
  plan.out_shape = Shape(s.begin(), s.begin() + long(sp));
  for (int64_t o : out) plan.out_shape.push_back(o);
  auto& p = plan.p;
  if (nd == 2) {
    plan.H = s[sp], plan.W = s[sp + 1], plan.OH = out[0], plan.OW = out[1];
    p.kh = kernel[0], p.kw = kernel[1], p.sh = stride[0], p.sw = stride[1];
    p.ph = padding[0], p.pw = padding[1], p.dh = dilation[0], p.dw = dilation[1];
  } else {
    plan.W = s[sp], plan.OW = out[0];
    p.kw = kernel[0], p.sw = stride[0], p.pw = padding[0], p.dw = dilation[0];
  }
  return plan;
}

// The input gradient of a max pool: g scattered to the saved positions within each plane.
Tensor max_pool_backward(const Tensor& g, const Tensor& indices, const Shape& input_shape, int nd, const char* name);

struct MaxPoolBackward : Node {
  SavedTensor indices_;
  int nd = 2;
  std::string label;
  std::string name() const override { return label; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    return {max_pool_backward(grads[0], unpack(indices_), input_meta[0].shape, nd, label.c_str())};
  }
};

// d(max_pool_backward)/d(g) is a gather of the incoming gradient at the same positions.
struct MaxPoolBackwardBackward : Node {
  SavedTensor indices_;
  int nd = 2;
  std::string label;
  std::string name() const override { return label; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    Tensor idx = unpack(indices_);
    const Shape& in = grads[0].shape();
    int64_t plane = 1;
    for (size_t i = in.size() - size_t(nd); i < in.size(); ++i) plane *= in[i];
    int64_t out_plane = 1;  // windows per plane (idx has grads' leading dims)
    for (size_t i = idx.shape().size() - size_t(nd); i < idx.shape().size(); ++i) out_plane *= idx.shape()[i];
    int64_t P = plane == 0 ? 0 : grads[0].numel() / plane;
    Tensor flat = reshape(grads[0], {P, plane});
    Tensor at = reshape(idx, {P, out_plane});  // explicit: an empty batch leaves -1 ambiguous
    // Windows entirely in the padding carry an index past the plane (as in PyTorch): they get 0.
    Tensor valid = lt(at, wrapped_scalar(plane));
    Tensor picked = gather(flat, 1, where(valid, at, wrapped_scalar(int64_t(0))));
    return {reshape(where(valid, picked, wrapped_scalar(0.0)), idx.shape())};
  }
};

Tensor max_pool_backward(const Tensor& g, const Tensor& indices, const Shape& input_shape, int nd, const char* name) {
  Tensor out = make_tensor(input_shape, g.dtype(), g.device());
  int64_t plane = 1;
  for (size_t i = input_shape.size() - size_t(nd); i < input_shape.size(); ++i) plane *= input_shape[i];
  if (out.numel() > 0) {
    autograd::GradModeGuard no_grad(false);
    Tensor gc = contiguous(detach(g));
    int64_t P = out.numel() / plane, O = P == 0 ? 0 : gc.numel() / P;
    LAMINA_KERNEL(g.device(), max_pool_backward, name)(make_view(out, {P, plane}, {plane, 1}, out.offset()),
                                                       make_view(gc, {P, O}, {O, 1}, gc.offset()),
                                                       make_view(indices, {P, O}, {O, 1}, indices.offset()));
  }
  if (auto node = autograd::make_node<MaxPoolBackwardBackward>(g)) {
    node->nd = nd;
    std::string base(name);
    node->label = base.substr(0, base.size() - 1) + "Backward0";
    node->save(node->indices_, indices);
    autograd::set_history(out, node);
  }
  return out;
}

using pooling::planes;

// Runs a max-pool kernel and records the backward node.
template <class Kernel>
std::tuple<Tensor, Tensor> max_pool_common(const Tensor& x, const PoolPlan& plan, const Kernel& kernel,
                                           const char* node_name) {
  Tensor out = make_tensor(plan.out_shape, x.dtype(), x.device());
  Tensor indices = make_tensor(plan.out_shape, DType::Int64, x.device());
  if (out.numel() > 0) {
    autograd::GradModeGuard no_grad(false);
    Tensor in = contiguous(detach(x));
    kernel(planes(out, plan.OH, plan.OW), planes(indices, plan.OH, plan.OW), planes(in, plan.H, plan.W));
  }
  if (auto node = autograd::make_node<MaxPoolBackward>(x)) {
    node->nd = plan.nd;
    node->label = node_name;
    node->save(node->indices_, indices);
    autograd::set_history(out, node);
  }
  return {out, indices};
}

std::tuple<Tensor, Tensor> max_pool(const Tensor& x, int nd, const IntList& kernel, const IntList& stride,
                                    const IntList& padding, const IntList& dilation, bool ceil_mode) {
  const char* op = nd == 2 ? "max_pool2d" : "max_pool1d";
  PoolPlan plan = plan_pool(x, nd, kernel, stride, padding, dilation, ceil_mode, true, op);
  Pool2dParams p = plan.p;
  auto kernel_fn = [&](const Tensor& o, const Tensor& i, const Tensor& in) {
    LAMINA_KERNEL(x.device(), max_pool2d, op)(o, i, in, p);
  };
  return max_pool_common(x, plan, kernel_fn,
                         nd == 2 ? "MaxPool2DWithIndicesBackward0" : "MaxPool1DWithIndicesBackward0");
}

Tensor avg_pool(const Tensor& x, int nd, const IntList& kernel, const IntList& stride, const IntList& padding,
                bool ceil_mode, bool count_include_pad, std::optional<int64_t> divisor_override) {
  const char* op = nd == 2 ? "avg_pool2d" : "avg_pool1d";
  LAMINA_CHECK(!divisor_override || *divisor_override != 0, op, ": divisor must be not zero");
  PoolPlan plan = plan_pool(x, nd, kernel, stride, padding, {1}, ceil_mode, false, op);
  plan.p.count_include_pad = count_include_pad;
  plan.p.divisor_override = divisor_override.value_or(0);
  auto map = std::make_shared<pooling::PlaneMap>();
  map->name = nd == 2 ? "AvgPool2DBackward0" : "AvgPool1DBackward0";
  map->nd = nd;
  map->H = plan.H, map->W = plan.W, map->OH = plan.OH, map->OW = plan.OW;
  Pool2dParams p = plan.p;
  map->forward = [p, op](const Tensor& out, const Tensor& in) { LAMINA_KERNEL(in.device(), avg_pool2d, op)(out, in, p); };
  map->adjoint = [p, op](const Tensor& gi, const Tensor& go) {
    LAMINA_KERNEL(go.device(), avg_pool2d_backward, op)(gi, go, p);
  };
  return pooling::apply_plane_map(map, x, false);
}

// Adaptive pools: the output size per spatial dim must be positive (None is resolved in Python).
PoolPlan plan_adaptive(const Tensor& x, int nd, const IntList& output_size, const char* op) {
  LAMINA_CHECK(output_size.size() == size_t(nd), op, ": output_size must be ", nd, " ints, got ",
               dims_string(output_size));
  check_input(x, nd, op);
  for (int64_t o : output_size)
    LAMINA_CHECK(o >= 0, op, ": output_size must be non-negative, but got ", dims_string(output_size));
  PoolPlan plan;
  plan.nd = nd;
  const Shape& s = x.shape();
  const size_t sp = s.size() - size_t(nd);
  plan.out_shape = Shape(s.begin(), s.begin() + long(sp));
  for (int64_t o : output_size) plan.out_shape.push_back(o);
  if (nd == 2) plan.H = s[sp], plan.OH = output_size[0];
  plan.W = s.back(), plan.OW = output_size.back();
  return plan;
}

}  // namespace

std::tuple<Tensor, Tensor> max_pool2d_with_indices(const Tensor& x, const IntList& kernel_size, const IntList& stride,
                                                   const IntList& padding, const IntList& dilation, bool ceil_mode) {
  LAMINA_PROFILE_OP("max_pool2d_with_indices", x);
  return max_pool(x, 2, kernel_size, stride, padding, dilation, ceil_mode);
}

std::tuple<Tensor, Tensor> max_pool1d_with_indices(const Tensor& x, const IntList& kernel_size, const IntList& stride,
                                                   const IntList& padding, const IntList& dilation, bool ceil_mode) {
  LAMINA_PROFILE_OP("max_pool1d_with_indices", x);
  return max_pool(x, 1, kernel_size, stride, padding, dilation, ceil_mode);
}

Tensor avg_pool2d(const Tensor& x, const IntList& kernel_size, const IntList& stride, const IntList& padding,
                  bool ceil_mode, bool count_include_pad, std::optional<int64_t> divisor_override) {
  LAMINA_PROFILE_OP("avg_pool2d", x);
  return avg_pool(x, 2, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override);
}

Tensor avg_pool1d(const Tensor& x, const IntList& kernel_size, const IntList& stride, const IntList& padding,
                  bool ceil_mode, bool count_include_pad) {
  LAMINA_PROFILE_OP("avg_pool1d", x);
  return avg_pool(x, 1, kernel_size, stride, padding, ceil_mode, count_include_pad, std::nullopt);
}

static Tensor adaptive_avg(const Tensor& x, int nd, const IntList& output_size) {
  const char* op = nd == 2 ? "adaptive_avg_pool2d" : "adaptive_avg_pool1d";
  PoolPlan plan = plan_adaptive(x, nd, output_size, op);
  auto map = std::make_shared<pooling::PlaneMap>();
  map->name = nd == 2 ? "AdaptiveAvgPool2DBackward0" : "AdaptiveAvgPool1DBackward0";
  map->nd = nd;
  map->H = plan.H, map->W = plan.W, map->OH = plan.OH, map->OW = plan.OW;
  map->forward = [op](const Tensor& out, const Tensor& in) { LAMINA_KERNEL(in.device(), adaptive_avg_pool2d, op)(out, in); };
  map->adjoint = [op](const Tensor& gi, const Tensor& go) {
    LAMINA_KERNEL(go.device(), adaptive_avg_pool2d_backward, op)(gi, go);
  };
  return pooling::apply_plane_map(map, x, false);
}

Tensor adaptive_avg_pool2d(const Tensor& x, const IntList& output_size) {
  LAMINA_PROFILE_OP("adaptive_avg_pool2d", x);
  return adaptive_avg(x, 2, output_size);
}
Tensor adaptive_avg_pool1d(const Tensor& x, const IntList& output_size) {
  LAMINA_PROFILE_OP("adaptive_avg_pool1d", x);
  return adaptive_avg(x, 1, output_size);
}

static std::tuple<Tensor, Tensor> adaptive_max(const Tensor& x, int nd, const IntList& output_size) {
  const char* op = nd == 2 ? "adaptive_max_pool2d" : "adaptive_max_pool1d";
  PoolPlan plan = plan_adaptive(x, nd, output_size, op);
  auto kernel_fn = [&](const Tensor& o, const Tensor& i, const Tensor& in) {
    LAMINA_KERNEL(x.device(), adaptive_max_pool2d, op)(o, i, in);
  };
  return max_pool_common(x, plan, kernel_fn, nd == 2 ? "AdaptiveMaxPool2DBackward0" : "AdaptiveMaxPool1DBackward0");
}

std::tuple<Tensor, Tensor> adaptive_max_pool2d(const Tensor& x, const IntList& output_size) {
  LAMINA_PROFILE_OP("adaptive_max_pool2d", x);
  return adaptive_max(x, 2, output_size);
}
std::tuple<Tensor, Tensor> adaptive_max_pool1d(const Tensor& x, const IntList& output_size) {
  LAMINA_PROFILE_OP("adaptive_max_pool1d", x);
  return adaptive_max(x, 1, output_size);
}

}  // namespace lamina
