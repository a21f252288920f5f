"""lamina.save / lamina.load: round trips, the safetensors layout, atomic writes, and bad files."""

import io
import json
import os
import pickle
import struct

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
    assert lamina.load(io.BytesIO(buffer.getvalue())) == {"np": 0.5, "n": 3}
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
    assert out["view"].is_contiguous() and not out["w"].requires_grad
    np.testing.assert_array_equal(out["w2"].numpy(), (w * 2).detach().numpy())


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
    with pytest.raises(TypeError, match="cannot save set at key 'a.b'"):
        lamina.save({"a": {"b": {1, 2}}}, io.BytesIO())
    with pytest.raises(TypeError, match="dict key"):
        lamina.save({(1, 2): 3}, io.BytesIO())


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
    bad["w"]["dtype"] = "F16"
    with pytest.raises(CheckpointError, match="unsupported dtype 'F16'"):
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
