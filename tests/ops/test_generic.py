"""Generic suites over the op table (tests/op_db): forward against numpy on many shapes and memory
layouts at every ISA level, and gradients against finite differences in float64."""

import numpy as np
import pytest

import lamina
from op_db import SPECS_BY_KIND
from op_db.spec import BINARY_SHAPES, REDUCTION_SHAPES, UNARY_SHAPES, random_array


def layouts(a):
    """(label, tensor) pairs holding the values of `a` in different memory layouts."""
    yield "contiguous", lamina.tensor(a)
    if a.ndim >= 2:
        yield "transposed", lamina.tensor(np.ascontiguousarray(np.swapaxes(a, -1, -2))).transpose(-1, -2)
    if a.ndim >= 1:
        wide = np.zeros(a.shape[:-1] + (2 * a.shape[-1] + 1,), dtype=a.dtype)
        wide[..., 1::2] = a
        yield "strided", lamina.tensor(wide)[..., 1::2]
    if a.ndim >= 1 and a.shape[0] > 0 and np.all(a == a[:1]):
        yield "expanded", lamina.tensor(a[:1]).expand(*a.shape)


def check_close(out, expected, spec, dtype, context):
    expected = np.asarray(expected)
    assert isinstance(out, lamina.Tensor), f"{context}: expected a tensor, got {type(out)}"
    assert tuple(out.shape) == expected.shape, f"{context}: shape {tuple(out.shape)} != {expected.shape}"
    if spec.check_dtype:
        assert str(out.dtype) == f"lamina.{expected.dtype}", f"{context}: dtype {out.dtype} != {expected.dtype}"
    got = out.numpy()
    if got.dtype.kind in "biu" and expected.dtype.kind in "biu":
        np.testing.assert_array_equal(got, expected, err_msg=context)
    else:
        atol, rtol = spec.tolerances(dtype)
        np.testing.assert_allclose(got.astype(np.float64), expected.astype(np.float64), atol=atol, rtol=rtol,
                                   equal_nan=True, err_msg=context)


def run_checked(spec, dtype, context, op_args, ref_args):
    """Runs the op and its reference; when numpy rejects the input, lamina must raise too."""
    try:
        expected = spec.ref(*ref_args)
    except (ValueError, ZeroDivisionError, IndexError):
        with pytest.raises((RuntimeError, IndexError, ValueError)):
            spec.op(*op_args)
        return
    with np.errstate(all="ignore"):
        check_close(spec.op(*op_args), expected, spec, dtype, context)


@pytest.mark.parametrize("spec", SPECS_BY_KIND["unary"], ids=str)
def test_unary_forward(spec, isa):
    rng = np.random.default_rng(1)
    for dtype in spec.dtypes:
        for shape in spec.shapes or UNARY_SHAPES:
            a = random_array(shape, dtype, spec.domain, rng, spec.avoid)
            for label, t in layouts(a):
                run_checked(spec, dtype, f"{spec.name} {dtype} {shape} {label} [{isa}]", (t,), (a,))


@pytest.mark.parametrize("spec", SPECS_BY_KIND["binary"], ids=str)
def test_binary_forward(spec, isa):
    rng = np.random.default_rng(2)
    for dtype in spec.dtypes:
        for sa, sb in spec.shapes or BINARY_SHAPES:
            a = random_array(sa, dtype, spec.domain, rng, spec.avoid)
            b = random_array(sb, dtype, spec.domain, rng, spec.avoid)
            for label, ta in layouts(a):
                run_checked(spec, dtype, f"{spec.name} {dtype} {sa} {sb} {label} [{isa}]", (ta, lamina.tensor(b)),
                            (a, b))
            for label, tb in layouts(b):
                run_checked(spec, dtype, f"{spec.name} {dtype} {sa} {sb} rhs-{label} [{isa}]", (lamina.tensor(a), tb),
                            (a, b))


@pytest.mark.parametrize("spec", SPECS_BY_KIND["binary"], ids=str)
def test_binary_with_python_scalar(spec):
    """tensor op number and number op tensor: values match numpy (dtype follows PyTorch's rules)."""
    rng = np.random.default_rng(3)
    for dtype in spec.dtypes:
        a = random_array((3, 4), dtype, spec.domain, rng, spec.avoid)
        s = random_array((), dtype, spec.domain, rng, spec.avoid).item()
        for args, ref_args in (((lamina.tensor(a), s), (a, np.asarray(s, a.dtype))),
                               ((s, lamina.tensor(a)), (np.asarray(s, a.dtype), a))):
            expected = spec.ref(*ref_args)
            out = spec.op(*args)
            assert str(out.dtype) == f"lamina.{np.asarray(expected).dtype}" or not spec.check_dtype
            np.testing.assert_allclose(out.numpy().astype(np.float64), np.asarray(expected, np.float64),
                                       rtol=1e-5, atol=1e-5)


def reduction_shapes(spec):
    return [s for s in spec.shapes or REDUCTION_SHAPES if len(s) >= spec.min_ndim]


@pytest.mark.parametrize("spec", SPECS_BY_KIND["reduction"], ids=str)
def test_reduction_forward(spec, isa):
    rng = np.random.default_rng(4)
    for dtype in spec.dtypes:
        for shape in reduction_shapes(spec):
            a = random_array(shape, dtype, spec.domain, rng, spec.avoid)
            for label, t in layouts(a):
                run_checked(spec, dtype, f"{spec.name} {dtype} {shape} {label} [{isa}]", (t,), (a,))


@pytest.mark.parametrize("spec", SPECS_BY_KIND["view"], ids=str)
def test_view_forward(spec):
    rng = np.random.default_rng(5)
    for shape in [s for s in UNARY_SHAPES if len(s) >= spec.min_ndim]:
        a = random_array(shape, "float32", spec.domain, rng)
        for label, t in layouts(a):
            run_checked(spec, "float32", f"{spec.name} {shape} {label}", (t,), (a,))


def grad_inputs(spec):
    """Small float64 input sets for gradient checks."""
    rng = np.random.default_rng(6)
    kind_shapes = {
        "unary": [[(3,)], [(2, 3)], [()]],
        "binary": [[(2, 3), (3,)], [(), (2,)], [(2, 1), (1, 3)]],
        "reduction": [[(3,)], [(2, 3)], [(2, 3, 2)]],
        "view": [[(2, 3)], [(2, 1, 3)]],
    }
    for shapes in kind_shapes[spec.kind]:
        if any(len(s) < spec.min_ndim for s in shapes):
            continue
        arrays = [random_array(s, "float64", spec.domain, rng, spec.avoid) for s in shapes]
        yield [lamina.tensor(a, requires_grad=True) for a in arrays]


GRAD_SPECS = [s for kind in ("unary", "binary", "reduction", "view") for s in SPECS_BY_KIND[kind]
              if s.grad and "float64" in s.dtypes]


@pytest.mark.parametrize("spec", GRAD_SPECS, ids=str)
def test_gradient(spec):
    for inputs in grad_inputs(spec):
        assert lamina.autograd.gradcheck(spec.op, inputs), spec.name


@pytest.mark.parametrize("spec", [s for s in GRAD_SPECS if s.gradgrad], ids=str)
def test_second_gradient(spec):
    for inputs in grad_inputs(spec):
        assert lamina.autograd.gradgradcheck(spec.op, inputs, atol=1e-4, rtol=1e-3), spec.name
