// Factories (zeros, ones, arange, ...) and the random generator API.
#include <chrono>
#include <random>

#include "bindings/common.h"

namespace lamina::bindings {

namespace {

// The keyword arguments every factory takes.
struct FactoryArgs {
  std::optional<DType> dtype;
  Device device;
  bool requires_grad = false;
  Generator* generator = nullptr;

  FactoryArgs(const py::kwargs& kwargs, const char* op) {
    for (auto [k, v] : kwargs) {
      std::string key = py::str(k);
      if (key == "dtype") dtype = parse_optional_dtype(v);
      else if (key == "device") device = parse_device(v);
      else if (key == "requires_grad") requires_grad = v.cast<bool>();
      else if (key == "generator") generator = v.is_none() ? nullptr : v.cast<Generator*>();
      else if (key == "layout" || key == "pin_memory" || key == "memory_format") continue;
      else throw TypeError(std::string(op) + "() got an unexpected keyword argument '" + key + "'");
    }
  }
  TensorOptions options(DType fallback) const { return {dtype.value_or(fallback), device}; }
  Tensor finish(Tensor t) const {
    if (requires_grad) {
      LAMINA_CHECK(t.is_floating_point(), "only Tensors of floating point dtype can require gradients (got ",
                   dtype_name(t.dtype()), ")");
      t.set_requires_grad(true);
    }
    return t;
  }
};

// zeros(*size, **kw)-style factory.
template <class F>
void def_factory(py::module_& m, const char* name, F make) {
  m.def(name, [make, name](const py::args& args, const py::kwargs& kwargs) {
    FactoryArgs kw(kwargs, name);
    Shape shape = parse_shape(args, name);
    return kw.finish(nogil([&] { return make(shape, kw); }));
  });
}

// zeros_like(input, **kw)-style factory: dtype and device default to the input's.
template <class F>
void def_like(py::module_& m, const char* name, F make) {
  m.def(name, [make, name](const Tensor& input, const py::kwargs& kwargs) {
    FactoryArgs kw(kwargs, name);
    if (!kw.dtype) kw.dtype = input.dtype();
    if (!kwargs.contains("device")) kw.device = input.device();
    return kw.finish(nogil([&] { return make(input.shape(), kw); }));
  }, py::arg("input"));
}

uint64_t fresh_seed() {
  std::random_device rd;
  return (uint64_t(rd()) << 32) ^ rd() ^ uint64_t(std::chrono::steady_clock::now().time_since_epoch().count());
}

// Seeds are taken modulo 2^64 like PyTorch (negative seeds wrap).
uint64_t to_seed(py::handle seed) {
  py::int_ s = py::reinterpret_borrow<py::object>(seed);
  py::object mask = py::int_(~uint64_t(0));
  return py::int_(s.attr("__and__")(mask)).cast<uint64_t>();
}

}  // namespace

void init_creation(py::module_& m) {
  auto dflt = [](const FactoryArgs& kw) { return kw.options(default_float_dtype()); };
  def_factory(m, "zeros", [dflt](const Shape& s, const FactoryArgs& kw) { return zeros(s, dflt(kw)); });
  def_factory(m, "ones", [dflt](const Shape& s, const FactoryArgs& kw) { return ones(s, dflt(kw)); });
  def_factory(m, "empty", [dflt](const Shape& s, const FactoryArgs& kw) { return empty(s, dflt(kw)); });
  def_factory(m, "rand", [dflt](const Shape& s, const FactoryArgs& kw) { return rand(s, dflt(kw), kw.generator); });
  def_factory(m, "randn", [dflt](const Shape& s, const FactoryArgs& kw) { return randn(s, dflt(kw), kw.generator); });
  def_like(m, "zeros_like", [](const Shape& s, const FactoryArgs& kw) { return zeros(s, kw.options(*kw.dtype)); });
  def_like(m, "ones_like", [](const Shape& s, const FactoryArgs& kw) { return ones(s, kw.options(*kw.dtype)); });
  def_like(m, "empty_like", [](const Shape& s, const FactoryArgs& kw) { return empty(s, kw.options(*kw.dtype)); });
  def_like(m, "rand_like", [](const Shape& s, const FactoryArgs& kw) { return rand(s, kw.options(*kw.dtype), kw.generator); });
  def_like(m, "randn_like", [](const Shape& s, const FactoryArgs& kw) { return randn(s, kw.options(*kw.dtype), kw.generator); });

  m.def("full", [](py::handle size, Scalar value, const py::kwargs& kwargs) {
    FactoryArgs kw(kwargs, "full");
    Shape shape = parse_shape_obj(size, "full");
    return kw.finish(nogil([&] { return full(shape, value, kw.options(value.dtype())); }));
  }, py::arg("size"), py::arg("fill_value"));
  m.def("full_like", [](const Tensor& input, Scalar value, const py::kwargs& kwargs) {
    FactoryArgs kw(kwargs, "full_like");
    TensorOptions o{kw.dtype.value_or(input.dtype()), kwargs.contains("device") ? kw.device : input.device()};
    return kw.finish(nogil([&] { return full(input.shape(), value, o); }));
  }, py::arg("input"), py::arg("fill_value"));
  m.def("arange", [](Scalar a, std::optional<Scalar> b, Scalar step, const py::kwargs& kwargs) {
    FactoryArgs kw(kwargs, "arange");
    Scalar start = b ? a : Scalar(int64_t(0)), end = b ? *b : a;
    return kw.finish(nogil([&] { return arange(start, end, step, kw.dtype, kw.device); }));
  }, py::arg("start"), py::arg("end") = py::none(), py::arg("step") = Scalar(int64_t(1)));
  m.def("linspace", [](double start, double end, int64_t steps, const py::kwargs& kwargs) {
    FactoryArgs kw(kwargs, "linspace");
    return kw.finish(nogil([&] { return linspace(start, end, steps, kw.options(default_float_dtype())); }));
  }, py::arg("start"), py::arg("end"), py::arg("steps"));
  m.def("eye", [](int64_t n, std::optional<int64_t> mcols, const py::kwargs& kwargs) {
    FactoryArgs kw(kwargs, "eye");
    return kw.finish(nogil([&] { return eye(n, mcols.value_or(n), kw.options(default_float_dtype())); }));
  }, py::arg("n"), py::arg("m") = py::none());
  m.def("scalar_tensor", [](Scalar value, const py::kwargs& kwargs) {
    FactoryArgs kw(kwargs, "scalar_tensor");
    return kw.finish(scalar_tensor(value, kw.dtype.value_or(default_float_dtype()), kw.device));
  }, py::arg("s"));
  m.def("randint", [](const py::args& args, const py::kwargs& kwargs) {
    // randint(high, size) or randint(low, high, size)
    LAMINA_CHECK_TYPE(args.size() == 2 || args.size() == 3, "randint() expects (high, size) or (low, high, size)");
    FactoryArgs kw(kwargs, "randint");
    int64_t low = args.size() == 3 ? args[0].cast<int64_t>() : 0;
    int64_t high = args[args.size() - 2].cast<int64_t>();
    Shape shape = parse_shape_obj(args[args.size() - 1], "randint");
    return kw.finish(nogil([&] { return randint(low, high, shape, kw.options(DType::Int64), kw.generator); }));
  });
}

void init_random(py::module_& m, TensorClass& cls) {
  py::class_<Generator>(m, "Generator", "A counter-based (Philox) random generator.")
      .def(py::init([](py::handle device) {
             parse_device(device);
             return std::make_unique<Generator>();
           }),
           py::arg("device") = "cpu")
      .def("manual_seed", [](Generator& g, py::handle seed) -> Generator& {
        g.manual_seed(to_seed(seed));
        return g;
      }, py::arg("seed"), py::return_value_policy::reference)
      .def("seed", [](Generator& g) {
        uint64_t s = fresh_seed();
        g.manual_seed(s);
        return s;
      })
      .def("initial_seed", &Generator::seed)
      .def("get_state", [](const Generator& g) {
        return py::make_tuple(g.seed(), g.offset());
      })
      .def("set_state", [](Generator& g, py::tuple state) {
        LAMINA_CHECK_VALUE(py::len(state) == 2, "Generator.set_state: expected a (seed, offset) tuple");
        g.set_state(state[0].cast<uint64_t>(), state[1].cast<uint64_t>());
      }, py::arg("state"));
  m.def("default_generator", &default_generator, py::return_value_policy::reference);
  m.def("manual_seed", [](py::handle seed) -> Generator& {
    default_generator().manual_seed(to_seed(seed));
    return default_generator();
  }, py::arg("seed"), py::return_value_policy::reference);
  m.def("seed", [] {
    uint64_t s = fresh_seed();
    default_generator().manual_seed(s);
    return s;
  });
  m.def("initial_seed", [] { return default_generator().seed(); });

  cls.def("uniform_", [](Tensor& t, double from, double to, Generator* gen) -> Tensor& {
    return nogil([&]() -> Tensor& { return uniform_(t, from, to, gen); });
  }, py::arg("from") = 0.0, py::arg("to") = 1.0, py::kw_only(), py::arg("generator") = nullptr);
  cls.def("normal_", [](Tensor& t, double mean, double std, Generator* gen) -> Tensor& {
    return nogil([&]() -> Tensor& { return normal_(t, mean, std, gen); });
  }, py::arg("mean") = 0.0, py::arg("std") = 1.0, py::kw_only(), py::arg("generator") = nullptr);
  cls.def("bernoulli_", [](Tensor& t, double p, Generator* gen) -> Tensor& {
    return nogil([&]() -> Tensor& { return bernoulli_(t, p, gen); });
  }, py::arg("p") = 0.5, py::kw_only(), py::arg("generator") = nullptr);
  def_op(m, cls, "bernoulli", [](const Tensor& p, Generator* gen) { return nogil([&] { return bernoulli(p, gen); }); },
         py::kw_only(), py::arg("generator") = nullptr);
  m.def("normal", [](double mean, double std, py::handle size, const py::kwargs& kwargs) {
    FactoryArgs kw(kwargs, "normal");
    Tensor t = empty(parse_shape_obj(size, "normal"), kw.options(default_float_dtype()));
    return kw.finish(nogil([&] { return normal_(t, mean, std, kw.generator); }));
  }, py::arg("mean"), py::arg("std"), py::arg("size"));
}

}  // namespace lamina::bindings
