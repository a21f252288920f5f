"""lamina.datasets: small files in each standard format are written to tmp_path and read back."""

import gzip
import os
import pickle
import struct

import numpy as np
import pytest

import lamina
from lamina.datasets import CIFAR10, MNIST, CharDataset, FashionMNIST, digits
from lamina.utils.data import DataLoader


def _idx_bytes(array):
    codes = {np.dtype(np.uint8): 0x08, np.dtype(np.int32): 0x0C}
    header = bytes([0, 0, codes[array.dtype], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def _write(path, data, gz=False):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with (gzip.open if gz else open)(path, "wb") as f:
        f.write(data)


def _mnist_files(folder, prefix, n, gz, rng):
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    ext = ".gz" if gz else ""
    _write(os.path.join(folder, f"{prefix}-images-idx3-ubyte{ext}"), _idx_bytes(images), gz)
    _write(os.path.join(folder, f"{prefix}-labels-idx1-ubyte{ext}"), _idx_bytes(labels), gz)
    return images, labels


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_raw_and_gz(tmp_path, gz):
    rng = np.random.default_rng(0)
    images, labels = _mnist_files(str(tmp_path / "MNIST" / "raw"), "train", 5, gz, rng)
    test_images, _ = _mnist_files(str(tmp_path), "t10k", 3, gz, rng)
    ds = MNIST(tmp_path)
    assert len(ds) == 5 and ds.data.shape == (5, 1, 28, 28)
    x, y = ds[2]
    assert x.dtype == lamina.float32 and x.shape == (1, 28, 28) and y == int(labels[2])
    np.testing.assert_allclose(x.numpy()[0], images[2] / 255.0, rtol=1e-6)
    assert ds.targets.dtype == lamina.int64 and ds.targets.tolist() == labels.tolist()
    test = MNIST(tmp_path, train=False)
    np.testing.assert_allclose(test[1][0].numpy()[0], test_images[1] / 255.0, rtol=1e-6)
    xb, yb = next(iter(DataLoader(ds, batch_size=4)))
    assert xb.shape == (4, 1, 28, 28) and yb.tolist() == labels[:4].tolist()


def test_fashion_mnist_folder_and_transforms(tmp_path):
    rng = np.random.default_rng(1)
    images, labels = _mnist_files(str(tmp_path / "FashionMNIST" / "raw"), "train", 4, True, rng)
    ds = FashionMNIST(tmp_path, transform=lambda x: x * 2, target_transform=lambda y: y + 100)
    x, y = ds[0]
    np.testing.assert_allclose(x.numpy()[0], images[0] / 255.0 * 2, rtol=1e-6)
    assert y == int(labels[0]) + 100 and ds.classes[9] == "Ankle boot"


def test_mnist_missing_file_lists_paths(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        MNIST(tmp_path)
    text = str(info.value)
    assert "train-images-idx3-ubyte" in text and "never downloads" in text
    for path in [tmp_path / "train-images-idx3-ubyte", tmp_path / "train-images-idx3-ubyte.gz",
                 tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte.gz"]:
        assert str(path) in text
    with pytest.raises(ValueError, match="never downloads"):
        MNIST(tmp_path, download=True)


def test_mnist_bad_files(tmp_path):
    rng = np.random.default_rng(2)
    _mnist_files(str(tmp_path), "train", 4, False, rng)
    labels_path = tmp_path / "train-labels-idx1-ubyte"
    labels_path.write_bytes(_idx_bytes(np.zeros(3, np.uint8)))
    with pytest.raises(ValueError, match="4 images.*labels of shape \\(3,\\)"):
        MNIST(tmp_path)
    labels_path.write_bytes(_idx_bytes(np.zeros(4, np.uint8))[:-1])
    with pytest.raises(ValueError, match="truncated"):
        MNIST(tmp_path)
    labels_path.write_bytes(b"\x12\x34\x56\x78" + bytes(8))
    with pytest.raises(ValueError, match="not an IDX file.*12345678"):
        MNIST(tmp_path)


def _cifar_arrays(n, rng):
    return rng.integers(0, 256, size=(n, 3072), dtype=np.uint8), rng.integers(0, 10, size=n).tolist()


def test_cifar10_python_batches(tmp_path):
    rng = np.random.default_rng(3)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    parts = []
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data, labels = _cifar_arrays(2, rng)
        parts.append((data, labels))
        batch = {b"batch_label": b"x", b"labels": labels, b"data": data, b"filenames": [b"a", b"b"]}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    ds = CIFAR10(tmp_path)
    assert len(ds) == 10 and ds.data.shape == (10, 3, 32, 32)
    x, y = ds[7]
    assert x.shape == (3, 32, 32) and y == parts[3][1][1]
    np.testing.assert_allclose(x.numpy().reshape(-1), parts[3][0][1] / 255.0, rtol=1e-6)
    test = CIFAR10(tmp_path, train=False)
    assert len(test) == 2 and test.targets.tolist() == parts[5][1]
    # Files pickled by numpy 1.x (the real CIFAR ones) name numpy.core.multiarray.
    raw = (folder / "test_batch").read_bytes()
    for module in (b"numpy._core.multiarray", b"numpy.core.multiarray"):
        raw = raw.replace(module, b"numpy.core.multiarray")
    assert b"numpy.core.multiarray" in raw
    (folder / "test_batch").write_bytes(raw)
    assert CIFAR10(tmp_path, train=False).targets.tolist() == parts[5][1]


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_cifar10_pickle_cannot_run_code(tmp_path):
    evil = {b"data": np.zeros((1, 3072), np.uint8), b"labels": [0], b"x": _Evil()}
    (tmp_path / "test_batch").write_bytes(pickle.dumps(evil, protocol=2))
    with pytest.raises(ValueError, match="refusing to load global (posix|os).system"):
        CIFAR10(tmp_path, train=False)
    (tmp_path / "test_batch").write_bytes(pickle.dumps({b"data": [1, 2], b"labels": [0]}))
    with pytest.raises(ValueError, match="not a valid CIFAR python batch"):
        CIFAR10(tmp_path, train=False)


def test_cifar10_binary_batches(tmp_path):
    rng = np.random.default_rng(4)
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    records = {}
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        data, labels = _cifar_arrays(3, rng)
        records[name] = (data, labels)
        rows = np.concatenate([np.array(labels, np.uint8)[:, None], data], axis=1)
        (folder / name).write_bytes(rows.tobytes())
    ds = CIFAR10(tmp_path)
    assert len(ds) == 15
    x, y = ds[4]
    assert y == records["data_batch_2.bin"][1][1]
    np.testing.assert_allclose(x.numpy().reshape(-1), records["data_batch_2.bin"][0][1] / 255.0,
                               rtol=1e-6)
    (folder / "test_batch.bin").write_bytes(bytes(3073 * 2 + 5))
    with pytest.raises(ValueError, match="not a whole number of 3073-byte records"):
        CIFAR10(tmp_path, train=False)


def test_cifar10_missing(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        CIFAR10(tmp_path)
    text = str(info.value)
    assert str(tmp_path / "cifar-10-batches-py" / "data_batch_1") in text
    assert str(tmp_path / "cifar-10-batches-bin" / "data_batch_1.bin") in text


def test_char_dataset(tmp_path):
    path = tmp_path / "text.txt"
    path.write_text("hello world\n", encoding="utf-8")
    ds = CharDataset(path, seq_len=4)
    assert ds.itos == sorted(set("hello world\n")) and ds.vocab_size == 9
    assert len(ds) == 12 - 4
    x, y = ds[1]
    assert x.dtype == lamina.int64 and ds.decode(x) == "ello" and ds.decode(y) == "llo "
    assert ds.decode(ds[-1][1]) == "rld\n"
    assert ds.stoi["h"] == ds.itos.index("h") and ds.decode(ds.encode("low")) == "low"
    xb, yb = next(iter(DataLoader(ds, batch_size=3)))
    assert xb.shape == (3, 4) and ds.decode(yb[2]) == "lo w"
    with pytest.raises(IndexError):
        ds[8]
    with pytest.raises(ValueError, match="not in the vocabulary"):
        CharDataset(path, seq_len=2, vocab="helo")
    with pytest.raises(ValueError, match="needs at least 13"):
        CharDataset(path, seq_len=12)
    with pytest.raises(FileNotFoundError, match="missing text file .*nope.txt"):
        CharDataset(tmp_path / "nope.txt", seq_len=2)


def test_digits_split():
    pytest.importorskip("sklearn")
    train, test = digits(test_fraction=0.2, seed=0)
    assert len(train) + len(test) == 1797 and abs(len(test) - 0.2 * 1797) < 10
    x, y = train[0]
    assert x.shape == (1, 8, 8) and x.dtype == lamina.float32 and y.dtype == lamina.int64
    assert 0.0 <= train.tensors[0].min().item() and train.tensors[0].max().item() <= 1.0
    counts = np.bincount(test.tensors[1].numpy(), minlength=10)
    assert counts.min() >= 30  # stratified: every digit is in the test split
    again, _ = digits(test_fraction=0.2, seed=0)
    assert again.tensors[1].tolist() == train.tensors[1].tolist()
    other, _ = digits(test_fraction=0.2, seed=1)
    assert other.tensors[1].tolist() != train.tensors[1].tolist()


def test_digits_without_sklearn(monkeypatch):
    import builtins
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.startswith("sklearn"):
            raise ImportError("No module named 'sklearn'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match='pip install "lamina\\[examples\\]"'):
        digits()
