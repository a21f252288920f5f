// Ops exposed as lamina.<op>(input, ...) and Tensor.<op>(...), plus Python operators.
#include <cmath>
#include <limits>

#include "bindings/common.h"

namespace lamina::bindings {

namespace {

using UnaryFn = Tensor (*)(const Tensor&);
using BinaryFn = Tensor (*)(const Tensor&, const Tensor&);
using InplaceFn = Tensor& (*)(Tensor&, const Tensor&);

void def_unary(py::module_& m, TensorClass& cls, const char* name, UnaryFn f) {
  def_op(m, cls, name, [f](const Tensor& x) { return nogil_if(x.numel() >= kGilReleaseElements, [&] { return f(x); }); });
}

// lamina.<name>(input, other) where either may be a number; Tensor.<name>(other).
void def_binary(py::module_& m, TensorClass& cls, const char* name, BinaryFn f) {
  m.def(name, [f, name](py::handle a, py::handle b) {
    Device dev = is_tensor(a) ? a.cast<Tensor>().device() : is_tensor(b) ? b.cast<Tensor>().device() : Device{};
    Tensor x = to_operand(a, dev, name), y = to_operand(b, dev, name);
    return nogil_if(broadcast_numel(x, y) >= kGilReleaseElements, [&] { return f(x, y); });
  }, py::arg("input"), py::arg("other"));
  cls.def(name, [f, name](const Tensor& a, py::handle b) {
    Tensor y = to_operand(b, a.device(), name);
    return nogil_if(broadcast_numel(a, y) >= kGilReleaseElements, [&] { return f(a, y); });
  }, py::arg("other"));
}

void def_inplace(TensorClass& cls, const char* name, InplaceFn f) {
  cls.def(name, [f, name](Tensor& a, py::handle b) -> Tensor& {
    Tensor y = to_operand(b, a.device(), name);
    return nogil_if(a.numel() >= kGilReleaseElements, [&]() -> Tensor& { return f(a, y); });
  }, py::arg("other"));
}

// __op__, __rop__ and __iop__ for a Python operator.
void def_operator(TensorClass& cls, const char* op, BinaryFn f, InplaceFn inplace) {
  std::string name(op);
  cls.def(("__" + name + "__").c_str(), [f, op](const Tensor& a, py::handle b) {
    Tensor y = to_operand(b, a.device(), op);
    return nogil_if(broadcast_numel(a, y) >= kGilReleaseElements, [&] { return f(a, y); });
  });
  cls.def(("__r" + name + "__").c_str(), [f, op](const Tensor& a, py::handle b) {
    Tensor x = to_operand(b, a.device(), op);
    return nogil_if(broadcast_numel(a, x) >= kGilReleaseElements, [&] { return f(x, a); });
  });
  if (inplace) {
    cls.def(("__i" + name + "__").c_str(), [inplace, op](Tensor& a, py::handle b) -> Tensor& {
      Tensor y = to_operand(b, a.device(), op);
      return nogil_if(a.numel() >= kGilReleaseElements, [&]() -> Tensor& { return inplace(a, y); });
    });
  }
}

Tensor add_fn(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor sub_fn(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor div_fn(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor& add_inplace(Tensor& a, const Tensor& b) { return add_(a, b); }
Tensor& sub_inplace(Tensor& a, const Tensor& b) { return sub_(a, b); }
Tensor& div_inplace(Tensor& a, const Tensor& b) { return div_(a, b); }

std::optional<std::string> rounding(py::handle mode) {
  if (mode.is_none()) return std::nullopt;
  return mode.cast<std::string>();
}

std::optional<Scalar> opt_scalar(py::handle v, const char* op) {
  if (v.is_none()) return std::nullopt;
  auto s = to_scalar(v);
  LAMINA_CHECK_TYPE(s.has_value(), op, ": expected a number or None");
  return s;
}

// clamp(min, max) with numbers or tensors as bounds.
Tensor clamp_any(const Tensor& x, py::handle lo, py::handle hi) {
  if (is_tensor(lo) || is_tensor(hi)) {
    Tensor l = lo.is_none() ? Tensor() : to_operand(lo, x.device(), "clamp");
    Tensor h = hi.is_none() ? Tensor() : to_operand(hi, x.device(), "clamp");
    return nogil([&] { return clamp(x, l, h); });
  }
  auto l = opt_scalar(lo, "clamp"), h = opt_scalar(hi, "clamp");
  return nogil([&] { return clamp(x, l, h); });
}

py::object max_min(const Tensor& x, py::handle dim_or_other, bool keepdim, bool is_max) {
  static py::object values_indices = py::module_::import("collections").attr("namedtuple")("return_types", "values indices");
  if (dim_or_other.is_none()) return py::cast(nogil([&] { return is_max ? max(x) : min(x); }));
  if (is_tensor(dim_or_other)) {
    Tensor o = dim_or_other.cast<Tensor>();
    return py::cast(nogil([&] { return is_max ? maximum(x, o) : minimum(x, o); }));
  }
  int64_t dim = dim_or_other.cast<int64_t>();
  auto [v, i] = nogil([&] { return is_max ? max(x, dim, keepdim) : min(x, dim, keepdim); });
  return values_indices(v, i);
}

double parse_p(py::handle p) {
  if (p.is_none()) return 2.0;
  if (py::isinstance<py::str>(p)) {
    std::string s = p.cast<std::string>();
    LAMINA_CHECK(s == "fro", "norm: Order ", s, " not supported; among string norms only 'fro' is");
    return 2.0;
  }
  return p.cast<double>();
}

double parse_correction(py::handle correction, py::handle unbiased) {
  if (!correction.is_none()) return correction.cast<double>();
  if (!unbiased.is_none()) return unbiased.cast<bool>() ? 1.0 : 0.0;
  return 1.0;
}

Shape shape_args(const py::args& args, const char* op) { return parse_shape(args, op); }

}  // namespace

void init_ops(py::module_& m, TensorClass& cls) {
  // ---- unary ----
  def_unary(m, cls, "neg", &neg);
  def_unary(m, cls, "negative", &neg);
  def_unary(m, cls, "abs", &abs);
  def_unary(m, cls, "sign", &sign);
  def_unary(m, cls, "exp", &exp);
  def_unary(m, cls, "log", &log);
  def_unary(m, cls, "log1p", &log1p);
  def_unary(m, cls, "expm1", &expm1);
  def_unary(m, cls, "sqrt", &sqrt);
  def_unary(m, cls, "rsqrt", &rsqrt);
  def_unary(m, cls, "sin", &sin);
  def_unary(m, cls, "cos", &cos);
  def_unary(m, cls, "tan", &tan);
  def_unary(m, cls, "asin", &asin);
  def_unary(m, cls, "acos", &acos);
  def_unary(m, cls, "atan", &atan);
  def_unary(m, cls, "sinh", &sinh);
  def_unary(m, cls, "cosh", &cosh);
  def_unary(m, cls, "asinh", &asinh);
  def_unary(m, cls, "acosh", &acosh);
  def_unary(m, cls, "atanh", &atanh);
  def_unary(m, cls, "tanh", &tanh);
  def_unary(m, cls, "sigmoid", &sigmoid);
  def_unary(m, cls, "relu", &relu);
  def_unary(m, cls, "silu", &silu);
  def_unary(m, cls, "erf", &erf);
  def_unary(m, cls, "reciprocal", &reciprocal);
  def_unary(m, cls, "square", &square);
  def_unary(m, cls, "floor", &floor);
  def_unary(m, cls, "ceil", &ceil);
  def_unary(m, cls, "trunc", &trunc);
  def_unary(m, cls, "logical_not", &logical_not);
  def_unary(m, cls, "bitwise_not", &bitwise_not);
  def_unary(m, cls, "isnan", &isnan);
  def_unary(m, cls, "isinf", &isinf);
  def_unary(m, cls, "isfinite", &isfinite);
  def_op(m, cls, "round", [](const Tensor& x, int64_t decimals) {
    return nogil([&] { return round(x, decimals); });
  }, py::kw_only(), py::arg("decimals") = 0);
  def_op(m, cls, "gelu", [](const Tensor& x, const std::string& approximate) {
    return nogil([&] { return gelu(x, approximate); });
  }, py::kw_only(), py::arg("approximate") = "none");
  def_op(m, cls, "softplus", [](const Tensor& x, double beta, double threshold) {
    return nogil([&] { return softplus(x, beta, threshold); });
  }, py::arg("beta") = 1.0, py::arg("threshold") = 20.0);
  m.def("hardtanh", [](const Tensor& x, Scalar min, Scalar max) { return nogil([&] { return hardtanh(x, min, max); }); },
        py::arg("input"), py::arg("min_val") = -1.0, py::arg("max_val") = 1.0);
  m.def("hardsigmoid", [](const Tensor& x) { return nogil([&] { return hardsigmoid(x); }); }, py::arg("input"));
  m.def("hardswish", [](const Tensor& x) { return nogil([&] { return hardswish(x); }); }, py::arg("input"));
  m.def("mish", [](const Tensor& x) { return nogil([&] { return mish(x); }); }, py::arg("input"));
  m.def("elu", [](const Tensor& x, double alpha, double scale, double input_scale) {
    return nogil([&] { return elu(x, alpha, scale, input_scale); });
  }, py::arg("input"), py::arg("alpha") = 1.0, py::arg("scale") = 1.0, py::arg("input_scale") = 1.0);
  def_op(m, cls, "clamp", &clamp_any, py::arg("min") = py::none(), py::arg("max") = py::none());
  def_op(m, cls, "clip", &clamp_any, py::arg("min") = py::none(), py::arg("max") = py::none());

  using UnaryInplace = Tensor& (*)(Tensor&);
  for (auto [name, f] : std::initializer_list<std::pair<const char*, UnaryInplace>>{
           {"neg_", &neg_}, {"negative_", &neg_}, {"abs_", &abs_}, {"sign_", &sign_}, {"exp_", &exp_},
           {"log_", &log_}, {"log1p_", &log1p_}, {"expm1_", &expm1_}, {"sqrt_", &sqrt_}, {"rsqrt_", &rsqrt_},
           {"sin_", &sin_}, {"cos_", &cos_}, {"tan_", &tan_}, {"asin_", &asin_},
           {"acos_", &acos_}, {"atan_", &atan_}, {"sinh_", &sinh_}, {"cosh_", &cosh_}, {"asinh_", &asinh_},
           {"acosh_", &acosh_}, {"atanh_", &atanh_}, {"tanh_", &tanh_}, {"sigmoid_", &sigmoid_}, {"relu_", &relu_},
           {"erf_", &erf_}, {"reciprocal_", &reciprocal_}, {"square_", &square_}, {"floor_", &floor_},
           {"ceil_", &ceil_}, {"round_", &round_}, {"trunc_", &trunc_}}) {
    cls.def(name, [f = f](Tensor& x) -> Tensor& { return nogil([&]() -> Tensor& { return f(x); }); });
  }
  m.def("relu_", [](Tensor& x) -> Tensor& { return nogil([&]() -> Tensor& { return relu_(x); }); },
        py::arg("input"));
  for (const char* name : {"clamp_", "clip_"}) {
    cls.def(name, [](Tensor& x, py::handle lo, py::handle hi) -> Tensor& {
      if (is_tensor(lo) || is_tensor(hi)) {
        Tensor l = lo.is_none() ? Tensor() : to_operand(lo, x.device(), "clamp_");
        Tensor h = hi.is_none() ? Tensor() : to_operand(hi, x.device(), "clamp_");
        return nogil([&]() -> Tensor& { return clamp_(x, l, h); });
      }
      auto l = opt_scalar(lo, "clamp_"), h = opt_scalar(hi, "clamp_");
      return nogil([&]() -> Tensor& { return clamp_(x, l, h); });
    }, py::arg("min") = py::none(), py::arg("max") = py::none());
  }

  // ---- binary ----
  def_binary(m, cls, "mul", &mul);
  def_binary(m, cls, "multiply", &mul);
  def_binary(m, cls, "floor_divide", &floor_divide);
  def_binary(m, cls, "remainder", &remainder);
  def_binary(m, cls, "fmod", &fmod);
  def_binary(m, cls, "pow", &pow);
  def_binary(m, cls, "minimum", &minimum);
  def_binary(m, cls, "maximum", &maximum);
  def_binary(m, cls, "atan2", &atan2);
  def_binary(m, cls, "true_divide", &div_fn);
  for (auto [name, f] : std::initializer_list<std::pair<const char*, BinaryFn>>{
           {"eq", &eq}, {"ne", &ne}, {"lt", &lt}, {"le", &le}, {"gt", &gt}, {"ge", &ge},
           {"not_equal", &ne}, {"less", &lt}, {"less_equal", &le}, {"greater", &gt}, {"greater_equal", &ge},
           {"logical_and", &logical_and}, {"logical_or", &logical_or}, {"logical_xor", &logical_xor},
           {"bitwise_and", &bitwise_and}, {"bitwise_or", &bitwise_or}, {"bitwise_xor", &bitwise_xor}}) {
    def_binary(m, cls, name, f);
  }
  for (const char* name : {"add", "sub", "subtract"}) {
    bool is_add = std::string(name) == "add";
    m.def(name, [is_add, name](py::handle a, py::handle b, Scalar alpha) {
      Device dev = is_tensor(a) ? a.cast<Tensor>().device() : Device{};
      Tensor x = to_operand(a, dev, name), y = to_operand(b, dev, name);
      return nogil([&] { return is_add ? add(x, y, alpha) : sub(x, y, alpha); });
    }, py::arg("input"), py::arg("other"), py::kw_only(), py::arg("alpha") = Scalar(int64_t(1)));
    cls.def(name, [is_add, name](const Tensor& a, py::handle b, Scalar alpha) {
      Tensor y = to_operand(b, a.device(), name);
      return nogil([&] { return is_add ? add(a, y, alpha) : sub(a, y, alpha); });
    }, py::arg("other"), py::kw_only(), py::arg("alpha") = Scalar(int64_t(1)));
  }
  for (const char* name : {"div", "divide"}) {
    m.def(name, [name](py::handle a, py::handle b, py::handle mode) {
      Device dev = is_tensor(a) ? a.cast<Tensor>().device() : Device{};
      Tensor x = to_operand(a, dev, name), y = to_operand(b, dev, name);
      std::string r = rounding(mode).value_or("");
      return nogil([&] { return div(x, y, r); });
    }, py::arg("input"), py::arg("other"), py::kw_only(), py::arg("rounding_mode") = py::none());
    cls.def(name, [name](const Tensor& a, py::handle b, py::handle mode) {
      Tensor y = to_operand(b, a.device(), name);
      std::string r = rounding(mode).value_or("");
      return nogil([&] { return div(a, y, r); });
    }, py::arg("other"), py::kw_only(), py::arg("rounding_mode") = py::none());
  }
  cls.def("add_", [](Tensor& a, py::handle b, Scalar alpha) -> Tensor& {
    Tensor y = to_operand(b, a.device(), "add_");
    return nogil([&]() -> Tensor& { return add_(a, y, alpha); });
  }, py::arg("other"), py::kw_only(), py::arg("alpha") = Scalar(int64_t(1)));
  cls.def("sub_", [](Tensor& a, py::handle b, Scalar alpha) -> Tensor& {
    Tensor y = to_operand(b, a.device(), "sub_");
    return nogil([&]() -> Tensor& { return sub_(a, y, alpha); });
  }, py::arg("other"), py::kw_only(), py::arg("alpha") = Scalar(int64_t(1)));
  cls.def("div_", [](Tensor& a, py::handle b, py::handle mode) -> Tensor& {
    Tensor y = to_operand(b, a.device(), "div_");
    std::string r = rounding(mode).value_or("");
    return nogil([&]() -> Tensor& { return div_(a, y, r); });
  }, py::arg("other"), py::kw_only(), py::arg("rounding_mode") = py::none());
  def_inplace(cls, "mul_", &mul_);
  def_inplace(cls, "floor_divide_", &floor_divide_);
  def_inplace(cls, "remainder_", &remainder_);
  def_inplace(cls, "pow_", &pow_);
  def_inplace(cls, "fmod_", &fmod_);
  def_inplace(cls, "atan2_", &atan2_);
  def_inplace(cls, "bitwise_and_", &bitwise_and_);
  def_inplace(cls, "bitwise_or_", &bitwise_or_);
  def_inplace(cls, "bitwise_xor_", &bitwise_xor_);

  def_operator(cls, "add", &add_fn, &add_inplace);
  def_operator(cls, "sub", &sub_fn, &sub_inplace);
  def_operator(cls, "mul", &mul, &mul_);
  def_operator(cls, "truediv", &div_fn, &div_inplace);
  def_operator(cls, "floordiv", &floor_divide, &floor_divide_);
  def_operator(cls, "mod", &remainder, &remainder_);
  def_operator(cls, "pow", &pow, &pow_);
  def_operator(cls, "and", &bitwise_and, &bitwise_and_);
  def_operator(cls, "or", &bitwise_or, &bitwise_or_);
  def_operator(cls, "xor", &bitwise_xor, &bitwise_xor_);
  for (auto [name, f] : std::initializer_list<std::pair<const char*, BinaryFn>>{
           {"__lt__", &lt}, {"__le__", &le}, {"__gt__", &gt}, {"__ge__", &ge}}) {
    cls.def(name, [f = f, name = name](const Tensor& a, py::handle b) {
      Tensor y = to_operand(b, a.device(), name);
      return nogil([&] { return f(a, y); });
    });
  }
  // == and != with a non-number (None, a string) compare as "not equal", like PyTorch.
  cls.def("__eq__", [](const Tensor& a, py::handle b) -> py::object {
    if (!is_tensor(b) && !to_scalar(b)) return py::bool_(false);
    Tensor y = to_operand(b, a.device(), "eq");
    return py::cast(nogil([&] { return eq(a, y); }));
  });
  cls.def("__ne__", [](const Tensor& a, py::handle b) -> py::object {
    if (!is_tensor(b) && !to_scalar(b)) return py::bool_(true);
    Tensor y = to_operand(b, a.device(), "ne");
    return py::cast(nogil([&] { return ne(a, y); }));
  });
  cls.def("__neg__", [](const Tensor& a) { return nogil([&] { return neg(a); }); });
  cls.def("__pos__", [](const Tensor& a) { return a; });
  cls.def("__abs__", [](const Tensor& a) { return nogil([&] { return abs(a); }); });
  cls.def("__invert__", [](const Tensor& a) {
    LAMINA_CHECK_TYPE(!a.is_floating_point(), "~ (operator.invert) is only implemented on integer and Boolean-type "
                      "tensors, got ", dtype_name(a.dtype()));
    return nogil([&] { return a.dtype() == DType::Bool ? logical_not(a) : bitwise_not(a); });
  });
  m.def("where", [](const Tensor& cond, py::handle a, py::handle b) -> py::object {
    if (a.is_none() && b.is_none()) return nonzero_any(cond, true);  // where(condition), as in PyTorch
    Tensor x = to_operand(a, cond.device(), "where"), y = to_operand(b, cond.device(), "where");
    return py::cast(nogil([&] { return where(cond, x, y); }));
  }, py::arg("condition"), py::arg("input") = py::none(), py::arg("other") = py::none());
  cls.def("where", [](const Tensor& self, const Tensor& cond, py::handle b) {
    Tensor y = to_operand(b, self.device(), "where");
    return nogil([&] { return where(cond, self, y); });
  }, py::arg("condition"), py::arg("other"));

  // ---- reductions ----
  def_op(m, cls, "sum", [](const Tensor& x, py::handle dim, bool keepdim, py::handle dtype) {
    auto dims = parse_dims(dim, "sum");
    auto dt = parse_optional_dtype(dtype);
    return nogil([&] { return sum(x, dims, keepdim, dt); });
  }, py::arg("dim") = py::none(), py::arg("keepdim") = false, py::kw_only(), py::arg("dtype") = py::none());
  def_op(m, cls, "mean", [](const Tensor& x, py::handle dim, bool keepdim, py::handle dtype) {
    auto dims = parse_dims(dim, "mean");
    auto dt = parse_optional_dtype(dtype);
    return nogil([&] { return mean(x, dims, keepdim, dt); });
  }, py::arg("dim") = py::none(), py::arg("keepdim") = false, py::kw_only(), py::arg("dtype") = py::none());
  def_op(m, cls, "prod", [](const Tensor& x, py::handle dim, bool keepdim, py::handle dtype) {
    std::optional<int64_t> d = dim.is_none() ? std::nullopt : std::optional<int64_t>(dim.cast<int64_t>());
    auto dt = parse_optional_dtype(dtype);
    return nogil([&] { return prod(x, d, keepdim, dt); });
  }, py::arg("dim") = py::none(), py::arg("keepdim") = false, py::kw_only(), py::arg("dtype") = py::none());
  def_op(m, cls, "amax", [](const Tensor& x, py::handle dim, bool keepdim) {
    auto dims = parse_dims(dim, "amax");
    return nogil([&] { return amax(x, dims, keepdim); });
  }, py::arg("dim") = py::tuple(), py::arg("keepdim") = false);
  def_op(m, cls, "amin", [](const Tensor& x, py::handle dim, bool keepdim) {
    auto dims = parse_dims(dim, "amin");
    return nogil([&] { return amin(x, dims, keepdim); });
  }, py::arg("dim") = py::tuple(), py::arg("keepdim") = false);
  def_op(m, cls, "max", [](const Tensor& x, py::handle dim, bool keepdim) { return max_min(x, dim, keepdim, true); },
         py::arg("dim") = py::none(), py::arg("keepdim") = false);
  def_op(m, cls, "min", [](const Tensor& x, py::handle dim, bool keepdim) { return max_min(x, dim, keepdim, false); },
         py::arg("dim") = py::none(), py::arg("keepdim") = false);
  def_op(m, cls, "argmax", [](const Tensor& x, std::optional<int64_t> dim, bool keepdim) {
    return nogil([&] { return argmax(x, dim, keepdim); });
  }, py::arg("dim") = py::none(), py::arg("keepdim") = false);
  def_op(m, cls, "argmin", [](const Tensor& x, std::optional<int64_t> dim, bool keepdim) {
    return nogil([&] { return argmin(x, dim, keepdim); });
  }, py::arg("dim") = py::none(), py::arg("keepdim") = false);
  for (const char* name : {"var", "std"}) {
    bool is_var = std::string(name) == "var";
    def_op(m, cls, name, [is_var, name](const Tensor& x, py::handle dim, py::handle unbiased, bool keepdim,
                                        py::handle correction) {
      // var(dim, unbiased, keepdim) and var(dim, *, correction, keepdim); a bool first argument is `unbiased`.
      py::handle d = dim, u = unbiased;
      if (PyBool_Check(dim.ptr())) {
        u = dim;
        d = py::none();
      }
      auto dims = parse_dims(d, name);
      double c = parse_correction(correction, u);
      return nogil([&] { return is_var ? var(x, dims, c, keepdim) : lamina::std(x, dims, c, keepdim); });
    }, py::arg("dim") = py::none(), py::arg("unbiased") = py::none(), py::arg("keepdim") = false, py::kw_only(),
       py::arg("correction") = py::none());
  }
  def_op(m, cls, "logsumexp", [](const Tensor& x, py::handle dim, bool keepdim) {
    auto dims = parse_dims(dim, "logsumexp");
    return nogil([&] { return logsumexp(x, dims, keepdim); });
  }, py::arg("dim"), py::arg("keepdim") = false);
  def_op(m, cls, "norm", [](const Tensor& x, py::handle p, py::handle dim, bool keepdim) {
    double pv = parse_p(p);
    auto dims = parse_dims(dim, "norm");
    return nogil([&] { return norm(x, pv, dims, keepdim); });
  }, py::arg("p") = "fro", py::arg("dim") = py::none(), py::arg("keepdim") = false);
  def_op(m, cls, "cumsum", [](const Tensor& x, int64_t dim, py::handle dtype) {
    auto dt = parse_optional_dtype(dtype);
    return nogil([&] { return cumsum(x, dim, dt); });
  }, py::arg("dim"), py::kw_only(), py::arg("dtype") = py::none());
  def_op(m, cls, "cumprod", [](const Tensor& x, int64_t dim, py::handle dtype) {
    auto dt = parse_optional_dtype(dtype);
    return nogil([&] { return cumprod(x, dim, dt); });
  }, py::arg("dim"), py::kw_only(), py::arg("dtype") = py::none());
  def_op(m, cls, "all", [](const Tensor& x, py::handle dim, bool keepdim) {
    auto dims = parse_dims(dim, "all");
    return nogil([&] { return all(x, dims, keepdim); });
  }, py::arg("dim") = py::none(), py::arg("keepdim") = false);
  def_op(m, cls, "any", [](const Tensor& x, py::handle dim, bool keepdim) {
    auto dims = parse_dims(dim, "any");
    return nogil([&] { return any(x, dims, keepdim); });
  }, py::arg("dim") = py::none(), py::arg("keepdim") = false);

  // ---- views ----
  cls.def("view", [](const Tensor& x, const py::args& args) { return view(x, shape_args(args, "view")); });
  cls.def("reshape", [](const Tensor& x, const py::args& args) {
    Shape s = shape_args(args, "reshape");
    return nogil([&] { return reshape(x, s); });
  });
  m.def("reshape", [](const Tensor& x, py::handle shape) {
    Shape s = parse_shape_obj(shape, "reshape");
    return nogil([&] { return reshape(x, s); });
  }, py::arg("input"), py::arg("shape"));
  cls.def("view_as", [](const Tensor& x, const Tensor& o) { return view(x, o.shape()); }, py::arg("other"));
  cls.def("reshape_as", [](const Tensor& x, const Tensor& o) { return reshape(x, o.shape()); }, py::arg("other"));
  cls.def("permute", [](const Tensor& x, const py::args& args) { return permute(x, shape_args(args, "permute")); });
  m.def("permute", [](const Tensor& x, py::handle dims) { return permute(x, parse_shape_obj(dims, "permute")); },
        py::arg("input"), py::arg("dims"));
  for (const char* name : {"transpose", "swapaxes", "swapdims"})
    def_op(m, cls, name, [](const Tensor& x, int64_t a, int64_t b) { return transpose(x, a, b); }, py::arg("dim0"),
           py::arg("dim1"));
  def_op(m, cls, "t", &t);
  cls.def("expand", [](const Tensor& x, const py::args& args) { return expand(x, shape_args(args, "expand")); });
  cls.def("expand_as", &expand_as, py::arg("other"));
  def_op(m, cls, "squeeze", [](const Tensor& x, py::handle dim) {
    return dim.is_none() ? squeeze(x) : squeeze(x, parse_dims(dim, "squeeze"));
  }, py::arg("dim") = py::none());
  def_op(m, cls, "unsqueeze", &unsqueeze, py::arg("dim"));
  def_op(m, cls, "flatten", &flatten, py::arg("start_dim") = 0, py::arg("end_dim") = -1);
  def_op(m, cls, "unflatten", [](const Tensor& x, int64_t dim, py::handle sizes) {
    return unflatten(x, dim, parse_shape_obj(sizes, "unflatten"));
  }, py::arg("dim"), py::arg("sizes"));
  def_op(m, cls, "narrow", &narrow, py::arg("dim"), py::arg("start"), py::arg("length"));
  def_op(m, cls, "select", &select, py::arg("dim"), py::arg("index"));
  def_op(m, cls, "diagonal", &diagonal, py::arg("offset") = 0, py::arg("dim1") = 0, py::arg("dim2") = 1);
  cls.def("unfold", py::overload_cast<const Tensor&, int64_t, int64_t, int64_t>(&unfold), py::arg("dimension"),
          py::arg("size"), py::arg("step"));
  def_op(m, cls, "unbind", [](const Tensor& x, int64_t dim) { return py::tuple(py::cast(unbind(x, dim))); },
         py::arg("dim") = 0);
  def_op(m, cls, "chunk", [](const Tensor& x, int64_t chunks, int64_t dim) {
    return py::tuple(py::cast(chunk(x, chunks, dim)));
  }, py::arg("chunks"), py::arg("dim") = 0);
  def_op(m, cls, "split", [](const Tensor& x, py::handle size, int64_t dim) {
    if (PyLong_Check(size.ptr())) return py::tuple(py::cast(split(x, size.cast<int64_t>(), dim)));
    return py::tuple(py::cast(split_with_sizes(x, parse_shape_obj(size, "split"), dim)));
  }, py::arg("split_size_or_sections"), py::arg("dim") = 0);
  def_op(m, cls, "movedim", [](const Tensor& x, py::handle src, py::handle dst) {
    return movedim(x, parse_dims(src, "movedim"), parse_dims(dst, "movedim"));
  }, py::arg("source"), py::arg("destination"));
  def_op(m, cls, "as_strided", [](const Tensor& x, py::handle size, py::handle stride, std::optional<int64_t> offset) {
    return as_strided(x, parse_shape_obj(size, "as_strided"), parse_shape_obj(stride, "as_strided"),
                      offset.value_or(x.offset()));
  }, py::arg("size"), py::arg("stride"), py::arg("storage_offset") = py::none());

  // ---- joining ----
  for (const char* name : {"cat", "concat", "concatenate"})
    m.def(name, [](const std::vector<Tensor>& ts, int64_t dim) { return nogil([&] { return cat(ts, dim); }); },
          py::arg("tensors"), py::arg("dim") = 0);
  m.def("stack", [](const std::vector<Tensor>& ts, int64_t dim) { return nogil([&] { return stack(ts, dim); }); },
        py::arg("tensors"), py::arg("dim") = 0);
}

}  // namespace lamina::bindings
