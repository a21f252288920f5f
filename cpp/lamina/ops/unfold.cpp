// F.unfold (im2col) and F.fold (col2im): sliding 2-D blocks to columns and back. Each is the
// other's adjoint, so each one's backward is the other (and any order of gradient is exact).
#include "lamina/ops/conv.h"
#include "lamina/ops/elementwise.h"
#include "lamina/ops/nn_common.h"
#include "lamina/core/profiler.h"

namespace lamina {

using autograd::Node;

namespace {

struct BlockGeom {
  int64_t h = 0, w = 0;          // image size
  int64_t bh = 0, bw = 0;        // number of block positions
  IntList k, dil, pad, stride;  // two values each
};

ConvArgs block_args(const BlockGeom& g, DType dtype, int64_t n, int64_t c) {
  ConvArgs a;
  a.dtype = dtype;
  a.batch = n;
  a.c_in = c;
  a.c_out = c;
  a.in_h = g.h;
  a.in_w = g.w;
  a.out_h = g.bh;
  a.out_w = g.bw;
  a.k_h = g.k[0];
  a.k_w = g.k[1];
  a.dil_h = g.dil[0];
  a.dil_w = g.dil[1];
  a.pad_h = g.pad[0];
  a.pad_w = g.pad[1];
  a.stride_h = g.stride[0];
  a.stride_w = g.stride[1];
  return a;
}

Tensor unfold_prim(const Tensor& x, const BlockGeom& g);
Tensor fold_prim(const Tensor& col, const BlockGeom& g);

struct Im2ColBackward : Node {
  BlockGeom geom;
  std::string name() const override { return "Im2ColBackward0"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override { return {fold_prim(grads[0], geom)}; }
};

struct Col2ImBackward : Node {
  BlockGeom geom;
  std::string name() const override { return "Col2ImBackward0"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override { return {unfold_prim(grads[0], geom)}; }
};

Tensor unfold_prim(const Tensor& x, const BlockGeom& g) {
  const int64_t n = x.shape()[0], c = x.shape()[1];
  Tensor col = make_tensor({n, c * g.k[0] * g.k[1], g.bh * g.bw}, x.dtype(), x.device(), false, "unfold");
  if (col.numel() > 0) {
    Tensor xd = x.is_contiguous() ? x : contiguous(detach(x));
    LAMINA_KERNEL(x.device(), im2col, "unfold")(block_args(g, x.dtype(), n, c), xd.raw_data(), col.raw_data());
  }
  if (auto node = autograd::make_node<Im2ColBackward>(x)) {
    node->geom = g;
    autograd::set_history(col, node);
  }
  return col;
}

Tensor fold_prim(const Tensor& col, const BlockGeom& g) {
  const int64_t n = col.shape()[0], c = col.shape()[1] / (g.k[0] * g.k[1]);
  Tensor x = make_tensor({n, c, g.h, g.w}, col.dtype(), col.device(), false, "fold");
  if (x.numel() > 0) {
    Tensor cd = col.is_contiguous() ? col : contiguous(detach(col));
    LAMINA_KERNEL(col.device(), col2im, "fold")(block_args(g, col.dtype(), n, c), cd.raw_data(), x.raw_data());
  }
  if (auto node = autograd::make_node<Col2ImBackward>(col)) {
    node->geom = g;
    autograd::set_history(x, node);
  }
  return x;
}

IntList pair(const IntList& v, const char* op, const char* what) {
  LAMINA_CHECK(v.size() == 1 || v.size() == 2, op, ": expected ", what, " to be an int or a pair of ints, got ", what,
               "=", str(v));
  return v.size() == 1 ? IntList{v[0], v[0]} : v;
}

BlockGeom block_geom(const IntList& kernel_size, const IntList& dilation, const IntList& padding,
                     const IntList& stride, const char* op) {
  BlockGeom g;
  g.k = pair(kernel_size, op, "kernel_size");
  g.dil = pair(dilation, op, "dilation");
  g.pad = pair(padding, op, "padding");
  g.stride = pair(stride, op, "stride");
  for (int i = 0; i < 2; ++i) {
    LAMINA_CHECK(g.k[size_t(i)] > 0, op, ": kernel_size should be greater than zero, got kernel_size=", str(g.k));
    LAMINA_CHECK(g.dil[size_t(i)] > 0, op, ": dilation should be greater than zero, got dilation=", str(g.dil));
    LAMINA_CHECK(g.pad[size_t(i)] >= 0, op, ": padding should be non-negative, got padding=", str(g.pad));
    LAMINA_CHECK(g.stride[size_t(i)] > 0, op, ": stride should be greater than zero, got stride=", str(g.stride));
  }
  return g;
}

// Block positions along one dim (may be <= 0 when the kernel does not fit).
int64_t blocks(int64_t size, int64_t k, int64_t dil, int64_t pad, int64_t stride) {
  int64_t span = dil * (k - 1) + 1;
  return size + 2 * pad >= span ? (size + 2 * pad - span) / stride + 1 : 0;
}

void check_float_input(const Tensor& x, const char* op) {
  LAMINA_CHECK(x.dtype() == DType::Float32 || x.dtype() == DType::Float64, op,
               ": expected a float32 or float64 input, got ", dtype_name(x.dtype()));
}

}  // namespace

Tensor im2col(const Tensor& input, const IntList& kernel_size, const IntList& dilation, const IntList& padding,
              const IntList& stride) {
  LAMINA_PROFILE_OP("im2col", input);
  const char* op = "unfold";
  LAMINA_CHECK(input.dim() == 3 || input.dim() == 4, op, ": expected 3-d (unbatched) or 4-d (batched) input ",
               "(N, C, H, W), got input of shape ", str(input.shape()));
  check_float_input(input, op);
  nn_detail::check_only_batch_empty(input, 3, op);
  BlockGeom g = block_geom(kernel_size, dilation, padding, stride, op);
  bool unbatched = input.dim() == 3;
  Tensor x = unbatched ? unsqueeze(input, 0) : input;
  g.h = x.shape()[2];
  g.w = x.shape()[3];
  g.bh = blocks(g.h, g.k[0], g.dil[0], g.pad[0], g.stride[0]);
  g.bw = blocks(g.w, g.k[1], g.dil[1], g.pad[1], g.stride[1]);
  LAMINA_CHECK(g.bh > 0 && g.bw > 0, op, ": given input of shape ", str(input.shape()), ", kernel_size=", str(g.k),
               ", dilation=", str(g.dil), ", padding=", str(g.pad), ", stride=", str(g.stride),
               ", the calculated grid of sliding blocks ", str(Shape{g.bh, g.bw}), " must be at least (1, 1)");
  Tensor col = unfold_prim(x, g);
  return unbatched ? squeeze(col, {0}) : col;
}

Tensor col2im(const Tensor& input, const IntList& output_size, const IntList& kernel_size,
              const IntList& dilation, const IntList& padding, const IntList& stride) {
  LAMINA_PROFILE_OP("col2im", input);
  const char* op = "fold";
  LAMINA_CHECK(input.dim() == 2 || input.dim() == 3, op, ": expected 2-d (unbatched) or 3-d (batched) input ",
               "(N, C * kH * kW, L), got input of shape ", str(input.shape()));
  check_float_input(input, op);
  BlockGeom g = block_geom(kernel_size, dilation, padding, stride, op);
  IntList size = pair(output_size, op, "output_size");
  LAMINA_CHECK(size[0] > 0 && size[1] > 0, op, ": output_size should be positive, got output_size=", str(size));
  bool unbatched = input.dim() == 2;
  Tensor col = unbatched ? unsqueeze(input, 0) : input;
  g.h = size[0];
  g.w = size[1];
  g.bh = blocks(g.h, g.k[0], g.dil[0], g.pad[0], g.stride[0]);
  g.bw = blocks(g.w, g.k[1], g.dil[1], g.pad[1], g.stride[1]);
  const int64_t kk = g.k[0] * g.k[1];
  LAMINA_CHECK(col.shape()[1] % kk == 0, op, ": expected size of input's dimension 1 to be divisible by the product "
               "of kernel_size ", str(g.k), ", got input of shape ", str(input.shape()));
  LAMINA_CHECK(g.bh > 0 && g.bw > 0 && col.shape()[2] == g.bh * g.bw, op, ": given output_size=", str(size),
               ", kernel_size=", str(g.k), ", dilation=", str(g.dil), ", padding=", str(g.pad), ", stride=",
               str(g.stride), ", expected size of input's dimension 2 to match the calculated number of sliding "
               "blocks ", g.bh, " * ", g.bw, " = ", g.bh * g.bw, ", got input of shape ", str(input.shape()));
  Tensor x = fold_prim(col, g);
  return unbatched ? squeeze(x, {0}) : x;
}

}  // namespace lamina
