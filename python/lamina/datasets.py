"""lamina.datasets: the standard files people already have, read into map-style datasets.

MNIST / FashionMNIST (IDX files, raw or gzipped), CIFAR10 (the python pickle batches, read with
an unpickler that only rebuilds numpy arrays, or the binary batches), a plain text file as a
character-level dataset, and `digits()`, scikit-learn's 8x8 handwritten digits. Nothing is ever
downloaded: a missing file raises FileNotFoundError naming it and every path looked in.
Images come back as float32 tensors in [0, 1], shaped (C, H, W); targets as Python ints.
"""

import gzip
import math
import os
import pickle
import struct

import numpy as np

from . import _C
from .utils.data import Dataset, TensorDataset

__all__ = ["MNIST", "FashionMNIST", "CIFAR10", "CharDataset", "digits"]


def _search(dataset, root, names, folders):
    """The first existing root/<folder>/<name> (folders in order, names in order), or an error
    listing every path tried."""
    tried = []
    for folder in folders:
        for name in names:
            path = os.path.join(root, folder, name) if folder else os.path.join(root, name)
            if os.path.isfile(path):
                return path
            tried.append(path)
    raise FileNotFoundError(
        f"{dataset}: missing file {names[0]}" + (f" (or {', '.join(names[1:])})" if names[1:] else "")
        + f"; looked in: {', '.join(tried)}. lamina never downloads data: put the file in one of "
        "these places")


def _no_download(dataset, download):
    if download:
        raise ValueError(f"{dataset}: download=True is not supported; lamina never downloads data "
                         "(place the standard files under root)")


class _ImageDataset(Dataset):
    """uint8 images (N, C, H, W) in `data` (numpy), int64 labels in `targets` (a tensor)."""

    def __getitem__(self, index):
        image = _C.from_numpy(self.data[index].astype(np.float32) * np.float32(1 / 255))
        target = int(self._labels[index])
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return image, target

    def __len__(self):
        return len(self.data)

    def _set(self, images, labels, transform, target_transform):
        self.data = images
        self._labels = labels.astype(np.int64)
        self.targets = _C.from_numpy(self._labels.copy())
        self.transform = transform
        self.target_transform = target_transform

    def __repr__(self):
        split = "train" if self.train else "test"
        return f"{type(self).__name__}(split={split}, samples={len(self)}, root={self.root!r})"


# ---- MNIST / FashionMNIST ----------------------------------------------------------------------

_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _read_bytes(path):
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise ValueError(f"{path}: corrupt gzip data ({e})") from None
    return raw


def read_idx(path):
    """Reads an IDX file (the MNIST format; gzipped or raw) into a numpy array."""
    raw = _read_bytes(path)
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] not in _IDX_TYPES:
        raise ValueError(f"{path}: not an IDX file (magic bytes {raw[:4].hex() or 'missing'} at "
                         "offset 0; expected 0000 + type code + number of dims)")
    ndim = raw[3]
    start = 4 + 4 * ndim
    if len(raw) < start:
        raise ValueError(f"{path}: truncated IDX header ({len(raw)} bytes, dims need {start})")
    dims = struct.unpack(f">{ndim}I", raw[4:start])
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    expected = start + math.prod(dims) * dtype.itemsize
    if len(raw) != expected:
        what = "truncated" if len(raw) < expected else "has trailing bytes"
        raise ValueError(f"{path}: IDX file {what}: dims {dims} need {expected} bytes, file has "
                         f"{len(raw)}")
    return np.frombuffer(raw, dtype, offset=start).reshape(dims).astype(dtype.newbyteorder("="))


class MNIST(_ImageDataset):
    """MNIST from its IDX files (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz],
    t10k-...) under ``root``, ``root/MNIST/raw`` or ``root/MNIST``.

    Samples are (image float32 (1, 28, 28) in [0, 1], label int); `data` holds the uint8 images
    as numpy (N, 1, 28, 28), `targets` the labels as an int64 tensor.
    """

    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five", "6 - six",
               "7 - seven", "8 - eight", "9 - nine"]

    def __init__(self, root, train=True, transform=None, target_transform=None, download=False):
        name = type(self).__name__
        _no_download(name, download)
        self.root, self.train = os.fspath(root), train
        prefix = "train" if train else "t10k"
        folders = ["", os.path.join(name, "raw"), name]
        files = []
        for kind in ("images-idx3-ubyte", "labels-idx1-ubyte"):
            base = f"{prefix}-{kind}"
            files.append(_search(name, self.root, [base, base + ".gz"], folders))
        images, labels = read_idx(files[0]), read_idx(files[1])
        if images.ndim != 3 or images.dtype != np.uint8:
            raise ValueError(f"{files[0]}: expected uint8 images (N, H, W), got {images.dtype} "
                             f"{images.shape}")
        if labels.ndim != 1 or len(labels) != len(images):
            raise ValueError(f"{name}: {len(images)} images in {files[0]} but labels of shape "
                             f"{labels.shape} in {files[1]}")
        self._set(images[:, None], labels, transform, target_transform)


class FashionMNIST(MNIST):
    """Fashion-MNIST: the MNIST file names under ``root``, ``root/FashionMNIST/raw`` or
    ``root/FashionMNIST``."""

    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
               "Bag", "Ankle boot"]


# ---- CIFAR-10 ----------------------------------------------------------------------------------

def _latin1_encode(text, encoding="latin1"):
    # What Python 3 pickles use for bytes at protocol 2: _codecs.encode(str, "latin1").
    if encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"refusing _codecs.encode with encoding {encoding!r}")
    return text.encode("latin1")


_NP_RECONSTRUCT = np.ndarray((0,)).__reduce__()[0]
_PICKLE_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _NP_RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _NP_RECONSTRUCT,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_encode,
}


class _BatchUnpickler(pickle.Unpickler):
    """Rebuilds dicts, lists, strings and numpy arrays; refuses every other global, so a
    malicious file cannot run code."""

    def find_class(self, module, name):
        allowed = _PICKLE_ALLOWED.get((module, name))
        if allowed is None:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}: CIFAR batches "
                                         "only contain numpy arrays, lists and strings")
        return allowed


def _read_python_batch(path):
    with open(path, "rb") as f:
        try:
            batch = _BatchUnpickler(f, encoding="bytes").load()
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as e:
            raise ValueError(f"{path}: not a valid CIFAR python batch ({e})") from None
    if not isinstance(batch, dict):
        raise ValueError(f"{path}: not a valid CIFAR python batch (a {type(batch).__name__})")
    data = batch.get(b"data", batch.get("data"))
    labels = batch.get(b"labels", batch.get("labels"))
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 \
            or data.shape[1] != 3072 or labels is None or len(labels) != len(data):
        raise ValueError(f"{path}: not a valid CIFAR python batch (needs 'data' uint8 (N, 3072) and "
                         "N 'labels')")
    return data.reshape(-1, 3, 32, 32), np.asarray(labels, dtype=np.int64)


def _read_binary_batch(path):
    raw = _read_bytes(path)
    if len(raw) % 3073:
        raise ValueError(f"{path}: CIFAR-10 binary batch of {len(raw)} bytes is not a whole number of "
                         "3073-byte records (1 label byte + 3072 pixels)")
    records = np.frombuffer(raw, np.uint8).reshape(-1, 3073)
    return records[:, 1:].reshape(-1, 3, 32, 32), records[:, 0].astype(np.int64)


class CIFAR10(_ImageDataset):
    """CIFAR-10 from the python batches (data_batch_1..5, test_batch; under ``root`` or
    ``root/cifar-10-batches-py``) or the binary ones (data_batch_1.bin .. test_batch.bin; under
    ``root`` or ``root/cifar-10-batches-bin``).

    Samples are (image float32 (3, 32, 32) in [0, 1], label int); `data` holds the uint8 images
    as numpy (N, 3, 32, 32), `targets` the labels as an int64 tensor.
    """

    classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
               "truck"]

    def __init__(self, root, train=True, transform=None, target_transform=None, download=False):
        _no_download("CIFAR10", download)
        self.root, self.train = os.fspath(root), train
        names = [f"data_batch_{i}" for i in range(1, 6)] if train else ["test_batch"]
        try:
            paths = [_search("CIFAR10", self.root, [n], ["", "cifar-10-batches-py"]) for n in names]
            reader = _read_python_batch
        except FileNotFoundError as python_error:
            try:
                paths = [_search("CIFAR10", self.root, [n + ".bin"], ["", "cifar-10-batches-bin"])
                         for n in names]
            except FileNotFoundError as binary_error:
                raise FileNotFoundError(f"{python_error} -- and for the binary version: "
                                        f"{binary_error}") from None
            reader = _read_binary_batch
        parts = [reader(p) for p in paths]
        self._set(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
                  transform, target_transform)


# ---- characters --------------------------------------------------------------------------------

class CharDataset(Dataset):
    """A text file as overlapping character windows for next-character prediction.

    Sample i is (x, y): int64 tensors of length `seq_len` with ``x = text[i : i+seq_len]`` and
    ``y = text[i+1 : i+seq_len+1]`` encoded through the vocabulary (`itos`: sorted distinct
    characters unless `vocab` is given; `stoi` its inverse).
    """

    def __init__(self, path, seq_len, vocab=None, encoding="utf-8", transform=None,
                 target_transform=None):
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"CharDataset: missing text file {path} (looked in: "
                                    f"{os.path.abspath(path)})")
        if isinstance(seq_len, bool) or not isinstance(seq_len, int) or seq_len < 1:
            raise ValueError(f"CharDataset: seq_len must be a positive int, got {seq_len!r}")
        with open(path, encoding=encoding) as f:
            text = f.read()
        if len(text) < seq_len + 1:
            raise ValueError(f"CharDataset: {path} has {len(text)} characters; seq_len={seq_len} "
                             f"needs at least {seq_len + 1}")
        self.itos = list(vocab) if vocab is not None else sorted(set(text))
        self.stoi = {c: i for i, c in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            raise ValueError("CharDataset: vocab has repeated characters")
        self.path, self.seq_len = path, seq_len
        self.transform, self.target_transform = transform, target_transform
        self._codes = self._encode_array(text)
        self.data = _C.from_numpy(self._codes)

    def _encode_array(self, text):
        missing = sorted(set(text) - self.stoi.keys())
        if missing:
            raise ValueError(f"CharDataset: characters {''.join(missing)!r} are not in the vocabulary")
        return np.array([self.stoi[c] for c in text], dtype=np.int64)

    @property
    def vocab_size(self):
        return len(self.itos)

    def encode(self, text):
        """str -> int64 tensor of vocabulary indices."""
        return _C.from_numpy(self._encode_array(text))

    def decode(self, codes):
        """Vocabulary indices (tensor or ints) -> str."""
        if isinstance(codes, _C.Tensor):
            codes = codes.tolist()
        return "".join(self.itos[i] for i in codes)

    def __len__(self):
        return len(self._codes) - self.seq_len

    def __getitem__(self, index):
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"CharDataset: index {index} out of range for {n} samples")
        x = _C.from_numpy(self._codes[index:index + self.seq_len].copy())
        y = _C.from_numpy(self._codes[index + 1:index + self.seq_len + 1].copy())
        if self.transform is not None:
            x = self.transform(x)
        if self.target_transform is not None:
            y = self.target_transform(y)
        return x, y


# ---- scikit-learn digits -----------------------------------------------------------------------

def digits(test_fraction=0.2, seed=0):
    """scikit-learn's 1797 8x8 handwritten digits, split into (train, test) TensorDatasets.

    Images are float32 (1, 8, 8) in [0, 1], labels int64. The split is stratified (each digit
    keeps its share in both parts) and fixed by `seed`. Needs scikit-learn
    (``pip install "lamina[examples]"``).
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ImportError('lamina.datasets.digits needs scikit-learn: pip install "lamina[examples]" '
                          "(or pip install scikit-learn)") from None
    if not 0 < test_fraction < 1:
        raise ValueError(f"digits: test_fraction must be in (0, 1), got {test_fraction}")
    raw = load_digits()
    images = (raw.images.astype(np.float32) / np.float32(16.0))[:, None]
    labels = raw.target.astype(np.int64)
    rng = np.random.default_rng(seed)
    test = []
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        test.extend(members[:int(round(len(members) * test_fraction))].tolist())
    is_test = np.zeros(len(labels), dtype=bool)
    is_test[test] = True
    train_idx = rng.permutation(np.flatnonzero(~is_test))
    test_idx = np.sort(np.flatnonzero(is_test))
    out = []
    for idx in (train_idx, test_idx):
        ds = TensorDataset(_C.from_numpy(np.ascontiguousarray(images[idx])),
                           _C.from_numpy(np.ascontiguousarray(labels[idx])))
        ds.classes = [str(i) for i in range(10)]
        out.append(ds)
    return out[0], out[1]
