"""Type promotion, PyTorch's rules written out by hand: categories bool < integer < float; among
operands of one rank (tensors with dims, then 0-d tensors, then Python numbers) the wider type
wins; a lower-ranked operand only matters when its category is higher, and a Python float then
counts as the default dtype. In-place ops keep self's dtype and shape and reject results that do
not fit. The same table is cross-checked against PyTorch when it is installed."""

import numpy as np
import pytest

import lamina

# Operand kinds: "<dtype>" is a tensor of shape (3,), "0<dtype>" a 0-d tensor, "py*" a Python number.
PY = {"pyb": True, "pyi": 3, "pyf": 2.5}
DTYPES = {"b": "bool", "i32": "int32", "i64": "int64", "f32": "float32", "f64": "float64"}


def operand(m, kind):
    if kind in PY:
        return PY[kind]
    dtype = DTYPES[kind.lstrip("0")]
    value = True if dtype == "bool" else 2
    return m.tensor(value if kind.startswith("0") else [value] * 3, dtype=getattr(m, dtype))


def is_bool(kind):
    return kind in ("b", "0b", "pyb")


# add's result dtype, by hand (symmetric: each pair is listed once).
ADD = {
    # tensors with dims: the wider type of the higher category
    ("b", "b"): "b", ("b", "i32"): "i32", ("b", "i64"): "i64", ("b", "f32"): "f32", ("b", "f64"): "f64",
    ("i32", "i32"): "i32", ("i32", "i64"): "i64", ("i32", "f32"): "f32", ("i32", "f64"): "f64",
    ("i64", "f32"): "f32", ("i64", "f64"): "f64", ("f32", "f64"): "f64",
    # a 0-d tensor counts only when its category is higher; then the two types are promoted
    ("b", "0b"): "b", ("b", "0i32"): "i32", ("b", "0i64"): "i64", ("b", "0f32"): "f32", ("b", "0f64"): "f64",
    ("i32", "0b"): "i32", ("i32", "0i64"): "i32", ("i64", "0i32"): "i64", ("i32", "0f32"): "f32",
    ("i32", "0f64"): "f64", ("i64", "0f32"): "f32", ("i64", "0f64"): "f64",
    ("f32", "0b"): "f32", ("f32", "0i64"): "f32", ("f32", "0f64"): "f32", ("f64", "0f32"): "f64",
    # Python numbers: bool, int64 or the default float dtype, lowest rank of all
    ("b", "pyb"): "b", ("b", "pyi"): "i64", ("b", "pyf"): "f32",
    ("i32", "pyb"): "i32", ("i32", "pyi"): "i32", ("i32", "pyf"): "f32", ("i64", "pyf"): "f32",
    ("f32", "pyi"): "f32", ("f32", "pyf"): "f32", ("f64", "pyf"): "f64", ("f64", "pyb"): "f64",
    # 0-d with 0-d, 0-d with numbers
    ("0b", "0b"): "b", ("0b", "0i32"): "i32", ("0i32", "0i64"): "i64", ("0f32", "0f64"): "f64",
    ("0i64", "0f32"): "f32", ("0b", "pyb"): "b", ("0b", "pyi"): "i64", ("0i32", "pyi"): "i32",
    ("0i32", "pyf"): "f32", ("0i64", "pyf"): "f32", ("0f32", "pyi"): "f32", ("0f64", "pyf"): "f64",
    ("0f32", "pyb"): "f32",
}
FLOAT = {"b": "f32", "i32": "f32", "i64": "f32", "f32": "f32", "f64": "f64"}


def expected(op, a, b):
    r = ADD.get((a, b)) or ADD.get((b, a))
    if op in ("eq", "lt", "ge"):
        return "b"
    if op in ("div", "atan2", "operator_truediv"):
        return FLOAT[r]  # true division of integers gives the default float dtype
    return r


OPS = {
    "add": lambda m, a, b: m.add(a, b), "sub": lambda m, a, b: m.sub(a, b), "mul": lambda m, a, b: m.mul(a, b),
    "div": lambda m, a, b: m.div(a, b), "maximum": lambda m, a, b: m.maximum(a, b),
    "pow": lambda m, a, b: m.pow(a, b), "atan2": lambda m, a, b: m.atan2(a, b),
    "where": lambda m, a, b: m.where(m.tensor([True, False, True]), a, b),
    "eq": lambda m, a, b: m.eq(a, b), "lt": lambda m, a, b: m.lt(a, b), "ge": lambda m, a, b: m.ge(a, b),
    "operator_add": lambda m, a, b: a + b, "operator_mul": lambda m, a, b: a * b,
    "operator_truediv": lambda m, a, b: a / b,
}
def cases(op):
    """(a, b) operand pairs of the table, both orders, that PyTorch accepts for `op`."""
    for pair in ADD:
        for x, y in {pair, pair[::-1]}:
            if x in PY and op not in ("pow", "where"):
                continue  # lamina.op(number, tensor) works too, but PyTorch wants a tensor first
            if op == "sub" and (is_bool(x) or is_bool(y)):
                continue  # subtracting bools is an error (tests/test_errors.py)
            if op == "pow" and expected(op, x, y) == "b" and y not in PY:
                continue  # pow has no bool kernel
            yield x, y


def result_kind(t):
    names = {"bool": "b", "int32": "i32", "int64": "i64", "float32": "f32", "float64": "f64"}
    return names[str(t.dtype).split(".")[-1]]


@pytest.mark.parametrize("op", sorted(OPS))
def test_result_dtype(op):
    for a, b in cases(op):
        out = OPS[op](lamina, operand(lamina, a), operand(lamina, b))
        assert result_kind(out) == expected(op, a, b), f"{op}({a}, {b}) -> {out.dtype}, expected {expected(op, a, b)}"


def test_result_values_are_computed_in_the_result_dtype():
    i = lamina.tensor([1, 2, 3], dtype=lamina.int32)
    np.testing.assert_array_equal((i + 2.5).numpy(), np.float32([3.5, 4.5, 5.5]))
    np.testing.assert_array_equal((i / 2).numpy(), np.float32([0.5, 1, 1.5]))
    np.testing.assert_array_equal((i // 2).numpy(), np.int32([0, 1, 1]))
    big = lamina.tensor([2**31 - 1], dtype=lamina.int32)
    assert (big + lamina.tensor([1])).tolist() == [2**31]  # int32 + int64 tensor: int64, no wrap
    assert (big + lamina.tensor(1)).tolist() == [-2**31]  # + 0-d int64: stays int32 and wraps
    assert (big + 1).tolist() == [-2**31]  # + Python int: stays int32 and wraps
    f = lamina.tensor([1.0], dtype=lamina.float32) + lamina.tensor(1e-12, dtype=lamina.float64)
    assert f.dtype == lamina.float32 and f.tolist() == [1.0]
    assert (lamina.tensor([True, False]) + 3).tolist() == [4, 3]
    assert lamina.where(lamina.tensor([True, False]), 1, 2.5).tolist() == [1.0, 2.5]
    assert lamina.where(lamina.tensor([True, False]), True, 2).dtype == lamina.int64
    assert (lamina.tensor([2, 3], dtype=lamina.int32) ** 2.0).tolist() == [4.0, 9.0]
    assert (2 ** lamina.tensor([2, 3], dtype=lamina.int32)).dtype == lamina.int32


def test_default_dtype_applies_to_python_floats():
    previous = lamina.get_default_dtype()
    lamina.set_default_dtype(lamina.float64)
    try:
        assert (lamina.tensor([1, 2]) + 2.5).dtype == lamina.float64
        assert (lamina.tensor([1, 2]) / 2).dtype == lamina.float64
        assert (lamina.tensor(1) + 0.5).dtype == lamina.float64
        assert (lamina.ones(2, dtype=lamina.float32) + 2.5).dtype == lamina.float32
        assert lamina.tensor([1, 2]).exp().dtype == lamina.float64
    finally:
        lamina.set_default_dtype(previous)


# ---- in-place: self's dtype and shape are kept; results that do not fit are rejected ----

INPLACE_OK = [
    ("i32", "add_", "i64"), ("i32", "add_", "0i64"), ("i32", "add_", "pyi"), ("i32", "mul_", "b"),
    ("i64", "sub_", "i32"), ("f32", "add_", "f64"), ("f32", "mul_", "pyf"), ("f32", "add_", "i64"),
    ("f64", "div_", "i32"), ("b", "add_", "b"), ("b", "mul_", "pyb"), ("i32", "floor_divide_", "pyi"),
    ("i64", "pow_", "pyi"), ("f32", "pow_", "0f64"), ("i32", "remainder_", "i64"), ("i32", "bitwise_and_", "b"),
]
INPLACE_REJECTED = [
    ("i32", "add_", "pyf", "Float", "Int"), ("i32", "add_", "f32", "Float", "Int"), ("i64", "mul_", "0f64", "Double",
                                                                                       "Long"),
    ("i32", "div_", "i32", "Float", "Int"), ("i64", "div_", "pyi", "Float", "Long"),
    ("b", "add_", "pyi", "Long", "Bool"),
    ("b", "mul_", "i32", "Int", "Bool"), ("f32", "bitwise_and_", "i32", "Float", "Float"),
    ("i32", "pow_", "pyf", "Float", "Int"), ("b", "sub_", "pyf", "Float", "Bool"),
]


def inplace_call(m, self_kind, op, other_kind):
    x = operand(m, self_kind)
    return x, getattr(x, op)(operand(m, other_kind))


@pytest.mark.parametrize("self_kind,op,other_kind", INPLACE_OK)
def test_inplace_keeps_self_dtype(self_kind, op, other_kind):
    x, out = inplace_call(lamina, self_kind, op, other_kind)
    assert out is x and result_kind(x) == self_kind.lstrip("0")


@pytest.mark.parametrize("self_kind,op,other_kind,result,out", INPLACE_REJECTED)
def test_inplace_rejects_results_that_do_not_fit(self_kind, op, other_kind, result, out):
    if result == out:  # a dtype the op has no kernel for (bitwise on floats)
        with pytest.raises(RuntimeError):
            inplace_call(lamina, self_kind, op, other_kind)
        return
    message = f"{op}: result type {result} can't be cast to the desired output type {out}"
    with pytest.raises(RuntimeError, match=message):
        inplace_call(lamina, self_kind, op, other_kind)


@pytest.mark.parametrize("self_shape,other_shape", [((3,), (2, 3)), ((), (3,)), ((1, 3), (3, 3)), ((3, 1), (3, 4))])
def test_inplace_broadcast_must_keep_self_shape(self_shape, other_shape):
    x = lamina.zeros(self_shape)
    with pytest.raises(RuntimeError, match=r"add_: output with shape .* doesn't match the broadcast shape"):
        x.add_(lamina.ones(other_shape))
    assert x._version == 0
    y = lamina.zeros(other_shape)
    y.add_(lamina.ones(self_shape))  # the other way round broadcasts fine
    assert tuple(y.shape) == other_shape and y._version == 1


# ---- PyTorch cross-check (skipped without torch) ----

def _outcome(m, fn):
    try:
        out = fn()
        return result_kind(out) if m is lamina else {"bool": "b", "int32": "i32", "int64": "i64", "float32": "f32",
                                                     "float64": "f64"}[str(out.dtype).split(".")[-1]]
    except Exception as e:  # noqa: BLE001  (the exception type is the outcome)
        return type(e).__name__


@pytest.mark.torch
@pytest.mark.parametrize("op", sorted(OPS))
def test_promotion_matches_torch(op):
    torch = pytest.importorskip("torch")
    kinds = ["b", "i32", "i64", "f32", "f64", "0b", "0i32", "0i64", "0f32", "0f64", "pyb", "pyi", "pyf"]
    for a in kinds:
        for b in kinds:
            if a in PY and b in PY:
                continue
            want = _outcome(torch, lambda: OPS[op](torch, operand(torch, a), operand(torch, b)))
            got = _outcome(lamina, lambda: OPS[op](lamina, operand(lamina, a), operand(lamina, b)))
            if want == "TypeError" and got not in ("TypeError",):
                continue  # PyTorch's function wants a tensor first; lamina also accepts a number there
            assert got == want, f"{op}({a}, {b}): lamina {got}, torch {want}"


@pytest.mark.torch
def test_inplace_rules_match_torch():
    torch = pytest.importorskip("torch")
    for self_kind, op, other_kind in INPLACE_OK + [r[:3] for r in INPLACE_REJECTED]:
        want = _outcome(torch, lambda: inplace_call(torch, self_kind, op, other_kind)[1])
        got = _outcome(lamina, lambda: inplace_call(lamina, self_kind, op, other_kind)[1])
        assert got == want, f"{self_kind}.{op}({other_kind}): lamina {got}, torch {want}"


def test_pow_gradient_with_a_bool_or_integer_exponent():
    # regression: backward computed `b - 1` on the bool exponent and raised
    x = lamina.tensor([1.5, 2.0, 3.0], dtype=lamina.float64, requires_grad=True)
    for b, expected in [(lamina.tensor([True, False, True]), [1.0, 0.0, 1.0]),
                        (lamina.tensor([2, 0, 3]), [3.0, 0.0, 27.0])]:
        x.grad = None
        lamina.pow(x, b).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), expected)
