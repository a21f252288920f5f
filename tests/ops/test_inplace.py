"""In-place ops: values equal to the out-of-place op, dtype and identity preserved, one version
bump per write, aliasing between operands, expanded outputs rejected, and autograd through
in-place writes (gradients, leaf checks, saved tensors modified after being saved)."""

import numpy as np
import pytest

import lamina

RNG = np.random.default_rng(11)


def rand(shape, dtype="float32", lo=0.5, hi=2.0):
    return lamina.tensor(RNG.uniform(lo, hi, shape).astype(dtype))


def randint(shape, dtype="int32", lo=-9, hi=9):
    a = RNG.integers(lo, hi, shape).astype(dtype)
    return lamina.tensor(np.where(a == 0, 1, a).astype(dtype))


# (in-place call, out-of-place equivalent, input factory)
FLOAT = lambda: rand((3, 4))  # noqa: E731
SIGNED = lambda: rand((3, 4), lo=-2, hi=2)  # noqa: E731
INTS = lambda: randint((3, 4))  # noqa: E731
OTHER = rand((4,), lo=0.5, hi=1.5)
INT_OTHER = randint((3, 1))
CASES = {
    "add_": (lambda x: x.add_(OTHER), lambda x: x + OTHER, FLOAT),
    "add_alpha": (lambda x: x.add_(OTHER, alpha=-2), lambda x: lamina.add(x, OTHER, alpha=-2), FLOAT),
    "add_int": (lambda x: x.add_(INT_OTHER), lambda x: x + INT_OTHER, INTS),
    "sub_": (lambda x: x.sub_(OTHER), lambda x: x - OTHER, FLOAT),
    "sub_alpha_int": (lambda x: x.sub_(3, alpha=2), lambda x: lamina.sub(x, 3, alpha=2), INTS),
    "mul_": (lambda x: x.mul_(OTHER), lambda x: x * OTHER, FLOAT),
    "mul_int_scalar": (lambda x: x.mul_(-3), lambda x: x * -3, INTS),
    "div_": (lambda x: x.div_(OTHER), lambda x: x / OTHER, FLOAT),
    "div_trunc_int": (lambda x: x.div_(INT_OTHER, rounding_mode="trunc"),
                      lambda x: lamina.div(x, INT_OTHER, rounding_mode="trunc"), INTS),
    "div_floor": (lambda x: x.div_(-0.75, rounding_mode="floor"), lambda x: lamina.div(x, -0.75, rounding_mode="floor"),
                  SIGNED),
    "floor_divide_": (lambda x: x.floor_divide_(INT_OTHER), lambda x: x // INT_OTHER, INTS),
    "remainder_": (lambda x: x.remainder_(INT_OTHER), lambda x: x % INT_OTHER, INTS),
    "fmod_": (lambda x: x.fmod_(0.7), lambda x: lamina.fmod(x, 0.7), SIGNED),
    "pow_": (lambda x: x.pow_(OTHER), lambda x: x ** OTHER, FLOAT),
    "pow_int": (lambda x: x.pow_(2), lambda x: x ** 2, INTS),
    "atan2_": (lambda x: x.atan2_(OTHER), lambda x: lamina.atan2(x, OTHER), SIGNED),
    "bitwise_and_": (lambda x: x.bitwise_and_(6), lambda x: x & 6, INTS),
    "bitwise_or_": (lambda x: x.bitwise_or_(INT_OTHER), lambda x: x | INT_OTHER, INTS),
    "bitwise_xor_": (lambda x: x.bitwise_xor_(5), lambda x: x ^ 5, INTS),
    "clamp_": (lambda x: x.clamp_(-1, 1), lambda x: x.clamp(-1, 1), SIGNED),
    "clamp_min": (lambda x: x.clamp_(min=0), lambda x: x.clamp(min=0), INTS),
    "clamp_tensor": (lambda x: x.clamp_(-OTHER, OTHER), lambda x: x.clamp(-OTHER, OTHER), SIGNED),
    "clip_": (lambda x: x.clip_(max=0.5), lambda x: x.clip(max=0.5), SIGNED),
    "relu_": (lambda x: x.relu_(), lambda x: x.relu(), SIGNED),
    "relu_function": (lambda x: lamina.relu_(x), lamina.relu, SIGNED),
    "neg_": (lambda x: x.neg_(), lambda x: -x, INTS),
    "abs_": (lambda x: x.abs_(), lambda x: x.abs(), SIGNED),
    "sign_": (lambda x: x.sign_(), lambda x: x.sign(), SIGNED),
    "square_": (lambda x: x.square_(), lambda x: x.square(), INTS),
    "exp_": (lambda x: x.exp_(), lambda x: x.exp(), SIGNED),
    "expm1_": (lambda x: x.expm1_(), lambda x: x.expm1(), SIGNED),
    "log_": (lambda x: x.log_(), lambda x: x.log(), FLOAT),
    "log1p_": (lambda x: x.log1p_(), lambda x: x.log1p(), FLOAT),
    "sqrt_": (lambda x: x.sqrt_(), lambda x: x.sqrt(), FLOAT),
    "rsqrt_": (lambda x: x.rsqrt_(), lambda x: x.rsqrt(), FLOAT),
    "sin_": (lambda x: x.sin_(), lambda x: x.sin(), SIGNED),
    "cos_": (lambda x: x.cos_(), lambda x: x.cos(), SIGNED),
    "tanh_": (lambda x: x.tanh_(), lambda x: x.tanh(), SIGNED),
    "sigmoid_": (lambda x: x.sigmoid_(), lambda x: x.sigmoid(), SIGNED),
    "erf_": (lambda x: x.erf_(), lambda x: x.erf(), SIGNED),
    "reciprocal_": (lambda x: x.reciprocal_(), lambda x: x.reciprocal(), FLOAT),
    "floor_": (lambda x: x.floor_(), lambda x: x.floor(), SIGNED),
    "ceil_": (lambda x: x.ceil_(), lambda x: x.ceil(), SIGNED),
    "round_": (lambda x: x.round_(), lambda x: x.round(), SIGNED),
    "trunc_": (lambda x: x.trunc_(), lambda x: x.trunc(), SIGNED),
    "iadd": (lambda x: x.__iadd__(OTHER), lambda x: x + OTHER, FLOAT),
    "isub": (lambda x: x.__isub__(2), lambda x: x - 2, INTS),
    "imul": (lambda x: x.__imul__(OTHER), lambda x: x * OTHER, FLOAT),
    "itruediv": (lambda x: x.__itruediv__(OTHER), lambda x: x / OTHER, FLOAT),
    "ifloordiv": (lambda x: x.__ifloordiv__(INT_OTHER), lambda x: x // INT_OTHER, INTS),
    "imod": (lambda x: x.__imod__(-4), lambda x: x % -4, INTS),
    "ipow": (lambda x: x.__ipow__(3), lambda x: x ** 3, INTS),
    "iand": (lambda x: x.__iand__(INT_OTHER), lambda x: x & INT_OTHER, INTS),
    "ior": (lambda x: x.__ior__(1), lambda x: x | 1, INTS),
    "ixor": (lambda x: x.__ixor__(INT_OTHER), lambda x: x ^ INT_OTHER, INTS),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_inplace_matches_out_of_place(name, isa):
    inplace, reference, make = CASES[name]
    x = make()
    expected = reference(x.clone())
    version = x._version
    out = inplace(x)
    assert out is x, f"{name} must return self"
    assert x.dtype == expected.dtype, f"{name}: dtype {x.dtype} != {expected.dtype}"
    np.testing.assert_array_equal(x.numpy(), expected.numpy(), err_msg=name)
    assert x._version == version + 1, f"{name}: version {x._version} != {version + 1}"


@pytest.mark.parametrize("name", ["add_", "mul_", "exp_", "clamp_", "pow_", "clamp_tensor", "iadd"])
def test_inplace_on_strided_view_writes_only_the_view(name):
    inplace, reference, _ = CASES[name]
    base = rand((3, 8), lo=-2, hi=2)
    before = base.numpy().copy()
    view = base[:, 1::2]
    expected = reference(view.clone())
    inplace(view)
    np.testing.assert_array_equal(view.numpy(), expected.numpy())
    np.testing.assert_array_equal(base.numpy()[:, ::2], before[:, ::2])
    assert base._version == view._version == 1


def test_inplace_keeps_dtype_of_self():
    x = lamina.ones(3, dtype=lamina.int32)
    x.add_(lamina.tensor([1, 2, 3], dtype=lamina.int64))
    assert x.dtype == lamina.int32 and x.tolist() == [2, 3, 4]
    f = lamina.ones(3)
    f.mul_(lamina.tensor([2.0, 3.0, 4.0], dtype=lamina.float64))
    assert f.dtype == lamina.float32 and f.tolist() == [2, 3, 4]
    f.add_(lamina.tensor(True))
    assert f.dtype == lamina.float32 and f.tolist() == [3, 4, 5]
    b = lamina.tensor([True, False])
    b.mul_(True)
    assert b.dtype == lamina.bool


# ---- aliasing: the result must equal the out-of-place op on the old values ----

ALIAS_CASES = {
    "same_tensor_add": lambda a: (a.add_(a), None),
    "same_tensor_mul": lambda a: (a.mul_(a), None),
    "same_tensor_sub": lambda a: (a.sub_(a), None),
    "same_tensor_div": lambda a: (a.div_(a), None),
    "same_tensor_pow": lambda a: (a.pow_(a), None),
    "same_tensor_clamp": lambda a: (a.clamp_(a, a), None),
}


@pytest.mark.parametrize("name", sorted(ALIAS_CASES))
def test_inplace_with_itself(name):
    a = rand((5, 7))
    op = name.split("_")[-1]
    expected = {"add": lambda t: t + t, "mul": lambda t: t * t, "sub": lambda t: t - t, "div": lambda t: t / t,
                "pow": lambda t: t ** t, "clamp": lambda t: t.clone()}[op](a.clone())
    ALIAS_CASES[name](a)
    np.testing.assert_array_equal(a.numpy(), expected.numpy())


@pytest.mark.parametrize("n", [5, 301])
@pytest.mark.parametrize("op", ["add_", "mul_", "sub_", "copy_", "maximum"])
def test_inplace_with_overlapping_view(op, n):
    """a.op_(view of a) where the view reads elements the op writes earlier (transposed, shifted)."""
    for make_other in (lambda a: a.t(), lambda a: a[0].expand(n, n), lambda a: a.t()[0]):
        a = rand((n, n))
        other = make_other(a)
        old_a, old_other = a.clone(), other.clone()
        if op == "copy_":
            a.copy_(other)
            expected = old_other.expand(n, n)
        elif op == "maximum":
            a.clamp_(min=other)
            expected = lamina.maximum(old_a, old_other)
        else:
            getattr(a, op)(other)
            expected = {"add_": lamina.add, "mul_": lamina.mul, "sub_": lamina.sub}[op](old_a, old_other)
        np.testing.assert_array_equal(a.numpy(), expected.numpy(), err_msg=op)


def test_inplace_with_shifted_overlap():
    a = lamina.arange(10, dtype=lamina.float32)
    a[1:].add_(a[:-1])
    np.testing.assert_array_equal(a.numpy(), np.r_[0, np.arange(1, 10) + np.arange(9)])
    b = lamina.arange(10, dtype=lamina.float32)
    b[:-1].copy_(b[1:])
    np.testing.assert_array_equal(b.numpy(), np.r_[np.arange(1, 10), 9])


@pytest.mark.parametrize("write", [
    lambda t: t.add_(1), lambda t: t.mul_(lamina.ones(2, 3)), lambda t: t.exp_(), lambda t: t.clamp_(0, 1),
    lambda t: t.relu_(), lambda t: t.fill_(2), lambda t: t.zero_(), lambda t: t.copy_(lamina.ones(2, 3)),
    lambda t: t.clamp_(lamina.zeros(3)), lambda t: t.__iadd__(1),
])
def test_writing_into_expanded_tensor_raises(write):
    t = lamina.ones(3).expand(2, 3)
    with pytest.raises(RuntimeError, match=r"more than one element of the written-to tensor refers to a single "
                                           r"memory location"):
        write(t)
    np.testing.assert_array_equal(t.numpy(), np.ones((2, 3)))


def test_inplace_output_shape_must_not_change():
    with pytest.raises(RuntimeError,
                       match=r"add_: output with shape \(3,\) doesn't match the broadcast shape \(2, 3\)"):
        lamina.ones(3).add_(lamina.ones(2, 3))
    with pytest.raises(RuntimeError, match=r"mul_: output with shape \(\) doesn't match the broadcast shape \(4,\)"):
        lamina.ones(()).mul_(lamina.ones(4))
    x = lamina.ones(1, 3)
    with pytest.raises(RuntimeError, match=r"clamp_: output with shape \(1, 3\) doesn't match the broadcast shape"):
        x.clamp_(lamina.zeros(2, 3))
    assert x._version == 0


# ---- autograd through in-place ops ----

GRAD_CASES = {
    "add_": lambda y, o: y.add_(o), "add_alpha": lambda y, o: y.add_(o, alpha=-3), "sub_": lambda y, o: y.sub_(o),
    "mul_": lambda y, o: y.mul_(o), "div_": lambda y, o: y.div_(o), "pow_": lambda y, o: y.pow_(o),
    "atan2_": lambda y, o: y.atan2_(o), "fmod_": lambda y, o: y.fmod_(o), "remainder_": lambda y, o: y.remainder_(o),
    "clamp_tensor": lambda y, o: y.clamp_(max=o), "exp_": lambda y, o: y.exp_(), "log_": lambda y, o: y.log_(),
    "sqrt_": lambda y, o: y.sqrt_(), "tanh_": lambda y, o: y.tanh_(), "sigmoid_": lambda y, o: y.sigmoid_(),
    "relu_": lambda y, o: y.relu_(), "clamp_": lambda y, o: y.clamp_(0.8, 1.6), "abs_": lambda y, o: y.abs_(),
    "neg_": lambda y, o: y.neg_(), "square_": lambda y, o: y.square_(), "reciprocal_": lambda y, o: y.reciprocal_(),
    "erf_": lambda y, o: y.erf_(), "sin_": lambda y, o: y.sin_(), "chain": lambda y, o: y.mul_(o).exp_().add_(y),
}
OUT_OF_PLACE = {
    "add_": lambda y, o: y + o, "add_alpha": lambda y, o: lamina.add(y, o, alpha=-3), "sub_": lambda y, o: y - o,
    "mul_": lambda y, o: y * o, "div_": lambda y, o: y / o, "pow_": lambda y, o: y ** o,
    "atan2_": lambda y, o: lamina.atan2(y, o), "fmod_": lambda y, o: lamina.fmod(y, o),
    "remainder_": lambda y, o: y % o, "clamp_tensor": lambda y, o: y.clamp(max=o), "exp_": lambda y, o: y.exp(),
    "log_": lambda y, o: y.log(), "sqrt_": lambda y, o: y.sqrt(), "tanh_": lambda y, o: y.tanh(),
    "sigmoid_": lambda y, o: y.sigmoid(), "relu_": lambda y, o: y.relu(), "clamp_": lambda y, o: y.clamp(0.8, 1.6),
    "abs_": lambda y, o: y.abs(), "neg_": lambda y, o: -y, "square_": lambda y, o: y.square(),
    "reciprocal_": lambda y, o: y.reciprocal(), "erf_": lambda y, o: y.erf(), "sin_": lambda y, o: y.sin(),
    "chain": lambda y, o: (y * o).exp() + (y * o).exp(),
}


def _grads(fn, x_np, o_np, w_np):
    x = lamina.tensor(x_np, requires_grad=True)
    o = lamina.tensor(o_np, requires_grad=True)
    y = fn(x * 1, o)  # x * 1: a non-leaf the op may overwrite
    (y * lamina.tensor(w_np)).sum().backward()
    return y.detach().numpy(), x.grad.numpy(), None if o.grad is None else o.grad.numpy()


@pytest.mark.parametrize("name", sorted(GRAD_CASES))
def test_inplace_gradients_match_out_of_place(name):
    rng = np.random.default_rng(3)
    x, o, w = rng.uniform(0.6, 2, (3, 4)), rng.uniform(0.6, 2, (4,)), rng.standard_normal((3, 4))
    got = _grads(GRAD_CASES[name], x, o, w)
    expected = _grads(OUT_OF_PLACE[name], x, o, w)
    for g, e, what in zip(got, expected, ("value", "grad of self", "grad of other")):
        if e is None:
            assert g is None or not np.any(g), f"{name}: {what}"
        else:
            np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-12, err_msg=f"{name}: {what}")


def test_inplace_records_history_on_self():
    x = lamina.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    y.exp_()
    assert y.grad_fn is not None and y.grad_fn.name() == "ExpBackward0"
    y.add_(1)
    assert y.grad_fn.name() == "AddBackward0"
    assert not y.is_leaf and y.requires_grad


def test_inplace_with_grad_requiring_other_on_plain_tensor():
    o = lamina.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = lamina.zeros(3)
    y.add_(o * o)
    assert y.requires_grad
    y.sum().backward()
    np.testing.assert_allclose(o.grad.numpy(), [2, 4, 6])


def test_inplace_on_leaf_requiring_grad_raises():
    x = lamina.ones(3, requires_grad=True)
    for write in (lambda: x.add_(1), lambda: x.exp_(), lambda: x.clamp_(0, 1), lambda: x.fill_(0),
                  lambda: x.copy_(lamina.zeros(3)), lambda: x.__imul__(2)):
        with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place "
                                               "operation"):
            write()
    assert x._version == 0 and x.tolist() == [1, 1, 1]
    with lamina.no_grad():  # what optimizers do
        x.add_(1)
    assert x.tolist() == [2, 2, 2] and x._version == 1
    x.data.mul_(2)
    assert x.tolist() == [4, 4, 4]


SAVED_CASES = {
    "exp saves its result": lambda y: (y.exp(), lambda r: r.add_(1)),
    "sigmoid saves its result": lambda y: (y.sigmoid(), lambda r: r.mul_(2)),
    "log saves its input": lambda y: (y.log(), lambda r: y.add_(1)),
    "mul saves both inputs": lambda y: (y * y.detach(), lambda r: y.sub_(1)),
    "pow saves the exponent": lambda y: (lamina.tensor(2.0) ** y, lambda r: y.relu_()),
    "a detached alias of a saved input": lambda y: (y.log(), lambda r: y.detach()[0:1].fill_(3.0)),
}


@pytest.mark.parametrize("name", sorted(SAVED_CASES))
def test_modifying_a_saved_tensor_fails_backward(name):
    x = lamina.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 1
    result, modify = SAVED_CASES[name](y)
    modify(result)
    with pytest.raises(RuntimeError, match="one of the variables needed for gradient computation has been modified "
                                           "by an inplace operation"):
        result.sum().backward()


def test_modifying_an_unsaved_tensor_is_fine():
    x = lamina.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 1
    z = y + 1  # add saves nothing
    y.mul_(5)
    (z.sum() + y.sum()).backward()
    np.testing.assert_allclose(x.grad.numpy(), [6, 6, 6])


def test_inplace_under_no_grad_does_not_record():
    x = lamina.ones(3, requires_grad=True)
    y = x * 1
    with lamina.no_grad():
        y.add_(5)
    assert y.grad_fn.name() == "MulBackward0"
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1, 1, 1])


@pytest.mark.parametrize("call,message", [
    (lambda: lamina.ones(3, dtype=lamina.int32).add_(1.5), "add_: result type Float can't be cast to the desired "
                                                          "output type Int"),
    (lambda: lamina.ones(3, dtype=lamina.int64).exp_(), "exp_: result type Float can't be cast to the desired output "
                                                        "type Long"),
    (lambda: lamina.ones(3, dtype=lamina.int32).div_(2), "div_: result type Float can't be cast"),
    (lambda: lamina.ones(3, dtype=lamina.bool).add_(1), "add_: result type Long can't be cast to the desired output "
                                                        "type Bool"),
    (lambda: lamina.ones(3, dtype=lamina.int32).mul_(lamina.ones(3)), "mul_: result type Float can't be cast"),
    (lambda: lamina.ones(3, dtype=lamina.int32).clamp_(0.5), "clamp_: result type Float can't be cast"),
])
def test_inplace_result_type_must_fit(call, message):
    with pytest.raises(RuntimeError, match=message):
        call()


# ---- in-place writes into views of tensors in the autograd graph (CopySlices) ----

W3 = np.array([1.0, 2.0, 3.0])


def _x():
    return lamina.tensor(np.array([1.5, -2.0, 0.5]), requires_grad=True)


VIEW_CASES = {  # in-place on a view, and the same function written out of place
    "mul_ slice": (lambda x: (lambda y: (y[1:].mul_(2), y)[1])(x * 1),
                   lambda x: x * lamina.tensor([1.0, 2.0, 2.0], dtype=lamina.float64)),
    "exp_ element": (lambda x: (lambda y: (y[0].exp_(), y)[1])(x * 1),
                     lambda x: lamina.where(lamina.tensor([True, False, False]), x.exp(), x)),
    "add_ other requiring grad": (lambda x: (lambda y: (y[:2].add_(x[1:] * x[1:]), y)[1])(x * 1),
                                  lambda x: x + lamina.cat([x[1:] * x[1:], lamina.zeros(1, dtype=lamina.float64)])),
    "setitem into a constant buffer": (lambda x: (lambda b: (b.__setitem__(slice(1, None), x[:2] * 3), b)[1])(
        lamina.zeros(3, dtype=lamina.float64)),
        lambda x: lamina.cat([lamina.zeros(1, dtype=lamina.float64), x[:2] * 3])),
    "fill_ view": (lambda x: (lambda y: (y[::2].fill_(7.0), y)[1])(x * 2),
                   lambda x: lamina.where(lamina.tensor([True, False, True]), lamina.tensor(7.0, dtype=lamina.float64),
                                          x * 2)),
    "copy_ transposed view": (lambda x: (lambda y: (y.t()[0].copy_(x.sigmoid()), y)[1])(x.unsqueeze(1) * lamina.ones(
        3, 2, dtype=lamina.float64)), lambda x: lamina.stack([x.sigmoid(), x], 1)),
    "two writes, then the view": (lambda x: (lambda y: (y[1:].mul_(x[:2]), y[:2].add_(1), y[1:])[2])(x * 1),
                                  lambda x: (x * lamina.cat([lamina.ones(1, dtype=lamina.float64), x[:2]]) +
                                             lamina.tensor([1.0, 1.0, 0.0], dtype=lamina.float64))[1:]),
}


@pytest.mark.parametrize("name", sorted(VIEW_CASES))
def test_inplace_on_view_gradients(name):
    inplace, reference = VIEW_CASES[name]
    x1, x2 = _x(), _x()
    got, want = inplace(x1), reference(x2)
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), err_msg=name)
    assert got.requires_grad
    w = lamina.tensor(W3[:got.shape[0]] if got.ndim == 1 else np.ones(tuple(got.shape)))
    (got * w).sum().backward()
    (want * w).sum().backward()
    np.testing.assert_allclose(x1.grad.numpy(), x2.grad.numpy(), rtol=1e-12, err_msg=name)


def test_inplace_on_view_second_order():
    def f(x):
        y = x * x
        y[1:].mul_(x[:2])
        return y
    x = lamina.tensor(np.array([0.7, -1.3, 2.1]), requires_grad=True)
    assert lamina.autograd.gradcheck(f, [x]) and lamina.autograd.gradgradcheck(f, [x])


def test_base_history_after_view_write():
    x = lamina.tensor([1.0, 2.0], requires_grad=True)
    y = x * 1
    y[0].mul_(3)
    assert y.grad_fn.name() == "CopySlices" and not y.is_leaf
    buf = lamina.zeros(2)
    assert not buf.requires_grad
    buf[1] = x[0]
    assert buf.requires_grad and buf.grad_fn.name() == "CopySlices"


def test_inplace_on_view_of_leaf_requiring_grad_raises():
    x = lamina.ones(3, requires_grad=True)
    for write in (lambda: x[1:].add_(1), lambda: x[0].fill_(2), lambda: x.__setitem__(0, 5.0),
                  lambda: x.t().mul_(2)):
        with pytest.raises(RuntimeError, match="a view of a leaf Variable that requires grad is being used in an "
                                               "in-place operation"):
            write()
    assert x.tolist() == [1, 1, 1]
    with lamina.no_grad():
        x[1:].add_(1)
    assert x.tolist() == [1, 2, 2]


def test_view_write_of_a_saved_tensor_fails_backward():
    x = lamina.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 1
    z = y.log()  # saves y
    y[0].add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.sum().backward()


def test_overwritten_region_gets_zero_gradient_even_when_it_is_infinite():
    """Regression (found by the differential fuzzer): the gradient of the base outside a written
    region was g * mask, so an infinite gradient on the overwritten elements gave inf * 0 = NaN."""
    b = lamina.tensor([[1.0, 2.0, 3.0]], dtype=lamina.float64).requires_grad_(True)
    x = b * 1
    x[:, 1] = 0.0
    (g,) = lamina.autograd.grad(x.rsqrt().sum(), b)  # d rsqrt(0) = -inf at the written element
    np.testing.assert_allclose(g.numpy(), [[-0.5, 0.0, -0.5 * 3.0 ** -1.5]])
