// Factories (zeros, ones, arange, ...) and the random generator API.
#include <algorithm>
#include <array>
#include <chrono>
#include <map>
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

  // `extra` names keywords the caller reads itself (size=, low=, ...).
  FactoryArgs(const py::kwargs& kwargs, const char* op, std::initializer_list<const char*> extra = {}) {
    for (auto [k, v] : kwargs) {
      std::string key = py::str(k);
      if (std::find(extra.begin(), extra.end(), key) != extra.end()) continue;
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

// The size of zeros(2, 3), zeros((2, 3)), zeros([2, 3]), zeros(lamina.Size(...)) or zeros(size=...).
Shape factory_size(const py::args& args, const py::kwargs& kwargs, const char* op) {
  if (kwargs.contains("size")) {
    LAMINA_CHECK_TYPE(args.size() == 0, op, "() got multiple values for argument 'size'");
    return parse_shape_obj(kwargs["size"], op);
  }
  LAMINA_CHECK_TYPE(args.size() > 0, op, "() missing 1 required positional arguments: \"size\"");
  // A single integer-like (int, numpy integer, 0-d tensor) is one dim, not a sequence of dims.
  py::handle first = args[0];
  bool scalar = !PySequence_Check(first.ptr()) || (is_tensor(first) && first.cast<Tensor>().dim() == 0);
  if (args.size() == 1 && !scalar) return parse_shape_obj(first, op);
  return parse_shape_obj(args, op);
}

// zeros(*size, **kw)-style factory.
template <class F>
void def_factory(py::module_& m, const char* name, F make) {
  m.def(name, [make, name](const py::args& args, const py::kwargs& kwargs) {
    FactoryArgs kw(kwargs, name, {"size"});
    Shape shape = factory_size(args, kwargs, name);
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

// Seeds in [-2^63, 2^64) as in PyTorch: negative seeds wrap modulo 2^64, others are rejected.
uint64_t to_seed(py::handle seed) {
  py::int_ s = py::reinterpret_steal<py::int_>(PyNumber_Long(seed.ptr()));
  if (!s) throw py::error_already_set();
  py::int_ lo = py::int_(INT64_MIN), hi = py::int_(~uint64_t(0));
  LAMINA_CHECK_VALUE(s.attr("__ge__")(lo).cast<bool>() && s.attr("__le__")(hi).cast<bool>(),
                     "manual_seed: seed must be in [-2**63, 2**64), got ", std::string(py::str(s)));
  return py::int_(s.attr("__and__")(hi)).cast<uint64_t>();
}

// Generator state as an int64 tensor [seed, offset] (the seed's bits), like torch.get_rng_state.
Tensor get_state(const Generator& g) {
  Tensor t = empty({2}, {DType::Int64, Device{}});
  t.data<int64_t>()[0] = int64_t(g.seed());
  t.data<int64_t>()[1] = int64_t(g.offset());
  return t;
}

void set_state(Generator& g, py::handle state) {
  if (is_tensor(state)) {
    Tensor t = state.cast<Tensor>();
    LAMINA_CHECK_TYPE(t.dtype() == DType::Int64 && t.shape() == Shape{2} && t.device().is_cpu(),
                      "set_state: expected the int64 tensor of shape (2,) returned by get_state, got ",
                      dtype_name(t.dtype()), " of shape ", str(t.shape()));
    Tensor c = contiguous(detach(t));
    g.set_state(uint64_t(c.data<int64_t>()[0]), uint64_t(c.data<int64_t>()[1]));
    return;
  }
  py::tuple tup = py::reinterpret_borrow<py::object>(state);
  LAMINA_CHECK_VALUE(py::len(tup) == 2, "set_state: expected a state from get_state or a (seed, offset) tuple");
  g.set_state(to_seed(tup[0]), tup[1].cast<uint64_t>());
}

// An int argument (Python int, numpy integer, integer 0-d tensor); floats are a TypeError.
int64_t as_int(py::handle v, const char* op, const char* name) {
  LAMINA_CHECK_TYPE(!PyFloat_Check(v.ptr()) && py::hasattr(v, "__index__"), op, "(): argument '", name,
                    "' must be int, not ", std::string(py::str(py::type::of(v).attr("__name__"))));
  return index_value(v);
}

// randint(high, size), randint(low, high, size), with any of them as keywords.
struct RandintArgs {
  int64_t low = 0, high = 0;
  Shape size;
  RandintArgs(const py::args& args, const py::kwargs& kwargs, const char* op, bool has_size) {
    std::vector<py::handle> pos(args.begin(), args.end());
    std::vector<const char*> names;
    size_t want = has_size ? 1 : 0;
    // low is given when all of (low, high[, size]) are, positionally or by keyword.
    size_t given = pos.size();
    for (const char* key : {"low", "high", "size"}) given += kwargs.contains(key) ? 1 : 0;
    bool has_low = given == 2 + want || kwargs.contains("low");
    if (has_low) names = {"low", "high", "size"};
    else names = {"high", "size"};
    if (!has_size) names.pop_back();
    LAMINA_CHECK_TYPE(pos.size() <= names.size(), op, "() takes at most ", names.size(), " positional arguments");
    std::map<std::string, py::handle> got;
    for (size_t i = 0; i < pos.size(); ++i) got[names[i]] = pos[i];
    for (const char* key : {"low", "high", "size"})
      if (kwargs.contains(key)) {
        LAMINA_CHECK_TYPE(!got.count(key), op, "() got multiple values for argument '", key, "'");
        got[key] = kwargs[key];
      }
    LAMINA_CHECK_TYPE(got.count("high"), op, "() missing required argument 'high'");
    LAMINA_CHECK_TYPE(!has_size || got.count("size"), op, "() missing required argument 'size'");
    if (got.count("low")) low = as_int(got["low"], op, "low");
    high = as_int(got["high"], op, "high");
    if (has_size) size = parse_shape_obj(got["size"], op);
  }
};

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
    FactoryArgs kw(kwargs, "randint", {"low", "high", "size"});
    RandintArgs r(args, kwargs, "randint", true);
    return kw.finish(nogil([&] { return randint(r.low, r.high, r.size, kw.options(DType::Int64), kw.generator); }));
  });
  m.def("randint_like", [](const Tensor& input, const py::args& args, const py::kwargs& kwargs) {
    FactoryArgs kw(kwargs, "randint_like", {"low", "high"});
    RandintArgs r(args, kwargs, "randint_like", false);
    TensorOptions o{kw.dtype.value_or(input.dtype()), kwargs.contains("device") ? kw.device : input.device()};
    return kw.finish(nogil([&] { return randint(r.low, r.high, input.shape(), o, kw.generator); }));
  }, py::arg("input"));
  m.def("_philox4x32_10", [](std::array<uint32_t, 4> counter, std::array<uint32_t, 2> key) {
    return philox4x32_10(counter, key);
  }, py::arg("counter"), py::arg("key"), "One Philox4x32-10 block (for known-answer tests).");
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
      .def_property_readonly("device", [](const Generator&) { return Device{}; })
      .def("get_state", &get_state)
      .def("set_state", [](Generator& g, py::handle state) -> Generator& {
        set_state(g, state);
        return g;
      }, py::arg("new_state"), py::return_value_policy::reference);
  m.def("get_rng_state", [] { return get_state(default_generator()); });
  m.def("set_rng_state", [](py::handle state) { set_state(default_generator(), state); }, py::arg("new_state"));
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
  cls.def("bernoulli_", [](Tensor& t, py::handle p, Generator* gen) -> Tensor& {
    if (is_tensor(p)) {
      Tensor pt = p.cast<Tensor>();
      return nogil([&]() -> Tensor& { return bernoulli_(t, pt, gen); });
    }
    double pv = p.cast<double>();
    return nogil([&]() -> Tensor& { return bernoulli_(t, pv, gen); });
  }, py::arg("p") = 0.5, py::kw_only(), py::arg("generator") = nullptr);
  // bernoulli(input): draws with the probabilities in input; bernoulli(input, p): input's shape
  // and dtype, probability p.
  def_op(m, cls, "bernoulli", [](const Tensor& input, std::optional<double> p, Generator* gen) {
    return nogil([&] {
      if (!p) return bernoulli(input, gen);
      Tensor out = empty_like(input);
      return bernoulli_(out, *p, gen);
    });
  }, py::arg("p") = py::none(), py::kw_only(), py::arg("generator") = nullptr);
  // normal(mean, std, size) with numbers, or normal(mean, std=1.0) with tensors (broadcast).
  m.def("normal", [](py::handle mean, py::handle std, py::handle size, const py::kwargs& kwargs) {
    FactoryArgs kw(kwargs, "normal");
    if (!is_tensor(mean) && !is_tensor(std)) {
      LAMINA_CHECK_TYPE(!size.is_none(), "normal(): with float mean and std, the size argument is required");
      double mu = mean.cast<double>(), sigma = std.cast<double>();
      Shape shape = parse_shape_obj(size, "normal");
      return kw.finish(nogil([&] {
        check_shape(shape, itemsize(kw.options(default_float_dtype()).dtype), "normal");
        Tensor t = empty(shape, kw.options(default_float_dtype()));
        return normal_(t, mu, sigma, kw.generator);
      }));
    }
    LAMINA_CHECK_TYPE(size.is_none(), "normal(): size is only accepted with float mean and std");
    Device dev = is_tensor(mean) ? mean.cast<Tensor>().device() : std.cast<Tensor>().device();
    Tensor m_t = to_operand(mean, dev, "normal"), s_t = to_operand(std, dev, "normal");
    return nogil([&] { return normal(m_t, s_t, kw.generator); });
  }, py::arg("mean"), py::arg("std") = 1.0, py::arg("size") = py::none());
}

}  // namespace lamina::bindings
