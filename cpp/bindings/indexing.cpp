// Tensor.__getitem__ / __setitem__: Python index expressions become view ops (ints, slices,
// None, Ellipsis) followed, when tensors/lists/arrays/bool masks are present, by advanced
// indexing (lamina::index / index_put_). PyTorch's rules: ints and 0-d integer tensors select
// (a view); a bool scalar adds a dim of size 1 and, next to other advanced indices, takes part
// in them. A list is one index (numpy's rule, and PyTorch's once its deprecated reading of a list
// of sequences as a tuple is gone), unless it holds slices, None or Ellipsis.
#include <variant>

#include "bindings/common.h"

namespace lamina::bindings {

namespace {

struct NoneEntry {};
struct EllipsisEntry {};
struct SliceEntry {
  Py_ssize_t start, stop, step;
};
// One parsed element of an index tuple.
using Entry = std::variant<NoneEntry, EllipsisEntry, bool, int64_t, SliceEntry, Tensor>;

bool is_array_like(py::handle h) {
  return !is_tensor(h) && py::hasattr(h, "__array__") && py::hasattr(h, "shape") && !PyLong_Check(h.ptr()) &&
         !PyFloat_Check(h.ptr());
}

// x[[0, slice(1, 3)]] means x[0, 1:3]: such a list cannot be an array index.
bool list_is_tuple(py::handle index) {
  if (!py::isinstance<py::list>(index)) return false;
  for (auto e : index) {
    PyObject* o = e.ptr();
    if (PySlice_Check(o) || o == Py_Ellipsis || o == Py_None) return true;
  }
  return false;
}

// A list / array / tensor index as a tensor; an empty list gives an empty int64 index.
Tensor index_tensor(py::handle h, Device device) {
  if (is_tensor(h)) return h.cast<Tensor>();
  Tensor t = tensor_from_data(h, std::nullopt, device);
  return t.is_floating_point() && t.numel() == 0 ? to(t, DType::Int64) : t;
}

Entry parse_entry(py::handle h, Device device) {
  PyObject* o = h.ptr();
  if (h.is_none()) return NoneEntry{};
  if (o == Py_Ellipsis) return EllipsisEntry{};
  if (PyBool_Check(o)) return bool(o == Py_True);
  if (PyLong_Check(o) || (!is_tensor(h) && !is_array_like(h) && py::hasattr(h, "__index__")))
    return index_value(h);
  if (PySlice_Check(o)) {
    SliceEntry s{};
    LAMINA_CHECK_TYPE(PySlice_Unpack(o, &s.start, &s.stop, &s.step) == 0, "index: invalid slice");
    LAMINA_CHECK_VALUE(s.step > 0, "index: step must be greater than zero");
    return s;
  }
  bool sequence = PySequence_Check(o) && !PyUnicode_Check(o) && !PyBytes_Check(o);  // list, tuple, range
  if (is_tensor(h) || is_array_like(h) || sequence) {
    Tensor t = index_tensor(h, device);
    if (t.dim() > 0) return t;
    // 0-d: a bool acts like True/False, an integer like an int.
    if (t.dtype() == DType::Bool) return bool(to(t, Device{}, DType::Bool).data<bool>()[0]);
    if (is_integral(t.dtype(), false)) return to(t, Device{}, DType::Int64).data<int64_t>()[0];
    return t;  // a float index: lamina::index rejects it with IndexError
  }
  throw IndexError("index: only integers, slices (`:`), ellipsis (`...`), None and long or bool tensors are valid "
                   "indices (got " + std::string(py::str(py::type::of(h).attr("__name__"))) + ")");
}

// Number of dims of x an entry consumes.
int64_t consumed_dims(const Entry& e) {
  if (std::holds_alternative<int64_t>(e) || std::holds_alternative<SliceEntry>(e)) return 1;
  if (auto* t = std::get_if<Tensor>(&e)) return t->dtype() == DType::Bool ? t->dim() : 1;
  return 0;
}

struct ParsedIndex {
  Tensor view;                   // x after the basic (view) part of the index
  std::vector<Tensor> advanced;  // in lamina::index's form: one entry per index, masks span dims
  bool has_advanced = false;
};

std::vector<Entry> parse_entries(py::handle index, Device device) {
  py::tuple items = py::isinstance<py::tuple>(index) ? py::reinterpret_borrow<py::tuple>(index)
                    : list_is_tuple(index)           ? py::tuple(py::reinterpret_borrow<py::list>(index))
                                                     : py::make_tuple(index);
  std::vector<Entry> entries;
  for (auto h : items) entries.push_back(parse_entry(h, device));
  return entries;
}

ParsedIndex parse(const Tensor& x, py::handle index) {
  std::vector<Entry> entries = parse_entries(index, x.device());
  int64_t consumed = 0;
  for (const Entry& e : entries) consumed += consumed_dims(e);
  LAMINA_CHECK_INDEX(consumed <= x.dim(), "index: too many indices for tensor of dimension ", x.dim());
  ParsedIndex p;
  p.view = x;
  int64_t dim = 0;
  std::vector<std::pair<int64_t, Tensor>> tensors;  // (first dim in view, index)
  std::vector<std::pair<int64_t, bool>> bools;      // (dim in view, value)
  for (const Entry& e : entries) {
    if (std::holds_alternative<NoneEntry>(e)) {
      p.view = unsqueeze(p.view, dim++);
    } else if (std::holds_alternative<EllipsisEntry>(e)) {
      // Every ellipsis spans the dims no other entry names, as in PyTorch: x[..., None, ...] is
      // x[..., None]; an entry after a second, non-empty span then names a dim past the end.
      dim += x.dim() - consumed;
    } else if (auto* b = std::get_if<bool>(&e)) {
      p.view = unsqueeze(p.view, dim);
      bools.push_back({dim++, *b});
    } else if (auto* i = std::get_if<int64_t>(&e)) {
      p.view = select(p.view, dim, *i);
    } else if (auto* s = std::get_if<SliceEntry>(&e)) {
      p.view = slice(p.view, dim++, s->start, s->stop, s->step);
    } else {
      const Tensor& t = std::get<Tensor>(e);
      LAMINA_CHECK_INDEX(dim + consumed_dims(e) <= p.view.dim(), "index: too many indices for tensor of dimension ",
                         x.dim());
      tensors.push_back({dim, t});
      dim += consumed_dims(e);
    }
  }
  if (tensors.empty()) {  // bool scalars alone stay views
    for (auto [d, value] : bools)
      if (!value) p.view = narrow(p.view, d, 0, 0);
    return p;
  }
  // Otherwise bool scalars become masks of their size-1 dim and join the advanced indices.
  for (auto [d, value] : bools) tensors.push_back({d, full({1}, Scalar(value), {DType::Bool, x.device()})});
  std::sort(tensors.begin(), tensors.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  p.has_advanced = true;
  int64_t d = 0;
  for (auto& [start, t] : tensors) {
    for (; d < start; ++d) p.advanced.push_back(Tensor());
    p.advanced.push_back(t);
    d += t.dtype() == DType::Bool ? t.dim() : 1;
  }
  return p;
}

}  // namespace

void init_indexing(py::module_& m, TensorClass& cls) {
  cls.def("__getitem__", [](const Tensor& x, py::handle index) {
    ParsedIndex p = parse(x, index);
    if (!p.has_advanced) return p.view;
    return nogil([&] { return lamina::index(p.view, p.advanced); });
  });
  cls.def("__setitem__", [](Tensor& x, py::handle index, py::handle value) {
    ParsedIndex p = parse(x, index);
    Tensor v = to_operand(value, x.device(), "__setitem__");
    // As PyTorch, the value's leading size-1 dims are dropped first: x[0] = t([[5.]]) fills a 0-d slot.
    size_t leading_ones = 0;
    while (leading_ones < v.shape().size() && v.shape()[leading_ones] == 1) ++leading_ones;
    if (leading_ones > 0) v = reshape(v, Shape(v.shape().begin() + std::ptrdiff_t(leading_ones), v.shape().end()));
    nogil([&]() -> Tensor& {
      if (!p.has_advanced) return copy_(p.view, v);
      // x[..., mask, ...] = one value is a masked fill in PyTorch, which casts; other index puts want
      // equal dtypes. "One mask": after the basic entries, a single index tensor, boolean, not 0-d.
      int defined = 0;
      for (const Tensor& t : p.advanced) defined += t.defined();
      const Tensor& last = p.advanced.back();
      bool masked_fill = defined == 1 && last.dtype() == DType::Bool && last.dim() > 0 && v.numel() == 1;
      return index_put_(p.view, p.advanced, masked_fill && v.dtype() != x.dtype() ? to(v, x.dtype()) : v, false);
    });
  });
  (void)m;
}

}  // namespace lamina::bindings
