"""lamina.save / lamina.load: whole-object checkpoints in the safetensors format, never pickle.

File layout (what the `safetensors` package reads): 8-byte little-endian header length N, N bytes
of JSON header {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}
padded with spaces so the data starts 8-byte aligned, then the raw little-endian tensor bytes,
packed without gaps in header order. The object around the tensors (containers, numbers, numpy
values, modules, optimizers, any class) is a JSON graph in __metadata__["lamina.structure"]
(`_object_graph`); loading it resolves classes only through an allowlist (`_safe_globals`), as
torch.load(weights_only=True) does. __metadata__ also holds a sha256 per tensor and one of the
header, which load verifies. Saving writes a temp file beside the target, fsyncs it and renames it
over the target; loading reads each tensor straight into its final buffer (one copy of the data).
"""

import hashlib
import io
import json
import math
import mmap as _mmap
import os
import pickle
import struct
import sys
import tempfile

import numpy as np

from . import _object_graph
from ._safe_globals import add_safe_globals, clear_safe_globals, get_safe_globals, safe_globals

__all__ = ["CheckpointError", "save", "load", "add_safe_globals", "clear_safe_globals", "get_safe_globals",
           "safe_globals", "get_unsafe_globals_in_checkpoint"]

_FORMAT = "lamina-2"  # lamina-1 (plain containers only) files are still read
_FORMATS_READ = ("lamina-1", _FORMAT)
_MAX_HEADER = 100 * 1024 * 1024  # the safetensors package's limit as well
_MAX_DIMS = 25  # kMaxDims in cpp/lamina/core/shape.h (not exposed to Python)
_INT64_MAX = 2 ** 63 - 1
_CHUNK = 64 * 1024 * 1024  # read and hash in pieces that stay in cache
_MAP_CHUNK = 8 * 1024 * 1024  # mmap=True hashes in pieces whose pages are dropped right after
_DTYPES = {  # safetensors name -> little-endian numpy dtype; lamina tensors use the first five
    "F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "I64": np.dtype("<i8"), "I32": np.dtype("<i4"),
    "BOOL": np.dtype("bool"), "F16": np.dtype("<f2"), "I16": np.dtype("<i2"), "I8": np.dtype("i1"),
    "U64": np.dtype("<u8"), "U32": np.dtype("<u4"), "U16": np.dtype("<u2"), "U8": np.dtype("u1"),
}
_LAMINA_ONLY = ("F64", "F32", "I64", "I32", "BOOL")  # what a plain safetensors file may hold
_UMASK = os.umask(0o022)
os.umask(_UMASK)


class CheckpointError(ValueError, pickle.UnpicklingError):
    """A file `lamina.load` refuses: not a valid lamina/safetensors file, corrupted, or (with
    weights_only=True) naming a class or function that is not allowlisted. It is a ValueError and,
    as PyTorch's weights_only failures are, a pickle.UnpicklingError."""


# ---- save --------------------------------------------------------------------------------------

def _header_digest(header):
    """sha256 of the header's canonical JSON, leaving out the field that stores it."""
    meta = dict(header["__metadata__"])
    meta.pop("lamina.header_sha256", None)
    canonical = dict(header, __metadata__=meta)
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _build_file_header(obj):
    encoder = _object_graph.Encoder()
    try:
        structure = encoder.encode(obj)
    except RecursionError:
        raise RecursionError("lamina.save: the object is nested too deeply to save (as with pickle, "
                             "a chain of objects deeper than the recursion limit)") from None
    arrays = encoder.arrays
    header, offset, digests = {}, 0, {}
    # Wide dtypes first: every tensor then starts at an offset aligned to its item size.
    order = sorted(arrays, key=lambda k: -arrays[k].dtype.itemsize)
    for name in order:
        array = arrays[name]
        header[name] = {"dtype": _dtype_name(array), "shape": list(array.shape),
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
    return text, [arrays[name] for name in order]


def _dtype_name(array):
    for name, np_dtype in _DTYPES.items():
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
    """Saves `obj` to `f` (a path or a binary file object), as torch.save does.

    `obj` may be any object graph pickle could save: tensors and Parameters, nn.Modules
    (`save(model)`), optimizers, numpy arrays, scalars and dtypes, dicts/lists/tuples/sets,
    numbers, strings, bytes, dataclasses and other classes (through __reduce_ex__, __getstate__,
    __setstate__). Classes and functions are saved by name, so lambdas and local classes cannot be.
    An object referenced twice is saved once and comes back as one object, cycles included.
    Tensors that share memory (views of one tensor) are saved once and come back sharing memory.
    Tensors and numeric arrays are stored as safetensors tensors, named by their path in `obj`
    ("model.fc.weight"; a module's parameters and buffers by their state_dict names). A path is
    written atomically: a crash leaves any old file there intact.
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

def load(f, map_location=None, *, weights_only=True, mmap=None):
    """Loads what `save` wrote (or any safetensors file: then a dict of name -> tensor).

    Args:
        f: a path or a binary file object (read from its current position).
        map_location: None or "cpu" (tensors load on the CPU).
        mmap: True maps the file instead of reading it (PyTorch's keyword): tensors and numpy
            arrays are backed by a private copy-on-write mapping (MAP_PRIVATE), so pages are read
            from the file as they are touched, and writing to a tensor copies its page and never
            changes the file. The mapping lives until the last tensor over it dies, so closing
            the file (or deleting it) is fine. Checksums are still verified: the data is hashed
            in pieces whose pages are dropped right after, so loading costs no resident memory
            for the tensors until they are used. Needs a path or a file object backed by a file.
        weights_only: True (the default, as in PyTorch 2.6+): rebuild only tensors, Parameters,
            numpy values, plain containers and numbers, lamina's own nn.Module and optim.Optimizer
            classes (from saved state, never by calling them), and the classes and functions
            allowlisted with `lamina.serialization.add_safe_globals` / `safe_globals`. Anything else
            raises CheckpointError naming it and how to allowlist it; nothing is imported or called
            that the allowlist does not name. As with torch.load, a whole model whose class is
            user-defined loads only once that class is allowlisted.
            False: import and call whatever the file names. Only for files you trust completely:
            a crafted file can then run arbitrary code, exactly like pickle.

    Raises `CheckpointError` (a ValueError and pickle.UnpicklingError) naming the problem and the
    byte offset for a pickle, a truncated file, a bad header or a checksum mismatch.
    """
    if map_location is not None and str(map_location) != "cpu":
        raise ValueError(f"lamina.load: map_location {map_location!r} not supported (only 'cpu')")
    if not isinstance(weights_only, bool):
        raise TypeError(f"lamina.load: weights_only must be True or False, got {weights_only!r}")
    if mmap is not None and not isinstance(mmap, bool):
        raise TypeError(f"lamina.load: mmap must be True, False or None, got {mmap!r}")
    with _Source(f) as source:
        return _Reader(source, source.map() if mmap else None).read(weights_only)


def get_unsafe_globals_in_checkpoint(f):
    """The "module.qualname" names in a lamina checkpoint that `load(weights_only=True)` would refuse
    with the current allowlist (PyTorch's function of that name). Reads only the header."""
    with _Source(f) as source:
        reader = _Reader(source)
        header, start = reader.header()
        entries = reader.check_header(header, start)
        meta = header.get("__metadata__") or {}
        if any(key.startswith("lamina.") for key in meta):
            reader.verify_header(header, meta, entries, start)
        if "lamina.structure" not in meta:
            return []
        return _object_graph.unlisted_globals(reader.structure(meta))


class _Source:
    """A checkpoint read front to back: a path, or a file object from its current position."""

    def __init__(self, f):
        self.close_after = False
        self.start = 0  # file offset of the checkpoint; None when the data is not in a file
        if hasattr(f, "read"):
            self.name = str(getattr(f, "name", "<file object>"))
            seekable = getattr(f, "seekable", lambda: False)
            if seekable():
                here = f.tell()
                self.size = f.seek(0, io.SEEK_END) - here
                f.seek(here)
                self.f, self.start = f, here
            else:  # a pipe or socket: its size is unknown, so read it whole
                data = f.read()
                self.f, self.size, self.start = io.BytesIO(data), len(data), None
        else:
            self.name = os.fspath(f)
            self.f = open(self.name, "rb", buffering=0)  # readinto() fills tensors with no buffer copy
            self.close_after = True
            self.size = os.fstat(self.f.fileno()).st_size

    def map(self):
        """(a private copy-on-write mapping of the whole file, the checkpoint's offset in it), or
        None for a file too short to hold a header (reading it then reports what is wrong)."""
        try:
            fileno = self.f.fileno() if self.start is not None else None
        except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError
            fileno = None
        if fileno is None:
            raise ValueError(f"lamina.load: mmap=True needs a file path or a file object backed by a file "
                             f"(got {type(self.f).__name__ if self.start is not None else 'a stream'})")
        if self.size < 8:
            return None
        return _mmap.mmap(fileno, 0, access=_mmap.ACCESS_COPY), self.start

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.close_after:
            self.f.close()

    def read(self, n):
        out = bytearray(n)
        return bytes(out[:self.readinto(memoryview(out))])

    def readinto(self, view):
        """Fills `view` (a byte memoryview); returns how many bytes there were."""
        done = 0
        readinto = getattr(self.f, "readinto", None)
        while done < len(view):
            if readinto is not None:
                n = readinto(view[done:])
            else:
                chunk = self.f.read(len(view) - done)
                n = len(chunk)
                view[done:done + n] = chunk
            if not n:
                break
            done += n
        return done


class _Reader:
    def __init__(self, source, mapping=None):
        self.source = source
        self.name = source.name
        self.mapping = mapping  # (mmap, file offset of the checkpoint) for load(mmap=True)

    def fail(self, message):
        raise CheckpointError(f"lamina.load: {self.name}: {message}")

    def read(self, weights_only):
        header, start = self.header()
        entries = self.check_header(header, start)
        meta = header.get("__metadata__") or {}
        digests = None
        if any(key.startswith("lamina.") for key in meta):
            digests = self.verify_header(header, meta, entries, start)
        structure = None
        if "lamina.structure" in meta:
            # Parsed and checked against the allowlist before any tensor data is read.
            structure = self.structure(meta)
            refused = _object_graph.unlisted_globals(structure) if weights_only else []
            if refused:
                self.fail(_object_graph.refusal_of(refused))
        else:
            for name, entry in entries.items():
                if entry["dtype"] not in _LAMINA_ONLY:
                    self.fail(f"tensor {name!r}: unsupported dtype {entry['dtype']!r} (lamina reads "
                              f"{', '.join(_LAMINA_ONLY)})")
        if self.mapping is not None:
            arrays = self._map_data(entries, start, digests)
        else:
            arrays = self._read_data(entries, start, digests)
        decoder = _object_graph.Decoder(arrays, weights_only, self.fail)
        if "lamina.structure" not in meta:
            return {name: decoder.entry_tensor(name) for name in entries}  # a plain safetensors file
        try:
            return decoder.decode(structure)
        except RecursionError:  # only when load itself is called very deep in the stack
            pass
        self.fail("__metadata__ 'lamina.structure' is nested too deeply for the Python stack here")

    def structure(self, meta):
        try:
            return json.loads(meta["lamina.structure"])
        except RecursionError:
            self.fail("__metadata__ 'lamina.structure' is nested too deeply")
        except ValueError as e:
            self.fail(f"__metadata__ 'lamina.structure' is not valid JSON ({e})")

    def header(self):
        size = self.source.size
        head = self.source.read(min(size, 8))
        n = struct.unpack("<Q", head)[0] if size >= 8 else None
        if n is None or n > _MAX_HEADER or 8 + n > size:
            # Only an impossible header length is worth a guess at what the file really is.
            head += self.source.read(min(size - len(head), 8))
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
        raw = self.source.read(n)
        if len(raw) != n:
            self.fail(f"truncated while reading: the header ends at offset {8 + len(raw)}")
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

    def check_header(self, header, start):
        """Validates everything in the parsed header that the rest of `load` relies on, so that a
        crafted header fails here with a CheckpointError rather than deeper down (in numpy, in the
        C++ core, or as a TypeError on an unhashable value). Returns {name: entry} of the tensors,
        whose data offsets are checked to tile the data section (from file offset `start`) exactly:
        no tensor is allocated for bytes the file does not have."""
        size = self.source.size
        data_len = size - start
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
            itemsize = _DTYPES[dtype].itemsize
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
                          f"has {size} bytes")
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

    def verify_header(self, header, meta, entries, start):
        """Checks the format and the header checksum; returns the tensors' sha256 digests."""
        if meta.get("lamina.format") not in _FORMATS_READ:
            self.fail(f"unknown lamina format {meta.get('lamina.format')!r} (expected {_FORMAT!r})")
        if meta.get("lamina.header_sha256") != _header_digest(header):
            self.fail(f"header checksum mismatch: the header (file offsets 8 to {start}) is corrupted")
        try:
            digests = json.loads(meta.get("lamina.sha256", ""))
        except (ValueError, RecursionError):
            self.fail("__metadata__ 'lamina.sha256' is missing or not valid JSON")
        if not isinstance(digests, dict) or set(digests) != set(entries):
            self.fail("__metadata__ 'lamina.sha256' does not list exactly the stored tensors")
        return digests

    def _read_data(self, entries, start, digests):
        """Reads every tensor, in file order, straight into a new array of its own (the only copy
        of the data load makes), checking its sha256 on the way. Returns {name: (array, dtype)}."""
        arrays = {}
        for name, entry in sorted(entries.items(), key=lambda kv: kv[1]["data_offsets"][0]):
            dtype, (begin, end) = entry["dtype"], entry["data_offsets"]
            # bool is read as bytes: see _normalise_bool.
            np_dtype = np.dtype(np.uint8) if dtype == "BOOL" else _DTYPES[dtype].newbyteorder("=")
            array = np.empty(entry["shape"], dtype=np_dtype)
            view = memoryview(array.reshape(-1).view(np.uint8)) if array.size else memoryview(b"")
            digest = hashlib.sha256()
            for at in range(0, end - begin, _CHUNK):
                piece = view[at:at + _CHUNK]
                got = self.source.readinto(piece)
                if got != len(piece):
                    self.fail(f"truncated while reading: tensor {name!r} stops at file offset "
                              f"{start + begin + at + got}")
                digest.update(piece)
            if digests is not None and digest.hexdigest() != digests[name]:
                self.fail(f"checksum mismatch in tensor {name!r} (file offsets {start + begin} to "
                          f"{start + end}): the data is corrupted")
            if sys.byteorder == "big" and np_dtype.itemsize > 1:
                array.byteswap(inplace=True)
            arrays[name] = (_normalise_bool(array) if dtype == "BOOL" else array, dtype)
        return arrays


    def _map_data(self, entries, start, digests):
        """Like _read_data, but each array is a view of the private mapping (a copy only where the
        data is misaligned for its dtype). Pages are dropped from this process as soon as they are
        hashed; they are clean, so a later access reads them again from the file (page cache)."""
        mm, base = self.mapping
        buffer = memoryview(mm)
        arrays, bools = {}, []
        try:
            for name, entry in sorted(entries.items(), key=lambda kv: kv[1]["data_offsets"][0]):
                dtype, (begin, end) = entry["dtype"], entry["data_offsets"]
                np_dtype = np.dtype(np.uint8) if dtype == "BOOL" else _DTYPES[dtype].newbyteorder("=")
                at = base + start + begin
                digest = hashlib.sha256()
                for piece in range(at, at + end - begin, _MAP_CHUNK):
                    stop = min(piece + _MAP_CHUNK, at + end - begin)
                    digest.update(buffer[piece:stop])
                    _drop_pages(mm, piece, stop)
                if digests is not None and digest.hexdigest() != digests[name]:
                    self.fail(f"checksum mismatch in tensor {name!r} (file offsets {start + begin} to "
                              f"{start + end}): the data is corrupted")
                count = math.prod(entry["shape"])
                if count == 0:
                    array = np.empty(entry["shape"], dtype=np_dtype)
                else:
                    array = np.frombuffer(mm, dtype=np_dtype, count=count, offset=at).reshape(entry["shape"])
                    swap = sys.byteorder == "big" and np_dtype.itemsize > 1
                    if at % np_dtype.itemsize or swap:  # lamina's kernels expect aligned native data
                        array = array.byteswap() if swap else array.copy()
                if dtype == "BOOL":
                    bools.append(name)
                arrays[name] = (array, dtype)
        finally:
            buffer.release()
        # Only after every page was dropped: normalising writes (copies) the pages it changes.
        for name in bools:
            raw = arrays[name][0]
            arrays[name] = (_normalise_bool(raw) if raw.size and raw.max() > 1 else raw.view(np.bool_), "BOOL")
        return arrays


def _drop_pages(mm, start, stop):
    """Gives back the whole pages of mm[start:stop] (clean pages of a private file mapping)."""
    if not hasattr(mm, "madvise") or not hasattr(_mmap, "MADV_DONTNEED"):
        return
    page = _mmap.PAGESIZE
    first, last = -(-start // page) * page, stop // page * page
    if last > first:
        mm.madvise(_mmap.MADV_DONTNEED, first, last - first)


def _normalise_bool(raw):
    # A bool byte other than 0/1 (2, 255: written by some other tool, or corrupt) would give an
    # inconsistent lamina tensor (x and ~x both True, sum counting 255). PyTorch reads any nonzero
    # bool byte as True (c10::load<bool>; so does numpy), and the safetensors package passes the
    # bytes through unchecked, so normalise to 0/1 in place to load such files as PyTorch does.
    np.minimum(raw, 1, out=raw)
    return raw.view(np.bool_)


def _is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)
