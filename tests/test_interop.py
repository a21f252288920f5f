"""numpy and DLPack interop: .numpy() / from_numpy / as_tensor / __array__ / DLPack share memory
(proved by writing through one side and reading the other), lamina.tensor() copies and infers
dtypes like PyTorch, lifetimes are tied correctly (no leaks, deleters run exactly once), and
unsupported inputs raise. A fake DLPack producer built with ctypes checks the capsule protocol
from the consumer side; the torch tests skip when torch is missing."""

import ctypes
import gc
import sys

import numpy as np
import pytest

import lamina

NP_DTYPES = [np.float32, np.float64, np.int32, np.int64, np.bool_]


def sample(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    if dtype == np.bool_:
        return rng.random(shape) < 0.5
    return (rng.standard_normal(shape) * 10).astype(dtype)


def strided_arrays(dtype):
    """Arrays whose memory layout is not plain row-major."""
    base = sample((4, 6), dtype)
    return {"contiguous": base, "transposed": base.T, "stepped": base[::2, 1::2], "0-d": base[1, 2, ...],
            "empty": base[:0], "column": base[:, 3:4]}


def bump(a):
    """Changes every element of a writable numpy view in place."""
    if a.dtype == np.bool_:
        np.logical_not(a, out=a)
    else:
        a += 1


# ---- .numpy() / from_numpy ---------------------------------------------------------------

@pytest.mark.parametrize("dtype", NP_DTYPES)
def test_from_numpy_shares_memory(dtype):
    for label, a in strided_arrays(dtype).items():
        t = lamina.from_numpy(a)
        assert tuple(t.shape) == a.shape and t.dtype == getattr(lamina, np.dtype(dtype).name if dtype != np.bool_ else "bool")
        assert t.stride() == tuple(s // a.itemsize for s in a.strides), label
        np.testing.assert_array_equal(t.numpy(), a)
        before = a.copy()
        bump(a)  # numpy -> lamina
        np.testing.assert_array_equal(t.numpy(), a, err_msg=label)
        if a.size:
            t.fill_(before.flat[0])  # lamina -> numpy
            assert np.all(a == before.flat[0]), label


@pytest.mark.parametrize("dtype", NP_DTYPES)
def test_numpy_shares_memory(dtype):
    x = lamina.from_numpy(sample((3, 4), dtype).copy())
    for view in (x, x.t(), x[:, 1::2], x[1], x[1, 2]):
        a = view.numpy()
        np.testing.assert_array_equal(a, view.numpy())
        assert a.strides == tuple(s * a.itemsize for s in view.stride())
        if a.size:
            bump(a)
            np.testing.assert_array_equal(view.numpy(), a)


def test_numpy_and_from_numpy_lifetimes():
    a = np.arange(6.0)
    base = sys.getrefcount(a)
    t = lamina.from_numpy(a)
    assert sys.getrefcount(a) == base + 1  # the storage keeps the array alive
    v = t[2:]
    del t
    gc.collect()
    assert v[0].item() == 2.0
    del v
    gc.collect()
    assert sys.getrefcount(a) == base
    x = lamina.arange(5.0)
    arr = x.numpy()
    del x
    gc.collect()
    np.testing.assert_array_equal(arr, np.arange(5.0, dtype=np.float32))  # the array keeps the storage


def test_numpy_errors():
    with pytest.raises(RuntimeError, match="numpy.*requires grad.*detach"):
        lamina.ones(2, requires_grad=True).numpy()
    np.testing.assert_array_equal(lamina.ones(2, requires_grad=True).numpy(force=True), np.ones(2, np.float32))
    with pytest.raises(TypeError, match="from_numpy.*expected np.ndarray.*list"):
        lamina.from_numpy([1, 2])
    for bad in (np.zeros(2, np.uint8), np.zeros(2, np.float16), np.zeros(2, np.complex64), np.array(["a"])):
        with pytest.raises(TypeError, match="from_numpy.*can't convert"):
            lamina.from_numpy(bad)
    with pytest.raises(ValueError, match="from_numpy.*negative"):
        lamina.from_numpy(np.arange(5.0)[::-1])
    packed = np.zeros(3, dtype=[("a", "<f4"), ("b", "u1")])["a"]  # stride 5: not a multiple of 4
    with pytest.raises(ValueError, match="from_numpy.*multiple of the element byte size"):
        lamina.from_numpy(packed)
    with pytest.raises(TypeError, match="from_numpy.*byte order"):
        lamina.from_numpy(np.zeros(2, ">f4"))


def test_from_numpy_read_only_is_copied():
    a = np.arange(4.0)
    a.flags.writeable = False
    t = lamina.from_numpy(a)
    t.fill_(7.0)
    np.testing.assert_array_equal(a, np.arange(4.0))
    assert not a.flags.writeable


# ---- tensor() / as_tensor / __array__ -------------------------------------------------------

@pytest.mark.parametrize("data, dtype, values", [
    (1, lamina.int64, 1), (1.5, lamina.float32, 1.5), (True, lamina.bool, True), ([1, 2], lamina.int64, [1, 2]),
    ([1, 2.5], lamina.float32, [1.0, 2.5]), ([True, 2], lamina.int64, [1, 2]), ([True, False], lamina.bool, [True, False]),
    ([], lamina.float32, []), ([[], []], lamina.float32, [[], []]), (np.float64(1.5), lamina.float64, 1.5),
    (np.float32(1.5), lamina.float32, 1.5), (np.int32(3), lamina.int32, 3), (np.bool_(True), lamina.bool, True),
    ([np.float64(1.5), 2.0], lamina.float64, [1.5, 2.0]), ([np.float32(1.5), 2.0], lamina.float32, [1.5, 2.0]),
    ([np.int32(1), 2], lamina.int64, [1, 2]), (np.ones(2, np.float16), lamina.float32, [1.0, 1.0]),
    (np.ones(2, np.uint8), lamina.int32, [1, 1]), (np.ones(2, np.int16), lamina.int32, [1, 1]),
    (np.ones(2, np.uint32), lamina.int64, [1, 1]), (np.ones(2, np.int32), lamina.int32, [1, 1]),
    (np.ones(2), lamina.float64, [1.0, 1.0]), ([lamina.tensor(1.0), 2.0], lamina.float32, [1.0, 2.0]),
    ([lamina.ones(2, dtype=lamina.float64), [1, 2]], lamina.float64, [[1.0, 1.0], [1.0, 2.0]]),
])
def test_tensor_infers_dtype_like_pytorch(data, dtype, values):
    t = lamina.tensor(data)
    assert t.dtype == dtype
    assert t.tolist() == values


def test_tensor_follows_default_dtype():
    lamina.set_default_dtype(lamina.float64)
    try:
        assert lamina.tensor([1.5]).dtype == lamina.float64
        assert lamina.tensor([1, 2]).dtype == lamina.int64
    finally:
        lamina.set_default_dtype(lamina.float32)


def test_tensor_shapes_and_values():
    assert lamina.tensor(3).shape == () and lamina.tensor(3).item() == 3
    assert lamina.tensor([[1, 2], np.array([3, 4])]).tolist() == [[1, 2], [3, 4]]
    assert lamina.tensor([np.zeros((2, 0)), np.zeros((2, 0))]).shape == (2, 2, 0)
    assert lamina.tensor(((1, 2), (3, 4))).tolist() == [[1, 2], [3, 4]]
    assert lamina.tensor([0.1], dtype=lamina.float64).item() == 0.1  # never rounded through float32
    assert lamina.tensor(2**62).item() == 2**62
    assert lamina.tensor([1.7, -1.7], dtype=lamina.int64).tolist() == [1, -1]
    assert lamina.tensor([0.0, 0.5], dtype=lamina.bool).tolist() == [False, True]
    assert lamina.tensor([1, 2], dtype=float).dtype == lamina.float64
    t = lamina.tensor([1.0, 2.0], requires_grad=True, device="cpu")
    assert t.requires_grad and t.is_leaf and t.device == lamina.device("cpu")


def test_tensor_copies():
    a = np.arange(3.0)
    t = lamina.tensor(a)
    a[0] = 5
    assert t[0].item() == 0.0
    x = lamina.ones(2, requires_grad=True)
    y = lamina.tensor(x)
    assert not y.requires_grad and y.data_ptr() != x.data_ptr()
    y.fill_(3.0)
    assert x[0].item() == 1.0
    assert lamina.tensor(x, dtype=lamina.int64).dtype == lamina.int64


def test_tensor_errors():
    cases = [([[1, 2], [3]], ValueError, "expected sequence of length 2 at dim 1"),
             ([[], [1]], ValueError, "expected sequence of length 0 at dim 1"),
             ([1, [2]], ValueError, "expected a scalar at dim 1"),
             ([[1], 2], ValueError, "expected sequence of length 1 at dim 1"),
             ([np.zeros(2), np.zeros(3)], ValueError, "at dim 1"),
             ("a", TypeError, "invalid data type 'str'"), ([1, "a"], TypeError, "invalid data type 'str'"),
             (None, RuntimeError, "Could not infer dtype of NoneType"), (object(), RuntimeError, "Could not infer dtype"),
             (2**63, RuntimeError, "Overflow"), ([1, -(2**64)], RuntimeError, "Overflow"),
             (np.zeros(2, np.complex64), TypeError, "complex64")]
    for data, exc, msg in cases:
        with pytest.raises(exc, match="tensor.*" + msg):
            lamina.tensor(data)
    with pytest.raises(RuntimeError, match="floating point"):
        lamina.tensor([1, 2], requires_grad=True)
    with pytest.raises(TypeError):
        lamina.tensor([1.0], dtype="float32")


def test_as_tensor_shares_when_possible():
    a = np.arange(4.0)
    t = lamina.as_tensor(a)
    a[0] = 9
    assert t[0].item() == 9.0
    c = lamina.as_tensor(a, dtype=lamina.float32)  # a dtype change copies
    a[1] = 9
    assert c[1].item() == 1.0
    x = lamina.ones(2)
    assert lamina.as_tensor(x) is x
    assert lamina.as_tensor([1, 2]).dtype == lamina.int64
    u8 = lamina.as_tensor(np.arange(3, dtype=np.uint8))
    assert u8.dtype == lamina.int32 and u8.tolist() == [0, 1, 2]


def test_array_protocol():
    x = lamina.arange(4.0)
    a = np.asarray(x)
    a[0] = 10
    assert x[0].item() == 10.0
    c = np.array(x, copy=True)
    c[1] = 10
    assert x[1].item() == 1.0
    d = np.asarray(x, dtype=np.float64)
    assert d.dtype == np.float64 and d.tolist() == [10.0, 1.0, 2.0, 3.0]
    with pytest.raises(ValueError, match="copy=False"):
        np.asarray(x, dtype=np.float64, copy=False)
    assert np.asarray(x, copy=False).base is not None
    np.testing.assert_array_equal(np.asarray(x.t()), x.numpy())


# ---- DLPack with numpy ---------------------------------------------------------------------

@pytest.mark.parametrize("dtype", NP_DTYPES)
def test_dlpack_numpy_round_trip(dtype):
    for label, a in strided_arrays(dtype).items():
        t = lamina.from_dlpack(a)
        assert tuple(t.shape) == a.shape and t.stride() == tuple(s // a.itemsize for s in a.strides), label
        np.testing.assert_array_equal(t.numpy(), a)
        back = np.from_dlpack(t)
        assert back.dtype == a.dtype and back.shape == a.shape and back.strides == a.strides
        if a.size:
            bump(a)  # numpy -> lamina -> numpy: one memory
            np.testing.assert_array_equal(t.numpy(), a, err_msg=label)
            bump(back)
            np.testing.assert_array_equal(a, back, err_msg=label)


def test_dlpack_export_views_and_expanded():
    x = lamina.arange(12.0).reshape(3, 4)
    for view in (x.t(), x[:, 1::2], x[2], x[0, 0], x[:0], x[1:2].expand(3, 4)):
        a = np.from_dlpack(view)
        np.testing.assert_array_equal(a, view.numpy())
        assert a.strides == tuple(s * 4 for s in view.stride())
    np.from_dlpack(x.t())[0, 1] = -1.0
    assert x[1, 0].item() == -1.0


def test_dlpack_capsule_names_and_device():
    x = lamina.ones(2)
    assert x.__dlpack_device__() == (1, 0)
    assert "dltensor_versioned" in repr(x.__dlpack__(max_version=(1, 0)))
    assert "dltensor_versioned" in repr(x.__dlpack__(max_version=(1, 3)))
    assert "dltensor_versioned" not in repr(x.__dlpack__())
    assert "dltensor_versioned" not in repr(x.__dlpack__(max_version=(0, 8)))
    assert "dltensor_versioned" not in repr(lamina.to_dlpack(x))
    assert x.__dlpack__(dl_device=(1, 0)) is not None


def test_dlpack_consumes_raw_capsules_once():
    for make in (lambda a: a.__dlpack__(), lambda a: a.__dlpack__(max_version=(1, 0))):
        a = np.arange(3.0)
        cap = make(a)
        t = lamina.from_dlpack(cap)
        assert "used_dltensor" in repr(cap)
        t[0] = 5.0
        assert a[0] == 5.0
        with pytest.raises(RuntimeError, match="consumed only once"):
            lamina.from_dlpack(cap)


def test_dlpack_copies_read_only_and_negative_strides():
    ro = np.arange(4.0)
    ro.flags.writeable = False
    t = lamina.from_dlpack(ro)
    t.fill_(1.0)
    np.testing.assert_array_equal(ro, np.arange(4.0))
    rev = np.arange(6.0).reshape(2, 3)[::-1, ::-1]
    r = lamina.from_dlpack(rev)
    np.testing.assert_array_equal(r.numpy(), rev)
    assert all(s > 0 for s in r.stride())
    r.fill_(0.0)
    assert rev.sum() == 15.0


def test_dlpack_copy_argument():
    x = lamina.arange(3.0)
    a = np.from_dlpack(x, copy=True)
    a[0] = 7
    assert x[0].item() == 0.0
    b = np.from_dlpack(x, copy=False)
    b[0] = 7
    assert x[0].item() == 7.0
    arr = np.arange(3.0)
    c = lamina.from_dlpack(arr, copy=True)
    c[0] = 9
    assert arr[0] == 0.0


def test_dlpack_lifetimes_numpy():
    a = np.arange(10.0)
    base = sys.getrefcount(a)
    t = lamina.from_dlpack(a)
    assert sys.getrefcount(a) > base  # the producer stays alive with the lamina storage
    view = t[5:]
    del t
    gc.collect()
    assert view[0].item() == 5.0
    del view
    gc.collect()
    assert sys.getrefcount(a) == base

    # lamina as producer: an unconsumed capsule releases the storage (and the array it borrows).
    src = np.arange(4.0)
    base = sys.getrefcount(src)
    x = lamina.from_numpy(src)
    caps = [x.__dlpack__(), x.__dlpack__(max_version=(1, 0))]
    del x
    gc.collect()
    assert sys.getrefcount(src) == base + 1
    del caps
    gc.collect()
    assert sys.getrefcount(src) == base
    # ... and a consumed one when the consumer lets go.
    x = lamina.from_numpy(src)
    arr = np.from_dlpack(x)
    del x
    gc.collect()
    arr[0] = 3.0
    assert src[0] == 3.0
    del arr
    gc.collect()
    assert sys.getrefcount(src) == base


def test_dlpack_errors():
    x = lamina.ones(2)
    with pytest.raises(BufferError, match="require gradient"):
        lamina.ones(2, requires_grad=True).__dlpack__()
    with pytest.raises(BufferError, match="device"):
        x.__dlpack__(dl_device=(2, 0))
    with pytest.raises(ValueError, match="stream"):
        x.__dlpack__(stream=1)
    for bad in (np.zeros(2, np.uint8), np.zeros(2, np.float16), np.zeros(2, np.complex128), np.zeros(2, np.uint64)):
        with pytest.raises(TypeError, match="from_dlpack.*unsupported dtype"):
            lamina.from_dlpack(bad)
    with pytest.raises(TypeError, match="from_dlpack"):
        lamina.from_dlpack([1, 2])

    class OnGpu:
        def __dlpack_device__(self):
            return (2, 0)

        def __dlpack__(self, **kwargs):
            raise AssertionError("must not be called for a device lamina cannot read")

    with pytest.raises(RuntimeError, match="from_dlpack.*device type 2"):
        lamina.from_dlpack(OnGpu())
    with pytest.raises(RuntimeError, match="from_dlpack.*cpu"):
        lamina.from_dlpack(np.zeros(2), device="cuda")


def test_dlpack_legacy_producer_fallback():
    calls = []

    class Legacy:  # a pre-1.0 producer: __dlpack__ takes no max_version
        def __init__(self):
            self.a = np.arange(3.0)

        def __dlpack__(self, stream=None):
            calls.append(stream)
            return self.a.__dlpack__()

    p = Legacy()
    t = lamina.from_dlpack(p)
    t[1] = 10.0
    assert p.a[1] == 10.0 and calls == [None]


# ---- DLPack capsule protocol, checked with a ctypes producer ---------------------------------

class _DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class _DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class _DLTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device", _DLDevice), ("ndim", ctypes.c_int32), ("dtype", _DLDataType),
                ("shape", ctypes.POINTER(ctypes.c_int64)), ("strides", ctypes.POINTER(ctypes.c_int64)),
                ("byte_offset", ctypes.c_uint64)]


class _Versioned(ctypes.Structure):
    pass


_DELETER = ctypes.CFUNCTYPE(None, ctypes.POINTER(_Versioned))
_Versioned._fields_ = [("major", ctypes.c_uint32), ("minor", ctypes.c_uint32), ("manager_ctx", ctypes.c_void_p),
                       ("deleter", _DELETER), ("flags", ctypes.c_uint64), ("dl_tensor", _DLTensor)]

_capsule_new = ctypes.pythonapi.PyCapsule_New
_capsule_new.restype = ctypes.py_object
_capsule_new.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]


class FakeProducer:
    """A versioned DLPack capsule over a ctypes buffer whose deleter counts its calls."""

    def __init__(self, values, shape, strides=None, code=2, bits=64, flags=0, version=(1, 0), device=(1, 0),
                 byte_offset=0):
        self.buffer = (ctypes.c_double * len(values))(*values)
        self.shape = (ctypes.c_int64 * max(len(shape), 1))(*shape)
        self.strides = (ctypes.c_int64 * max(len(shape), 1))(*(strides or [0]))
        self.deleted = 0

        def deleter(_):
            self.deleted += 1

        self.deleter = _DELETER(deleter)
        dl = _DLTensor(ctypes.cast(self.buffer, ctypes.c_void_p), _DLDevice(*device), len(shape),
                       _DLDataType(code, bits, 1), self.shape, self.strides if strides else None, byte_offset)
        self.managed = _Versioned(version[0], version[1], None, self.deleter, flags, dl)
        self.capsule = _capsule_new(ctypes.addressof(self.managed), b"dltensor_versioned", None)


def test_dlpack_capsule_zero_copy_and_single_delete():
    p = FakeProducer([0.0, 1.0, 2.0, 3.0, 4.0, 5.0], (2, 3))
    t = lamina.from_dlpack(p.capsule)
    assert "used_dltensor_versioned" in repr(p.capsule) and p.deleted == 0
    np.testing.assert_array_equal(t.numpy(), np.arange(6.0).reshape(2, 3))
    t[1, 2] = -5.0
    assert p.buffer[5] == -5.0
    p.buffer[0] = 42.0
    assert t[0, 0].item() == 42.0
    view = t.t()
    del t
    gc.collect()
    assert p.deleted == 0  # a view still uses the memory
    del view
    gc.collect()
    assert p.deleted == 1


def test_dlpack_capsule_strides_offset_and_flags():
    p = FakeProducer([float(i) for i in range(8)], (2, 2), strides=[1, 4], byte_offset=8)
    t = lamina.from_dlpack(p.capsule)
    np.testing.assert_array_equal(t.numpy(), [[1.0, 5.0], [2.0, 6.0]])
    del t
    gc.collect()
    assert p.deleted == 1
    ro = FakeProducer([1.0, 2.0], (2,), flags=1)  # DLPACK_FLAG_BITMASK_READ_ONLY
    t = lamina.from_dlpack(ro.capsule)
    assert ro.deleted == 1  # copied, then handed back at once
    t.fill_(0.0)
    assert list(ro.buffer) == [1.0, 2.0]
    z = FakeProducer([7.0], ())
    s = lamina.from_dlpack(z.capsule)
    assert s.shape == () and s.item() == 7.0
    e = FakeProducer([0.0], (0, 3))
    assert lamina.from_dlpack(e.capsule).shape == (0, 3)


def test_dlpack_capsule_rejections_release_once():
    bad_dtype = FakeProducer([0.0], (1,), code=5, bits=64)  # complex64
    with pytest.raises(TypeError, match="from_dlpack.*complex"):
        lamina.from_dlpack(bad_dtype.capsule)
    assert bad_dtype.deleted == 1
    on_gpu = FakeProducer([0.0], (1,), device=(2, 0))
    with pytest.raises(RuntimeError, match="from_dlpack.*device type 2"):
        lamina.from_dlpack(on_gpu.capsule)
    assert on_gpu.deleted == 1
    wild = FakeProducer([0.0, 1.0], (2, 2), strides=[2**62, 2**62])
    with pytest.raises(RuntimeError, match="from_dlpack: strides .* span more memory"):
        lamina.from_dlpack(wild.capsule)
    assert wild.deleted == 1
    future = FakeProducer([0.0], (1,), version=(2, 0))
    with pytest.raises(BufferError, match="version 2"):
        lamina.from_dlpack(future.capsule)
    assert future.deleted == 0 and "used_" not in repr(future.capsule)  # left to its owner


# ---- DLPack with torch -------------------------------------------------------------------

def test_dlpack_torch_round_trip():
    torch = pytest.importorskip("torch")
    pairs = [(torch.float32, lamina.float32), (torch.float64, lamina.float64), (torch.int32, lamina.int32),
             (torch.int64, lamina.int64), (torch.bool, lamina.bool)]
    for tdt, ldt in pairs:
        src = (torch.arange(12) % 3).to(tdt).reshape(3, 4)
        for view in (src, src.t(), src[:, 1::2], src[1, 1], src[:0]):
            t = lamina.from_dlpack(view)
            assert t.dtype == ldt and tuple(t.shape) == tuple(view.shape) and t.stride() == tuple(view.stride())
            np.testing.assert_array_equal(t.numpy(), view.numpy())
            back = torch.from_dlpack(t)
            assert back.dtype == tdt and back.stride() == view.stride()
            assert torch.equal(back, view)
    x = torch.zeros(2, 3)
    lx = lamina.from_dlpack(x)
    lx[0, 1] = 5.0
    assert x[0, 1].item() == 5.0
    y = lamina.arange(6.0).reshape(2, 3)
    ty = torch.from_dlpack(y)
    ty[1, 2] = -1.0
    assert y[1, 2].item() == -1.0
    tz = torch.utils.dlpack.from_dlpack(lamina.to_dlpack(y))
    tz[0, 0] = 8.0
    assert y[0, 0].item() == 8.0
    lw = lamina.from_dlpack(torch.utils.dlpack.to_dlpack(x))
    lw[1, 1] = 3.0
    assert x[1, 1].item() == 3.0
    with pytest.raises(BufferError):
        lamina.from_dlpack(torch.ones(2, requires_grad=True))
    with pytest.raises(TypeError, match="from_dlpack.*unsupported dtype"):
        lamina.from_dlpack(torch.zeros(2, dtype=torch.float16))


def test_numpy_conversions_match_torch():
    torch = pytest.importorskip("torch")
    for data in ([1, 2.5], [[True, False]], 3, 2.5, [np.float64(1)], np.zeros(2, np.int32), [[1, 2], [3, 4]]):
        got, want = lamina.tensor(data), torch.tensor(data)
        assert str(got.dtype).split(".")[1] == str(want.dtype).split(".")[1]
        assert got.tolist() == want.tolist()
