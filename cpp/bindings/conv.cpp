// Convolutions (lamina.conv1d/conv2d/conv_transpose1d/conv_transpose2d, as torch.*) and the ops
// behind nn.functional.unfold / fold. Size arguments are an int or a sequence of ints.
#include "bindings/common.h"

namespace lamina::bindings {

namespace {

IntList ints(py::handle obj, const char* op) { return parse_shape_obj(obj, op); }
Tensor opt_tensor(py::handle obj) { return obj.is_none() ? Tensor() : obj.cast<Tensor>(); }
int64_t work(const Tensor& x, const Tensor& w) { return x.numel() * std::max<int64_t>(1, w.numel()); }

// conv1d / conv2d: padding is an int, a sequence, or 'same' / 'valid'.
template <int Dims>
Tensor conv(const Tensor& x, const Tensor& w, py::handle b, py::handle stride, py::handle padding,
            py::handle dilation, int64_t groups) {
  const char* op = Dims == 1 ? "conv1d" : "conv2d";
  Tensor bias = opt_tensor(b);
  IntList s = ints(stride, op), d = ints(dilation, op);
  bool big = work(x, w) >= kGilReleaseElements;
  if (py::isinstance<py::str>(padding)) {
    std::string mode = padding.cast<std::string>();
    return nogil_if(big, [&] {
      return Dims == 1 ? conv1d(x, w, bias, s, mode, d, groups) : conv2d(x, w, bias, s, mode, d, groups);
    });
  }
  IntList p = ints(padding, op);
  return nogil_if(big, [&] { return Dims == 1 ? conv1d(x, w, bias, s, p, d, groups) : conv2d(x, w, bias, s, p, d, groups); });
}

template <int Dims>
Tensor conv_transpose(const Tensor& x, const Tensor& w, py::handle b, py::handle stride, py::handle padding,
                      py::handle output_padding, int64_t groups, py::handle dilation) {
  const char* op = Dims == 1 ? "conv_transpose1d" : "conv_transpose2d";
  Tensor bias = opt_tensor(b);
  IntList s = ints(stride, op), p = ints(padding, op), op_ = ints(output_padding, op), d = ints(dilation, op);
  return nogil_if(work(x, w) >= kGilReleaseElements, [&] {
    return Dims == 1 ? conv_transpose1d(x, w, bias, s, p, op_, groups, d) : conv_transpose2d(x, w, bias, s, p, op_, groups, d);
  });
}

}  // namespace

void init_conv(py::module_& m) {
  m.def("conv1d", &conv<1>, py::arg("input"), py::arg("weight"), py::arg("bias") = py::none(), py::arg("stride") = 1,
        py::arg("padding") = 0, py::arg("dilation") = 1, py::arg("groups") = 1,
        "1-D convolution of (N, C_in, L) by weight (C_out, C_in / groups, k).");
  m.def("conv2d", &conv<2>, py::arg("input"), py::arg("weight"), py::arg("bias") = py::none(), py::arg("stride") = 1,
        py::arg("padding") = 0, py::arg("dilation") = 1, py::arg("groups") = 1,
        "2-D convolution of (N, C_in, H, W) by weight (C_out, C_in / groups, kH, kW).");
  m.def("conv_transpose1d", &conv_transpose<1>, py::arg("input"), py::arg("weight"), py::arg("bias") = py::none(),
        py::arg("stride") = 1, py::arg("padding") = 0, py::arg("output_padding") = 0, py::arg("groups") = 1,
        py::arg("dilation") = 1, "Transposed 1-D convolution; weight (C_in, C_out / groups, k).");
  m.def("conv_transpose2d", &conv_transpose<2>, py::arg("input"), py::arg("weight"), py::arg("bias") = py::none(),
        py::arg("stride") = 1, py::arg("padding") = 0, py::arg("output_padding") = 0, py::arg("groups") = 1,
        py::arg("dilation") = 1, "Transposed 2-D convolution; weight (C_in, C_out / groups, kH, kW).");
  m.def("_im2col", [](const Tensor& x, py::handle k, py::handle d, py::handle p, py::handle s) {
    IntList kk = ints(k, "unfold"), dd = ints(d, "unfold"), pp = ints(p, "unfold"), ss = ints(s, "unfold");
    return nogil_if(x.numel() >= kGilReleaseElements, [&] { return im2col(x, kk, dd, pp, ss); });
  }, py::arg("input"), py::arg("kernel_size"), py::arg("dilation") = 1, py::arg("padding") = 0, py::arg("stride") = 1);
  m.def("_col2im", [](const Tensor& x, py::handle o, py::handle k, py::handle d, py::handle p, py::handle s) {
    IntList oo = ints(o, "fold"), kk = ints(k, "fold"), dd = ints(d, "fold"), pp = ints(p, "fold"), ss = ints(s, "fold");
    return nogil_if(x.numel() >= kGilReleaseElements, [&] { return col2im(x, oo, kk, dd, pp, ss); });
  }, py::arg("input"), py::arg("output_size"), py::arg("kernel_size"), py::arg("dilation") = 1, py::arg("padding") = 0,
     py::arg("stride") = 1);
}

}  // namespace lamina::bindings
