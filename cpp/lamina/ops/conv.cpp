// Convolutions and unfold/fold. Everything reduces to three bilinear primitives over one 2-D
// geometry (1-D convs are 2-D with H = 1): conv(x, w), its adjoint in x, input_grad(gy, w) (which
// is also conv_transpose), and its adjoint in w, weight_grad(x, gy). The backward of each is
// written with the other two, so gradients of any order stay exact.
#include "lamina/ops/conv.h"

#include "lamina/ops/elementwise.h"
#include "lamina/core/profiler.h"

namespace lamina {

using autograd::Node;
using autograd::SavedTensor;

namespace {

// The shared 2-D geometry: x is (N, C_in, in_h, in_w), y is (N, C_out, out_h, out_w).
struct Geom {
  int64_t groups = 1, in_h = 1, in_w = 1, out_h = 1, out_w = 1, k_h = 1, k_w = 1;
  int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dil_h = 1, dil_w = 1;
};

ConvArgs conv_args(const Geom& g, DType dtype, int64_t batch, int64_t c_in, int64_t c_out) {
  ConvArgs a;
  a.dtype = dtype;
  a.batch = batch;
  a.groups = g.groups;
  a.c_in = c_in;
  a.c_out = c_out;
  a.in_h = g.in_h;
  a.in_w = g.in_w;
  a.out_h = g.out_h;
  a.out_w = g.out_w;
  a.k_h = g.k_h;
  a.k_w = g.k_w;
  a.stride_h = g.stride_h;
  a.stride_w = g.stride_w;
  a.pad_h = g.pad_h;
  a.pad_w = g.pad_w;
  a.dil_h = g.dil_h;
  a.dil_w = g.dil_w;
  return a;
}

Tensor dense(const Tensor& t) { return t.is_contiguous() ? t : contiguous(detach(t)); }

Tensor conv_prim(const Tensor& x, const Tensor& w, const Tensor& b, const Geom& g);
Tensor input_grad_prim(const Tensor& gy, const Tensor& w, const Tensor& b, const Geom& g);
Tensor weight_grad_prim(const Tensor& x, const Tensor& gy, const Geom& g, const Shape& w_shape);

// Contiguous planes first (a plain row reduction), then the batch: no permuted copy of g.
Tensor bias_grad(const Tensor& g) { return sum(sum(g, {2, 3}), {0}); }

// y = conv(x, w) + b: gx = input_grad(g, w), gw = weight_grad(x, g), gb = sum of g.
struct ConvolutionBackward : Node {
  SavedTensor x_, w_;
  Geom geom;
  std::string name() const override { return "ConvolutionBackward0"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    Tensor gy = grads[0], x = unpack(x_), w = unpack(w_);
    return {needs_input_grad(0) ? input_grad_prim(gy, w, Tensor(), geom) : Tensor(),
            needs_input_grad(1) ? weight_grad_prim(x, gy, geom, w.shape()) : Tensor(),
            needs_input_grad(2) ? bias_grad(gy) : Tensor()};
  }
};

// y = input_grad(u, w) + b (conv_transpose): gu = conv(g, w), gw = weight_grad(g, u), gb = sum of g.
struct ConvTransposeBackward : Node {
  SavedTensor u_, w_;
  Geom geom;
  std::string name() const override { return "ConvolutionBackward0"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    Tensor g = grads[0], u = unpack(u_), w = unpack(w_);
    return {needs_input_grad(0) ? conv_prim(g, w, Tensor(), geom) : Tensor(),
            needs_input_grad(1) ? weight_grad_prim(g, u, geom, w.shape()) : Tensor(),
            needs_input_grad(2) ? bias_grad(g) : Tensor()};
  }
};

// gw = weight_grad(x, gy): <gw, h> = <conv(x, h), gy>, so gx = input_grad(gy, h), ggy = conv(x, h).
struct ConvolutionBackwardBackward : Node {
  SavedTensor x_, gy_;
  Geom geom;
  std::string name() const override { return "ConvolutionBackwardBackward0"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    Tensor h = grads[0], x = unpack(x_), gy = unpack(gy_);
    return {needs_input_grad(0) ? input_grad_prim(gy, h, Tensor(), geom) : Tensor(),
            needs_input_grad(1) ? conv_prim(x, h, Tensor(), geom) : Tensor()};
  }
};

Tensor conv_prim(const Tensor& x, const Tensor& w, const Tensor& b, const Geom& g) {
  const int64_t n = x.shape()[0], c_in = x.shape()[1], c_out = w.shape()[0];
  Tensor y = make_tensor({n, c_out, g.out_h, g.out_w}, x.dtype(), x.device(), false, "conv2d");
  if (y.numel() > 0) {
    Tensor xd = dense(x), wd = dense(w), bd = b.defined() ? dense(b) : Tensor();
    LAMINA_KERNEL(x.device(), conv2d, "conv2d")(conv_args(g, x.dtype(), n, c_in, c_out), xd.raw_data(),
                                                wd.raw_data(), bd.defined() ? bd.raw_data() : nullptr, y.raw_data());
  }
  if (auto node = autograd::make_node<ConvolutionBackward>(x, w, b)) {
    node->geom = g;
    node->save(node->x_, x);
    node->save(node->w_, w);
    autograd::set_history(y, node);
  }
  return y;
}

Tensor input_grad_prim(const Tensor& gy, const Tensor& w, const Tensor& b, const Geom& g) {
  const int64_t n = gy.shape()[0], c_out = w.shape()[0], c_in = w.shape()[1] * g.groups;
  Tensor x = make_tensor({n, c_in, g.in_h, g.in_w}, gy.dtype(), gy.device(), false, "conv_transpose2d");
  if (x.numel() > 0) {
    Tensor gd = dense(gy), wd = dense(w);
    LAMINA_KERNEL(gy.device(), conv2d_input_grad, "conv_transpose2d")(
        conv_args(g, gy.dtype(), n, c_in, c_out), gd.raw_data(), wd.raw_data(), x.raw_data());
    if (b.defined()) {
      autograd::GradModeGuard no_grad(false);
      add_(x, reshape(detach(b), {1, c_in, 1, 1}));
    }
  }
  if (auto node = autograd::make_node<ConvTransposeBackward>(gy, w, b)) {
    node->geom = g;
    node->save(node->u_, gy);
    node->save(node->w_, w);
    autograd::set_history(x, node);
  }
  return x;
}

Tensor weight_grad_prim(const Tensor& x, const Tensor& gy, const Geom& g, const Shape& w_shape) {
  Tensor gw = make_tensor(w_shape, x.dtype(), x.device(), false, "conv2d");
  if (gw.numel() > 0) {
    Tensor xd = dense(x), gd = dense(gy);
    LAMINA_KERNEL(x.device(), conv2d_weight_grad, "conv2d")(
        conv_args(g, x.dtype(), x.shape()[0], x.shape()[1], w_shape[0]), xd.raw_data(), gd.raw_data(), gw.raw_data());
  }
  if (auto node = autograd::make_node<ConvolutionBackwardBackward>(x, gy)) {
    node->geom = g;
    node->save(node->x_, x);
    node->save(node->gy_, gy);
    autograd::set_history(gw, node);
  }
  return gw;
}

// ---- argument checks -------------------------------------------------------------------------

// One value per spatial dim from a list of 1 or `dims` values.
IntList expand_param(const IntList& v, size_t dims, const char* op, const char* what) {
  LAMINA_CHECK(v.size() == 1 || v.size() == dims, op, ": expected ", what, " to be a single integer value or a list of ",
               dims, " values to match the convolution dimensions, but got ", what, "=", str(v));
  return v.size() == 1 ? IntList(dims, v[0]) : v;
}

void check_float(const Tensor& t, const Tensor& ref, const char* op, const char* what) {
  LAMINA_CHECK(t.dtype() == DType::Float32 || t.dtype() == DType::Float64, op, ": expected a float32 or float64 ",
               what, ", got ", dtype_name(t.dtype()));
  LAMINA_CHECK(t.dtype() == ref.dtype(), op, ": input dtype ", dtype_name(ref.dtype()), " and ", what, " dtype ",
               dtype_name(t.dtype()), " should be the same");
  LAMINA_CHECK(t.device() == ref.device(), op, ": input and ", what, " must be on the same device, got ",
               ref.device().str(), " and ", t.device().str());
}

struct Params {
  IntList stride, padding, dilation;
  bool same = false;
};

// Checks input (N, C, *spatial) or unbatched (C, *spatial), weight, bias and the sizes; returns the
// batched input.
Tensor check_conv(const Tensor& input, const Tensor& weight, const Tensor& bias, size_t dims, int64_t groups,
                  bool transposed, const char* op, bool& unbatched) {
  const char* layout = dims == 1 ? "(N, C, L)" : "(N, C, H, W)";
  const int64_t nd = int64_t(dims);
  LAMINA_CHECK(input.dim() == nd + 1 || input.dim() == nd + 2, op, ": expected ", nd + 1, "-d (unbatched) or ",
               nd + 2, "-d (batched) input ", layout, ", got input of shape ", str(input.shape()));
  check_float(input, input, op, "input");
  check_float(weight, input, op, "weight");
  LAMINA_CHECK(weight.dim() == nd + 2, op, ": expected a ", nd + 2, "-d weight, got weight of shape ",
               str(weight.shape()));
  LAMINA_CHECK(groups > 0, op, ": non-positive groups is not supported, got groups=", groups);
  unbatched = input.dim() == nd + 1;
  Tensor x = unbatched ? unsqueeze(input, 0) : input;
  const int64_t c = x.shape()[1];
  // As PyTorch: an empty input must be empty through its batch or channels, not a spatial dim.
  LAMINA_CHECK(x.numel() > 0 || x.shape()[0] == 0 || c == 0, op, ": only zero batch or zero channel inputs are ",
               "supported, got input of shape ", str(input.shape()));
  if (!transposed) {
    LAMINA_CHECK(weight.shape()[0] >= groups, op, ": given groups=", groups, ", expected weight to be at least ",
                 groups, " at dimension 0, got weight of shape ", str(weight.shape()));
    LAMINA_CHECK(weight.shape()[0] % groups == 0, op, ": given groups=", groups,
                 ", expected weight to be divisible by ", groups, " at dimension 0, got weight of shape ",
                 str(weight.shape()));
    LAMINA_CHECK(c == weight.shape()[1] * groups, op, ": given groups=", groups, " and weight of shape ",
                 str(weight.shape()), ", expected input ", layout, " with C = ", weight.shape()[1] * groups,
                 " channels, got ", str(input.shape()));
  } else {
    LAMINA_CHECK(c == weight.shape()[0], op, ": given weight of shape ", str(weight.shape()), ", expected input ",
                 layout, " with C = ", weight.shape()[0], " channels, got ", str(input.shape()));
    LAMINA_CHECK(c % groups == 0, op, ": given groups=", groups, ", expected weight to be divisible by ", groups,
                 " at dimension 0, got weight of shape ", str(weight.shape()));
  }
  if (bias.defined()) {
    check_float(bias, input, op, "bias");
    int64_t c_out = transposed ? weight.shape()[1] * groups : weight.shape()[0];
    LAMINA_CHECK(bias.dim() == 1 && bias.shape()[0] == c_out, op, ": given weight of shape ", str(weight.shape()),
                 ", expected bias to be 1-d with ", c_out, " elements, got bias of shape ", str(bias.shape()));
  }
  return x;
}

// The 2-D geometry from per-dim params (1-D lifted with H = 1); out sizes of a forward conv.
Geom conv_geom(const Tensor& x, const Tensor& w, const Params& p, size_t dims, int64_t groups, const char* op) {
  for (size_t i = 0; i < dims; ++i) {
    LAMINA_CHECK(p.stride[i] > 0, op, ": non-positive stride is not supported, got stride=", str(p.stride));
    LAMINA_CHECK(p.dilation[i] > 0, op, ": dilation should be greater than zero, got dilation=", str(p.dilation));
    if (!p.same) LAMINA_CHECK(p.padding[i] >= 0, op, ": negative padding is not supported, got padding=", str(p.padding));
  }
  Geom g;
  g.groups = groups;
  const size_t off = 2 - dims;  // 1-D: H is a size-1 dim with trivial params
  int64_t* in[2] = {&g.in_h, &g.in_w};
  int64_t* out[2] = {&g.out_h, &g.out_w};
  int64_t* k[2] = {&g.k_h, &g.k_w};
  int64_t* s[2] = {&g.stride_h, &g.stride_w};
  int64_t* pad[2] = {&g.pad_h, &g.pad_w};
  int64_t* dil[2] = {&g.dil_h, &g.dil_w};
  Shape padded, kernel;
  for (size_t i = 0; i < dims; ++i) {
    size_t j = i + off;
    *in[j] = x.shape()[2 + i];
    *k[j] = w.shape()[2 + i];
    *s[j] = p.stride[i];
    *dil[j] = p.dilation[i];
    int64_t span = p.dilation[i] * (*k[j] - 1) + 1;
    // 'same': total padding span - 1, the odd one on the far side (only its near side matters here).
    *pad[j] = p.same ? (span - 1) / 2 : p.padding[i];
    int64_t total = p.same ? span - 1 : 2 * p.padding[i];
    padded.push_back(*in[j] + total);
    kernel.push_back(span);
    *out[j] = *in[j] + total >= span ? (*in[j] + total - span) / p.stride[i] + 1 : 0;
  }
  bool fits = true;
  for (size_t i = 0; i < dims; ++i) fits = fits && padded[i] >= kernel[i];
  LAMINA_CHECK(fits, op, ": calculated padded input size per channel ", str(padded), " is smaller than the (dilated) ",
               "kernel size ", str(kernel), ", for input of shape ", str(x.shape()), " and weight of shape ",
               str(w.shape()));
  return g;
}

Tensor conv_nd(const Tensor& input, const Tensor& weight, const Tensor& bias, const IntList& stride,
               const IntList& padding, bool same, const IntList& dilation, int64_t groups, size_t dims,
               const char* op) {
  bool unbatched = false;
  Tensor x = check_conv(input, weight, bias, dims, groups, false, op, unbatched);
  Params p{expand_param(stride, dims, op, "stride"), same ? IntList(dims, 0) : expand_param(padding, dims, op, "padding"),
           expand_param(dilation, dims, op, "dilation"), same};
  if (same) {
    for (int64_t s : p.stride)
      LAMINA_CHECK(s == 1, op, ": padding='same' is not supported for strided convolutions, got stride=",
                   str(p.stride));
  }
  Geom g = conv_geom(x, weight, p, dims, groups, op);
  Tensor w = weight;
  if (dims == 1) {
    x = unsqueeze(x, 2);
    w = unsqueeze(weight, 2);
  }
  Tensor y = conv_prim(x, w, bias, g);
  if (dims == 1) y = squeeze(y, {2});
  return unbatched ? squeeze(y, {0}) : y;
}

Tensor conv_transpose_nd(const Tensor& input, const Tensor& weight, const Tensor& bias, const IntList& stride,
                         const IntList& padding, const IntList& output_padding, int64_t groups,
                         const IntList& dilation, size_t dims, const char* op) {
  bool unbatched = false;
  Tensor x = check_conv(input, weight, bias, dims, groups, true, op, unbatched);
  IntList s = expand_param(stride, dims, op, "stride"), pad = expand_param(padding, dims, op, "padding");
  IntList opad = expand_param(output_padding, dims, op, "output_padding");
  IntList dil = expand_param(dilation, dims, op, "dilation");
  Geom g;
  g.groups = groups;
  const size_t off = 2 - dims;
  int64_t* in[2] = {&g.in_h, &g.in_w};
  int64_t* out[2] = {&g.out_h, &g.out_w};
  int64_t* k[2] = {&g.k_h, &g.k_w};
  int64_t* gs[2] = {&g.stride_h, &g.stride_w};
  int64_t* gp[2] = {&g.pad_h, &g.pad_w};
  int64_t* gd[2] = {&g.dil_h, &g.dil_w};
  Shape result;
  for (size_t i = 0; i < dims; ++i) {
    LAMINA_CHECK(s[i] > 0, op, ": non-positive stride is not supported, got stride=", str(s));
    LAMINA_CHECK(dil[i] > 0, op, ": dilation should be greater than zero, got dilation=", str(dil));
    LAMINA_CHECK(pad[i] >= 0, op, ": negative padding is not supported, got padding=", str(pad));
    LAMINA_CHECK(opad[i] >= 0 && (opad[i] < s[i] || opad[i] < dil[i]), op,
                 ": output padding must be smaller than either stride or dilation, got output_padding=", str(opad),
                 ", stride=", str(s), ", dilation=", str(dil));
    size_t j = i + off;
    // This op is the adjoint of a conv whose output is x and whose input has the result's size.
    *out[j] = x.shape()[2 + i];
    *k[j] = weight.shape()[2 + i];
    *gs[j] = s[i];
    *gp[j] = pad[i];
    *gd[j] = dil[i];
    *in[j] = (*out[j] - 1) * s[i] - 2 * pad[i] + dil[i] * (*k[j] - 1) + opad[i] + 1;
    result.push_back(*in[j]);
  }
  bool positive = true;
  for (int64_t r : result) positive = positive && r > 0;
  LAMINA_CHECK(positive, op, ": given input of shape ", str(input.shape()), " and weight of shape ",
               str(weight.shape()), ", the calculated output size ", str(result), " is too small");
  Tensor u = x, w = weight;
  if (dims == 1) {
    u = unsqueeze(x, 2);
    w = unsqueeze(weight, 2);
  }
  Tensor y = input_grad_prim(u, w, bias, g);
  if (dims == 1) y = squeeze(y, {2});
  return unbatched ? squeeze(y, {0}) : y;
}

bool parse_padding_mode(const std::string& padding, const char* op) {
  LAMINA_CHECK_VALUE(padding == "same" || padding == "valid", op, ": invalid padding string '", padding,
                     "', expected 'same' or 'valid'");
  return padding == "same";
}

}  // namespace

Tensor conv1d(const Tensor& input, const Tensor& weight, const Tensor& bias, const IntList& stride,
              const IntList& padding, const IntList& dilation, int64_t groups) {
  LAMINA_PROFILE_OP("conv1d", input, weight, bias);
  return conv_nd(input, weight, bias, stride, padding, false, dilation, groups, 1, "conv1d");
}
Tensor conv1d(const Tensor& input, const Tensor& weight, const Tensor& bias, const IntList& stride,
              const std::string& padding, const IntList& dilation, int64_t groups) {
  LAMINA_PROFILE_OP("conv1d", input, weight, bias);
  bool same = parse_padding_mode(padding, "conv1d");
  return conv_nd(input, weight, bias, stride, {0}, same, dilation, groups, 1, "conv1d");
}
Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias, const IntList& stride,
              const IntList& padding, const IntList& dilation, int64_t groups) {
  LAMINA_PROFILE_OP("conv2d", input, weight, bias);
  return conv_nd(input, weight, bias, stride, padding, false, dilation, groups, 2, "conv2d");
}
Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias, const IntList& stride,
              const std::string& padding, const IntList& dilation, int64_t groups) {
  LAMINA_PROFILE_OP("conv2d", input, weight, bias);
  bool same = parse_padding_mode(padding, "conv2d");
  return conv_nd(input, weight, bias, stride, {0}, same, dilation, groups, 2, "conv2d");
}
Tensor conv_transpose1d(const Tensor& input, const Tensor& weight, const Tensor& bias, const IntList& stride,
                        const IntList& padding, const IntList& output_padding, int64_t groups,
                        const IntList& dilation) {
  LAMINA_PROFILE_OP("conv_transpose1d", input, weight, bias);
  return conv_transpose_nd(input, weight, bias, stride, padding, output_padding, groups, dilation, 1,
                           "conv_transpose1d");
}
Tensor conv_transpose2d(const Tensor& input, const Tensor& weight, const Tensor& bias, const IntList& stride,
                        const IntList& padding, const IntList& output_padding, int64_t groups,
                        const IntList& dilation) {
  LAMINA_PROFILE_OP("conv_transpose2d", input, weight, bias);
  return conv_transpose_nd(input, weight, bias, stride, padding, output_padding, groups, dilation, 2,
                           "conv_transpose2d");
}

}  // namespace lamina
