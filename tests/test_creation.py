"""Factories: zeros/ones/empty/full/arange/linspace/eye/*_like/scalar_tensor against numpy, with
every way of giving a shape, dtype/device/requires_grad keywords, PyTorch's dtype rules, and bad
sizes raising an exception that names the op (never a crash)."""

import numpy as np
import pytest

import lamina

L = lamina
SHAPE_FORMS = [((2, 3), (2, 3)), (((2, 3),), (2, 3)), (([2, 3],), (2, 3)), ((L.Size([2, 3]),), (2, 3)),
               ((4,), (4,)), (((),), ()), ((0, 3), (0, 3)), ((np.int64(2), 1), (2, 1)), ((L.tensor(3),), (3,))]


@pytest.mark.parametrize("args, shape", SHAPE_FORMS)
def test_factories_accept_every_shape_form(args, shape):
    for fn, value in ((L.zeros, 0.0), (L.ones, 1.0), (L.empty, None)):
        t = fn(*args)
        assert tuple(t.shape) == shape and t.dtype == L.float32 and t.is_contiguous()
        if value is not None:
            np.testing.assert_array_equal(t.numpy(), np.full(shape, value, np.float32))
    assert tuple(L.zeros(size=shape).shape) == shape
    assert tuple(L.full(shape, 2.5).shape) == shape


@pytest.mark.parametrize("dtype", [L.float32, L.float64, L.int32, L.int64, L.bool])
def test_factory_dtypes(dtype):
    np_dtype = np.dtype(str(dtype).split(".")[1])
    for fn, value in ((L.zeros, 0), (L.ones, 1)):
        t = fn(2, 3, dtype=dtype)
        assert t.dtype == dtype
        np.testing.assert_array_equal(t.numpy(), np.full((2, 3), value, np_dtype))
    assert L.empty(3, dtype=dtype).dtype == dtype
    np.testing.assert_array_equal(L.full((2,), 1, dtype=dtype).numpy(), np.ones(2, np_dtype))
    np.testing.assert_array_equal(L.eye(3, dtype=dtype).numpy(), np.eye(3, dtype=np_dtype))
    assert L.scalar_tensor(1, dtype=dtype).dtype == dtype


def test_factory_keywords():
    assert L.zeros(2, dtype=float).dtype == L.float64 and L.ones(2, dtype=int).dtype == L.int64
    assert L.ones(2, dtype=bool).dtype == L.bool
    assert L.zeros(2, device="cpu").device == L.device("cpu")
    assert L.zeros(2, device=L.device("cpu")).device.type == "cpu"
    t = L.ones(2, 3, requires_grad=True)
    assert t.requires_grad and t.is_leaf and t.grad_fn is None
    assert L.full((2,), 1.0, requires_grad=True).requires_grad
    assert L.scalar_tensor(1.0, requires_grad=True).requires_grad
    assert L.zeros(2, layout=None, pin_memory=False).shape == (2,)
    with pytest.raises(RuntimeError, match="floating point"):
        L.zeros(2, dtype=L.int64, requires_grad=True)
    with pytest.raises(TypeError, match="zeros\\(\\) got an unexpected keyword argument 'foo'"):
        L.zeros(2, foo=1)
    with pytest.raises(TypeError, match="zeros\\(\\) missing 1 required positional arguments"):
        L.zeros()
    with pytest.raises(TypeError, match="multiple values for argument 'size'"):
        L.ones(2, size=(2,))
    with pytest.raises(TypeError, match="ones: size must contain ints, got float"):
        L.ones(2, 3.5)
    with pytest.raises(TypeError):
        L.zeros("a")
    with pytest.raises(TypeError):
        L.zeros(2, dtype="float32")
    with pytest.raises(RuntimeError, match="cuda"):
        L.zeros(2, device="cuda")


def test_full_and_scalar_tensor_dtypes():
    assert L.full((2,), 3).dtype == L.int64 and L.full((2,), 3.0).dtype == L.float32
    assert L.full((2,), True).dtype == L.bool
    assert L.full((2,), 2.7, dtype=L.int64).tolist() == [2, 2]
    assert L.full((2,), -2.7, dtype=L.int32).tolist() == [-2, -2]
    assert L.full((1,), 2**62).item() == 2**62
    assert L.full((2,), float("nan")).isnan().all().item()
    assert L.scalar_tensor(3).dtype == L.float32 and L.scalar_tensor(True).dtype == L.float32
    assert L.scalar_tensor(2.5).shape == () and L.scalar_tensor(2.5).item() == 2.5
    for value, dtype in ((float("nan"), L.int64), (float("inf"), L.int32), (2**40, L.int32), (1e19, L.int64)):
        with pytest.raises(RuntimeError, match="full: value .* cannot be converted to type"):
            L.full((2,), value, dtype=dtype)


def test_like_factories():
    x = L.ones(3, 4, dtype=L.float64).t()  # non-contiguous input, contiguous outputs
    for fn in (L.zeros_like, L.ones_like, L.empty_like, L.rand_like, L.randn_like):
        t = fn(x)
        assert t.shape == (4, 3) and t.dtype == L.float64 and t.is_contiguous()
        assert fn(x, dtype=L.float32).dtype == L.float32
        assert fn(x, requires_grad=True).requires_grad
    np.testing.assert_array_equal(L.zeros_like(x).numpy(), np.zeros((4, 3)))
    np.testing.assert_array_equal(L.ones_like(x, dtype=L.int32).numpy(), np.ones((4, 3), np.int32))
    assert L.full_like(L.ones(2, dtype=L.int64), 2.7).tolist() == [2, 2]
    assert L.full_like(L.ones(2), True).dtype == L.float32
    assert L.full_like(x, 5, dtype=L.int64).tolist() == [[5] * 3] * 4
    assert L.zeros_like(L.tensor(1.0)).shape == ()
    r = L.randint_like(L.zeros(50, dtype=L.int32), 3, 7)
    assert r.dtype == L.int32 and r.shape == (50,) and r.min().item() >= 3 and r.max().item() < 7
    assert L.randint_like(L.zeros(5), 4).dtype == L.float32
    with pytest.raises(RuntimeError, match="floating point"):
        L.zeros_like(L.ones(2, dtype=L.int64), requires_grad=True)


# ---- arange / linspace / eye ---------------------------------------------------------------

@pytest.mark.parametrize("args", [(5,), (0,), (2, 9), (9, 2, -2), (-3, 3, 2), (0, 1, 0.1), (1.5, 4.0), (0, -1, -0.25),
                                  (1, 2, 0.3), (10.0,), (-5, 5, 3), (0.0, 1.0, 1e-1)])
def test_arange_matches_numpy(args):
    t = L.arange(*args)
    ref = np.arange(*args)
    any_float = any(isinstance(a, float) for a in args)
    assert t.dtype == (L.float32 if any_float else L.int64)
    np.testing.assert_allclose(t.numpy(), ref.astype(np.float32 if any_float else np.int64), rtol=1e-6, atol=1e-6)
    t64 = L.arange(*args, dtype=L.float64)
    np.testing.assert_allclose(t64.numpy(), ref.astype(np.float64), rtol=1e-12, atol=1e-12)


def test_arange_integer_dtypes_truncate_bounds_like_pytorch():
    assert L.arange(-0.5, 2.5, dtype=L.int64).tolist() == [0, 1]
    assert L.arange(0.5, 5, 1, dtype=L.int64).tolist() == [0, 1, 2, 3, 4]
    assert L.arange(0, 10, 3, dtype=L.int32).tolist() == [0, 3, 6, 9]
    assert L.arange(2**62, 2**62 + 3).tolist() == [2**62, 2**62 + 1, 2**62 + 2]
    assert L.arange(-(2**63), -(2**63) + 2 * 2**62, 2**62).tolist() == [-(2**63), -(2**62)]
    assert L.arange(5, dtype=L.float64).dtype == L.float64
    assert L.arange(start=1, end=4, step=2).tolist() == [1, 3]
    assert L.arange(3, 3).tolist() == [] and L.arange(3.0, 3.0).shape == (0,)


def test_arange_errors():
    with pytest.raises(RuntimeError, match="arange: step must be nonzero"):
        L.arange(0, 10, 0)
    with pytest.raises(RuntimeError, match="arange: step must be nonzero"):
        L.arange(0, 5, 0.5, dtype=L.int64)
    with pytest.raises(RuntimeError, match="arange: upper bound and lower bound inconsistent with step sign"):
        L.arange(1, 0)
    with pytest.raises(RuntimeError, match="arange: upper bound and lower bound inconsistent"):
        L.arange(0.0, 5.0, -1.0)
    with pytest.raises(RuntimeError, match="arange: unsupported range"):
        L.arange(0, float("inf"))
    with pytest.raises(RuntimeError, match="arange: unsupported range"):
        L.arange(0, float("nan"))
    with pytest.raises(RuntimeError, match="arange"):
        L.arange(0, 1e20, 1)
    with pytest.raises(RuntimeError, match="arange"):
        L.arange(0, 1e30, dtype=L.int64)
    with pytest.raises(NotImplementedError, match="arange: not implemented for bool"):
        L.arange(3, dtype=L.bool)


@pytest.mark.parametrize("start, end, steps", [(0, 1, 5), (-1, 1, 7), (3, -2, 4), (0, 1, 1), (0, 1, 0), (1e-3, 1e3, 9),
                                               (0, 1, 100001)])
def test_linspace_matches_numpy(start, end, steps):
    for dtype, rtol in ((L.float32, 1e-6), (L.float64, 1e-14)):
        t = L.linspace(start, end, steps, dtype=dtype)
        assert t.dtype == dtype and t.shape == (steps,)
        ref = np.linspace(start, end, steps)
        np.testing.assert_allclose(t.numpy(), ref.astype(t.numpy().dtype), rtol=rtol, atol=rtol)
        if steps >= 2:  # both ends are exact
            assert t[0].item() == np.float64(start).astype(t.numpy().dtype)
            assert t[-1].item() == np.float64(end).astype(t.numpy().dtype)
    assert L.linspace(start, end, steps).dtype == L.float32


def test_linspace_integer_and_errors():
    assert L.linspace(0, 1, 3, dtype=L.int64).tolist() == [0, 0, 1]
    assert L.linspace(-1, 1, 5, dtype=L.int32).tolist() == [-1, 0, 0, 0, 1]
    with pytest.raises(RuntimeError, match="linspace: number of steps must be non-negative"):
        L.linspace(0, 1, -1)
    with pytest.raises(RuntimeError, match="linspace"):
        L.linspace(0, 1, 2**62)
    with pytest.raises(NotImplementedError, match="linspace: not implemented for bool"):
        L.linspace(0, 1, 3, dtype=L.bool)


def test_eye():
    for n, m in ((3, None), (2, 4), (4, 2), (0, 3), (1, 1), (0, None)):
        ref = np.eye(n, m, dtype=np.float32)
        t = L.eye(n) if m is None else L.eye(n, m)
        np.testing.assert_array_equal(t.numpy(), ref)
    assert L.eye(2, requires_grad=True).requires_grad
    with pytest.raises(RuntimeError, match="eye: n must be greater or equal to 0, got -1"):
        L.eye(-1)
    with pytest.raises(RuntimeError, match="eye: m must be greater or equal to 0, got -2"):
        L.eye(2, -2)


# ---- bad sizes: an exception naming the op, never a crash -----------------------------------

NEGATIVE = [("zeros", lambda: L.zeros(2, -1)), ("ones", lambda: L.ones(-1)), ("empty", lambda: L.empty(-3, 2)),
            ("full", lambda: L.full((-1,), 1.0)), ("rand", lambda: L.rand(2, -3)), ("randn", lambda: L.randn(-1)),
            ("randint", lambda: L.randint(3, (-1,))), ("normal", lambda: L.normal(0.0, 1.0, (-2,))),
            ("linspace", lambda: L.linspace(0, 1, -5)), ("eye", lambda: L.eye(-4))]


@pytest.mark.parametrize("name, make", NEGATIVE, ids=[n for n, _ in NEGATIVE])
def test_negative_sizes_name_the_op(name, make):
    with pytest.raises(RuntimeError, match=f"^{name}: .*-"):
        make()


HUGE = [("zeros", lambda: L.zeros(2**40, 2**40)), ("ones", lambda: L.ones(2**40, 2**40)),
        ("empty", lambda: L.empty(2**31, 2**31, 4)), ("full", lambda: L.full((2**62,), 1.0)),
        ("rand", lambda: L.rand(2**40, 2**40)), ("randn", lambda: L.randn(2**62)),
        ("randint", lambda: L.randint(5, (2**40, 2**40))), ("zeros", lambda: L.zeros(2**63 - 1, 2)),
        ("empty", lambda: L.empty(2**61, dtype=L.float64)), ("empty", lambda: L.empty(*(2,) * 26))]


@pytest.mark.parametrize("name, make", HUGE, ids=[f"{n}{i}" for i, (n, _) in enumerate(HUGE)])
def test_impossible_sizes_raise(name, make):
    with pytest.raises((RuntimeError, MemoryError), match=name):
        make()


# ---- Python numbers into integer tensors are range-checked (regression: wrapped silently) --------

@pytest.mark.parametrize("data,dtype", [([2**40], L.int32), ([-(2**31) - 1], L.int32), ([float("nan")], L.int64),
                                        ([float("inf")], L.int32), ([1.0, -float("inf")], L.int64),
                                        ([3e9], L.int32), ([2.0**63], L.int64), ([[1], [2**31]], L.int32)])
def test_tensor_out_of_range_for_integer_dtype_raises(data, dtype):
    with pytest.raises(RuntimeError, match="tensor: value cannot be converted to type .* without overflow"):
        L.tensor(data, dtype=dtype)


def test_tensor_integer_range_edges_convert():
    assert L.tensor([2**31 - 1, -(2**31)], dtype=L.int32).tolist() == [2**31 - 1, -(2**31)]
    assert L.tensor([2**63 - 1, -(2**63)]).tolist() == [2**63 - 1, -(2**63)]
    assert L.tensor([1.9, -1.9], dtype=L.int64).tolist() == [1, -1]  # truncation, as in PyTorch
    assert L.tensor([2**40, 0], dtype=L.float32).dtype == L.float32


def test_tensor_int_beyond_int64_becomes_float_when_data_is_float():
    t = L.tensor([2**63, 1.5])
    assert t.dtype == L.float32
    np.testing.assert_allclose(t.numpy(), [2.0**63, 1.5])
    assert L.tensor([2**70], dtype=L.float64).tolist() == [2.0**70]
    with pytest.raises(RuntimeError, match="Overflow"):
        L.tensor([2**63])
