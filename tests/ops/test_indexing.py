"""Tensor.__getitem__ / __setitem__ against numpy: ints, slices with steps, None, Ellipsis, bool masks
of several dims, integer lists/arrays/tensors that broadcast, on contiguous, strided and 0-d bases,
plus gradients through getitem and setitem. lamina follows PyTorch where it differs from numpy
(an int next to an advanced index selects first); those cases are spelled out with an explicit
numpy equivalent and also checked against torch. A list is one index, as in numpy (PyTorch 2.x
still reads a list of sequences as a tuple, with a deprecation warning)."""

import numpy as np
import pytest

import lamina
from lamina.autograd import gradcheck

A = np.arange(4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6)
M45 = np.random.default_rng(0).random((4, 5)) < 0.5
M456 = np.random.default_rng(1).random((4, 5, 6)) < 0.3
M56 = np.random.default_rng(2).random((5, 6)) < 0.4


# (id, index for lamina, numpy equivalent of lamina's result) on A of shape (4, 5, 6).
GETITEM_CASES = [
    ("int", 1, None),
    ("neg_int", -1, None),
    ("two_ints", (1, -2), None),
    ("step_slice", slice(None, None, 2), None),
    ("slices", (slice(1, None, 3), slice(None, -1), slice(4, 1)), None),
    ("none_ellipsis", (None, Ellipsis, None), None),
    ("list", [0, 2, -1], None),
    ("list_dup_neg", [-4, 3, 3, 0], None),
    ("empty_list", [], None),
    ("range", range(1, 4), None),
    ("array", np.array([[0, 1], [3, 2]]), None),
    ("mask1d", np.array([True, False, True, False]), None),
    ("mask2d", M45, None),
    ("mask3d", M456, None),
    ("mask_middle", (slice(None), M56), None),
    ("mask_false", np.zeros(4, bool), None),
    ("mask_and_list", (np.array([True, False, True, True]), slice(None), [1, 1, 5]), None),
    ("broadcast", (np.array([[0], [2]]), np.array([1, 3, 4])), None),
    ("non_adjacent", (np.array([0, 1]), slice(None), np.array([2, 3])), None),
    ("adjacent_after_slice", (slice(None), np.array([0, 1]), np.array([2, 3])), None),
    ("ellipsis_list", (Ellipsis, [0, -1]), None),
    ("none_slice_list", (None, slice(1, 3), [0, 1]), None),
    ("list_none_list", ([0], None, [1]), None),
    ("step_slice_list", (slice(1, None, 2), [4, 0]), None),
    ("true_list", (True, [0, 1]), None),
    ("slice_true_list", (slice(None), True, [0, 1]), None),
    ("false_alone", (False,), None),
    ("mask_none", (None, np.array([True, True, False, True])), None),
    ("empty_broadcast", (np.zeros((0, 2), np.int64),), None),
    # PyTorch semantics that numpy spells differently:
    ("int_then_list", (1, slice(None), [0, 2]), lambda a: a[1][:, [0, 2]]),
    ("list_of_lists", [[0, 1], [1, 0]], None),
    ("list_with_slice", [0, slice(1, 3)], lambda a: a[0, 1:3]),
]


def _as_lamina_index(index):
    """numpy arrays become lamina tensors (lists stay lists), to cover both paths."""
    if isinstance(index, tuple):
        return tuple(_as_lamina_index(i) for i in index)
    if isinstance(index, np.ndarray):
        return lamina.tensor(index)
    return index


def bases(a):
    """The values of `a` as a contiguous tensor, a transposed view and a stepped view."""
    yield "contiguous", lamina.tensor(a)
    yield "transposed", lamina.tensor(np.ascontiguousarray(a.transpose(2, 1, 0))).permute(2, 1, 0)
    wide = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
    wide[..., ::2] = a
    yield "stepped", lamina.tensor(wide)[..., ::2]


@pytest.mark.parametrize("case", GETITEM_CASES, ids=lambda c: c[0])
@pytest.mark.parametrize("as_tensor", [False, True], ids=["numpy_index", "tensor_index"])
def test_getitem_matches_numpy(case, as_tensor):
    _, index, reference = case
    expected = reference(A) if reference else A[index]
    lamina_index = _as_lamina_index(index) if as_tensor else index
    for label, x in bases(A):
        out = x[lamina_index]
        assert tuple(out.shape) == expected.shape, label
        np.testing.assert_array_equal(out.numpy(), expected, err_msg=label)


def test_getitem_int_dtypes_and_index_dtypes():
    a = np.arange(24, dtype=np.int64).reshape(4, 6)
    x = lamina.tensor(a)
    np.testing.assert_array_equal(x[lamina.tensor([3, 0], dtype=lamina.int32)].numpy(), a[[3, 0]])
    np.testing.assert_array_equal(x[np.array([1, 2], dtype=np.int32)].numpy(), a[[1, 2]])
    b = lamina.tensor(a % 2 == 0)
    np.testing.assert_array_equal(b[[1, 0]].numpy(), (a % 2 == 0)[[1, 0]])


def test_getitem_zero_dim_indices_follow_pytorch():
    x = lamina.tensor(A)
    view = x[lamina.tensor(2)]  # a 0-d integer tensor selects, like an int (a view)
    np.testing.assert_array_equal(view.numpy(), A[2])
    assert view.data_ptr() == x[2].data_ptr()
    np.testing.assert_array_equal(x[np.int64(1), 2].numpy(), A[1, 2])
    assert tuple(x[lamina.tensor(True)].shape) == (1, 4, 5, 6)
    assert tuple(x[lamina.tensor(False)].shape) == (0, 4, 5, 6)


def test_getitem_zero_dim_base():
    a = np.array(5.0, np.float32)
    x = lamina.tensor(a)
    for index in [None, Ellipsis, True, False, (None, None), np.array(True)]:
        np.testing.assert_array_equal(x[index].numpy(), a[index])
    np.testing.assert_array_equal(x[x > 0].numpy(), a[a > 0])
    np.testing.assert_array_equal(x[x < 0].numpy(), a[a < 0])
    with pytest.raises(IndexError, match="too many indices for tensor of dimension 0"):
        x[[0]]


def test_getitem_empty_base():
    a = np.zeros((0, 3), np.float32)
    x = lamina.tensor(a)
    assert tuple(x[[]].shape) == (0, 3)
    assert tuple(x[:, [0, 2]].shape) == (0, 2)
    assert tuple(x[np.zeros((0, 3), bool)].shape) == (0,)
    with pytest.raises(IndexError, match="index 0 is out of bounds for dimension 0 with size 0"):
        x[[0]]


def test_getitem_expanded_base():
    x = lamina.tensor([1.0, 2.0, 3.0]).expand(4, 3)
    np.testing.assert_array_equal(x[[0, 3], [2, 0]].numpy(), [3.0, 1.0])
    np.testing.assert_array_equal(x[x > 1.5].numpy(), np.tile([2.0, 3.0], 4))


def test_getitem_result_is_a_copy():
    x = lamina.tensor(A.copy())
    y = x[[0, 1]]
    y += 100
    np.testing.assert_array_equal(x.numpy(), A)


# (id, index) for __setitem__, compared with numpy's a[index] = value.
SETITEM_CASES = [
    ("int", 2), ("slice_step", (slice(None), slice(None, None, 2))), ("list", [0, 2]), ("list_neg", [-1, 0]),
    ("list_dup", [1, 1, 1]), ("mask1d", np.array([True, False, False, True])), ("mask2d", M45), ("mask3d", M456),
    ("mask_middle", (Ellipsis, M56)), ("broadcast", (np.array([[0], [3]]), np.array([1, 4]))),
    ("non_adjacent", ([0, 1], slice(None), [5, 0])), ("ellipsis_list", (Ellipsis, [-1])),
    ("none_list", (None, [1, 2])), ("empty", []),
]


def _values_for(shape, rng):
    """A number, a full-shape tensor and a broadcastable tensor for a target of `shape`."""
    yield 7.5
    yield rng.standard_normal(shape).astype(np.float32)
    if len(shape) >= 1:
        yield rng.standard_normal(shape[-1:]).astype(np.float32)


@pytest.mark.parametrize("case", SETITEM_CASES, ids=lambda c: c[0])
def test_setitem_matches_numpy(case):
    _, index = case
    rng = np.random.default_rng(5)
    for value in _values_for(A[index].shape, rng):
        for label, x in bases(A):
            expected = A.copy()
            expected[index] = value
            lamina_value = lamina.tensor(value) if isinstance(value, np.ndarray) else value
            x[_as_lamina_index(index)] = lamina_value
            np.testing.assert_array_equal(x.numpy(), expected, err_msg=label)


def test_setitem_casts_numbers_not_tensors():
    x = lamina.zeros(4, dtype=lamina.int64)
    x[[0, 2]] = 2.7  # a Python number is cast to x's dtype
    np.testing.assert_array_equal(x.numpy(), [2, 0, 2, 0])
    x[x > 1] = True
    np.testing.assert_array_equal(x.numpy(), [1, 0, 1, 0])
    with pytest.raises(RuntimeError, match="Index put requires the source and destination dtypes match"):
        x[[1]] = lamina.tensor([1.0])


def test_setitem_drops_the_values_leading_size_one_dims():
    # PyTorch drops them before broadcasting: the fuzzer found x[-1, ...] = t([6]) refused on a 0-d slot.
    x = lamina.zeros(3, dtype=lamina.float64)
    x[-1, ...] = lamina.tensor([6], dtype=lamina.int32)
    x[0] = lamina.tensor([[5.0]])
    np.testing.assert_array_equal(x.numpy(), [5, 0, 6])
    y = lamina.zeros(3, 2)
    y[0] = lamina.tensor([[[1.0, 2.0]]])
    y[lamina.tensor([1, 2])] = lamina.tensor([[[3.0, 4.0]]])
    np.testing.assert_array_equal(y.numpy(), [[1, 2], [3, 4], [3, 4]])
    with pytest.raises(RuntimeError):
        x[0] = lamina.tensor([5.0, 6.0])


def test_setitem_one_mask_and_one_value_casts_like_masked_fill():
    # PyTorch makes x[..., mask, ...] = (a one-element tensor) a masked fill, which casts; the
    # fuzzer found lamina refusing keys with basic entries around the mask and 1-element values.
    x = lamina.zeros(3, 4, dtype=lamina.float64)
    mask = lamina.tensor([True, False, True])
    x[mask] = lamina.tensor([5], dtype=lamina.int32)
    x[mask, 1] = lamina.tensor(7, dtype=lamina.int32)
    x[:, lamina.tensor([False, False, False, True])] = lamina.tensor([[-1.5]], dtype=lamina.float32)
    x[None, lamina.tensor([False, True, False])] = lamina.tensor(True)
    np.testing.assert_array_equal(x.numpy(), [[5, 7, 5, -1.5], [1, 1, 1, 1], [5, 7, 5, -1.5]])
    b = lamina.zeros(3, dtype=lamina.bool)
    b[mask] = lamina.tensor(899, dtype=lamina.int32)
    np.testing.assert_array_equal(b.numpy(), [True, False, True])
    # Two index tensors, an integer index tensor or several values: dtypes must match.
    for key in [(mask, lamina.tensor([True, False, True, False])), lamina.tensor([0, 1])]:
        with pytest.raises(RuntimeError, match="Index put requires the source and destination dtypes match"):
            x[key] = lamina.tensor(5, dtype=lamina.int32)
    with pytest.raises(RuntimeError, match="Index put requires the source and destination dtypes match"):
        x[mask] = lamina.tensor([1, 2, 3, 4], dtype=lamina.int32)


def test_setitem_augmented_assignment():
    a = A.copy()
    x = lamina.tensor(A)
    x[[0, 2]] += 1
    a[[0, 2]] += 1
    x[[1, 1]] += 5  # like numpy: a repeated index is written once
    a[[1, 1]] += 5
    x[x > 100] *= -1
    a[a > 100] *= -1
    np.testing.assert_array_equal(x.numpy(), a)


def test_setitem_value_aliasing_base():
    a = np.arange(6.0)
    x = lamina.tensor(a)
    x[[1, 2, 3]] = x[:3]  # the value is a view of the destination
    a[[1, 2, 3]] = a[:3].copy()
    np.testing.assert_array_equal(x.numpy(), a)
    idx = lamina.tensor([2, 0, 1])
    idx[idx] = lamina.tensor([5, 6, 7])  # indices read before the write
    np.testing.assert_array_equal(idx.numpy(), [6, 7, 5])


def test_setitem_zero_dim():
    x = lamina.tensor(1.0)
    x[x > 0] = 3.0
    assert x.item() == 3.0
    x[None] = 4.0
    assert x.item() == 4.0
    x[True] = lamina.tensor([5.0])
    assert x.item() == 5.0


# ---- gradients ----

def _x64(*shape, seed=0):
    return lamina.tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True)


GRAD_INDICES = [
    ("list_dup", [0, 2, 0]), ("mask", M45[:3, :4]), ("broadcast", (np.array([[0], [2]]), [1, 1, 3])),
    ("int_list", (1, [3, 0, 3])), ("ellipsis", (Ellipsis, [1, -1])), ("none", (None, [2, 1])),
]


@pytest.mark.parametrize("case", GRAD_INDICES, ids=lambda c: c[0])
def test_getitem_gradient_on_non_leaf(case):
    _, index = case
    x = _x64(3, 4)
    assert gradcheck(lambda t: (t * 2)[index], [x])
    y = (x * 3)[index]
    assert y.grad_fn.name() in ("IndexBackward0", "SelectBackward0")
    y.sum().backward()
    expected = np.zeros((3, 4))
    np.add.at(expected, index, 3.0)
    np.testing.assert_allclose(x.grad.numpy(), expected)


# Indices with no basic (view) part: in-place writes through a view of a tensor that requires
# grad are not supported yet.
SETITEM_GRAD_INDICES = [c for c in GRAD_INDICES if c[0] not in ("int_list", "none")] + [("two_lists", ([1, 2], [3, 0]))]


@pytest.mark.parametrize("case", SETITEM_GRAD_INDICES, ids=lambda c: c[0])
def test_setitem_gradient_on_non_leaf(case):
    _, index = case
    x = _x64(3, 4)
    shape = np.zeros((3, 4))[index].shape
    v = _x64(*shape, seed=1)

    def f(t, value):
        y = t * 1.5
        y[index] = value * 2
        return y

    assert gradcheck(f, [x, v])


def test_setitem_gradient_when_value_comes_from_the_base():
    x = _x64(4, 3)

    def f(t):
        y = t.clone()
        y[[0, 1]] = y[[2, 3]] * 3  # the base is read by an index and then written by another
        y[y.detach() > 10] = 0.0
        return y

    assert gradcheck(f, [x])
    y = f(x)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.array([[0.0] * 3, [0.0] * 3, [4.0] * 3, [4.0] * 3]))


def test_setitem_mask_gradient_and_grad_fn():
    x = _x64(2, 3)
    v = _x64(seed=2)  # 0-d value broadcast over the masked elements
    y = x * 1
    y[y.detach() > 0] = v
    assert y.grad_fn.name() == "IndexPutBackward0"
    assert gradcheck(lambda t, val: _masked_set(t, val), [x, v])


def _masked_set(t, val):
    y = t * 1
    y[t.detach() > 0] = val
    return y


def test_setitem_on_tensor_without_grad_takes_value_history():
    y = lamina.zeros(3, dtype=lamina.float64)
    v = _x64(2)
    y[[0, 2]] = v
    assert y.requires_grad and not y.is_leaf
    (y * lamina.tensor([1.0, 10.0, 100.0], dtype=lamina.float64)).sum().backward()
    np.testing.assert_allclose(v.grad.numpy(), [1.0, 100.0])


def test_inplace_index_after_save_is_detected():
    x = _x64(3)
    y = x * 1
    z = y * y  # saves y
    y[[0]] = 0.0
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.sum().backward()


# ---- against PyTorch ----

@pytest.mark.torch
def test_getitem_and_setitem_match_torch():
    torch = pytest.importorskip("torch")
    # Nested lists are left out: PyTorch still reads them as tuples (deprecated), lamina as numpy does.
    cases = [c[1] for c in GETITEM_CASES if c[0] != "list_of_lists"] + [
        (1, slice(None), [0, 2]), (slice(None), True, [0, 1]), (None, [0, 1], None, [2, 3]),
        ([True, False, True, True], 0), (1, [0, 1], slice(1, 5, 2)),
    ]
    for index in cases:
        t = torch.tensor(A)[_torch_index(index, torch)]
        out = lamina.tensor(A)[index]
        assert tuple(out.shape) == tuple(t.shape), index
        np.testing.assert_array_equal(out.numpy(), t.numpy())
        tx, lx = torch.tensor(A), lamina.tensor(A)
        tx[_torch_index(index, torch)] = -1.0
        lx[index] = -1.0
        np.testing.assert_array_equal(lx.numpy(), tx.numpy())


def _torch_index(index, torch):
    if isinstance(index, list) and any(isinstance(i, slice) or i is None or i is Ellipsis for i in index):
        index = tuple(index)  # what lamina reads; PyTorch warns on the list form
    if isinstance(index, tuple):
        return tuple(_torch_index(i, torch) for i in index)
    if isinstance(index, np.ndarray):
        return torch.from_numpy(index)
    return index


# ---- setitem with advanced indices on views of non-leaves (regression: RuntimeError) -------------

def _setitem_grad(assign):
    x = lamina.ones(3, 4, dtype=lamina.float64, requires_grad=True)
    y = x * 2
    assign(y)
    (y * lamina.arange(12.0, dtype=lamina.float64).reshape(3, 4)).sum().backward()
    return y.detach().numpy(), x.grad.numpy()


def _setitem_numpy(assign):
    y = np.full((3, 4), 2.0)
    assign(y)
    grad = np.arange(12.0).reshape(3, 4) * 2
    grad[y == 5.0] = 0  # assigned elements no longer depend on x
    return y, grad


@pytest.mark.parametrize("lamina_assign,numpy_assign", [
    (lambda y: y.__setitem__((slice(None), lamina.tensor([0, 2])), 5.0),
     lambda y: y.__setitem__((slice(None), [0, 2]), 5.0)),
    (lambda y: y.__setitem__((lamina.tensor([0, 2]), 1), 5.0), lambda y: y.__setitem__(([0, 2], 1), 5.0)),
    (lambda y: y.__setitem__((slice(None), lamina.tensor([True, False, True, False])), 5.0),
     lambda y: y.__setitem__((slice(None), [True, False, True, False]), 5.0)),
    (lambda y: y[1:].__setitem__(lamina.tensor([[True] * 4, [False] * 4]), 5.0),
     lambda y: y[1:].__setitem__(np.array([[True] * 4, [False] * 4]), 5.0)),
    (lambda y: y[:, 1].__setitem__(lamina.tensor([2, 0]), 5.0), lambda y: y[:, 1].__setitem__([2, 0], 5.0)),
])
def test_setitem_advanced_index_on_view_of_non_leaf(lamina_assign, numpy_assign):
    got_y, got_grad = _setitem_grad(lamina_assign)
    want_y, want_grad = _setitem_numpy(numpy_assign)
    np.testing.assert_array_equal(got_y, want_y)
    np.testing.assert_array_equal(got_grad, want_grad)


def test_setitem_tensor_value_on_view_gets_its_gradient():
    x = lamina.ones(3, 4, dtype=lamina.float64, requires_grad=True)
    v = lamina.tensor([7.0, 8.0], dtype=lamina.float64, requires_grad=True)
    y = x * 2
    y[:, lamina.tensor([0, 3])] = v  # broadcast over rows
    y.sum().backward()
    np.testing.assert_array_equal(v.grad.numpy(), [3, 3])
    np.testing.assert_array_equal(x.grad.numpy(), np.tile([0.0, 2, 2, 0], (3, 1)))


def test_where_with_only_a_condition_is_nonzero_as_tuple():
    c = lamina.tensor([[True, False], [False, True]])
    rows, cols = lamina.where(c)
    assert rows.tolist() == [0, 1] and cols.tolist() == [0, 1]
    (idx,) = lamina.where(lamina.tensor(True))
    assert idx.tolist() == [0]


def test_none_around_ellipsis_indexing():
    x = lamina.zeros(2, 3)
    a = np.zeros((2, 3))
    for key in [(..., None, 1), (None, ..., None), (None, ..., None, 0), (..., None), (None, ...), (0, ..., None),
                (None, None, ..., 1, None)]:
        assert x[key].shape == a[key].shape, key
    y = lamina.tensor(2.0)
    assert y[..., None].shape == (1,) and y[None, ...].shape == (1,) and y[...].shape == ()


def test_second_ellipsis_spans_what_is_left_like_pytorch():
    # PyTorch lets every ellipsis span the dims no other entry names; numpy refuses a second one
    x = lamina.arange(24.0).reshape(2, 3, 4)
    assert x[..., None, ...].shape == (2, 3, 4, 1)
    assert x[None, ..., None, ...].shape == (1, 2, 3, 4, 1)
    assert x[0, ..., ...].shape == (3, 4)
    np.testing.assert_array_equal(x[..., 0, ...].numpy(), x.numpy()[..., 0])
    with pytest.raises(IndexError):
        x[..., ..., 1]  # the second span runs past the last dim


def test_setitem_bool_mask_with_0d_value_casts_like_pytorch():
    # PyTorch treats x[mask] = 0-d tensor as a masked fill, which casts (other index puts refuse)
    y = lamina.zeros(3, dtype=lamina.int64)
    y[lamina.tensor([True, False, True])] = lamina.tensor(2.7, dtype=lamina.float64)
    assert y.tolist() == [2, 0, 2]
    with pytest.raises(RuntimeError, match="dtypes match"):
        y[lamina.tensor([0, 2])] = lamina.tensor(2.7, dtype=lamina.float64)


def test_out_of_range_index_into_an_empty_result_is_not_checked():
    """As PyTorch (found by the differential fuzzer): when a dim the indices leave alone is empty,
    nothing is read, so an out-of-range index is not an error; into an empty indexed dim it is."""
    x = lamina.zeros(2, 4, 3)
    assert tuple(x[..., 1:0:3, lamina.tensor([[-2], [3]])].shape) == (2, 0, 2, 1)
    assert tuple(lamina.zeros(0, 3)[:, lamina.tensor([4])].shape) == (0, 1)
    x[:, 1:1, lamina.tensor([5])] = 1.0
    with pytest.raises(IndexError):
        lamina.zeros(0)[lamina.tensor([0])]
    with pytest.raises(IndexError):
        lamina.zeros(3, 0, 3)[2:0, [0, 0]]
    with pytest.raises(IndexError):
        x[:, lamina.tensor([4])]
