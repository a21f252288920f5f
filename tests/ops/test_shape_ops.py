"""Hand-written tests of the shape ops (the op table covers the common forward/gradient cases):
cat and stack, flip, roll, repeat, tile, tril/triu against numpy on many dims, dtypes and
layouts, 0-d / size-0 / size-1 inputs, gradients in float64, and bad inputs raising the
PyTorch exception type with a message naming the op."""

import numpy as np
import pytest

import lamina
from lamina.autograd import gradcheck, gradgradcheck

DTYPES = ["float32", "float64", "int32", "int64", "bool"]


def rand(shape, dtype="float64", seed=0):
    rng = np.random.default_rng(seed)
    if dtype == "bool":
        return rng.random(shape) < 0.5
    if dtype.startswith("int"):
        return rng.integers(-9, 10, size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def layouts(a):
    """(label, tensor) pairs with the values of `a`: contiguous, transposed, stepped, expanded."""
    yield "contiguous", lamina.tensor(a)
    if a.ndim >= 2:
        yield "transposed", lamina.tensor(np.ascontiguousarray(np.swapaxes(a, 0, -1))).transpose(0, -1)
    if a.ndim >= 1:
        wide = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), dtype=a.dtype)
        wide[..., ::2] = a
        yield "stepped", lamina.tensor(wide)[..., ::2]
        if a.shape[0] > 0:
            yield "expanded", lamina.tensor(a[:1]).expand(*a.shape)


def expected_for(label, a):
    """The numpy values a layout holds (the expanded layout repeats the first row)."""
    return np.broadcast_to(a[:1], a.shape) if label == "expanded" else a


def check(out, expected):
    expected = np.asarray(expected)
    assert isinstance(out, lamina.Tensor)
    assert tuple(out.shape) == expected.shape
    assert str(out.dtype) == f"lamina.{expected.dtype}"
    assert out.is_contiguous()
    assert all(s >= 0 for s in out.stride()), "internal negative strides must never escape"
    np.testing.assert_array_equal(out.numpy(), expected)


def raises(exc, *words):
    """pytest.raises with a message that must contain every word (op name, values)."""
    import re

    return pytest.raises(exc, match="(?s)" + "".join(f"(?=.*{re.escape(w)})" for w in words))


# ---- cat / stack ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_cat_matches_numpy(dtype):
    a, b, c = rand((2, 3, 4), dtype, 1), rand((2, 1, 4), dtype, 2), rand((2, 0, 4), dtype, 3)
    for dim in (1, -2):
        for la, ta in layouts(a):
            out = lamina.cat([ta, lamina.tensor(b), lamina.tensor(c)], dim)
            check(out, np.concatenate([expected_for(la, a), b, c], axis=dim))
    check(lamina.cat([lamina.tensor(a)]), a)
    check(lamina.concat((lamina.tensor(a), lamina.tensor(a)), dim=-1), np.concatenate([a, a], -1))
    check(lamina.concatenate([lamina.tensor(a), lamina.tensor(a)]), np.concatenate([a, a]))


def test_cat_promotes_dtypes():
    f32, i64 = lamina.ones(2, dtype=lamina.float32), lamina.ones(2, dtype=lamina.int64)
    i32, b = lamina.ones(2, dtype=lamina.int32), lamina.ones(2, dtype=lamina.bool)
    assert lamina.cat([i64, f32]).dtype == lamina.float32
    assert lamina.cat([i32, i64]).dtype == lamina.int64
    assert lamina.cat([b, i32]).dtype == lamina.int32
    assert lamina.cat([f32, lamina.ones(2, dtype=lamina.float64)]).dtype == lamina.float64
    assert lamina.stack([b, f32]).dtype == lamina.float32
    check(lamina.cat([b, i32]), np.array([1, 1, 1, 1], np.int32))


def test_cat_skips_legacy_empty_1d():
    x = lamina.tensor(rand((2, 3)))
    check(lamina.cat([lamina.zeros(0, dtype=lamina.float64), x, lamina.zeros(0, dtype=lamina.float64)], 1),
          x.numpy())
    check(lamina.cat([lamina.zeros(0), lamina.zeros(0)]), np.zeros(0, np.float32))
    check(lamina.cat([lamina.zeros(0), lamina.ones(2)]), np.ones(2, np.float32))
    # Only legacy empty inputs: PyTorch skips them all and never checks dim (fuzzer).
    for dim in (-2, 1, 7):
        check(lamina.cat([lamina.zeros(0), lamina.zeros(0)], dim), np.zeros(0, np.float32))


def test_cat_result_is_new_memory():
    x = lamina.tensor(rand((2, 3)))
    out = lamina.cat([x])
    out[0, 0] = 100.0
    assert x[0, 0].item() != 100.0


def test_cat_errors():
    x = lamina.ones(2, 3)
    with raises(ValueError, "cat", "non-empty"):
        lamina.cat([])
    with raises(RuntimeError, "cat", "zero-dimensional", "position 1"):
        lamina.cat([x, lamina.tensor(1.0)])
    with raises(RuntimeError, "cat", "zero-dimensional", "position 0"):
        lamina.cat([lamina.tensor(1.0), lamina.tensor(2.0)])
    with raises(RuntimeError, "cat", "same number of dimensions", "2 and 3"):
        lamina.cat([x, lamina.ones(2, 3, 4)])
    with raises(RuntimeError, "cat", "Sizes of tensors must match except in dimension 0", "Expected size 3",
                "got size 2", "tensor number 1"):
        lamina.cat([x, lamina.ones(2, 2)])
    with raises(IndexError, "cat", "dim 2"):
        lamina.cat([x, x], 2)
    with pytest.raises(TypeError):
        lamina.cat([x, 1.0])


@pytest.mark.parametrize("dtype", DTYPES)
def test_stack_matches_numpy(dtype):
    a, b = rand((3, 4), dtype, 1), rand((3, 4), dtype, 2)
    for dim in (0, 1, 2, -1, -3):
        for la, ta in layouts(a):
            check(lamina.stack([ta, lamina.tensor(b)], dim), np.stack([expected_for(la, a), b], axis=dim))
    check(lamina.stack([lamina.tensor(1.5), lamina.tensor(2.5)]), np.array([1.5, 2.5], np.float32))
    check(lamina.stack([lamina.zeros(0, 2)], 1), np.zeros((0, 1, 2), np.float32))


def test_stack_errors():
    with raises(ValueError, "stack", "non-empty"):
        lamina.stack([])
    with raises(RuntimeError, "stack", "equal size", "(2, 3) at entry 0", "(2, 2) at entry 1"):
        lamina.stack([lamina.ones(2, 3), lamina.ones(2, 2)])
    with raises(IndexError, "stack", "dim 3"):
        lamina.stack([lamina.ones(2, 3)], 3)


def test_cat_stack_gradients():
    a = lamina.tensor(rand((2, 3), seed=1), requires_grad=True)
    b = lamina.tensor(rand((2, 1), seed=2), requires_grad=True)
    c = lamina.tensor(rand((2, 2), seed=3))  # needs no gradient
    assert gradcheck(lambda x, y: lamina.cat([x, c, y], 1), [a, b])
    assert gradgradcheck(lambda x, y: lamina.cat([x, c, y], -1) ** 2, [a, b])
    empty = lamina.zeros(0, dtype=lamina.float64, requires_grad=True)
    assert gradcheck(lambda x, e: lamina.cat([e, x, e], 0), [a, empty])
    d = lamina.tensor(rand((2, 3), seed=4), requires_grad=True)
    assert gradcheck(lambda x, y: lamina.stack([x, y], 1), [a, d])
    assert gradgradcheck(lambda x, y: lamina.stack([x, y]) ** 2, [a, d])
    assert lamina.cat([a, b], 1).grad_fn.name() == "CatBackward0"
    assert lamina.stack([a, d]).grad_fn.name() == "StackBackward0"
    assert lamina.cat([c, c]).grad_fn is None


# ---- flip ----------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_flip_matches_numpy(dtype, isa):
    for shape in [(), (0,), (1,), (5,), (3, 4), (2, 0, 3), (2, 3, 4), (1, 1, 5)]:
        a = rand(shape, dtype)
        dim_sets = [[]] + [[d] for d in range(-len(shape), len(shape))] + [list(range(len(shape)))]
        if len(shape) >= 3:
            dim_sets.append([0, -1])
        for dims in dim_sets:
            for la, t in layouts(a):
                out = lamina.flip(t, dims)
                check(out, np.flip(expected_for(la, a), tuple(dims)))
                if dims:
                    check(t.flip(*dims), np.flip(expected_for(la, a), tuple(dims)))


def test_flip_0d_and_method_forms():
    s = lamina.tensor(2.5)
    check(lamina.flip(s, [0]), np.array(2.5, np.float32))
    check(s.flip([]), np.array(2.5, np.float32))
    x = lamina.tensor(rand((2, 3)))
    check(x.flip((0, 1)), np.flip(x.numpy()))
    check(x.flip([1]), np.flip(x.numpy(), 1))
    out = x.flip(0)
    out[0, 0] = 99.0
    assert x[1, 0].item() != 99.0, "flip returns new memory"


def test_flip_errors():
    x = lamina.ones(2, 3)
    with raises(RuntimeError, "flip", "dim 0 appears multiple times"):
        lamina.flip(x, [0, -2])
    with raises(IndexError, "flip", "dim 2", "2-d"):
        lamina.flip(x, [2])
    with raises(TypeError, "flip", "dims"):
        x.flip()
    with pytest.raises(TypeError):
        lamina.flip(x, None)


def test_flip_gradient():
    x = lamina.tensor(rand((2, 3, 2)), requires_grad=True)
    assert gradcheck(lambda t: t.flip(0, 2), [x])
    assert gradgradcheck(lambda t: t.flip(1) ** 2, [x])
    assert gradcheck(lambda t: t.transpose(0, 2).flip(-1), [x])
    assert x.flip(0).grad_fn.name() == "FlipBackward0"


# ---- roll ----------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_roll_matches_numpy(dtype):
    for shape in [(), (0,), (1,), (5,), (3, 4), (2, 0, 3), (2, 3, 4)]:
        a = rand(shape, dtype)
        for shift in (0, 1, -2, 7, -13, 2**62):
            for la, t in layouts(a):
                ref = expected_for(la, a)
                check(lamina.roll(t, shift), np.roll(ref, shift))
                for d in range(-len(shape), len(shape)):
                    check(t.roll(shift, d), np.roll(ref, shift, axis=d))
        if len(shape) >= 2:
            t = lamina.tensor(a)
            check(lamina.roll(t, (1, -1), (0, 1)), np.roll(a, (1, -1), axis=(0, 1)))
            check(lamina.roll(t, [2, 3], [1, 1]), np.roll(a, 5, axis=1))
            check(lamina.roll(t, shifts=(1,), dims=(-1,)), np.roll(a, 1, axis=-1))


def test_roll_errors():
    x = lamina.ones(2, 3)
    with raises(RuntimeError, "roll", "shifts and dimensions must align", "shifts: 2, dims:0"):
        lamina.roll(x, (1, 2))
    with raises(RuntimeError, "roll", "shifts and dimensions must align", "shifts: 1, dims:2"):
        lamina.roll(x, 1, (0, 1))
    with raises(RuntimeError, "roll", "`shifts` required"):
        lamina.roll(x, [], [])
    with raises(IndexError, "roll", "dim 2"):
        lamina.roll(x, 1, 2)
    with raises(IndexError, "roll", "no dimensions"):
        lamina.roll(lamina.tensor(1.0), 1, 0)
    with pytest.raises(TypeError):
        lamina.roll(x, 1.5)


def test_roll_gradient():
    x = lamina.tensor(rand((3, 4)), requires_grad=True)
    assert gradcheck(lambda t: lamina.roll(t, 5), [x])
    assert gradcheck(lambda t: t.roll((1, -3), (0, 1)), [x])
    assert gradcheck(lambda t: t.t().roll(2), [x])  # flattened roll of a non-contiguous input
    assert gradgradcheck(lambda t: t.roll(1, 0) ** 2, [x])
    assert x.roll(1).grad_fn.name() == "RollBackward0"


# ---- repeat / tile -------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_repeat_matches_numpy(dtype, isa):
    cases = [((), ()), ((), (3,)), ((), (2, 2)), ((0,), (3,)), ((1,), (4,)), ((3,), (2, 1)), ((2, 3), (2, 3)),
             ((2, 3), (1, 1)), ((2, 3), (0, 2)), ((2, 3), (2, 1, 2)), ((2, 1, 3), (1, 4, 1, 2)), ((2, 0, 3), (3, 1, 2))]
    for shape, reps in cases:
        a = rand(shape, dtype)
        for la, t in layouts(a):
            check(t.repeat(*reps) if reps else t.repeat(reps), np.tile(expected_for(la, a), reps))
            check(t.repeat(list(reps)), np.tile(expected_for(la, a), reps))


def test_repeat_errors():
    x = lamina.ones(2, 3)
    with raises(RuntimeError, "repeat", "Number of dimensions of repeat dims can not be smaller"):
        x.repeat(2)
    with raises(RuntimeError, "repeat", "negative dimension -2"):
        x.repeat(-1, 2)
    with raises(RuntimeError, "repeat", "overflowed"):
        x.repeat(2**40, 2**40)
    with raises(RuntimeError, "repeat", "too many elements"):
        x.repeat(2**62, 2**62)
    with raises(TypeError, "repeat", "repeats"):
        x.repeat()
    with pytest.raises(TypeError):
        x.repeat(2, 2.5)
    assert not hasattr(lamina, "repeat"), "like PyTorch, repeat is a Tensor method only"


def test_repeat_gradient():
    x = lamina.tensor(rand((2, 3)), requires_grad=True)
    assert gradcheck(lambda t: t.repeat(2, 1, 3), [x])
    assert gradcheck(lambda t: t.t().repeat(2, 2), [x])
    assert gradgradcheck(lambda t: t.repeat(2, 2) ** 2, [x])
    assert gradcheck(lambda t: t.repeat(0, 2), [x])
    s = lamina.tensor(1.5, dtype=lamina.float64, requires_grad=True)
    assert gradcheck(lambda t: t.repeat(2, 3), [s])
    assert x.repeat(1, 2).grad_fn.name() == "RepeatBackward0"


def test_repeat_many_repeated_dims():
    """13 dims that are each repeated: more than 25 interleaved dims, copied in stages."""
    a = rand((2,) * 13, "bool")
    reps = (2,) * 13
    check(lamina.tensor(a).repeat(*reps), np.tile(a, reps))
    x = lamina.tensor(rand((2,) * 13, "float32"), requires_grad=True)
    x.repeat(*reps).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full((2,) * 13, 2.0**13, np.float32))


@pytest.mark.parametrize("dtype", ["float32", "int64", "bool"])
def test_tile_matches_numpy(dtype):
    for shape, reps in [((), (2,)), ((3,), (2,)), ((2, 3), (2,)), ((2, 3), (2, 2)), ((2, 3), (1, 2, 1)),
                        ((2, 3, 4), ()), ((0, 2), (3,))]:
        a = rand(shape, dtype)
        for la, t in layouts(a):
            check(lamina.tile(t, reps), np.tile(expected_for(la, a), reps))
            if reps:
                check(t.tile(*reps), np.tile(expected_for(la, a), reps))


def test_tile_errors_and_gradient():
    x = lamina.tensor(rand((2, 3)), requires_grad=True)
    with raises(RuntimeError, "repeat", "negative dimension"):
        lamina.tile(x, (-1,))
    with raises(TypeError, "tile", "dims"):
        x.tile()
    assert gradcheck(lambda t: lamina.tile(t, (2,)), [x])
    assert gradcheck(lambda t: t.tile(2, 1, 1), [x])


# ---- tril / triu ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_tril_triu_match_numpy(dtype, isa):
    for shape in [(3, 4), (4, 3), (1, 1), (2, 3, 4), (0, 3), (3, 0), (2, 1, 5, 5)]:
        a = rand(shape, dtype)
        for k in (-5, -1, 0, 1, 2, 6, 2**62, -(2**62)):
            for la, t in layouts(a):
                ref = expected_for(la, a)
                check(lamina.tril(t, k), np.tril(ref, k))
                check(t.triu(k), np.triu(ref, k))
                check(t.tril(diagonal=k), np.tril(ref, k))
        check(lamina.triu(lamina.tensor(a)), np.triu(a))


def test_tril_triu_in_place():
    a = rand((3, 4))
    t = lamina.tensor(a)
    assert t.tril_(1) is t
    np.testing.assert_array_equal(t.numpy(), np.tril(a, 1))
    u = lamina.tensor(a).t()  # non-contiguous target
    u.triu_()
    np.testing.assert_array_equal(u.numpy(), np.triu(a.T))
    x = lamina.tensor(a, requires_grad=True)
    y = x * 2
    y.tril_()
    assert y.grad_fn.name() == "TrilBackward0"
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.tril(np.full(a.shape, 2.0)))
    with pytest.raises(RuntimeError):
        x.tril_()  # a leaf that requires grad


def test_tril_triu_errors():
    for fn, name in ((lamina.tril, "tril"), (lamina.triu, "triu")):
        with raises(RuntimeError, name, "at least 2 dimensions"):
            fn(lamina.ones(3))
        with raises(RuntimeError, name, "at least 2 dimensions"):
            fn(lamina.tensor(1.0))
    with raises(RuntimeError, "tril_", "at least 2 dimensions"):
        lamina.ones(3).tril_()
    with pytest.raises(TypeError):
        lamina.tril(lamina.ones(2, 2), 1.5)


def test_tril_triu_gradient():
    x = lamina.tensor(rand((2, 3, 4)), requires_grad=True)
    assert gradcheck(lambda t: lamina.tril(t, 1), [x])
    assert gradcheck(lambda t: t.transpose(1, 2).triu(-1), [x])
    assert gradgradcheck(lambda t: t.tril() ** 2, [x])
    assert x.tril().grad_fn.name() == "TrilBackward0"
    assert x.triu().grad_fn.name() == "TriuBackward0"


def test_shape_ops_keep_grad_mode_off():
    x = lamina.tensor(rand((2, 3)), requires_grad=True)
    with lamina.no_grad():
        for out in (x.flip(0), x.roll(1), x.repeat(2, 1), x.tril(), lamina.cat([x, x]), lamina.stack([x])):
            assert out.grad_fn is None and not out.requires_grad
