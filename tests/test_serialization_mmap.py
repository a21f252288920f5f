"""lamina.load(f, mmap=True): tensors over a private copy-on-write mapping of the checkpoint. The
same objects as a normal load, backed by the file's pages; writes never reach the file; the
mapping outlives the file object (and the file's name) and ends with the last tensor over it;
checksums still checked; misaligned and bool data handled; non-file sources refused."""

import gc
import io
import json
import os
import struct

import numpy as np
import pytest

import lamina
from lamina.serialization import CheckpointError


def _mapped(path):
    """(address ranges, resident bytes) of this process's mappings of `path`."""
    path = os.path.realpath(path)
    ranges, rss, current = [], 0, False
    with open("/proc/self/smaps") as f:
        for line in f:
            head = line.split()
            if "-" in head[0] and len(head) >= 5 and not head[0].endswith(":"):
                current = len(head) >= 6 and head[5] == path
                if current:
                    lo, hi = (int(x, 16) for x in head[0].split("-"))
                    ranges.append((lo, hi))
            elif current and head[0] == "Rss:":
                rss += int(head[1]) * 1024
    return ranges, rss


def _state():
    base = lamina.randn(6, 4, dtype=lamina.float64)
    return {"w": lamina.randn(300, 70), "i": lamina.arange(7, dtype=lamina.int32), "l": lamina.arange(5),
            "b": lamina.tensor([True, False, True]), "empty": lamina.zeros(0, 3), "scalar": lamina.tensor(2.5),
            "base": base, "view": base[1:, ::2], "np": np.arange(6.0).reshape(2, 3), "n": 3, "s": "text"}


def test_mmap_load_equals_normal_load_and_is_backed_by_the_file(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    state = _state()
    lamina.save(state, path)
    mapped = lamina.load(path, mmap=True)
    plain = lamina.load(path, mmap=False)
    assert mapped.keys() == plain.keys() == state.keys()
    for key, value in plain.items():
        got = mapped[key]
        assert type(got) is type(value)
        if isinstance(value, lamina.Tensor):
            assert got.dtype == value.dtype and got.shape == value.shape
            np.testing.assert_array_equal(got.numpy(), value.numpy())
        elif isinstance(value, np.ndarray):
            np.testing.assert_array_equal(got, value)
        else:
            assert got == value
    assert mapped["view"].data_ptr() - mapped["base"].data_ptr() == 4 * 8  # still a view of base
    ranges, _ = _mapped(path)
    assert ranges
    for key in ("w", "i", "l", "b", "base"):
        assert any(lo <= mapped[key].data_ptr() < hi for lo, hi in ranges), key
    assert not any(lo <= plain["w"].data_ptr() < hi for lo, hi in ranges)


def test_writes_copy_pages_and_never_reach_the_file(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    lamina.save(_state(), path)
    before = path.read_bytes()
    loaded = lamina.load(path, mmap=True)
    loaded["w"].fill_(0.0)
    loaded["b"][0] = False
    loaded["np"][0, 0] = -1.0
    assert loaded["w"].abs().sum().item() == 0.0 and loaded["np"][0, 0] == -1.0
    assert path.read_bytes() == before
    again = lamina.load(path, mmap=True)
    assert again["w"].abs().sum().item() > 0 and again["b"].tolist() == [True, False, True]


def test_mapping_outlives_the_file_and_ends_with_the_last_tensor(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    state = _state()
    lamina.save(state, path)
    gc.collect()
    with open(path, "rb") as f:
        loaded = lamina.load(f, mmap=True)
    keep = loaded["w"][10:20]  # a view keeps the mapping too
    real = os.path.realpath(path)
    os.unlink(path)  # the mapping holds the inode
    del loaded
    gc.collect()
    np.testing.assert_array_equal(keep.numpy(), state["w"][10:20].numpy())
    with open("/proc/self/maps") as maps:
        assert any(real in line for line in maps)
    del keep
    gc.collect()
    with open("/proc/self/maps") as maps:
        assert not any(real in line for line in maps)


def test_file_object_at_an_offset(tmp_path):
    path = tmp_path / "packed.bin"
    buf = io.BytesIO()
    lamina.save({"x": lamina.arange(10.0)}, buf)
    path.write_bytes(b"prefix!" + buf.getvalue())  # an odd offset: the data is misaligned, so copied
    with open(path, "rb") as f:
        f.seek(7)
        got = lamina.load(f, mmap=True)
    assert got["x"].tolist() == list(np.arange(10.0))


def _plain_safetensors(path, tensors):
    """A plain safetensors file from [(name, dtype, shape, raw bytes)], packed in that order."""
    header, data, offset = {}, b"", 0
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        data += raw
        offset += len(raw)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)


def test_misaligned_and_bool_data(tmp_path):
    path = tmp_path / "plain.safetensors"
    _plain_safetensors(path, [("flag", "BOOL", [3], bytes([0, 2, 1])),
                              ("d", "F64", [2], struct.pack("<2d", 1.5, -2.0)),  # at offset 3: misaligned
                              ("i", "I32", [1], struct.pack("<i", 7))])
    before = path.read_bytes()
    got = lamina.load(path, mmap=True)
    assert got["flag"].tolist() == [False, True, True]  # byte 2 reads as True, normalised to 1
    assert got["d"].tolist() == [1.5, -2.0] and got["i"].tolist() == [7]
    assert path.read_bytes() == before


def test_corruption_is_still_detected(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    lamina.save({"x": lamina.arange(1000.0)}, path)
    raw = bytearray(path.read_bytes())
    raw[-5] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="checksum mismatch in tensor 'x'"):
        lamina.load(path, mmap=True)


def test_sources_that_cannot_be_mapped_and_bad_arguments(tmp_path):
    buf = io.BytesIO()
    lamina.save({"x": lamina.ones(3)}, buf)
    buf.seek(0)
    with pytest.raises(ValueError, match="mmap=True needs a file path or a file object backed by a file "
                                         r"\(got BytesIO\)"):
        lamina.load(buf, mmap=True)
    buf.seek(0)
    assert lamina.load(buf, mmap=None)["x"].tolist() == [1.0] * 3
    r, w = os.pipe()
    with os.fdopen(w, "wb") as out:
        out.write(buf.getvalue())
    with os.fdopen(r, "rb") as pipe:
        with pytest.raises(ValueError, match="got a stream"):
            lamina.load(pipe, mmap=True)
    with pytest.raises(TypeError, match="mmap must be True, False or None"):
        lamina.load(tmp_path / "missing", mmap="yes")
    empty = tmp_path / "empty.safetensors"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError, match="truncated"):
        lamina.load(empty, mmap=True)


def test_loaded_pages_are_not_resident_until_used(tmp_path):
    path = tmp_path / "big.safetensors"
    lamina.save({f"t{i}": lamina.randn(2 ** 20) for i in range(16)}, path)  # 64 MiB of float32
    loaded = lamina.load(path, mmap=True)
    # Hashed and dropped: at most a partial page per tensor boundary stays resident.
    assert _mapped(path)[1] < 1 << 20
    total = sum(t.sum().item() for t in loaded.values())  # touching the data maps it in
    assert np.isfinite(total) and _mapped(path)[1] >= 60 << 20


def test_whole_module_loads_mapped(tmp_path):
    model = lamina.nn.Sequential(lamina.nn.Linear(4, 3), lamina.nn.ReLU(), lamina.nn.Linear(3, 2))
    lamina.save(model, tmp_path / "model.safetensors")
    loaded = lamina.load(tmp_path / "model.safetensors", mmap=True)
    x = lamina.randn(5, 4)
    np.testing.assert_array_equal(loaded(x).detach().numpy(), model(x).detach().numpy())
    loaded[0].weight.data.mul_(2)  # training a mapped model copies its pages, as with PyTorch
    assert not np.array_equal(loaded(x).detach().numpy(), model(x).detach().numpy())
