"""Matrix products (matmul, mm, bmm, dot, mv, outer, addmm, baddbmm, nn.functional.linear) against
numpy in float64: every 1-D/2-D/batched combination with broadcasting, size-0 and size-1 dims,
non-contiguous operands (transposed, stepped, expanded), every ISA level, integer dtypes;
gradients by gradcheck/gradgradcheck; grad_fn names; 1/2/3 threads giving the same bytes;
error types and messages."""

import numpy as np
import pytest

import lamina
import lamina.nn.functional as F
from lamina.autograd import gradcheck, gradgradcheck

LAYOUTS = ("contiguous", "transposed", "stepped", "expanded")


def make(shape, dtype="float64", layout="contiguous", rng=None, requires_grad=False):
    """A tensor of `shape` with the given memory layout, and its values as a numpy array."""
    rng = rng if rng is not None else np.random.default_rng(0)
    shape = tuple(shape)

    def values(s):
        if dtype in ("int32", "int64"):
            return rng.integers(-4, 5, size=s).astype(dtype)
        return rng.uniform(-1, 1, size=s).astype(dtype)

    if layout == "transposed" and len(shape) >= 2:
        a = values(shape[:-2] + (shape[-1], shape[-2]))
        t = lamina.tensor(a).mT
    elif layout == "stepped" and len(shape) >= 1:
        a = values(shape[:-1] + (2 * shape[-1],))
        t = lamina.tensor(a)[..., ::2]
    elif layout == "expanded" and len(shape) >= 1 and shape[0] > 1:
        a = values((1,) + shape[1:])
        t = lamina.tensor(a).expand(*shape)
    else:
        t = lamina.tensor(values(shape))
    if requires_grad:
        t.requires_grad_(True)
    return t, t.detach().numpy().copy()


def check(out, expected, dtype):
    assert tuple(out.shape) == expected.shape
    assert out.dtype == getattr(lamina, dtype)
    got = out.detach().numpy()
    if dtype in ("int32", "int64"):
        np.testing.assert_array_equal(got, expected)
    elif dtype == "float32":
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    else:
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def ref_matmul(a, b):
    return np.matmul(a.astype(np.float64), b.astype(np.float64)).astype(a.dtype)


MATMUL_SHAPES = [
    ((3,), (3,)), ((1,), (1,)), ((0,), (0,)),
    ((2, 3), (3,)), ((3,), (3, 4)), ((0, 3), (3,)), ((3,), (3, 0)),
    ((2, 3), (3, 4)), ((1, 1), (1, 1)), ((5, 1), (1, 4)), ((0, 3), (3, 4)), ((2, 0), (0, 4)), ((2, 3), (3, 0)),
    ((4, 2, 3), (3, 5)), ((2, 3), (4, 3, 5)), ((4, 2, 3), (4, 3, 5)), ((4, 2, 3), (1, 3, 5)),
    ((4, 2, 3), (3,)), ((3,), (4, 3, 5)), ((4, 1, 3), (3, 5)), ((4, 2, 3), (3, 1)),
    ((2, 1, 2, 3), (5, 3, 4)), ((3, 1, 2, 3), (1, 4, 3, 2)), ((2, 3, 4, 5), (5, 2)), ((0, 2, 3), (3, 4)),
    ((2, 0, 3), (2, 3, 4)), ((3, 2, 0), (3, 0, 4)), ((1, 2, 3), (2, 1, 3, 4)),
]


@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_matmul_forward_matches_numpy(shapes, dtype, isa):
    rng = np.random.default_rng(1)
    for la in LAYOUTS:
        for lb in ("contiguous", "transposed", "expanded"):
            a, an = make(shapes[0], dtype, la, rng)
            b, bn = make(shapes[1], dtype, lb, rng)
            check(lamina.matmul(a, b), ref_matmul(an, bn), dtype)
    a, an = make(shapes[0], dtype, "stepped", rng)
    b, bn = make(shapes[1], dtype, "stepped", rng)
    check(a @ b, ref_matmul(an, bn), dtype)
    check(a.matmul(b), ref_matmul(an, bn), dtype)
    check(b.__rmatmul__(a), ref_matmul(an, bn), dtype)


@pytest.mark.parametrize("dtype", ["int32", "int64"])
@pytest.mark.parametrize("shapes", [((3,), (3,)), ((2, 3), (3, 4)), ((4, 2, 3), (3,)), ((2, 1, 2, 3), (5, 3, 4))],
                         ids=str)
def test_matmul_integer_dtypes(shapes, dtype):
    rng = np.random.default_rng(2)
    a, an = make(shapes[0], dtype, "transposed", rng)
    b, bn = make(shapes[1], dtype, "stepped", rng)
    out = lamina.matmul(a, b)
    check(out, np.matmul(an, bn).astype(dtype), dtype)
    assert out.grad_fn is None


def test_large_products_match_numpy(isa):
    """Sizes past any blocking boundary, with transposed and batch-broadcast operands."""
    rng = np.random.default_rng(3)
    for shapes, lb in [(((67, 129), (129, 71)), "transposed"), (((3, 33, 65), (65, 17)), "contiguous"),
                       (((2, 1, 31, 40), (3, 40, 9)), "stepped")]:
        for dtype in ("float32", "float64"):
            a, an = make(shapes[0], dtype, "contiguous", rng)
            b, bn = make(shapes[1], dtype, lb, rng)
            expected = np.matmul(an.astype(np.float64), bn.astype(np.float64))
            got = lamina.matmul(a, b).numpy()
            tol = 1e-4 if dtype == "float32" else 1e-11
            np.testing.assert_allclose(got, expected, rtol=tol, atol=tol)


def test_mm_bmm_dot_mv_outer_forward(isa):
    rng = np.random.default_rng(4)
    for dtype in ("float32", "float64", "int64"):
        for layout in LAYOUTS:
            a, an = make((3, 4), dtype, layout, rng)
            b, bn = make((4, 5), dtype, layout, rng)
            check(lamina.mm(a, b), ref_matmul(an, bn), dtype)
            check(a.mm(b), ref_matmul(an, bn), dtype)
            a, an = make((2, 3, 4), dtype, layout, rng)
            b, bn = make((2, 4, 5), dtype, layout, rng)
            check(lamina.bmm(a, b), ref_matmul(an, bn), dtype)
            check(a.bmm(b), ref_matmul(an, bn), dtype)
            u, un = make((6,), dtype, layout, rng)
            v, vn = make((6,), dtype, layout, rng)
            check(lamina.dot(u, v), np.asarray(ref_matmul(un, vn)), dtype)
            check(u.dot(v), np.asarray(ref_matmul(un, vn)), dtype)
            check(lamina.outer(u, v[:4]), np.outer(un, vn[:4]).astype(dtype), dtype)
            check(u.outer(v), np.outer(un, vn).astype(dtype), dtype)
            m, mn = make((5, 6), dtype, layout, rng)
            check(lamina.mv(m, u), ref_matmul(mn, un), dtype)
            check(m.mv(u), ref_matmul(mn, un), dtype)
    assert lamina.dot(lamina.zeros(0), lamina.zeros(0)).item() == 0.0
    assert tuple(lamina.outer(lamina.zeros(0), lamina.zeros(3)).shape) == (0, 3)


@pytest.mark.parametrize("input_shape", [(3, 5), (5,), (1, 5), (3, 1), (), (1,)], ids=str)
@pytest.mark.parametrize("beta,alpha", [(1, 1), (0.5, 2.0), (0, 1), (1, -1.5)])
def test_addmm_forward(input_shape, beta, alpha, isa):
    rng = np.random.default_rng(5)
    for dtype in ("float32", "float64"):
        inp, inn = make(input_shape, dtype, "stepped" if input_shape else "contiguous", rng)
        a, an = make((3, 4), dtype, "transposed", rng)
        b, bn = make((4, 5), dtype, "contiguous", rng)
        expected = (alpha * ref_matmul(an, bn) + (beta * inn if beta != 0 else 0)).astype(dtype)
        check(lamina.addmm(inp, a, b, beta=beta, alpha=alpha), expected, dtype)
        check(inp.addmm(a, b, beta=beta, alpha=alpha), expected, dtype)


def test_addmm_beta_zero_ignores_nan_input():
    inp = lamina.full((2, 2), float("nan"))
    out = lamina.addmm(inp, lamina.ones(2, 3), lamina.ones(3, 2), beta=0)
    assert out.tolist() == [[3.0, 3.0], [3.0, 3.0]]


def test_addmm_integer():
    inp = lamina.tensor([1, 2])
    a, b = lamina.tensor([[1, 2], [3, 4]]), lamina.tensor([[1, 0], [0, 1]])
    assert lamina.addmm(inp, a, b, beta=2, alpha=3).tolist() == [[5, 10], [11, 16]]
    with pytest.raises(RuntimeError, match="alpha must not be a floating point"):
        lamina.addmm(inp, a, b, alpha=0.5)


@pytest.mark.parametrize("input_shape", [(2, 3, 5), (3, 5), (5,), (1, 3, 5), (2, 1, 1), ()], ids=str)
@pytest.mark.parametrize("beta,alpha", [(1, 1), (0.5, 2.0), (0, 1)])
def test_baddbmm_forward(input_shape, beta, alpha, isa):
    rng = np.random.default_rng(6)
    for dtype in ("float32", "float64"):
        inp, inn = make(input_shape, dtype, "contiguous", rng)
        a, an = make((2, 3, 4), dtype, "expanded", rng)
        b, bn = make((2, 4, 5), dtype, "transposed", rng)
        expected = (alpha * ref_matmul(an, bn) + (beta * inn if beta != 0 else 0)).astype(dtype)
        check(lamina.baddbmm(inp, a, b, beta=beta, alpha=alpha), expected, dtype)
        check(inp.baddbmm(a, b, beta=beta, alpha=alpha), np.broadcast_to(expected, (2, 3, 5)), dtype) \
            if input_shape == (2, 3, 5) else None


@pytest.mark.parametrize("input_shape", [(4,), (3, 4), (2, 3, 4), (2, 1, 3, 4), (0, 4), (3, 0)], ids=str)
@pytest.mark.parametrize("bias", [True, False])
def test_linear_forward(input_shape, bias, isa):
    rng = np.random.default_rng(7)
    in_features = input_shape[-1]
    for dtype in ("float32", "float64"):
        for layout in ("contiguous", "transposed", "stepped"):
            x, xn = make(input_shape, dtype, layout, rng)
            w, wn = make((5, in_features), dtype, layout, rng)
            b, bn = make((5,), dtype, "stepped", rng) if bias else (None, 0)
            expected = (ref_matmul(xn, wn.T) + bn).astype(dtype)
            check(F.linear(x, w, b), expected, dtype)
    assert F.linear is not None and F.linear(lamina.ones(2, 3), lamina.ones(4, 3), lamina.ones(1)).tolist() == \
        [[4.0] * 4] * 2


def test_linear_one_dim_weight():
    x, w = lamina.tensor([[1.0, 2.0], [3.0, 4.0]]), lamina.tensor([1.0, -1.0])
    assert F.linear(x, w).tolist() == [-1.0, -1.0]
    assert F.linear(x, w, lamina.tensor(1.0)).tolist() == [0.0, 0.0]
    # As PyTorch (found by the differential fuzzer): no weight of 3 or more dims, and with a 1-D
    # weight the bias is added in place, so it cannot grow the output.
    with pytest.raises(RuntimeError, match="weight must be 1-D or 2-D"):
        F.linear(x, lamina.ones(2, 2, 2))
    with pytest.raises(RuntimeError, match="cannot be broadcast to the output of shape"):
        F.linear(lamina.ones(2), w, lamina.ones(2))


# ---- gradients ----

GRAD_SHAPES = [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 2)), ((2, 3), (3, 4)), ((2, 2, 3), (3, 2)),
               ((2, 3), (2, 3, 2)), ((2, 1, 2, 3), (3, 3, 2)), ((2, 2, 3), (3,)), ((3,), (2, 3, 2)),
               ((0, 3), (3, 2))]


@pytest.mark.parametrize("shapes", GRAD_SHAPES, ids=str)
def test_matmul_gradients(shapes):
    rng = np.random.default_rng(8)
    # gradcheck perturbs leaves through a flat view, so leaves are contiguous; b enters transposed.
    a, _ = make(shapes[0], "float64", "contiguous", rng, requires_grad=True)
    bt = shapes[1] if len(shapes[1]) < 2 else shapes[1][:-2] + (shapes[1][-1], shapes[1][-2])
    b, _ = make(bt, "float64", "contiguous", rng, requires_grad=True)

    def fn(x, y):
        return lamina.matmul(x, y.mT if y.dim() >= 2 else y)

    assert gradcheck(fn, [a, b])
    assert gradgradcheck(fn, [a, b])


def test_products_gradients():
    rng = np.random.default_rng(9)

    def g(*shapes):
        return [make(s, "float64", "contiguous", rng, requires_grad=True)[0] for s in shapes]

    def mm_t(x, y):
        return lamina.mm(x.t(), y.t())

    def bmm_t(x, y):
        return lamina.bmm(x.mT, y[:, ::2])

    for fn, inputs in [(lamina.mm, ((2, 3), (3, 4))), (mm_t, ((3, 2), (4, 3))), (lamina.bmm, ((2, 2, 3), (2, 3, 2))),
                       (bmm_t, ((2, 3, 2), (2, 6, 2)))]:
        assert gradcheck(fn, g(*inputs))
        assert gradgradcheck(fn, g(*inputs))
    assert gradcheck(lamina.dot, g((4,), (4,)))
    assert gradgradcheck(lamina.dot, g((4,), (4,)))
    assert gradcheck(lamina.mv, g((3, 4), (4,)))
    assert gradgradcheck(lamina.mv, g((3, 4), (4,)))
    assert gradcheck(lamina.outer, g((3,), (4,)))
    assert gradgradcheck(lamina.outer, g((3,), (4,)))
    for beta, alpha in [(1, 1), (0.5, -2.0), (0, 1)]:
        fn = lambda i, x, y, b=beta, a=alpha: lamina.addmm(i, x, y, beta=b, alpha=a)  # noqa: E731
        for ishape in [(2, 4), (4,), ()]:
            assert gradcheck(fn, g(ishape, (2, 3), (3, 4)))
            assert gradgradcheck(fn, g(ishape, (2, 3), (3, 4)))
        fn = lambda i, x, y, b=beta, a=alpha: lamina.baddbmm(i, x, y, beta=b, alpha=a)  # noqa: E731
        for ishape in [(2, 2, 4), (2, 4), (1, 1, 4)]:
            assert gradcheck(fn, g(ishape, (2, 2, 3), (2, 3, 4)))
            assert gradgradcheck(fn, g(ishape, (2, 2, 3), (2, 3, 4)))


@pytest.mark.parametrize("input_shape", [(3,), (2, 3), (2, 2, 3)], ids=str)
def test_linear_gradients(input_shape):
    rng = np.random.default_rng(10)
    x, _ = make(input_shape, "float64", "contiguous", rng, requires_grad=True)
    w, _ = make((4, 3), "float64", "contiguous", rng, requires_grad=True)
    b, _ = make((4,), "float64", "contiguous", rng, requires_grad=True)
    assert gradcheck(F.linear, [x, w, b])
    assert gradgradcheck(F.linear, [x, w, b])
    assert gradcheck(F.linear, [x, w])
    assert gradgradcheck(F.linear, [x, w])
    wt, _ = make((3, 4), "float64", "contiguous", rng, requires_grad=True)
    assert gradcheck(lambda x, w, b: F.linear(x, w.t(), b), [x, wt, b])


def test_gradients_only_for_inputs_that_need_them():
    a = lamina.ones(2, 3, requires_grad=True)
    b = lamina.ones(3, 4)
    lamina.matmul(a, b).sum().backward()
    assert a.grad.tolist() == [[4.0] * 3] * 2 and b.grad is None
    x, w, bias = lamina.ones(5, 3), lamina.ones(4, 3), lamina.ones(4, requires_grad=True)
    F.linear(x, w, bias).sum().backward()
    assert bias.grad.tolist() == [5.0] * 4


def test_grad_fn_names():
    def name(out):
        return type(out.grad_fn).__name__ if not hasattr(out.grad_fn, "name") else out.grad_fn.name()

    a2, a3 = lamina.ones(2, 3, requires_grad=True), lamina.ones(2, 2, 3, requires_grad=True)
    v = lamina.ones(3, requires_grad=True)
    b2, b3 = lamina.ones(3, 2), lamina.ones(2, 3, 2)
    assert name(lamina.mm(a2, b2)) == "MmBackward0"
    assert name(lamina.matmul(a2, b2)) == "MmBackward0"
    assert name(lamina.bmm(a3, b3)) == "BmmBackward0"
    assert name(lamina.dot(v, v)) == "DotBackward0"
    assert name(lamina.mv(a2, v)) == "MvBackward0"
    assert name(lamina.addmm(lamina.ones(2), a2, b2)) == "AddmmBackward0"
    assert name(lamina.baddbmm(lamina.ones(2), a3, b3)) == "BaddbmmBackward0"
    assert name(F.linear(a2, lamina.ones(4, 3), lamina.ones(4))) == "AddmmBackward0"
    assert name(F.linear(a2, lamina.ones(4, 3))) == "MmBackward0"
    assert name(F.linear(a3, lamina.ones(4, 3))) == "LinearBackward0"


# ---- determinism ----

@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_same_bytes_for_any_thread_count(dtype, isa, threads):
    rng = np.random.default_rng(11)
    cases = [(make((97, 131), dtype, "contiguous", rng)[0], make((131, 83), dtype, "transposed", rng)[0]),
             (make((5, 37, 64), dtype, "contiguous", rng)[0], make((64, 29), dtype, "contiguous", rng)[0]),
             (make((3, 1, 20, 33), dtype, "stepped", rng)[0], make((4, 33, 21), dtype, "contiguous", rng)[0])]
    w, bias = make((29, 64), dtype, "contiguous", rng)[0], make((29,), dtype, "contiguous", rng)[0]
    results = {}
    for n in (1, 2, 3):
        threads(n)
        outs = [lamina.matmul(a, b) for a, b in cases] + [F.linear(cases[1][0], w, bias)]
        results[n] = [o.numpy().tobytes() for o in outs]
    assert results[1] == results[2] == results[3]


# ---- errors ----

def test_shape_errors():
    a, b = lamina.ones(2, 3), lamina.ones(4, 5)
    with pytest.raises(RuntimeError, match=r"matmul: shapes \(2, 3\) and \(4, 5\) cannot be multiplied \(3 != 4\)"):
        lamina.matmul(a, b)
    with pytest.raises(RuntimeError, match=r"mm: shapes \(2, 3\) and \(4, 5\) cannot be multiplied"):
        lamina.mm(a, b)
    with pytest.raises(RuntimeError,
                       match=r"matmul: the batch dims of shapes \(2, 2, 3\) and \(3, 3, 2\) cannot be broadcast"):
        lamina.matmul(lamina.ones(2, 2, 3), lamina.ones(3, 3, 2))
    with pytest.raises(RuntimeError, match=r"matmul: shapes \(3,\) and \(4,\) cannot be multiplied"):
        lamina.ones(3) @ lamina.ones(4)
    with pytest.raises(RuntimeError, match="at least 1-D"):
        lamina.matmul(lamina.tensor(1.0), a)
    with pytest.raises(RuntimeError, match="at least 1-D"):
        lamina.matmul(a, lamina.tensor(1.0))
    with pytest.raises(RuntimeError, match="mm: expected self to be a 2-D tensor"):
        lamina.mm(lamina.ones(3), a)
    with pytest.raises(RuntimeError, match="bmm: expected mat2 to be a 3-D tensor"):
        lamina.bmm(lamina.ones(2, 2, 3), a)
    with pytest.raises(RuntimeError, match=r"bmm: batch sizes of \(2, 2, 3\) and \(3, 3, 2\) must match"):
        lamina.bmm(lamina.ones(2, 2, 3), lamina.ones(3, 3, 2))
    with pytest.raises(RuntimeError, match="dot: 1D tensors expected"):
        lamina.dot(lamina.ones(3), a)
    with pytest.raises(RuntimeError, match="dot: inconsistent tensor size"):
        lamina.dot(lamina.ones(3), lamina.ones(4))
    with pytest.raises(RuntimeError, match="mv: expected a 2-D matrix and a 1-D vector"):
        lamina.mv(lamina.ones(3), lamina.ones(3))
    with pytest.raises(RuntimeError, match=r"mv: shapes \(2, 3\) and \(4,\)"):
        lamina.mv(a, lamina.ones(4))
    with pytest.raises(RuntimeError, match="outer: 1D tensors expected"):
        lamina.outer(a, lamina.ones(3))
    with pytest.raises(RuntimeError, match=r"addmm: input of shape \(4,\) cannot be broadcast"):
        lamina.addmm(lamina.ones(4), a, lamina.ones(3, 2))
    with pytest.raises(RuntimeError, match="addmm: expected mat2 to be a 2-D tensor"):
        lamina.addmm(lamina.ones(2), a, lamina.ones(3))
    with pytest.raises(RuntimeError, match="baddbmm: batch sizes"):
        lamina.baddbmm(lamina.ones(1), lamina.ones(2, 2, 3), lamina.ones(3, 3, 2))
    with pytest.raises(RuntimeError, match=r"linear: input \(2, 3\) does not match weight \(5, 4\)"):
        F.linear(a, lamina.ones(5, 4))
    with pytest.raises(RuntimeError, match="linear: bias of shape"):
        F.linear(a, lamina.ones(5, 3), lamina.ones(4))


def test_dtype_errors():
    a32, a64 = lamina.ones(2, 2), lamina.ones(2, 2, dtype=lamina.float64)
    for fn in (lamina.matmul, lamina.mm):
        with pytest.raises(RuntimeError, match="same dtype, but got Float and Double"):
            fn(a32, a64)
    with pytest.raises(RuntimeError, match="addmm: expected both operands to have the same dtype"):
        lamina.addmm(a64, a32, a32)
    with pytest.raises(RuntimeError, match="linear: expected both operands to have the same dtype"):
        F.linear(a32, a32, lamina.ones(2, dtype=lamina.float64))
    b = lamina.ones(2, 2, dtype=lamina.bool)
    with pytest.raises(RuntimeError, match="matmul: not implemented for 'Bool'"):
        lamina.matmul(b, b)


def test_operator_with_non_tensor():
    with pytest.raises(TypeError):
        lamina.ones(2, 2) @ 3
    with pytest.raises(TypeError):
        3 @ lamina.ones(2, 2)
    with pytest.raises(TypeError):
        lamina.matmul(lamina.ones(2, 2), 3)


def test_functional_linear_is_the_c_op():
    x, w, b = lamina.ones(2, 3), lamina.ones(4, 3), lamina.ones(4)
    assert lamina._C._linear(x, w, b).tolist() == F.linear(x, w, b).tolist() == [[4.0] * 4] * 2
    assert lamina._C._linear(x, w).tolist() == [[3.0] * 4] * 2


def test_saves_only_the_operands_a_gradient_needs():
    leaf = lamina.ones(2, 3, requires_grad=True)
    a, b = leaf * 1, lamina.ones(3, 4)
    out = lamina.matmul(a, b)
    a.add_(1)  # a is not saved: grad_a needs only b
    out.sum().backward()
    assert leaf.grad.tolist() == [[4.0] * 3] * 2
    out = lamina.matmul(leaf * 1, b)
    b.add_(1)  # b is saved for grad_a: the in-place write is reported
    with pytest.raises(RuntimeError):
        out.sum().backward()
    x, w = lamina.ones(2, 3), lamina.ones(4, 3, requires_grad=True)
    out = F.linear(x, w)
    x.add_(1)  # x is saved for grad_W
    with pytest.raises(RuntimeError):
        out.sum().backward()


@pytest.mark.parametrize("dtype,big", [(lamina.int32, 2**31 - 1), (lamina.int64, 2**63 - 1)])
def test_integer_matmul_wraps_on_overflow_like_pytorch(dtype, big):
    # regression: signed overflow in the integer GEMM (undefined behaviour; UBSan caught it)
    a = lamina.tensor([big, big], dtype=dtype)
    assert int(a @ a) == 2  # big * big wraps to 1, twice
    m = lamina.tensor([[big, 1], [2, big]], dtype=dtype)
    bits = 32 if dtype == lamina.int32 else 64
    wrap = lambda v: (v + 2 ** (bits - 1)) % 2**bits - 2 ** (bits - 1)
    expected = [[wrap(big * big + 2), wrap(2 * big)], [wrap(4 * big), wrap(2 + big * big)]]
    assert (m @ m).tolist() == expected
