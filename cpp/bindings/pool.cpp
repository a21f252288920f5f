// Pooling, padding and resampling: lamina.max_pool2d & co. (PyTorch's torch.* names) and the
// private ops behind nn.functional.pad / interpolate. Window arguments are an int or a sequence.
#include "bindings/common.h"

namespace lamina::bindings {

namespace {

// An int or a sequence of ints; None (and an empty sequence) give {}.
IntList window_arg(py::handle obj, const char* op, const char* what) {
  if (obj.is_none()) return {};
  if (py::isinstance<py::sequence>(obj) && !py::isinstance<py::str>(obj)) {
    IntList out;
    for (auto v : obj) out.push_back(index_value(v));
    return out;
  }
  LAMINA_CHECK_TYPE(!py::isinstance<py::float_>(obj), op, ": ", what, " must be an int or a tuple of ints, got float");
  return {index_value(obj)};
}

py::tuple pair(std::tuple<Tensor, Tensor> r) { return py::make_tuple(std::get<0>(r), std::get<1>(r)); }

}  // namespace

void init_pool(py::module_& m) {
  using py::arg;
  auto max_pool = [](int nd, bool with_indices) {
    return [nd, with_indices](const Tensor& x, py::handle k, py::handle s, py::handle p, py::handle d,
                              bool ceil_mode) -> py::object {
      const char* op = nd == 2 ? "max_pool2d" : "max_pool1d";
      IntList kk = window_arg(k, op, "kernel_size"), ss = window_arg(s, op, "stride"), pp = window_arg(p, op, "padding"),
              dd = window_arg(d, op, "dilation");
      auto r = nogil([&] {
        return nd == 2 ? max_pool2d_with_indices(x, kk, ss, pp, dd, ceil_mode)
                       : max_pool1d_with_indices(x, kk, ss, pp, dd, ceil_mode);
      });
      return with_indices ? py::object(pair(r)) : py::cast(std::get<0>(r));
    };
  };
  const char* max_doc = "Max pooling over the last spatial dims of (N, C, *) or (C, *); stride defaults to kernel_size.";
  m.def("max_pool1d", max_pool(1, false), arg("input"), arg("kernel_size"), arg("stride") = py::tuple(),
        arg("padding") = 0, arg("dilation") = 1, arg("ceil_mode") = false, max_doc);
  m.def("max_pool2d", max_pool(2, false), arg("input"), arg("kernel_size"), arg("stride") = py::tuple(),
        arg("padding") = 0, arg("dilation") = 1, arg("ceil_mode") = false, max_doc);
  m.def("max_pool1d_with_indices", max_pool(1, true), arg("input"), arg("kernel_size"), arg("stride") = py::tuple(),
        arg("padding") = 0, arg("dilation") = 1, arg("ceil_mode") = false, "max_pool1d plus the int64 argmax indices.");
  m.def("max_pool2d_with_indices", max_pool(2, true), arg("input"), arg("kernel_size"), arg("stride") = py::tuple(),
        arg("padding") = 0, arg("dilation") = 1, arg("ceil_mode") = false,
        "max_pool2d plus the int64 argmax indices (h * W + w within each plane).");

  m.def("avg_pool1d", [](const Tensor& x, py::handle k, py::handle s, py::handle p, bool ceil_mode, bool include_pad) {
    const char* op = "avg_pool1d";
    IntList kk = window_arg(k, op, "kernel_size"), ss = window_arg(s, op, "stride"), pp = window_arg(p, op, "padding");
    return nogil([&] { return avg_pool1d(x, kk, ss, pp, ceil_mode, include_pad); });
  }, arg("input"), arg("kernel_size"), arg("stride") = py::tuple(), arg("padding") = 0, arg("ceil_mode") = false,
     arg("count_include_pad") = true, "Average pooling over the last dim of (N, C, L) or (C, L).");
  m.def("avg_pool2d", [](const Tensor& x, py::handle k, py::handle s, py::handle p, bool ceil_mode, bool include_pad,
                         std::optional<int64_t> divisor) {
    const char* op = "avg_pool2d";
    IntList kk = window_arg(k, op, "kernel_size"), ss = window_arg(s, op, "stride"), pp = window_arg(p, op, "padding");
    return nogil([&] { return avg_pool2d(x, kk, ss, pp, ceil_mode, include_pad, divisor); });
  }, arg("input"), arg("kernel_size"), arg("stride") = py::tuple(), arg("padding") = 0, arg("ceil_mode") = false,
     arg("count_include_pad") = true, arg("divisor_override") = py::none(),
     "Average pooling over the last two dims of (N, C, H, W) or (C, H, W).");

  auto adaptive = [](auto fn, const char* op) {
    return [fn, op](const Tensor& x, py::handle size) {
      IntList s = window_arg(size, op, "output_size");
      return nogil([&] { return fn(x, s); });
    };
  };
  m.def("adaptive_avg_pool1d", adaptive([](const Tensor& x, const IntList& s) { return adaptive_avg_pool1d(x, s); },
                                        "adaptive_avg_pool1d"), arg("input"), arg("output_size"));
  m.def("adaptive_avg_pool2d", adaptive([](const Tensor& x, const IntList& s) { return adaptive_avg_pool2d(x, s); },
                                        "adaptive_avg_pool2d"), arg("input"), arg("output_size"));
  m.def("adaptive_max_pool1d", [](const Tensor& x, py::handle size) {
    IntList s = window_arg(size, "adaptive_max_pool1d", "output_size");
    return pair(nogil([&] { return adaptive_max_pool1d(x, s); }));
  }, arg("input"), arg("output_size"), "(values, indices) of adaptive max pooling over the last dim.");
  m.def("adaptive_max_pool2d", [](const Tensor& x, py::handle size) {
    IntList s = window_arg(size, "adaptive_max_pool2d", "output_size");
    return pair(nogil([&] { return adaptive_max_pool2d(x, s); }));
  }, arg("input"), arg("output_size"), "(values, indices) of adaptive max pooling over the last two dims.");

  m.def("constant_pad_nd", [](const Tensor& x, py::handle p, double value) {
    IntList pp = window_arg(p, "constant_pad_nd", "pad");
    return nogil([&] { return pad(x, pp, "constant", value); });
  }, arg("input"), arg("pad"), arg("value") = 0.0, "Pads (or crops, for negative entries) the last dims with a value.");
  m.def("_pad", [](const Tensor& x, py::handle p, const std::string& mode, std::optional<double> value) {
    IntList pp = window_arg(p, "pad", "pad");
    return nogil([&] { return pad(x, pp, mode, value); });
  }, arg("input"), arg("pad"), arg("mode") = "constant", arg("value") = py::none());
  m.def("_upsample", [](const Tensor& x, const std::string& mode, const IntList& size,
                        const std::vector<std::optional<double>>& scales, bool align_corners) {
    return nogil([&] { return upsample(x, mode, size, scales, align_corners); });
  }, arg("input"), arg("mode"), arg("output_size"), arg("scales"), arg("align_corners"));
}

}  // namespace lamina::bindings
