"""lamina.save / lamina.load: round trips, the safetensors layout, atomic writes, and bad files.

Whole objects (modules, optimizers, classes, sharing) are in test_serialization_objects.py; the
weights_only allowlist and crafted files in test_serialization_security.py."""

import io
import json
import os
import pickle
import struct
import threading

import numpy as np
import pytest

import lamina
from lamina import serialization
from lamina.serialization import CheckpointError


def _state():
    return {
        "model": {"fc.weight": lamina.randn(4, 3), "fc.bias": lamina.zeros(4),
                  "bn.num_batches_tracked": lamina.tensor(7), "mask": lamina.tensor([True, False])},
        "optimizer": {
            "state": {0: {"step": 3, "exp_avg": lamina.randn(4, 3, dtype=lamina.float64)},
                      1: {"step": 3, "momentum_buffer": None}},
            "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "params": [0, 1],
                              "amsgrad": False, "name": "main", "nan": float("nan"),
                              "inf": float("-inf")}],
        },
        "epoch": 12, "ints": lamina.arange(5, dtype=lamina.int32), "empty": lamina.zeros(0, 3),
        "scalar": lamina.tensor(2.5), "keys": {1.5: "float key", None: "none key", True: "bool key"},
    }


def _assert_same(a, b):
    assert type(a) is type(b), (a, b)
    if isinstance(a, lamina.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            _assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _assert_same(x, y)
    elif isinstance(a, float) and np.isnan(a):
        assert np.isnan(b)
    else:
        assert a == b


def test_round_trip_nested_state(tmp_path):
    state = _state()
    path = tmp_path / "ckpt.safetensors"
    lamina.save(state, path)
    _assert_same(state, lamina.load(path))
    lamina.save(state, str(path))  # str paths too, overwriting
    _assert_same(state, lamina.load(str(path)))


def test_round_trip_file_objects_and_plain_values(tmp_path):
    buffer = io.BytesIO()
    lamina.save([lamina.ones(2), 3, "x"], buffer)
    buffer.seek(0)
    _assert_same([lamina.ones(2), 3, "x"], lamina.load(buffer))
    buffer = io.BytesIO()
    lamina.save({"np": np.float32(0.5), "n": np.int64(3)}, buffer)
    back = lamina.load(io.BytesIO(buffer.getvalue()))
    assert back == {"np": 0.5, "n": 3}  # numpy scalars come back as numpy scalars, as with torch.load
    assert type(back["np"]) is np.float32 and type(back["n"]) is np.int64
    for obj in [lamina.arange(6.0).reshape(2, 3), 5, None, "text", (1, [2.0, {"a": None}])]:
        lamina.save(obj, tmp_path / "x.safetensors")
        _assert_same(obj, lamina.load(tmp_path / "x.safetensors"))


def test_non_contiguous_views_and_grad(tmp_path):
    base = lamina.arange(24.0).reshape(4, 6)
    view = base.t()[1:5:2]
    w = lamina.randn(3, 3, requires_grad=True)
    lamina.save({"view": view, "w": w, "w2": w * 2}, tmp_path / "v.safetensors")
    out = lamina.load(tmp_path / "v.safetensors")
    np.testing.assert_array_equal(out["view"].numpy(), view.numpy())
    assert out["view"].is_contiguous()  # a lone view is saved as a copy of its own elements
    # requires_grad is kept, as torch.load keeps it; a non-leaf comes back as a leaf (no graph).
    assert out["w"].requires_grad and out["w"].is_leaf and out["w"].grad_fn is None
    assert out["w2"].requires_grad and out["w2"].is_leaf and not out["view"].requires_grad
    np.testing.assert_array_equal(out["w2"].detach().numpy(), (w * 2).detach().numpy())


def test_layout_is_safetensors(tmp_path):
    path = tmp_path / "m.safetensors"
    c = lamina.tensor([1, 2], dtype=lamina.int32)
    lamina.save({"a.weight": lamina.ones(2, 2), "b": lamina.arange(3), "c": c}, path)
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    assert (8 + n) % 8 == 0
    header = json.loads(raw[8:8 + n])
    assert header["a.weight"]["dtype"] == "F32" and header["a.weight"]["shape"] == [2, 2]
    assert set(header["a.weight"]) == {"dtype", "shape", "data_offsets"}
    assert header["b"]["dtype"] == "I64" and header["c"]["dtype"] == "I32"
    assert all(isinstance(v, str) for v in header["__metadata__"].values())
    begin, end = header["b"]["data_offsets"]
    assert np.frombuffer(raw[8 + n + begin:8 + n + end], "<i8").tolist() == [0, 1, 2]
    assert len(raw) == 8 + n + max(e["data_offsets"][1] for k, e in header.items() if k != "__metadata__")


def test_readable_by_safetensors_package(tmp_path):
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    state = {"w": lamina.randn(3, 2), "step": lamina.tensor(4), "flag": lamina.tensor([True])}
    lamina.save(state, tmp_path / "s.safetensors")
    loaded = safetensors_numpy.load_file(str(tmp_path / "s.safetensors"))
    assert set(loaded) == {"w", "step", "flag"}
    np.testing.assert_array_equal(loaded["w"], state["w"].numpy())
    # ...and lamina reads files the safetensors package wrote (a flat dict, no checksum).
    safetensors_numpy.save_file({"x": np.arange(4, dtype=np.float64), "y": np.ones((2, 2), np.int32)},
                                str(tmp_path / "t.safetensors"))
    back = lamina.load(tmp_path / "t.safetensors")
    assert back["x"].dtype == lamina.float64 and back["x"].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert back["y"].dtype == lamina.int32


def test_crash_mid_write_keeps_old_file(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.safetensors"
    lamina.save({"w": lamina.ones(3)}, path)
    before = path.read_bytes()
    real_write = serialization._write_payload

    def crash(f, header, arrays):
        f.write(struct.pack("<Q", len(header)))
        f.write(header[: len(header) // 2])
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(serialization, "_write_payload", crash)
    with pytest.raises(OSError, match="simulated"):
        lamina.save({"w": lamina.zeros(1000)}, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["ckpt.safetensors"]  # no temp file left behind
    monkeypatch.setattr(serialization, "_write_payload", real_write)

    def fail_replace(src, dst):
        raise OSError("power cut before rename (simulated)")

    monkeypatch.setattr(serialization.os, "replace", fail_replace)
    with pytest.raises(OSError, match="power cut"):
        lamina.save({"w": lamina.zeros(2)}, path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["ckpt.safetensors"]


def test_save_unsupported_values():
    # What pickle cannot save either: lambdas, local classes, locks, generators, modules.
    with pytest.raises(TypeError, match="lamina.save: cannot save <function .*<lambda>.* at key 'a.b': .*"
                                        "not a module-level name"):
        lamina.save({"a": {"b": lambda x: x}}, io.BytesIO())

    def local():
        class Local:
            pass
        return Local()

    with pytest.raises(TypeError, match="cannot save <class '.*<locals>.Local'> at key 'x.0'"):
        lamina.save({"x": [local()]}, io.BytesIO())
    with pytest.raises(TypeError, match="cannot save _thread.lock at key 'lock': TypeError: cannot pickle"):
        lamina.save({"lock": threading.Lock()}, io.BytesIO())
    with pytest.raises(TypeError, match="cannot save builtins.generator at the top level"):
        lamina.save((i for i in range(3)), io.BytesIO())
    with pytest.raises(TypeError, match="cannot save builtins.module at key 'os'"):
        lamina.save({"os": os}, io.BytesIO())


# ---- bad files ---------------------------------------------------------------------------------

def _saved(tmp_path):
    path = tmp_path / "good.safetensors"
    lamina.save({"w": lamina.arange(8.0), "b": lamina.arange(4)}, path)
    return path, bytearray(path.read_bytes())


def _header(raw):
    (n,) = struct.unpack("<Q", raw[:8])
    return n, json.loads(raw[8:8 + n])


def _with_header(raw, header):
    n, _ = _header(raw)
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + bytes(raw[8 + n:])


def _load_bytes(tmp_path, data):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(bytes(data))
    return lamina.load(path)


def test_pickle_refused(tmp_path):
    path = tmp_path / "model.pt"
    path.write_bytes(pickle.dumps({"w": [1, 2, 3]}))
    with pytest.raises(CheckpointError, match="a pickle.*never unpickles"):
        lamina.load(path)
    with pytest.raises(ValueError, match="zip archive"):
        _load_bytes(tmp_path, b"PK\x03\x04" + bytes(40))


def test_truncated_files(tmp_path):
    _, raw = _saved(tmp_path)
    with pytest.raises(CheckpointError, match="truncated: 5 bytes.*offset 0"):
        _load_bytes(tmp_path, raw[:5])
    n, _ = _header(raw)
    with pytest.raises(CheckpointError, match="truncated: header length at offset 0 says"):
        _load_bytes(tmp_path, raw[:8 + n // 2])
    with pytest.raises(CheckpointError, match="truncated: tensor '.*' ends at file offset"):
        _load_bytes(tmp_path, raw[:-3])


def test_bad_header_length_and_json(tmp_path):
    _, raw = _saved(tmp_path)
    huge = struct.pack("<Q", 2 ** 40) + raw[8:]
    with pytest.raises(CheckpointError, match="bad header length 1099511627776 at offset 0"):
        _load_bytes(tmp_path, huge)
    broken = bytearray(raw)
    broken[8] = ord("[")
    with pytest.raises(CheckpointError, match="not valid JSON at offset \\d+"):
        _load_bytes(tmp_path, broken)
    not_object = struct.pack("<Q", 2) + b"[]"
    with pytest.raises(CheckpointError, match="not a JSON object"):
        _load_bytes(tmp_path, not_object)


def test_offsets_out_of_range_overlapping_and_gaps(tmp_path):
    _, raw = _saved(tmp_path)
    _, header = _header(raw)
    bad = json.loads(json.dumps(header))
    assert header["b"]["data_offsets"] == [0, 32] and header["w"]["data_offsets"] == [32, 64]
    bad["w"]["data_offsets"] = [16, 48]
    with pytest.raises(CheckpointError, match="overlap at file offset"):
        _load_bytes(tmp_path, _with_header(raw, bad))
    bad = json.loads(json.dumps(header))
    bad["w"]["data_offsets"] = [1000, 1032]
    with pytest.raises(CheckpointError, match="ends at file offset"):
        _load_bytes(tmp_path, _with_header(raw, bad))
    bad = json.loads(json.dumps(header))
    bad["w"]["shape"] = [9]
    with pytest.raises(CheckpointError, match="hold 32 bytes but shape \\(9,\\) of F32 needs 36"):
        _load_bytes(tmp_path, _with_header(raw, bad))
    bad = json.loads(json.dumps(header))
    bad["w"]["dtype"] = "BF16"
    with pytest.raises(CheckpointError, match="unsupported dtype 'BF16'"):
        _load_bytes(tmp_path, _with_header(raw, bad))
    with pytest.raises(CheckpointError, match="unexpected bytes after the tensor data"):
        _load_bytes(tmp_path, raw + b"\0" * 8)


def test_every_flipped_byte_is_detected(tmp_path):
    _, raw = _saved(tmp_path)
    n, _ = _header(raw)
    for offset in range(len(raw)):
        flipped = bytearray(raw)
        flipped[offset] ^= 0x04
        with pytest.raises(CheckpointError):
            _load_bytes(tmp_path, flipped)
    data = bytearray(raw)
    data[8 + n + 3] ^= 0x01  # inside the first tensor's bytes
    with pytest.raises(CheckpointError, match="checksum mismatch in tensor '.*' \\(file offsets"):
        _load_bytes(tmp_path, data)


def test_duplicate_header_key(tmp_path):
    _, raw = _saved(tmp_path)
    n, _ = _header(raw)
    text = raw[8:8 + n].decode().replace('"w":', '"b":', 1)
    with pytest.raises(CheckpointError, match="key 'b' twice"):
        _load_bytes(tmp_path, struct.pack("<Q", n) + text.encode() + raw[8 + n:])


def test_file_mode_follows_umask(tmp_path):
    path = tmp_path / "m.safetensors"
    lamina.save({"w": lamina.ones(1)}, path)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~serialization._UMASK


def test_structure_cannot_smuggle_objects(tmp_path):
    _, raw = _saved(tmp_path)
    _, header = _header(raw)
    header["__metadata__"]["lamina.structure"] = json.dumps({"t": "object", "v": "os.system"})
    header["__metadata__"]["lamina.header_sha256"] = serialization._header_digest(header)
    with pytest.raises(CheckpointError, match="unexpected node"):
        _load_bytes(tmp_path, _with_header(raw, header))


# ---- crafted headers: every problem is a CheckpointError, never an error from deeper code ------

def _file(header, data=b""):
    """A safetensors file made by hand: 8-byte little-endian header length, header, data."""
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + bytes(data)


def _x(**changes):
    """A header with one tensor 'x' (F32, 2 elements, 8 bytes), with `changes` to its entry."""
    return {"x": dict({"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, **changes)}


_BIG = 2 ** 62
_BAD_FILES = {
    # shapes: too large (even when empty), too many dims, negative or non-integer dims
    "zero_in_huge_shape": (_x(shape=[_BIG, _BIG, 0], data_offsets=[0, 0]), b"",
                           r"'x': shape \(4611686018427387904, 4611686018427387904, 0\) of F32 is too large"),
    "zero_first_in_huge_shape": (_x(shape=[0, _BIG, _BIG], data_offsets=[0, 0]), b"", "'x'.*too large"),
    "dim_beyond_int64": (_x(shape=[2 ** 64, 0], data_offsets=[0, 0]), b"", "'x'.*too large"),
    "dims_overflow_int64": (_x(shape=[2 ** 32, 2 ** 32], data_offsets=[0, 2 ** 66]), b"", "'x'.*too large"),
    "bytes_overflow_int64": (_x(dtype="F64", shape=[2 ** 61], data_offsets=[0, 2 ** 64]), b"",
                             "'x'.*too large"),
    "26_dims": (_x(shape=[1] * 26, data_offsets=[0, 4]), bytes(4), "'x': shape has 26 dims; .* at most 25"),
    "65_dims": (_x(shape=[1] * 65, data_offsets=[0, 4]), bytes(4), "'x': shape has 65 dims"),
    "100k_dims": (_x(shape=[0] * 100_000, data_offsets=[0, 0]), b"", "'x': shape has 100000 dims"),
    "negative_dim": (_x(shape=[-2]), bytes(8), r"'x': bad shape \[-2\]"),
    "negative_dims_with_right_size": (_x(shape=[-1, -2]), bytes(8), r"'x': bad shape \[-1, -2\]"),
    "float_dim": (_x(shape=[2.0]), bytes(8), "'x': bad shape"),
    "nan_dim": (_x(shape=[float("nan")]), bytes(8), "'x': bad shape"),
    "string_dim": (_x(shape=["2"]), bytes(8), "'x': bad shape"),
    "bool_dims": (_x(shape=[True, True], data_offsets=[0, 4]), bytes(4), "'x': bad shape"),
    "null_dim": (_x(shape=[None]), bytes(8), "'x': bad shape"),
    "list_dim": (_x(shape=[[2]]), bytes(8), "'x': bad shape"),
    "shape_string": (_x(shape="2"), bytes(8), "'x': bad shape"),
    "shape_dict": (_x(shape={"0": 2}), bytes(8), "'x': bad shape"),
    "shape_int": (_x(shape=2), bytes(8), "'x': bad shape"),
    # data_offsets: wrong type, inconsistent with the shape, beyond the file, overlapping, gaps
    "offsets_vs_shape": (_x(data_offsets=[0, 4]), bytes(4), r"'x': data_offsets \[0, 4\] hold 4 bytes but "
                                                           r"shape \(2,\) of F32 needs 8"),
    "offsets_vs_empty_shape": (_x(shape=[2, 0]), bytes(8), "'x': data_offsets .* needs 0"),
    "offsets_beyond_file": (_x(data_offsets=[2 ** 70, 2 ** 70 + 8]), bytes(8),
                            "truncated: tensor 'x' ends at file offset"),
    "data_shorter_than_offsets": (_x(), bytes(4), "truncated: tensor 'x' ends at file offset"),
    "offsets_reversed": (_x(data_offsets=[8, 0]), bytes(8), "'x': bad data_offsets"),
    "offsets_negative": (_x(data_offsets=[-8, 0]), bytes(8), "'x': bad data_offsets"),
    "offsets_float": (_x(data_offsets=[0.0, 8.0]), bytes(8), "'x': bad data_offsets"),
    "offsets_bool": (_x(shape=[0], data_offsets=[False, False]), b"", "'x': bad data_offsets"),
    "offsets_three": (_x(data_offsets=[0, 8, 8]), bytes(8), "'x': bad data_offsets"),
    "offsets_string": (_x(data_offsets="0-8"), bytes(8), "'x': bad data_offsets"),
    "offsets_dict": (_x(data_offsets={"0": 0}), bytes(8), "'x': bad data_offsets"),
    "offsets_null": (_x(data_offsets=None), bytes(8), "'x': bad data_offsets"),
    "overlap": ({**_x(), "y": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, bytes(12),
                "tensors 'x' and 'y' overlap"),
    "empty_tensor_inside_another": ({**_x(), "y": {"dtype": "F32", "shape": [0], "data_offsets": [4, 4]}},
                                    bytes(8), "tensors 'x' and 'y' overlap"),
    "gap": ({**_x(), "y": {"dtype": "F32", "shape": [2], "data_offsets": [12, 20]}}, bytes(20),
            "gap of 4 unused bytes"),
    "trailing_bytes": (_x(), bytes(9), "1 unexpected bytes after the tensor data"),
    # dtypes: unknown names and values that are not strings (a list or dict is unhashable)
    "dtype_F16": (_x(dtype="F16", data_offsets=[0, 4]), bytes(4), "'x': unsupported dtype 'F16'"),
    "dtype_lowercase": (_x(dtype="f32"), bytes(8), "'x': unsupported dtype 'f32'"),
    "dtype_empty": (_x(dtype=""), bytes(8), "'x': unsupported dtype ''"),
    "dtype_list": (_x(dtype=["F32"]), bytes(8), r"'x': unsupported dtype \['F32'\]"),
    "dtype_dict": (_x(dtype={"F32": 1}), bytes(8), "'x': unsupported dtype {'F32': 1}"),
    "dtype_null": (_x(dtype=None), bytes(8), "'x': unsupported dtype None"),
    "dtype_int": (_x(dtype=4), bytes(8), "'x': unsupported dtype 4"),
    # tensor entries and __metadata__ of the wrong shape or type
    "entry_list": ({"x": ["F32", [2], [0, 8]]}, bytes(8), "'x': header entry must have exactly"),
    "entry_string": ({"x": "F32"}, bytes(8), "'x': header entry must have exactly"),
    "entry_missing_key": ({"x": {"dtype": "F32", "shape": [2]}}, bytes(8), "'x': header entry"),
    "entry_extra_key": (_x(offsets=[0, 8]), bytes(8), "'x': header entry"),
    "metadata_list": ({"__metadata__": ["format", "pt"]}, b"", "__metadata__ must map strings to strings"),
    "metadata_string": ({"__metadata__": "pt"}, b"", "__metadata__ must map strings to strings"),
    "metadata_list_value": ({"__metadata__": {"format": ["pt"]}}, b"", "__metadata__ must map strings"),
    "metadata_dict_value": ({"__metadata__": {"format": {"pt": 1}}}, b"", "__metadata__ must map strings"),
    "metadata_int_value": ({"__metadata__": {"format": 1}}, b"", "__metadata__ must map strings"),
    # the header itself: not a JSON object, not UTF-8, not JSON, unreadable numbers, too deep
    "header_list": (b"[]", b"", r"header \(offset 8\) is not a JSON object"),
    "header_string": (b'"x"', b"", "not a JSON object"),
    "header_number": (b"1", b"", "not a JSON object"),
    "header_null": (b"null", b"", "not a JSON object"),
    "header_not_utf8": (b'{"\xff": 1}', b"", "header is not UTF-8 at offset 10"),
    "header_not_json": (b'{"x": }', b"", "header is not valid JSON at offset 14"),
    "header_bom": (b"\xef\xbb\xbf{}", b"", "header is not valid JSON"),
    "header_5000_digit_int": (b'{"x": {"dtype": "F32", "shape": [' + b"9" * 5000 + b'], "data_offsets": [0, 8]}}',
                              bytes(8), "header JSON has an unreadable value"),
    "header_inf_dim": (b'{"x": {"dtype": "F32", "shape": [1e400], "data_offsets": [0, 8]}}', bytes(8),
                       "'x': bad shape"),
    "header_nested_deeply": (b"[" * 100_000, b"", "nested too deeply"),
}


@pytest.mark.parametrize("case", list(_BAD_FILES))
def test_crafted_header_is_a_checkpoint_error(tmp_path, case):
    header, data, match = _BAD_FILES[case]
    path = tmp_path / "crafted.safetensors"
    path.write_bytes(_file(header, data))
    with pytest.raises(CheckpointError, match=match) as info:
        lamina.load(path)
    assert str(info.value).startswith(f"lamina.load: {path}: ")
    assert isinstance(info.value, ValueError)


def test_header_length_beyond_the_file(tmp_path):
    for n in [3, 100, 2 ** 20, 2 ** 64 - 1]:
        with pytest.raises(CheckpointError, match=f"(truncated: header length at offset 0 says {n} bytes"
                                                  f"|bad header length {n})"):
            _load_bytes(tmp_path, struct.pack("<Q", n) + b"{}")
    with pytest.raises(CheckpointError, match="truncated: 0 bytes"):
        _load_bytes(tmp_path, b"")


def _signed(tmp_path, **meta):
    """A file `save` wrote (tensors 'w' and 'b'), its __metadata__ changed and the header re-signed,
    so that load gets past the header checksum to the crafted values."""
    _, raw = _saved(tmp_path)
    _, header = _header(raw)
    header["__metadata__"].update(meta)
    header["__metadata__"]["lamina.header_sha256"] = serialization._header_digest(header)
    return _with_header(raw, header)


@pytest.mark.parametrize("structure, match", [
    ({"t": "tensor", "k": ["w"]}, r"refers to a missing tensor \['w'\]"),
    ({"t": "tensor", "k": {"w": 1}}, "refers to a missing tensor {'w': 1}"),
    ({"t": "tensor", "k": 3}, "refers to a missing tensor 3"),
    ({"t": ["tensor"], "k": "w"}, "unexpected node"),
    ({"t": {"tensor": 1}}, "unexpected node"),
    ({"t": "dict", "v": [[["a"], 1]]}, "unexpected value"),
    ({"t": "dict", "v": [[{"t": "list", "v": [1]}, 1]]}, "dict key of type list is unhashable"),
    ({"t": "dict", "v": [[{"t": "dict", "v": []}, 1]]}, "dict key of type dict is unhashable"),
    ({"t": "set", "v": [{"t": "set", "v": []}]}, "set item of type set is unhashable"),
    ({"t": "dict", "v": [[{"t": "tensor", "k": ["w"]}, 1]]}, "missing tensor"),
    ({"t": "dict", "v": {"a": 1}}, "bad 'dict' node at the top level: 'v' must be a list of"),
    ([1, 2], "unexpected value"),
])
def test_crafted_structure_is_a_checkpoint_error(tmp_path, structure, match):
    data = _signed(tmp_path, **{"lamina.structure": json.dumps(structure)})
    with pytest.raises(CheckpointError, match="'lamina.structure' .*" + match):
        _load_bytes(tmp_path, data)


@pytest.mark.parametrize("meta, match", [
    ({"lamina.structure": "[" * 100_000}, "'lamina.structure' is nested too deeply"),
    ({"lamina.structure": "9" * 5000}, "'lamina.structure' is not valid JSON"),
    ({"lamina.sha256": "[" * 100_000}, "'lamina.sha256' is missing or not valid JSON"),
    ({"lamina.sha256": "9" * 5000}, "'lamina.sha256' is missing or not valid JSON"),
    ({"lamina.sha256": '["w", "b"]'}, "'lamina.sha256' does not list exactly the stored tensors"),
    ({"lamina.sha256": '{"w": ["x"], "b": {"y": 1}}'}, "checksum mismatch in tensor"),
    ({"lamina.format": "lamina-0"}, "unknown lamina format 'lamina-0'"),
])
def test_crafted_lamina_metadata_is_a_checkpoint_error(tmp_path, meta, match):
    with pytest.raises(CheckpointError, match=match):
        _load_bytes(tmp_path, _signed(tmp_path, **meta))


def test_hand_made_valid_files_load(tmp_path):
    """0-d, empty (even with huge dims), 25-dim and 0/1 bool tensors in a plain safetensors file."""
    header = {
        "__metadata__": {"format": "pt"},
        "scalar": {"dtype": "I64", "shape": [], "data_offsets": [0, 8]},
        "mask": {"dtype": "BOOL", "shape": [2, 2], "data_offsets": [8, 12]},
        "empty": {"dtype": "F32", "shape": [0], "data_offsets": [12, 12]},
        "empty3d": {"dtype": "F64", "shape": [2, 0, 3], "data_offsets": [12, 12]},
        "empty_bool": {"dtype": "BOOL", "shape": [0], "data_offsets": [12, 12]},
        "empty_wide": {"dtype": "F32", "shape": [2 ** 40, 0], "data_offsets": [12, 12]},
        "deep": {"dtype": "F32", "shape": [1] * 25, "data_offsets": [12, 16]},
    }
    data = struct.pack("<q", -7) + bytes([1, 0, 0, 1]) + struct.pack("<f", 1.5)
    out = _load_bytes(tmp_path, _file(header, data))
    assert out["scalar"].dtype == lamina.int64 and out["scalar"].shape == () and out["scalar"].item() == -7
    assert out["mask"].dtype == lamina.bool and out["mask"].tolist() == [[True, False], [False, True]]
    assert out["mask"].sum().item() == 2 and (~out["mask"]).tolist() == [[False, True], [True, False]]
    assert out["empty"].shape == (0,) and out["empty"].dtype == lamina.float32
    assert out["empty3d"].shape == (2, 0, 3) and out["empty3d"].dtype == lamina.float64
    assert out["empty_bool"].shape == (0,) and out["empty_bool"].dtype == lamina.bool
    assert out["empty_wide"].shape == (2 ** 40, 0)
    assert out["deep"].shape == (1,) * 25 and out["deep"].sum().item() == 1.5


def test_bool_bytes_other_than_0_and_1_read_as_true(tmp_path):
    # As PyTorch reads them: any nonzero byte is True, and the tensor is consistent afterwards.
    header = {"m": {"dtype": "BOOL", "shape": [2, 3], "data_offsets": [0, 6]}}
    m = _load_bytes(tmp_path, _file(header, bytes([0, 1, 2, 255, 128, 0])))["m"]
    assert m.tolist() == [[False, True, True], [True, True, False]]
    assert m.sum().item() == 4 and m.int().sum().item() == 4
    assert (~m).tolist() == [[True, False, False], [False, False, True]]
    assert m.numpy().view(np.uint8).tolist() == [[0, 1, 1], [1, 1, 0]]
    assert (m == lamina.tensor([[False, True, True], [True, True, False]])).all().item()
