"""Generic suites over the op table (tests/op_db): forward against numpy on many shapes and memory
layouts at every ISA level, views aliasing their input, and gradients (first and second order)
against finite differences in float64."""

import numpy as np
import pytest

import lamina
from op_db import ALIASES, SPECS_BY_KIND
from op_db.spec import (BINARY_SHAPES, REDUCTION_SHAPES, TERNARY_SHAPES, UNARY_SHAPES, VIEW_SHAPES,
                        random_array)


def specs_of(kind):
    return SPECS_BY_KIND.get(kind, [])


def layouts(a, allowed=None):
    """(label, tensor) pairs holding the values of `a` in different memory layouts."""
    def want(label):
        return allowed is None or label in allowed
    if want("contiguous"):
        yield "contiguous", lamina.tensor(a)
    if a.ndim >= 2 and want("transposed"):
        yield "transposed", lamina.tensor(np.ascontiguousarray(np.swapaxes(a, -1, -2))).transpose(-1, -2)
    if a.ndim >= 1 and want("strided"):
        wide = np.zeros(a.shape[:-1] + (2 * a.shape[-1] + 1,), dtype=a.dtype)
        wide[..., 1::2] = a
        yield "strided", lamina.tensor(wide)[..., 1::2]
    if a.ndim >= 1 and a.shape[0] > 0 and np.all(a == a[:1]) and want("expanded"):
        yield "expanded", lamina.tensor(a[:1]).expand(*a.shape)


def check_close(out, expected, spec, dtype, context):
    if isinstance(expected, (tuple, list)):
        assert isinstance(out, (tuple, list)), f"{context}: expected a sequence, got {type(out)}"
        assert len(out) == len(expected), f"{context}: {len(out)} outputs != {len(expected)}"
        for i, (o, e) in enumerate(zip(out, expected)):
            check_close(o, e, spec, dtype, f"{context} [output {i}]")
        return
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
        with np.errstate(all="ignore"):
            expected = spec.ref(*ref_args)
    except (ValueError, ZeroDivisionError, IndexError):
        with pytest.raises((RuntimeError, IndexError, ValueError)):
            spec.op(*op_args)
        return None
    out = spec.op(*op_args)
    check_close(out, expected, spec, dtype, context)
    return out


def arrays(spec, shapes, dtype, rng):
    return [random_array(s, d, spec.domain, rng, spec.avoid)
            for s, d in zip(shapes, spec.input_dtypes(dtype, len(shapes)))]


@pytest.mark.parametrize("spec", specs_of("unary"), ids=str)
def test_unary_forward(spec, isa):
    rng = np.random.default_rng(1)
    for dtype in spec.dtypes:
        for shape in spec.shapes or UNARY_SHAPES:
            a = random_array(shape, dtype, spec.domain, rng, spec.avoid)
            for label, t in layouts(a, spec.layouts):
                run_checked(spec, dtype, f"{spec.name} {dtype} {shape} {label} [{isa}]", (t,), (a,))


@pytest.mark.parametrize("spec", specs_of("binary") + specs_of("ternary"), ids=str)
def test_nary_forward(spec, isa):
    """Each operand in turn takes every layout; the others are contiguous."""
    rng = np.random.default_rng(2)
    default_shapes = BINARY_SHAPES if spec.kind == "binary" else TERNARY_SHAPES
    for dtype in spec.dtypes:
        for shapes in spec.shapes or default_shapes:
            arrs = arrays(spec, shapes, dtype, rng)
            for i in range(len(arrs)):
                for label, t in layouts(arrs[i], spec.layouts):
                    args = [lamina.tensor(a) for a in arrs]
                    args[i] = t
                    run_checked(spec, dtype, f"{spec.name} {dtype} {shapes} arg{i}-{label} [{isa}]", args, arrs)


@pytest.mark.parametrize("spec", specs_of("binary"), ids=str)
def test_binary_with_python_scalar(spec):
    """tensor op number and number op tensor: values match numpy (dtypes: tests/ops/test_promotion.py)."""
    rng = np.random.default_rng(3)
    for dtype in spec.dtypes:
        a = random_array((3, 4), dtype, spec.domain, rng, spec.avoid)
        s = random_array((), dtype, spec.domain, rng, spec.avoid).item()
        for args, ref_args in (((lamina.tensor(a), s), (a, np.asarray(s, a.dtype))),
                               ((s, lamina.tensor(a)), (np.asarray(s, a.dtype), a))):
            with np.errstate(all="ignore"):
                expected = spec.ref(*ref_args)
            out = spec.op(*args)
            np.testing.assert_allclose(out.numpy().astype(np.float64), np.asarray(expected, np.float64),
                                       rtol=1e-5, atol=1e-5, err_msg=f"{spec.name} {dtype}")


def reduction_shapes(spec):
    return [s for s in spec.shapes or REDUCTION_SHAPES if len(s) >= spec.min_ndim]


@pytest.mark.parametrize("spec", specs_of("reduction"), ids=str)
def test_reduction_forward(spec, isa):
    rng = np.random.default_rng(4)
    for dtype in spec.dtypes:
        for shape in reduction_shapes(spec):
            a = random_array(shape, dtype, spec.domain, rng, spec.avoid)
            for label, t in layouts(a, spec.layouts):
                run_checked(spec, dtype, f"{spec.name} {dtype} {shape} {label} [{isa}]", (t,), (a,))


def view_shapes(spec):
    return [s for s in spec.shapes or VIEW_SHAPES if len(s) >= spec.min_ndim]


@pytest.mark.parametrize("spec", specs_of("view"), ids=str)
def test_view_forward(spec):
    rng = np.random.default_rng(5)
    for dtype in ("float32", "int64"):
        for shape in view_shapes(spec):
            a = random_array(shape, dtype, spec.domain, rng)
            for label, t in layouts(a, spec.layouts):
                run_checked(spec, dtype, f"{spec.name} {dtype} {shape} {label}", (t,), (a,))


def _as_list(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


@pytest.mark.parametrize("spec", [s for s in specs_of("view") if s.shares_storage], ids=str)
def test_view_aliases_input(spec):
    """Writes through the view land in the input, writes to the input show in the view, and both
    share one version counter. Which input element each view element is comes from applying the
    numpy reference to an array of flat indices."""
    for shape in view_shapes(spec):
        a = np.arange(1, int(np.prod(shape)) + 1, dtype=np.float32).reshape(shape)
        index_of = [np.asarray(v) for v in _as_list(spec.ref(np.arange(a.size).reshape(shape)))]
        for label, t in layouts(a, spec.layouts):
            if label == "expanded":
                continue
            views = _as_list(spec.op(t))
            for v in views:
                assert v._version == t._version, f"{spec.name} {shape} {label}: version counters differ"
            t.add_(100)  # input -> view
            for v, idx in zip(views, index_of):
                np.testing.assert_array_equal(v.numpy(), (a + 100).reshape(-1)[idx], err_msg=f"{spec.name} {label}")
                assert v._version == t._version
            expected = np.array(a + 100)
            for k, (v, idx) in enumerate(zip(views, index_of)):
                if np.unique(idx).size != idx.size:  # an expanded view cannot be written
                    continue
                v.fill_(-1 - k)  # view -> input
                expected.reshape(-1)[idx.reshape(-1)] = -1 - k
                assert v._version == t._version
            np.testing.assert_array_equal(t.numpy(), expected, err_msg=f"{spec.name} {shape} {label}")


@pytest.mark.parametrize("alias,canonical", sorted(ALIASES.items()))
def test_alias_matches_canonical(alias, canonical):
    rng = np.random.default_rng(7)
    a, b = rng.uniform(0.5, 3, (3, 4)).astype(np.float32), rng.uniform(0.5, 3, (4,)).astype(np.float32)
    alias_fn, canonical_fn = getattr(lamina, alias), getattr(lamina, canonical)
    args = (lamina.tensor(a),) if canonical in ("neg",) else (lamina.tensor(a), lamina.tensor(b))
    np.testing.assert_array_equal(alias_fn(*args).numpy(), canonical_fn(*args).numpy())
    method = getattr(lamina.Tensor, alias, None)
    if method is not None:
        np.testing.assert_array_equal(method(*args).numpy(), canonical_fn(*args).numpy())


GRAD_SHAPES = {
    "unary": [[(3,)], [(2, 3)], [()]],
    "binary": [[(2, 3), (3,)], [(), (2,)], [(2, 1), (1, 3)]],
    "ternary": [[(2, 3), (3,), ()], [(2, 1), (1, 3), (2, 3)]],
    "reduction": [[(3,)], [(2, 3)], [(2, 3, 2)]],
    "view": [[(2, 3)], [(2, 1, 3)], [(4,)], [()]],
}


def grad_inputs(spec):
    """Small float64 input sets for gradient checks (non-float arguments do not require grad)."""
    rng = np.random.default_rng(6)
    shape_sets = [[s] for s in spec.shapes] if spec.kind == "view" and spec.shapes else GRAD_SHAPES[spec.kind]
    for shapes in shape_sets:
        if any(len(s) < spec.min_ndim for s in shapes):
            continue
        arrs = arrays(spec, shapes, "float64", rng)
        yield [lamina.tensor(a, requires_grad=a.dtype == np.float64) for a in arrs]


GRAD_SPECS = [s for kind in ("unary", "binary", "ternary", "reduction", "view") for s in specs_of(kind)
              if s.grad and "float64" in s.dtypes]


@pytest.mark.parametrize("spec", GRAD_SPECS, ids=str)
def test_gradient(spec):
    for inputs in grad_inputs(spec):
        assert lamina.autograd.gradcheck(spec.op, inputs), spec.name


@pytest.mark.parametrize("spec", [s for s in GRAD_SPECS if s.gradgrad and s.kind != "view"], ids=str)
def test_second_gradient(spec):
    for inputs in grad_inputs(spec):
        assert lamina.autograd.gradgradcheck(spec.op, inputs, atol=1e-4, rtol=1e-3), spec.name
