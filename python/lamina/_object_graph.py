"""A checkpoint's object graph: any Python object <-> a JSON structure plus named arrays.

`Encoder` walks an object the way pickle does (copyreg's dispatch table, then __reduce_ex__(4)),
so it saves what torch.save saves; tensors and numpy arrays go to the safetensors data section by
name, everything else becomes JSON nodes. `Decoder` rebuilds the object from those nodes. With
weights_only=True every class or function it touches is looked up by name in the allowlist
(`_safe_globals`) and nothing is ever imported. Unlike a pickle stream, the structure has no
opcodes: only the node kinds below, each checked before it is acted on.

Nodes (atoms are JSON null/bool/int/str and finite floats):
  {"t": "float", "v": "nan"|"inf"|"-inf"}    {"t": "complex", "v": [re, im]}
  {"t": "list"|"tuple"|"set"|"frozenset", "v": [node...]}    {"t": "dict", "v": [[key, value]...]}
  {"t": "bytes"|"bytearray", "v": base64}    {"t": "ref", "i": id}  (the object with that id again)
  {"t": "tensor", "k": data name, "g": requires_grad, "c": [module, qualname] of a subclass,
   "s": its __dict__, "view": [shape, stride, offset] into the data (tensors sharing storage)}
  {"t": "ndarray", "k": data name, "dtype": numpy dtype str}   {"t": "npscalar", "dtype", "v": hex}
  {"t": "npdtype", "v": str}   {"t": "dtype", "v": lamina dtype name}   {"t": "device", "v": str}
  {"t": "global", "m": module, "q": qualname}  a class or function by name
  {"t": "obj", "m", "q", "a": args, "kw": kwargs, "li": items, "di": pairs, "s": state}
        cls.__new__(cls, *args, **kwargs), then items, then state (pickle's NEWOBJ + BUILD)
  {"t": "call", "m", "q", "a": args, "li", "di", "s", "setter": [module, qualname]}
        fn(*args), then items and state (pickle's REDUCE + BUILD)
Container, tensor, array, obj and call nodes carry an id "i" (pre-order) so refs keep sharing and
cycles; a ref may only name an object already built (cycles through a tuple cannot be saved).
"""

import base64
import copyreg
import importlib
import math
import re
import sys
import types

import numpy as np

from . import _C, _safe_globals

__all__ = ["Encoder", "Decoder", "unlisted_globals", "refusal_of", "LAMINA_DTYPES", "MAX_DEPTH"]

LAMINA_DTYPES = {  # safetensors name -> lamina dtype (the dtypes lamina tensors have)
    "F64": _C.dtype.float64, "F32": _C.dtype.float32, "I64": _C.dtype.int64, "I32": _C.dtype.int32,
    "BOOL": _C.dtype.bool,
}
_LAMINA_NAMES = {d: name for name, d in LAMINA_DTYPES.items()}
_LE = {"F64": "<f8", "F32": "<f4", "I64": "<i8", "I32": "<i4", "BOOL": "|b1"}
_MAX_DIMS = 25  # kMaxDims in cpp/lamina/core/shape.h (not exposed to Python)

# numpy arrays: these dtypes are stored as the safetensors dtype of the same name; complex as
# float pairs (a trailing dim of 2); the other plain dtypes (strings, datetimes, longdouble) as
# their raw bytes (U8, a trailing dim of itemsize).
_NUMPY_DIRECT = {"|b1": "BOOL", "|i1": "I8", "|u1": "U8", "<i2": "I16", "<u2": "U16", "<i4": "I32",
                 "<u4": "U32", "<i8": "I64", "<u8": "U64", "<f2": "F16", "<f4": "F32", "<f8": "F64"}
_NUMPY_COMPLEX = {"<c8": "F32", "<c16": "F64"}
# What a saved numpy dtype str may be: no objects, fields or subarrays, so np.dtype() of it only
# describes bytes. The digit limits keep itemsizes sane.
_PLAIN_DTYPE = re.compile(r"[<|](?:[biufc]\d{1,2}|[US][1-9]\d{0,8}|[mM]8(?:\[\d{0,3}[a-zA-Z]{1,2}\])?)")
_DEVICE = re.compile(r"(?:cpu|cuda)(?::\d{1,4})?")
_TRANSPARENT = ("_parameters", "_buffers", "_modules")  # Module dicts left out of tensor names
# Nesting limit of the structure, on save and load alike: decoding takes up to four Python frames
# per level, so 100 levels stay well inside the default recursion limit (1000) wherever load is
# called from. Each level of module nesting takes three (object, its state, its _modules).
MAX_DEPTH = 100


def _plain_dtype(dt):
    """The little-endian dtype str of a numpy dtype saved as bytes, or None (saved via reduce)."""
    if dt.fields is not None or dt.subdtype is not None or dt.hasobject or dt.itemsize == 0:
        return None
    text = dt.newbyteorder("<").str if dt.str[0] == ">" else dt.str
    return text if _PLAIN_DTYPE.fullmatch(text) and np.dtype(text).str == text else None


def _storage_of(text):
    """(safetensors dtype, trailing dim or None) of a saved numpy dtype str."""
    if text in _NUMPY_DIRECT:
        return _NUMPY_DIRECT[text], None
    if text in _NUMPY_COMPLEX:
        return _NUMPY_COMPLEX[text], 2
    return "U8", np.dtype(text).itemsize


def _where(path):
    return "the top level" if not path else "key " + repr(".".join(path))


def _global_name(obj):
    """(module, qualname) under which `obj` can be found again, as pickle's save_global checks."""
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    if not isinstance(qualname, str) or "<" in qualname:
        raise TypeError(f"{obj!r} is not a module-level name (a lambda or a local class/function)")
    if module is None:
        module = next((n for n, m in list(sys.modules.items()) if m is not None
                       and getattr(m, qualname, None) is obj), None)
    try:
        found = importlib.import_module(module)
        for part in qualname.split("."):
            found = getattr(found, part)
    except Exception:
        found = None
    if found is not obj:
        raise TypeError(f"{obj!r} is not found as {module}.{qualname}")
    return module, qualname


# ---- save --------------------------------------------------------------------------------------

class Encoder:
    """Turns an object into a JSON-able structure and a dict of named little-endian arrays."""

    def __init__(self):
        self.arrays = {}  # data-section name -> C-contiguous little-endian numpy array
        self._memo = {}  # id(obj) -> [node id, obj (kept alive so ids stay unique), building]
        self._groups = {}  # storage -> [(tensor, node, path)]: tensors sharing memory
        self._next_id = 0
        self._depth = 0

    def encode(self, obj):
        root = self._node(obj, [])
        for members in self._groups.values():
            self._place(members)
        return root

    def _name(self, path):
        name = ".".join(path) if path else "tensor"
        base, n = name, 1
        while name in self.arrays or name == "__metadata__":
            name = f"{base}#{n}"
            n += 1
        return name

    def _node(self, obj, path, owner=None):
        t = type(obj)
        if obj is None or t is bool or t is int or t is str:
            return obj
        if t is float:
            return obj if math.isfinite(obj) else {"t": "float", "v": repr(obj)}
        if t is complex:
            return {"t": "complex", "v": [self._node(obj.real, path), self._node(obj.imag, path)]}
        if t is _C.dtype:
            return {"t": "dtype", "v": obj.name}
        if t is _C.device:
            return {"t": "device", "v": str(obj)}
        if isinstance(obj, (type, types.FunctionType, types.BuiltinFunctionType)):
            return self._global(obj, path)
        if isinstance(obj, np.dtype) and _plain_dtype(obj):
            return {"t": "npdtype", "v": _plain_dtype(obj)}
        if isinstance(obj, np.generic) and _plain_dtype(obj.dtype):
            text = _plain_dtype(obj.dtype)
            return {"t": "npscalar", "dtype": text, "v": np.asarray(obj).astype(text).tobytes().hex()}
        if self._depth >= MAX_DEPTH:
            raise ValueError(f"lamina.save: the object is nested more than {MAX_DEPTH} levels deep at "
                             f"{_where(path)}; lamina checkpoints stop there so that any file save writes, "
                             "load can read within Python's recursion limit")
        self._depth += 1
        try:
            return self._composite(obj, t, path, owner)
        finally:
            self._depth -= 1

    def _composite(self, obj, t, path, owner):
        seen = self._memo.get(id(obj))
        if seen is not None:
            if seen[2]:
                raise TypeError(f"lamina.save: cannot save the {t.__name__} at {_where(path)}: it contains "
                                "itself through the arguments that build it (a reference cycle through a "
                                "tuple, frozenset or constructor argument)")
            return {"t": "ref", "i": seen[0]}
        i = self._next_id
        self._next_id += 1
        self._memo[id(obj)] = memo = [i, obj, False]
        if t is list or t is set:
            return {"t": t.__name__, "i": i, "v": self._list(obj, path)}
        if t is tuple or t is frozenset:
            memo[2] = True
            node = {"t": t.__name__, "i": i, "v": self._list(obj, path)}
            memo[2] = False
            return node
        if t is dict:
            return {"t": "dict", "i": i, "v": self._pairs(obj.items(), path, owner)}
        if t is bytes or t is bytearray:
            return {"t": t.__name__, "i": i, "v": base64.b64encode(obj).decode("ascii")}
        if isinstance(obj, _C.Tensor):
            return self._tensor(obj, i, path)
        if t is np.ndarray and _plain_dtype(obj.dtype) and obj.ndim + (_storage_of(
                _plain_dtype(obj.dtype))[1] is not None) <= _MAX_DIMS:
            return self._ndarray(obj, i, path)
        return self._reduce(obj, i, memo, path)

    def _pairs(self, items, path, owner=None):
        from .nn.modules.module import Module
        transparent = isinstance(owner, Module)
        out = []
        for n, (key, value) in enumerate(items):
            if transparent and key in _TRANSPARENT:
                child = path  # so a whole model's tensors get its state_dict names ("fc.weight")
            else:  # a tensor key (an optimizer's state) is named by its index, as in state_dict()
                simple = key is None or type(key) in (str, int, float, bool)
                child = path + [str(key) if simple else str(n)]
            out.append([self._node(key, child), self._node(value, child)])
        return out

    def _global(self, obj, path):
        module, qualname = self._named(obj, path)
        return {"t": "global", "m": module, "q": qualname}

    @staticmethod
    def _named(obj, path):
        try:
            return _global_name(obj)
        except TypeError as e:
            raise TypeError(f"lamina.save: cannot save {obj!r} at {_where(path)}: {e}; only classes and "
                            "functions importable by name can be saved (as with pickle)") from None

    def _tensor(self, t, i, path):
        if t.dtype not in _LAMINA_NAMES:
            raise TypeError(f"lamina.save: tensor at {_where(path)} has unsupported dtype {t.dtype}")
        node = {"t": "tensor", "i": i}
        if t.requires_grad:
            node["g"] = True
        if type(t) is not _C.Tensor:
            node["c"] = list(self._named(type(t), path))
            state = getattr(t, "__dict__", None)
            if state:
                node["s"] = self._node(dict(state), path + ["__dict__"])
        # Tensors sharing memory are saved once (as torch.save does). A zero stride (expand) or
        # more elements than their storage span would make a view larger than its data: those
        # are saved as copies, so a loaded view never holds more elements than the file.
        key = ("copy", id(t))
        if t.numel() > 0 and all(s > 0 or n == 1 for n, s in zip(t.shape, t.stride())):
            start = t.data_ptr() - t.storage_offset() * t.element_size()
            key = (start, t.dtype, str(t.device))
        self._groups.setdefault(key, []).append((t, node, path))
        return node

    def _place(self, members):
        t0, node0, path0 = members[0]
        if len(members) == 1:
            node0["k"] = name = self._name(path0)
            self.arrays[name] = _le_array(t0)
            return
        lo = min(t.storage_offset() for t, _, _ in members)
        hi = max(_extent(t) for t, _, _ in members)
        if any(t.numel() > hi - lo for t, _, _ in members):  # overlapping strides: save copies
            for member in members:
                self._place([member])
            return
        # The data is the span of storage the views cover, shaped as a member that is exactly that
        # span (the usual base tensor) so the safetensors package sees it under its own name.
        cover = next(((t, p) for t, _, p in members
                      if t.is_contiguous() and t.storage_offset() == lo and t.numel() == hi - lo), None)
        name = self._name(cover[1] if cover else path0)
        flat = t0.detach().as_strided((hi - lo,), (1,), lo)
        array = _le_array(flat)
        self.arrays[name] = array.reshape(tuple(cover[0].shape)) if cover else array
        for t, node, _ in members:
            node["k"] = name
            node["view"] = [list(t.shape), list(t.stride()), t.storage_offset() - lo]

    def _ndarray(self, a, i, path):
        text = _plain_dtype(a.dtype)
        storage, trailing = _storage_of(text)
        data = np.asarray(a, dtype=np.dtype(text), order="C")  # (ascontiguousarray makes 0-d 1-d)
        if text in _NUMPY_COMPLEX:
            data = data.view(_LE_NUMPY[storage]).reshape(a.shape + (2,))
        elif trailing is not None:
            data = data.reshape(-1).view(np.uint8).reshape(a.shape + (trailing,))
        name = self._name(path)
        self.arrays[name] = data
        return {"t": "ndarray", "i": i, "k": name, "dtype": text}

    def _reduce(self, obj, i, memo, path):
        t = type(obj)
        try:
            reducer = copyreg.dispatch_table.get(t)
            rv = reducer(obj) if reducer is not None else obj.__reduce_ex__(4)
        except Exception as e:
            raise TypeError(f"lamina.save: cannot save {t.__module__}.{t.__qualname__} at {_where(path)}: "
                            f"{type(e).__name__}: {e}") from e
        if isinstance(rv, str):  # a module-level singleton, saved by name
            module = getattr(obj, "__module__", None) or t.__module__
            return {"t": "global", "m": module, "q": rv}
        if not isinstance(rv, tuple) or not 2 <= len(rv) <= 6:
            raise TypeError(f"lamina.save: {t.__qualname__}.__reduce_ex__ at {_where(path)} returned "
                            f"{type(rv).__name__}, expected a tuple of 2 to 6 items")
        fn, args, state, items, pairs, setter = rv + (None,) * (6 - len(rv))
        memo[2] = True  # the object does not exist until these arguments are built
        name = getattr(fn, "__name__", "")
        if name == "__newobj__" and args and isinstance(args[0], type):
            module, qualname = self._named(args[0], path)
            node = {"t": "obj", "i": i, "m": module, "q": qualname, "a": self._list(args[1:], path)}
        elif name == "__newobj_ex__" and len(args) == 3 and isinstance(args[0], type):
            module, qualname = self._named(args[0], path)
            node = {"t": "obj", "i": i, "m": module, "q": qualname, "a": self._list(args[1], path),
                    "kw": self._pairs(dict(args[2]).items(), path)}
        else:
            module, qualname = self._named(fn, path)
            node = {"t": "call", "i": i, "m": module, "q": qualname, "a": self._list(args, path)}
        memo[2] = False
        if items is not None:
            node["li"] = self._list(list(items), path)
        if pairs is not None:
            node["di"] = self._pairs(list(pairs), path)
        if state is not None:
            node["s"] = self._node(state, path, owner=obj)
        if setter is not None:
            node["setter"] = list(self._named(setter, path))
        return node

    def _list(self, values, path):
        out = []
        for n, v in enumerate(values):
            out.append(self._node(v, path + [str(n)]))
        return out


_LE_NUMPY = {"F32": np.dtype("<f4"), "F64": np.dtype("<f8")}


def _extent(t):
    """One past the last storage element `t` touches (strides are non-negative in lamina)."""
    return t.storage_offset() + sum((n - 1) * s for n, s in zip(t.shape, t.stride())) + 1


def _le_array(t):
    array = t.detach().cpu().numpy()
    return np.asarray(array, dtype=np.dtype(_LE[_LAMINA_NAMES[t.dtype]]), order="C")


# ---- load --------------------------------------------------------------------------------------

class Decoder:
    """Rebuilds an object from a structure and the file's arrays ({name: (array, dtype name)}).

    `fail(message)` raises the caller's CheckpointError. With weights_only=True, classes and
    functions come only from the allowlist; with weights_only=False they are imported by name.
    """

    def __init__(self, arrays, weights_only, fail):
        self.arrays = arrays
        self.weights_only = weights_only
        self.fail = fail
        self.objects = {}  # node id -> object built
        self.bases = {}  # data name -> lamina tensor over the whole entry (never handed out)
        self._depth = 0

    def decode(self, node, path=()):
        if node is None or type(node) in (bool, int, float, str):
            return node
        if self._depth >= MAX_DEPTH:
            self.fail(f"__metadata__ 'lamina.structure' is nested more than {MAX_DEPTH} levels deep at "
                      f"{_where(path)}")
        if type(node) is not dict:
            self.fail(f"__metadata__ 'lamina.structure' has an unexpected value {str(node)[:80]!r} at "
                      f"{_where(path)}")
        kind = node.get("t")
        handler = getattr(self, "_" + kind, None) if type(kind) is str and kind in _KINDS else None
        if handler is None:
            self.fail(f"__metadata__ 'lamina.structure' has an unexpected node {str(node)[:80]!r}")
        self._depth += 1
        try:
            return handler(node, list(path))
        finally:
            self._depth -= 1

    def entry_tensor(self, name):
        """The lamina tensor over data entry `name` (a plain safetensors file's values)."""
        if name not in self.bases:
            array, dtype = self.arrays[name]
            if dtype not in LAMINA_DTYPES:
                self.fail(f"tensor {name!r}: unsupported dtype {dtype!r} (lamina tensors are "
                          f"{', '.join(LAMINA_DTYPES)}; other dtypes load only as numpy arrays)")
            self.bases[name] = _C.from_numpy(array)
        return self.bases[name]

    # -- helpers

    def _bad(self, node, path, what):
        self.fail(f"__metadata__ 'lamina.structure' has a bad {node['t']!r} node at {_where(path)}: {what}")

    def _items(self, node, path, key="v", out=None):
        """Decodes the list node[key] into `out` (a new list by default). A plain loop: each level
        of nesting costs as few Python frames as possible (see MAX_DEPTH)."""
        values = node.get(key, [])
        if type(values) is not list:
            self._bad(node, path, f"{key!r} must be a list")
        out = [] if out is None else out
        for n, v in enumerate(values):
            out.append(self.decode(v, path + [str(n)]))
        return out

    def _pairs_into(self, out, node, path, key="v"):
        pairs = node.get(key, [])
        if type(pairs) is not list or not all(type(p) is list and len(p) == 2 for p in pairs):
            self._bad(node, path, f"{key!r} must be a list of [key, value] pairs")
        for n, (k, v) in enumerate(pairs):
            k = self.decode(k, path)
            self._hashable(k, node, path, "dict key")
            simple = k is None or type(k) in (str, int, float, bool)
            out[k] = self.decode(v, path + [str(k) if simple else str(n)])
        return out

    def _hashable(self, value, node, path, what="set item"):
        try:
            hash(value)
            return
        except Exception:
            pass
        self._bad(node, path, f"{what} of type {type(value).__name__} is unhashable")

    def _register(self, node, obj, path):
        i = node.get("i")
        if i is not None:
            if type(i) is not int or i in self.objects:
                self._bad(node, path, f"id {str(i)[:40]} is not a new integer id")
            self.objects[i] = obj
        return obj

    def _string(self, node, key, path, pattern=None):
        value = node.get(key)
        if type(value) is not str or (pattern is not None and not pattern.fullmatch(value)):
            self._bad(node, path, f"{key!r} is {str(value)[:60]!r}")
        return value

    def _user_code(self, what, path, fn, *args, **kwargs):
        """Runs a rebuild step (allowlisted code) and reports its failure as a CheckpointError."""
        try:
            return fn(*args, **kwargs)
        except RecursionError:
            raise
        except Exception as e:
            self.fail(f"{what} at {_where(path)} failed: {type(e).__name__}: {e}")

    # -- plain values

    def _float(self, node, path):
        if node.get("v") not in ("nan", "inf", "-inf"):
            self._bad(node, path, f"value {str(node.get('v'))[:40]!r}")
        return float(node["v"])

    def _complex(self, node, path):
        parts = self._items(node, path)
        if len(parts) != 2 or not all(type(p) in (int, float) for p in parts):
            self._bad(node, path, "'v' must be [real, imag]")
        return complex(*parts)

    def _list(self, node, path):
        return self._items(node, path, out=self._register(node, [], path))

    def _tuple(self, node, path):
        return self._register(node, tuple(self._items(node, path)), path)

    def _set(self, node, path):
        out = self._register(node, set(), path)
        for item in self._items(node, path):
            self._hashable(item, node, path)
            out.add(item)
        return out

    def _frozenset(self, node, path):
        items = self._items(node, path)
        for item in items:
            self._hashable(item, node, path)
        return self._register(node, frozenset(items), path)

    def _dict(self, node, path):
        return self._pairs_into(self._register(node, {}, path), node, path)

    def _bytes(self, node, path):
        try:
            data = base64.b64decode(self._string(node, "v", path), validate=True)
        except ValueError:
            self._bad(node, path, "'v' is not base64")
        return self._register(node, data if node["t"] == "bytes" else bytearray(data), path)

    _bytearray = _bytes

    def _ref(self, node, path):
        i = node.get("i")
        if type(i) is not int or i not in self.objects:
            self._bad(node, path, f"refers to object {str(i)[:40]}, which is not built (yet)")
        return self.objects[i]

    # -- tensors and arrays

    def _tensor(self, node, path):
        name = node.get("k")
        if type(name) is not str or name not in self.arrays:  # a list or dict key is unhashable
            self.fail(f"__metadata__ 'lamina.structure' refers to a missing tensor {name!r}")
        base = self.entry_tensor(name)
        view = node.get("view")
        if view is None:
            t = base.detach()  # a new tensor object on the same memory; `base` stays grad-free
        else:
            t = base.as_strided(*self._view(view, base, node, path))
        cls = _C.Tensor
        if "c" in node:
            cls = self._resolve(node.get("c"), node, path, "tensor")
        requires_grad = node.get("g", False)
        if type(requires_grad) is not bool:
            self._bad(node, path, "'g' must be a bool")
        parameter = _TENSOR_CLASSES["lamina.nn.parameter.Parameter"]
        if cls is parameter:
            t = self._user_code("rebuilding a Parameter", path, parameter, t, requires_grad)
        else:
            if cls is not _C.Tensor:
                t = self._user_code(f"rebuilding a {cls.__qualname__}", path, _tensor_subclass, cls, t)
            if requires_grad:
                self._user_code("requires_grad_()", path, t.requires_grad_, True)
        self._register(node, t, path)
        if "s" in node:
            state = self.decode(node["s"], path + ["__dict__"])
            if type(state) is not dict or not all(type(k) is str for k in state):
                self._bad(node, path, "'s' must be a dict with str keys")
            t.__dict__.update(state)
        return t

    def _view(self, view, base, node, path):
        """(shape, stride, offset) of a view, checked to stay inside the entry's data."""
        ok = type(view) is list and len(view) == 3 and type(view[0]) is list and type(view[1]) is list \
            and len(view[0]) == len(view[1]) <= _MAX_DIMS and _is_int(view[2]) and view[2] >= 0 \
            and all(_is_int(d) and d >= 0 for d in view[0] + view[1])
        if ok:
            shape, stride, offset = view
            numel = math.prod(shape)
            last = offset + sum((n - 1) * s for n, s in zip(shape, stride))
            # Never more elements than the data holds: no stride trick turns a small file into a
            # huge tensor (an expanded view is saved as a copy).
            ok = numel == 0 or (last < base.numel() and numel <= base.numel())
        if not ok:
            self._bad(node, path, f"view {str(view)[:120]} does not fit the {base.numel()} elements of "
                                  f"tensor {node['k']!r}")
        return tuple(shape), tuple(stride), offset

    def _ndarray(self, node, path):
        name = node.get("k")
        if type(name) is not str or name not in self.arrays:
            self.fail(f"__metadata__ 'lamina.structure' refers to a missing array {name!r}")
        text = self._string(node, "dtype", path, _PLAIN_DTYPE)
        array, stored = self.arrays[name]
        storage, trailing = _storage_of(text)
        if stored != storage or (trailing is not None and (array.ndim == 0 or array.shape[-1] != trailing)):
            self._bad(node, path, f"dtype {text!r} cannot be stored as {stored} of shape {array.shape}")
        if trailing is not None:
            shape = array.shape[:-1]
            array = array.reshape(-1).view(np.dtype(text)).reshape(shape)
        return self._register(node, array, path)

    def _npscalar(self, node, path):
        dtype = np.dtype(self._string(node, "dtype", path, _PLAIN_DTYPE))
        data = self._string(node, "v", path, _HEX)
        if len(data) != 2 * dtype.itemsize:
            self._bad(node, path, f"{len(data) // 2} bytes for a {dtype} scalar")
        return np.frombuffer(bytes.fromhex(data), dtype=dtype)[0]

    def _npdtype(self, node, path):
        return np.dtype(self._string(node, "v", path, _PLAIN_DTYPE))

    def _dtype(self, node, path):
        return _DTYPE_BY_NAME[self._string(node, "v", path, _DTYPE_NAMES)]

    def _device(self, node, path):
        return self._user_code("rebuilding a device", path, _C.device, self._string(node, "v", path, _DEVICE))

    # -- classes, functions and objects (the allowlist applies)

    def _global(self, node, path):
        return self._resolve([node.get("m"), node.get("q")], node, path, "global")

    def _obj(self, node, path):
        cls, rebuild_only = self._resolve([node.get("m"), node.get("q")], node, path, "new", with_tier=True)
        name = f"{node['m']}.{node['q']}"
        if not isinstance(cls, type) or issubclass(cls, (type, _C.Tensor, np.ndarray, np.generic)) \
                or cls.__module__ == _C.__name__:
            self._bad(node, path, f"{name} cannot be rebuilt with __new__ (tensors, arrays and lamina._C "
                                  "types have node kinds of their own)")
        if rebuild_only and (node.get("a") or node.get("kw") or "li" in node or "di" in node):
            self.fail(f"lamina's {name} at {_where(path)} is rebuilt from saved state only, without "
                      "constructor arguments or items; this structure passes them")
        args = self._items(node, path, "a")
        kwargs = self._pairs_into({}, node, path, "kw")
        if not all(type(k) is str for k in kwargs):
            self._bad(node, path, "keyword argument names must be strings")
        obj = self._user_code(f"{name}.__new__", path, cls.__new__, cls, *args, **kwargs)
        self._register(node, obj, path)
        self._build(obj, node, path, name, trusted_type=rebuild_only or None)
        return obj

    def _call(self, node, path):
        fn = self._resolve([node.get("m"), node.get("q")], node, path, "call")
        name = f"{node['m']}.{node['q']}"
        if not callable(fn):
            self._bad(node, path, f"{name} is not callable")
        args = self._items(node, path, "a")
        result = self._user_code(f"calling {name}", path, fn, *args)
        self._register(node, result, path)
        self._build(result, node, path, name)
        return result

    def _build(self, obj, node, path, name, trusted_type=None):
        """Applies list items, dict items and state, as pickle's APPENDS, SETITEMS and BUILD do."""
        if not any(k in node for k in ("li", "di", "s", "setter")):
            return
        if self.weights_only and not trusted_type and not _safe_globals.is_allowed_type(type(obj)):
            t = type(obj)
            self.fail(f"weights_only=True refuses to set the state of a {t.__module__}.{t.__qualname__} "
                      f"(made by {name} at {_where(path)}): its class is not allowlisted. If you trust it, "
                      f"allow it with lamina.serialization.add_safe_globals([{t.__module__}.{t.__qualname__}])")
        if trusted_type and any(k in node for k in ("li", "di", "setter")):
            self.fail(f"lamina's {name} at {_where(path)} is rebuilt from saved state only; this "
                      "structure passes items or a state setter")
        if "li" in node:
            items = self._items(node, path, "li")
            self._user_code(f"adding items to {name}", path, _extend, obj, items)
        if "di" in node:
            pairs = self._pairs_into({}, node, path, "di")
            for k, v in pairs.items():
                self._user_code(f"setting items of {name}", path, obj.__setitem__, k, v)
        if "s" in node:
            state = self.decode(node["s"], path)
            if trusted_type and not (type(state) is dict and all(type(k) is str for k in state)):
                self._bad(node, path, f"the state of lamina's {name} must be a dict of attributes")
            setter = None
            if "setter" in node:
                setter = self._resolve(node.get("setter"), node, path, "call")
            self._user_code(f"setting the state of {name}", path, self._set_state, obj, state, setter)

    @staticmethod
    def _set_state(obj, state, setter):
        if setter is not None:
            setter(obj, state)
            return
        setstate = getattr(type(obj), "__setstate__", None)
        if setstate is not None:
            obj.__setstate__(state)
            return
        slots = None
        if isinstance(state, tuple) and len(state) == 2:
            state, slots = state
        if state:
            if not isinstance(state, dict) or not all(type(k) is str for k in state):
                raise TypeError("the state must be a dict with str keys")
            obj.__dict__.update(state)
        if slots:
            if not isinstance(slots, dict) or not all(type(k) is str for k in slots):
                raise TypeError("the slot state must be a dict with str keys")
            for k, v in slots.items():
                setattr(obj, k, v)

    def _resolve(self, pair, node, path, role, with_tier=False):
        ok = type(pair) is list and len(pair) == 2 and all(type(p) is str and p for p in pair) \
            and _NAME.fullmatch(pair[0]) and _NAME.fullmatch(pair[1])
        if not ok:
            self._bad(node, path, f"bad global name {str(pair)[:80]}")
        module, qualname = pair
        name = f"{module}.{qualname}"
        if not self.weights_only:
            try:
                found = _safe_globals.resolve_trusted(module, qualname)
            except Exception as e:
                self.fail(f"cannot find {name} (at {_where(path)}): {type(e).__name__}: {e}")
            return (found, False) if with_tier else found
        found = None if _safe_globals.is_blocked(name) else _safe_globals.lookup(name)
        if role == "tensor":
            found = _TENSOR_CLASSES.get(name, found)
            if found is not None and not (isinstance(found, type) and issubclass(found, _C.Tensor)):
                self._bad(node, path, f"{name} is not a tensor class")
        if found is not None:
            return (found, False) if with_tier else found
        lamina_cls = _safe_globals.lamina_class(name)
        if lamina_cls is not None and role == "new":
            return lamina_cls, True
        self.fail(refusal(name, role, _where(path), lamina_cls is not None))


_KINDS = frozenset({"float", "complex", "list", "tuple", "set", "frozenset", "dict", "bytes", "bytearray",
                    "ref", "tensor", "ndarray", "npscalar", "npdtype", "dtype", "device", "global", "obj",
                    "call"})
_DTYPE_BY_NAME = {d.name: d for d in _LAMINA_NAMES}
_DTYPE_NAMES = re.compile("|".join(_DTYPE_BY_NAME))
_HEX = re.compile(r"(?:[0-9a-f]{2})*")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")


def _tensor_classes():
    from .nn.parameter import Parameter
    return {"lamina._C.Tensor": _C.Tensor, "lamina.nn.parameter.Parameter": Parameter}


_TENSOR_CLASSES = _tensor_classes()


def _extend(obj, items):
    extend = getattr(obj, "extend", None)
    if extend is not None:
        extend(items)
    else:
        for item in items:
            obj.append(item)


def _tensor_subclass(cls, t):
    out = cls.__new__(cls)
    _C.Tensor.__init__(out, t)  # an alias of t, as Parameter(data) makes one
    return out


def _is_int(x):
    return type(x) is int


_ROLES = {"global": "referenced as a value", "call": "called to rebuild an object",
          "new": "a class to rebuild", "tensor": "a tensor subclass"}


def refusal(name, role, where, lamina_rebuild_only=False):
    """The weights_only error text: what was refused, where, and how to allow it."""
    if _safe_globals.is_blocked(name):
        return (f"refusing {name} ({_ROLES[role]} at {where}): it can run commands or code, so lamina.load "
                "never resolves it with weights_only=True, allowlisted or not (a file you trust "
                "completely loads with weights_only=False)")
    why = "it is not allowlisted"
    if lamina_rebuild_only:
        why = ("lamina's own modules and optimizers are only rebuilt from saved state by default, never "
               "called")
    return (f"weights_only=True refuses {name} ({_ROLES[role]} at {where}): {why}. If you trust it, allow "
            f"it with lamina.serialization.add_safe_globals([{name}]) or inside `with "
            f"lamina.serialization.safe_globals([{name}]):`. For a file from a source you trust completely, "
            "lamina.load(f, weights_only=False) rebuilds anything, which can run arbitrary code")


def refusal_of(names):
    """The weights_only error text for globals found before decoding (all of them at once)."""
    blocked = [n for n in names if _safe_globals.is_blocked(n)]
    if blocked:
        return (f"refusing {', '.join(blocked)}: it can run commands or code, so lamina.load never resolves "
                "it with weights_only=True, allowlisted or not (a file you trust completely loads with "
                "weights_only=False)")
    listed = ", ".join(names)
    return (f"weights_only=True refuses the global{'s' if len(names) > 1 else ''} {listed}, which the "
            f"checkpoint names but {'is' if len(names) == 1 else 'are'} not allowlisted. If you trust "
            f"{'it' if len(names) == 1 else 'them'}, allow {'it' if len(names) == 1 else 'them'} with "
            f"lamina.serialization.add_safe_globals([{listed}]) or inside `with "
            f"lamina.serialization.safe_globals([{listed}]):`. For a file from a source you trust "
            "completely, lamina.load(f, weights_only=False) rebuilds anything, which can run arbitrary code")


def unlisted_globals(structure):
    """Names in a structure that weights_only=True would refuse (a walk without recursion)."""
    found, stack = set(), [structure]
    while stack:
        node = stack.pop()
        if type(node) is list:
            stack.extend(node)
        elif type(node) is dict:
            stack.extend(node.values())
            kind = node.get("t")
            pairs = []
            if kind in ("global", "obj", "call"):
                pairs.append([node.get("m"), node.get("q")])
            if kind in ("call", "obj") and "setter" in node:
                pairs.append(node.get("setter"))
            if kind == "tensor" and "c" in node:
                pairs.append(node.get("c"))
            for pair in pairs:  # malformed names are left to the decoder, which reports them
                if type(pair) is list and len(pair) == 2 and all(type(p) is str and _NAME.fullmatch(p)
                                                                 for p in pair):
                    name = f"{pair[0]}.{pair[1]}"
                    if name in _TENSOR_CLASSES and kind == "tensor":
                        continue
                    if _safe_globals.lookup(name) is None and not (
                            kind == "obj" and _safe_globals.lamina_class(name) is not None):
                        found.add(name)
    return sorted(found)
