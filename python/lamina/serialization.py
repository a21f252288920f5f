"""lamina.save / lamina.load: checkpoints in the safetensors format, never pickle.

File layout (what the `safetensors` package reads): 8-byte little-endian header length N, N bytes
of JSON header {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}
padded with spaces so the data starts 8-byte aligned, then the raw little-endian tensor bytes,
packed without gaps in header order. Tensors are stored under flattened key names ("state.0.exp_avg");
the rest of the object (dicts, lists, tuples, numbers, strings, None) is JSON in
__metadata__["lamina.structure"]. __metadata__ also holds a sha256 per tensor and one of the header
itself, which load verifies, so a flipped byte anywhere is reported with its tensor and offsets.
Saving writes a temp file in the same folder, fsyncs it and renames it over the target.
"""

import hashlib
import json
import math
import os
import struct
import tempfile

import numpy as np

from . import _C

__all__ = ["CheckpointError", "save", "load"]

_FORMAT = "lamina-1"
_MAX_HEADER = 100 * 1024 * 1024  # the safetensors package's limit as well
_MAX_DIMS = 25  # kMaxDims in cpp/lamina/core/shape.h (not exposed to Python)
_INT64_MAX = 2 ** 63 - 1
_DTYPES = {  # safetensors name -> (lamina dtype, little-endian numpy dtype)
    "F64": (_C.dtype.float64, np.dtype("<f8")),
    "F32": (_C.dtype.float32, np.dtype("<f4")),
    "I64": (_C.dtype.int64, np.dtype("<i8")),
    "I32": (_C.dtype.int32, np.dtype("<i4")),
    "BOOL": (_C.dtype.bool, np.dtype("bool")),
}
_NAMES = {lamina_dtype: name for name, (lamina_dtype, _) in _DTYPES.items()}
_UMASK = os.umask(0o022)
os.umask(_UMASK)


class CheckpointError(ValueError):
    """A checkpoint file that is not a valid lamina/safetensors file (raised by `load`)."""


# ---- save --------------------------------------------------------------------------------------

class _Flattener:
    """Turns an object into a JSON-able structure, collecting its tensors under unique names."""

    def __init__(self):
        self.tensors = {}  # name -> contiguous little-endian numpy array

    def _tensor_name(self, path):
        name = ".".join(path) if path else "tensor"
        base, n = name, 1
        while name in self.tensors or name == "__metadata__":
            name = f"{base}#{n}"
            n += 1
        return name

    def encode(self, obj, path):
        if isinstance(obj, np.generic) and obj.dtype.kind in "biuf":
            obj = obj.item()  # numpy scalars are saved (and loaded) as Python numbers
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, int):
            return obj
        if isinstance(obj, float):
            return obj if math.isfinite(obj) else {"t": "float", "v": repr(obj)}
        if isinstance(obj, _C.Tensor):
            return {"t": "tensor", "k": self._add_tensor(obj, path)}
        if isinstance(obj, dict):
            items = []
            for key, value in obj.items():
                if not (key is None or isinstance(key, (str, int, float, bool))):
                    raise TypeError(f"lamina.save: dict key {key!r} at {_where(path)} has type "
                                    f"{type(key).__name__}; keys must be str, int, float, bool or None")
                items.append([self.encode(key, path), self.encode(value, path + [str(key)])])
            return {"t": "dict", "v": items}
        if isinstance(obj, (list, tuple)):
            values = [self.encode(v, path + [str(i)]) for i, v in enumerate(obj)]
            return {"t": "list" if isinstance(obj, list) else "tuple", "v": values}
        raise TypeError(f"lamina.save: cannot save {type(obj).__name__} at {_where(path)}; "
                        "supported: tensors, dicts, lists, tuples, int, float, bool, str, None")

    def _add_tensor(self, t, path):
        if t.dtype not in _NAMES:
            raise TypeError(f"lamina.save: tensor at {_where(path)} has unsupported dtype {t.dtype}")
        name = self._tensor_name(path)
        array = t.detach().cpu().numpy()
        self.tensors[name] = np.asarray(array, dtype=_DTYPES[_NAMES[t.dtype]][1], order="C")
        return name


def _where(path):
    return "the top level" if not path else "key " + repr(".".join(path))


def _header_digest(header):
    """sha256 of the header's canonical JSON, leaving out the field that stores it."""
    meta = dict(header["__metadata__"])
    meta.pop("lamina.header_sha256", None)
    canonical = dict(header, __metadata__=meta)
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _build_file_header(obj):
    flat = _Flattener()
    structure = flat.encode(obj, [])
    header, offset, digests = {}, 0, {}
    # 8-byte dtypes first: every tensor then starts at an offset aligned to its item size.
    order = sorted(flat.tensors, key=lambda k: -flat.tensors[k].dtype.itemsize)
    for name in order:
        array = flat.tensors[name]
        header[name] = {"dtype": _numpy_name(array), "shape": list(array.shape),
                        "data_offsets": [offset, offset + array.nbytes]}
        digests[name] = hashlib.sha256(memoryview(array).cast("B") if array.size else b"").hexdigest()
        offset += array.nbytes
    header["__metadata__"] = {
        "format": "pt",  # what the safetensors package's torch helpers expect
        "lamina.format": _FORMAT,
        "lamina.structure": json.dumps(structure, separators=(",", ":")),
        "lamina.sha256": json.dumps(digests, separators=(",", ":")),
    }
    header["__metadata__"]["lamina.header_sha256"] = _header_digest(header)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-(8 + len(text)) % 8)
    return text, [flat.tensors[name] for name in order]


def _numpy_name(array):
    for name, (_, np_dtype) in _DTYPES.items():
        if array.dtype == np_dtype:
            return name
    raise AssertionError(array.dtype)


def _write_payload(f, header, arrays):
    f.write(struct.pack("<Q", len(header)))
    f.write(header)
    for array in arrays:
        if array.size:
            f.write(memoryview(array).cast("B"))


def save(obj, f):
    """Saves tensors and nested dicts/lists/tuples/numbers/strings/None to `f` (a path or a binary
    file object) in the safetensors format. A path is written atomically: a crash leaves any old
    file there intact. Shared storage between tensors is not preserved (each is saved as a copy).
    """
    header, arrays = _build_file_header(obj)
    if hasattr(f, "write"):
        _write_payload(f, header, arrays)
        return
    path = os.fspath(f)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; a checkpoint gets the usual mode
        with os.fdopen(fd, "wb") as out:
            _write_payload(out, header, arrays)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(folder)


def _fsync_dir(folder):
    """Makes the rename durable (not supported everywhere, e.g. on Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ---- load --------------------------------------------------------------------------------------

def load(f, map_location=None, weights_only=True):
    """Loads what `save` wrote (or any safetensors file: then a dict of name -> tensor).

    Never executes code from the file. Raises `CheckpointError` (a ValueError) naming the problem
    and the byte offset for a pickle, a truncated file, a bad header or a checksum mismatch.
    """
    if map_location is not None and str(map_location) != "cpu":
        raise ValueError(f"lamina.load: map_location {map_location!r} not supported (only 'cpu')")
    if hasattr(f, "read"):
        data, name = f.read(), getattr(f, "name", "<file object>")
    else:
        name = os.fspath(f)
        with open(name, "rb") as fh:
            data = fh.read()
    return _Reader(data, str(name)).read()


class _Reader:
    def __init__(self, data, name):
        self.data = memoryview(data)
        self.name = name

    def fail(self, message):
        raise CheckpointError(f"lamina.load: {self.name}: {message}")

    def read(self):
        header, start = self._header()
        entries = self._check_header(header, start)
        meta = header.get("__metadata__") or {}
        if any(key.startswith("lamina.") for key in meta):
            self._verify(header, meta, entries, start)
        tensors = {name: self._tensor(name, entry, start) for name, entry in entries.items()}
        if "lamina.structure" not in meta:
            return tensors  # a plain safetensors file
        try:
            structure = json.loads(meta["lamina.structure"])
            return self._decode(structure, tensors, set())
        except RecursionError:
            self.fail("__metadata__ 'lamina.structure' is nested too deeply")
        except CheckpointError:
            raise
        except ValueError as e:
            self.fail(f"__metadata__ 'lamina.structure' is not valid JSON ({e})")

    def _header(self):
        size = len(self.data)
        head = bytes(self.data[:16])
        n = struct.unpack("<Q", head[:8])[0] if size >= 8 else None
        if n is None or n > _MAX_HEADER or 8 + n > size:
            # Only an impossible header length is worth a guess at what the file really is.
            kind = None
            if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
                kind = "a pickle"
            elif head[:4] == b"PK\x03\x04":
                kind = "a zip archive (torch.save format)"
            if kind:
                self.fail(f"this is {kind}, not a safetensors checkpoint (bytes 0-1 are "
                          f"{head[:2].hex()}); lamina.load never unpickles, since that can run "
                          "arbitrary code")
        if n is None:
            self.fail(f"truncated: {size} bytes, but the 8-byte header length at offset 0 needs 8")
        if n > _MAX_HEADER:
            self.fail(f"bad header length {n} at offset 0 (limit {_MAX_HEADER}; file has {size} bytes)")
        if 8 + n > size:
            self.fail(f"truncated: header length at offset 0 says {n} bytes, but only {size - 8} "
                      f"bytes follow offset 8")
        raw = bytes(self.data[8:8 + n])
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            self.fail(f"header is not UTF-8 at offset {8 + e.start}")
        try:
            header = json.loads(text, object_pairs_hook=self._unique_keys)
        except json.JSONDecodeError as e:
            self.fail(f"header is not valid JSON at offset {8 + len(text[:e.pos].encode())}: {e.msg}")
        except ValueError as e:  # e.g. an integer with more digits than Python converts (4300)
            self.fail(f"header JSON has an unreadable value ({e})")
        except RecursionError:
            self.fail("header JSON is nested too deeply")
        if not isinstance(header, dict):
            self.fail("header (offset 8) is not a JSON object")
        return header, 8 + n

    def _unique_keys(self, pairs):
        out = dict(pairs)
        if len(out) != len(pairs):
            seen = set()
            duplicate = next(k for k, _ in pairs if k in seen or seen.add(k))
            self.fail(f"header has the key {duplicate!r} twice")
        return out

    def _check_header(self, header, start):
        """Validates everything in the parsed header that the rest of `load` relies on, so that a
        crafted header fails here with a CheckpointError rather than deeper down (in numpy, in the
        C++ core, or as a TypeError on an unhashable value). Returns {name: entry} of the tensors,
        whose data offsets are checked to tile the data section (from file offset `start`) exactly."""
        data_len = len(self.data) - start
        meta = header.get("__metadata__")
        if meta is not None and not (isinstance(meta, dict)
                                     and all(isinstance(v, str) for v in meta.values())):
            self.fail("header __metadata__ must map strings to strings")
        entries = {}
        for name, entry in header.items():  # JSON object keys are always str
            if name == "__metadata__":
                continue
            if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
                self.fail(f"tensor {name!r}: header entry must have exactly dtype, shape, data_offsets")
            dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
            # isinstance first: `in _DTYPES` raises TypeError for a list or dict.
            if not isinstance(dtype, str) or dtype not in _DTYPES:
                self.fail(f"tensor {name!r}: unsupported dtype {dtype!r} (lamina reads "
                          f"{', '.join(_DTYPES)})")
            if not isinstance(shape, list) or not all(_is_int(d) and d >= 0 for d in shape):
                self.fail(f"tensor {name!r}: bad shape {str(shape)[:200]}: expected a list of "
                          "non-negative integers")
            if len(shape) > _MAX_DIMS:
                self.fail(f"tensor {name!r}: shape has {len(shape)} dims; lamina tensors have at most "
                          f"{_MAX_DIMS}")
            itemsize = _DTYPES[dtype][1].itemsize
            # Sizes are int64 in numpy and lamina's C++ core. numpy (like PyTorch) refuses a shape
            # whose dims multiply past that even when a 0 dim makes it empty, e.g. [2**62, 2**62, 0],
            # so zeros are skipped here too. Python ints cannot overflow: the product is exact.
            if math.prod(max(d, 1) for d in shape) * itemsize > _INT64_MAX:
                self.fail(f"tensor {name!r}: shape {tuple(shape)} of {dtype} is too large "
                          "(its size overflows int64)")
            if (not isinstance(offsets, list) or len(offsets) != 2 or not all(map(_is_int, offsets))
                    or not 0 <= offsets[0] <= offsets[1]):
                self.fail(f"tensor {name!r}: bad data_offsets {str(offsets)[:200]}")
            begin, end = offsets
            nbytes = math.prod(shape) * itemsize
            if end - begin != nbytes:
                self.fail(f"tensor {name!r}: data_offsets {offsets} hold {end - begin} bytes but "
                          f"shape {tuple(shape)} of {dtype} needs {nbytes}")
            if end > data_len:
                self.fail(f"truncated: tensor {name!r} ends at file offset {start + end} but the file "
                          f"has {len(self.data)} bytes")
            entries[name] = entry
        position, previous = 0, None
        for name, entry in sorted(entries.items(), key=lambda kv: tuple(kv[1]["data_offsets"])):
            begin, end = entry["data_offsets"]
            if begin < position:
                self.fail(f"tensors {previous!r} and {name!r} overlap at file offset {start + begin}")
            if begin > position:
                self.fail(f"gap of {begin - position} unused bytes at file offset {start + position}")
            position, previous = end, name
        if position != data_len:
            self.fail(f"{data_len - position} unexpected bytes after the tensor data, at file offset "
                      f"{start + position}")
        return entries

    def _verify(self, header, meta, entries, start):
        if meta.get("lamina.format") != _FORMAT:
            self.fail(f"unknown lamina format {meta.get('lamina.format')!r} (expected {_FORMAT!r})")
        if meta.get("lamina.header_sha256") != _header_digest(header):
            self.fail(f"header checksum mismatch: the header (file offsets 8 to {start}) is corrupted")
        try:
            digests = json.loads(meta.get("lamina.sha256", ""))
        except (ValueError, RecursionError):
            self.fail("__metadata__ 'lamina.sha256' is missing or not valid JSON")
        if not isinstance(digests, dict) or set(digests) != set(entries):
            self.fail("__metadata__ 'lamina.sha256' does not list exactly the stored tensors")
        for name, entry in entries.items():
            begin, end = entry["data_offsets"]
            if hashlib.sha256(self.data[start + begin:start + end]).hexdigest() != digests[name]:
                self.fail(f"checksum mismatch in tensor {name!r} (file offsets {start + begin} to "
                          f"{start + end}): the data is corrupted")

    def _tensor(self, name, entry, start):
        np_dtype = _DTYPES[entry["dtype"]][1]
        begin, end = entry["data_offsets"]
        raw = self.data[start + begin:start + end]
        if entry["dtype"] == "BOOL":
            # A bool byte other than 0/1 (2, 255: written by some other tool, or corrupt) would give
            # an inconsistent lamina tensor (x and ~x both True, sum counting 255). PyTorch reads any
            # nonzero bool byte as True (c10::load<bool>; so does numpy), and the safetensors package
            # passes the bytes through unchecked, so normalise to 0/1 to load such files as PyTorch
            # does rather than refuse them. `!= 0` also makes the copy that from_numpy needs.
            array = np.frombuffer(raw, dtype=np.uint8) != 0
        else:
            array = np.frombuffer(raw, dtype=np_dtype).astype(np_dtype.newbyteorder("="), copy=True)
        return _C.from_numpy(array.reshape(entry["shape"]))

    def _decode(self, node, tensors, used):
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if isinstance(node, list) or not isinstance(node, dict) or "t" not in node:
            self.fail(f"__metadata__ 'lamina.structure' has an unexpected value {str(node)[:80]!r}")
        kind = node["t"]
        if kind == "tensor":
            key = node.get("k")
            if not isinstance(key, str) or key not in tensors:  # a list or dict key is unhashable
                self.fail(f"__metadata__ 'lamina.structure' refers to a missing tensor {key!r}")
            if key in used:
                return tensors[key].clone()
            used.add(key)
            return tensors[key]
        if kind == "float" and node.get("v") in ("nan", "inf", "-inf"):
            return float(node["v"])
        values = node.get("v")
        if kind in ("list", "tuple") and isinstance(values, list):
            items = [self._decode(v, tensors, used) for v in values]
            return items if kind == "list" else tuple(items)
        if kind == "dict" and isinstance(values, list) and all(
                isinstance(kv, list) and len(kv) == 2 for kv in values):
            out = {}
            for key, value in values:
                key = self._decode(key, tensors, used)
                if not (key is None or isinstance(key, (str, int, float, bool))):
                    self.fail(f"__metadata__ 'lamina.structure' has a dict key of type {type(key).__name__}")
                out[key] = self._decode(value, tensors, used)
            return out
        self.fail(f"__metadata__ 'lamina.structure' has an unexpected node {str(node)[:80]!r}")


def _is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)
