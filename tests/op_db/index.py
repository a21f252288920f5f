"""Indexing ops: gather/scatter, index_select/index_add, index_put, masks, nonzero, sort/topk and
advanced indexing (x[...]).

Ops that need an index tensor or a mask get one from the helpers below, a deterministic function
of the input's shape, so the generic suites (every shape, layout and ISA level, float64
gradients) can drive them with just the input. The scatter family is driven through `src` (the
input is what gets scattered into zeros). Ops the suites cannot drive are kind="custom" and are
covered by tests/ops/test_index_ops.py and tests/ops/test_indexing.py, which also run every
spec's `errors`.
"""

import numpy as np

import lamina
import lamina.nn.functional as F

from .spec import ALL_DTYPES, OpSpec


def _rng(shape, salt):
    return np.random.default_rng([salt, len(shape), *shape])


def index_along(shape, dim, salt=0):
    """int64 indices of `shape` with values in [0, shape[dim])."""
    size = shape[dim]
    return _rng(shape, salt).integers(0, max(size, 1), size=shape) if size else np.zeros(shape, np.int64)


def permutation_along(shape, dim):
    """For each line along `dim`, a permutation of range(shape[dim]) (scatter targets are unique)."""
    keys = _rng(shape, 1).random(shape)
    return np.argsort(keys, axis=dim, kind="stable").astype(np.int64)


def vector_index(size, length, salt=2):
    """A 1-d int64 index of `length` values in [0, size) (empty when size == 0)."""
    return _rng((size, length), salt).integers(0, size, size=length) if size else np.zeros(0, np.int64)


def mask_for(shape):
    return _rng(shape, 3).random(shape) < 0.5


def _t(a):
    return lamina.tensor(a)


def _zeros_like(x):
    return lamina.zeros(tuple(x.shape), dtype=x.dtype)


def _np_scatter_add_last(a):
    idx = index_along(a.shape, -1)
    out = np.zeros_like(a)
    lead = np.indices(a.shape)[:-1]
    np.add.at(out, (*lead, idx), a)
    return out


def _np_scatter_last(a):
    out = np.zeros_like(a)
    np.put_along_axis(out, permutation_along(a.shape, -1), a, axis=-1)
    return out


def _np_index_add_first(a):
    out = np.zeros_like(a)
    np.add.at(out, vector_index(a.shape[0], a.shape[0]), a)
    return out


def _k(shape):
    return min(3, shape[-1])


def _np_topk(a, largest=True):
    s = np.sort(a, axis=-1, kind="stable")
    if largest:
        s = np.flip(s, axis=-1)
    return s[..., : _k(a.shape)]


def _np_argsort_desc(a):
    return np.argsort(-a.astype(np.float64), axis=-1, kind="stable")


def _np_nonzero(a):
    return np.argwhere(a).astype(np.int64)


_x = lambda: lamina.arange(6.0).reshape(2, 3)  # noqa: E731
_long = lambda *v: lamina.tensor(list(v))  # noqa: E731

SPECS = [
    # ---- index-driven ops through the generic suites ("reduction" kind: one tensor, many shapes) ----
    OpSpec("gather", lambda x: x.gather(-1, _t(index_along(tuple(x.shape), -1))),
           lambda a: np.take_along_axis(a, index_along(a.shape, -1), -1), kind="reduction", dtypes=ALL_DTYPES,
           min_ndim=1,
           errors=[
               (lambda: _x().gather(0, lamina.tensor([[0.0]])), RuntimeError,
                r"gather: Expected dtype int32/int64 for index, got float32"),
               (lambda: _x().gather(0, _long(5).reshape(1, 1)), IndexError,
                r"gather: index 5 is out of bounds for dimension 0 with size 2"),
               (lambda: _x().gather(1, _long(-1).reshape(1, 1)), IndexError,
                r"gather: index -1 is out of bounds for dimension 1 with size 3"),
               (lambda: _x().gather(0, _long(0)), RuntimeError,
                r"gather: Index tensor must have the same number of dimensions as input tensor"),
               (lambda: _x().gather(0, lamina.zeros(2, 4, dtype=lamina.int64)), RuntimeError,
                r"gather: Size does not match at dimension 1 expected index \(2, 4\) to be no larger than self "
                r"\(2, 3\) apart from dimension 0"),
               (lambda: _x().gather(2, _long(0).reshape(1, 1)), IndexError, r"gather: dim 2 out of range"),
           ]),
    OpSpec("index_select", lambda x: x.index_select(0, _t(vector_index(x.shape[0], 5))),
           lambda a: np.take(a, vector_index(a.shape[0], 5), axis=0), kind="reduction", dtypes=ALL_DTYPES,
           min_ndim=1,
           errors=[
               (lambda: _x().index_select(0, lamina.zeros(1, 1, dtype=lamina.int64)), IndexError,
                r"index_select: Index is supposed to be a vector"),
               (lambda: _x().index_select(0, lamina.zeros(1)), RuntimeError,
                r"index_select: Expected dtype int32 or int64 for index, got float32"),
               (lambda: _x().index_select(1, _long(3)), IndexError,
                r"index_select: index 3 is out of bounds for dimension 1 with size 3"),
               (lambda: lamina.tensor(3.0).index_select(0, _long(0, 0)), RuntimeError,
                r"index_select: Index to scalar can have only 1 value, got 2 value\(s\)"),
           ]),
    OpSpec("scatter_add", lambda x: _zeros_like(x).scatter_add(-1, _t(index_along(tuple(x.shape), -1)), x),
           _np_scatter_add_last, kind="reduction", dtypes=ALL_DTYPES, min_ndim=1, atol=1e-4, rtol=1e-4,
           errors=[
               (lambda: lamina.zeros(3).scatter_add(0, _long(0), lamina.ones(1, dtype=lamina.float64)),
                RuntimeError, r"scatter_add: Expected self.dtype to be equal to src.dtype"),
               (lambda: lamina.zeros(3).scatter_add(0, _long(3), lamina.ones(1)), IndexError,
                r"scatter_add: index 3 is out of bounds for dimension 0 with size 3"),
               (lambda: lamina.zeros(3).scatter_add(0, _long(0, 1), lamina.ones(1)), RuntimeError,
                r"scatter_add: Expected index \(2,\) to be no larger than self \(3,\) apart from dimension 0 and "
                r"to be no larger size than src \(1,\)"),
               (lambda: lamina.zeros(3).scatter_add(0, lamina.zeros(1, 1, dtype=lamina.int64),
                                                         lamina.ones(1)), RuntimeError,
                r"Index tensor must have the same number of dimensions as self tensor"),
           ]),
    OpSpec("scatter", lambda x: _zeros_like(x).scatter(-1, _t(permutation_along(tuple(x.shape), -1)), x),
           _np_scatter_last, kind="reduction", dtypes=ALL_DTYPES, min_ndim=1,
           errors=[
               (lambda: lamina.zeros(3).scatter(0, _long(-1), lamina.ones(1)), IndexError,
                r"scatter: index -1 is out of bounds for dimension 0 with size 3"),
               (lambda: lamina.zeros(3).scatter(0, lamina.zeros(1), lamina.ones(1)), RuntimeError,
                r"scatter: Expected dtype int32/int64 for index, got float32"),
               (lambda: lamina.zeros(3).scatter(0, _long(0), lamina.ones(1, 1)), RuntimeError,
                r"scatter: Index tensor must have the same number of dimensions as src tensor"),
               (lambda: lamina.zeros(3).scatter(0, _long(0), lamina.ones(1), reduce="multiply"),
                NotImplementedError, r"scatter: reduce='multiply' is not supported"),
           ]),
    OpSpec("index_add", lambda x: _zeros_like(x).index_add(0, _t(vector_index(x.shape[0], x.shape[0])), x),
           _np_index_add_first, kind="reduction", dtypes=ALL_DTYPES, min_ndim=1, atol=1e-4, rtol=1e-4,
           errors=[
               (lambda: _x().index_add(0, _long(0), lamina.ones(2, 3)), RuntimeError,
                r"index_add_: Number of indices \(1\) should be equal to source.size\(dim\): \(2\), for dim: 0"),
               (lambda: _x().index_add(0, _long(0), lamina.ones(1, 2)), RuntimeError,
                r"source tensor shape must match self tensor shape, excluding the specified dimension. "
                r"Got self.shape = \(2, 3\) source.shape = \(1, 2\)"),
               (lambda: _x().index_add(0, _long(2), lamina.ones(1, 3)), IndexError,
                r"index_add_: index 2 is out of bounds for dimension 0 with size 2"),
               (lambda: _x().index_add(0, _long(0), lamina.ones(1, 3, dtype=lamina.float64)), RuntimeError,
                r"index_add_: self \(float32\) and source \(float64\) must have the same scalar type"),
               (lambda: _x().index_add(0, lamina.zeros(1), lamina.ones(1, 3)), RuntimeError,
                r"index_add_: Expected dtype int32/int64 for index, got float32"),
               (lambda: _x().index_add(0, lamina.zeros(1, 1, dtype=lamina.int64), lamina.ones(1, 3)),
                IndexError, r"index_add_: Index is supposed to be a vector"),
           ]),
    OpSpec("index_put", lambda x: _zeros_like(x).index_put((_t(vector_index(x.shape[0], x.shape[0])),), x,
                                                           accumulate=True),
           _np_index_add_first, kind="reduction", dtypes=ALL_DTYPES, min_ndim=1, atol=1e-4, rtol=1e-4,
           errors=[
               (lambda: lamina.zeros(3).index_put_((_long(0),), lamina.ones(1, dtype=lamina.float64)),
                RuntimeError, r"index_put_: Index put requires the source and destination dtypes match, got "
                r"float32 for the destination and float64 for the source"),
               (lambda: lamina.zeros(3).index_put_((_long(0, 1),), lamina.ones(3)), RuntimeError,
                r"index_put_: shape mismatch: value tensor of shape \(3,\) cannot be broadcast to indexing "
                r"result of shape \(2,\)"),
               (lambda: lamina.zeros(3).index_put_((_long(3),), lamina.ones(1)), IndexError,
                r"index_put_: index 3 is out of bounds for dimension 0 with size 3"),
               (lambda: lamina.zeros(3).index_put_(_long(0), lamina.ones(1)), TypeError,
                r"indices must be a tuple or list of tensors"),
           ]),
    OpSpec("masked_fill", lambda x: x.masked_fill(_t(mask_for(tuple(x.shape))), 0.5),
           lambda a: np.where(mask_for(a.shape), np.asarray(0.5).astype(a.dtype), a), kind="reduction",
           dtypes=ALL_DTYPES,
           errors=[
               (lambda: _x().masked_fill(lamina.ones(2, 3), 1.0), RuntimeError,
                r"masked_fill: only supports boolean masks, but got mask with dtype float32"),
               (lambda: _x().masked_fill(lamina.ones(2, 3, dtype=lamina.bool), lamina.ones(1)), RuntimeError,
                r"masked_fill: only supports a 0-dimensional value tensor, but got tensor with 1 dimension"),
               (lambda: lamina.zeros(3).masked_fill_(lamina.ones(2, 3, dtype=lamina.bool), 1.0), RuntimeError,
                r"masked_fill_: output with shape \(3,\) doesn't match the broadcast shape \(2, 3\)"),
               (lambda: lamina.zeros(3).masked_fill(lamina.ones(2, dtype=lamina.bool), 1.0), RuntimeError,
                r"masked_fill: shapes \(3,\) and \(2,\) cannot be broadcast"),
           ]),
    OpSpec("masked_select", lambda x: x.masked_select(_t(mask_for(tuple(x.shape)))),
           lambda a: a[mask_for(a.shape)], kind="reduction", dtypes=ALL_DTYPES,
           errors=[
               (lambda: _x().masked_select(lamina.ones(2, 3)), RuntimeError,
                r"masked_select: expected BoolTensor for mask, got float32"),
               (lambda: lamina.zeros(3).masked_select(lamina.ones(2, dtype=lamina.bool)), RuntimeError,
                r"masked_select: shapes \(3,\) and \(2,\) cannot be broadcast"),
           ]),
    OpSpec("nonzero", lambda x: lamina.nonzero(x), _np_nonzero, kind="reduction", dtypes=ALL_DTYPES, grad=False),
    OpSpec("sort", lambda x: x.sort(dim=-1).values, lambda a: np.sort(a, axis=-1), kind="reduction",
           dtypes=ALL_DTYPES, min_ndim=1,
           errors=[(lambda: _x().sort(dim=2), IndexError, r"sort: dim 2 out of range")]),
    OpSpec("sort_descending", lambda x: x.sort(dim=0, descending=True).values,
           lambda a: np.flip(np.sort(a, axis=0), axis=0), kind="reduction", dtypes=ALL_DTYPES, min_ndim=1),
    OpSpec("argsort", lambda x: x.argsort(dim=-1), lambda a: np.argsort(a, axis=-1, kind="stable"),
           kind="reduction", dtypes=ALL_DTYPES, min_ndim=1, grad=False),
    OpSpec("argsort_descending", lambda x: x.argsort(dim=-1, descending=True), _np_argsort_desc,
           kind="reduction", dtypes=ALL_DTYPES, min_ndim=1, grad=False),
    OpSpec("topk", lambda x: x.topk(_k(tuple(x.shape))).values, _np_topk, kind="reduction", dtypes=ALL_DTYPES,
           min_ndim=1,
           errors=[(lambda: _x().topk(4), RuntimeError, r"topk: selected index k out of range"),
                   (lambda: _x().topk(-1), RuntimeError, r"topk: selected index k out of range")]),
    OpSpec("topk_smallest", lambda x: x.topk(_k(tuple(x.shape)), largest=False).values,
           lambda a: _np_topk(a, largest=False), kind="reduction", dtypes=ALL_DTYPES, min_ndim=1),
    # ---- advanced indexing through the view suite (float32 forward, float64 gradients) ----
    OpSpec("getitem_list", lambda x: x[[0, -1, 0]], lambda a: a[[0, -1, 0]], kind="view", min_ndim=1,
           errors=[
               (lambda: _x()[[0, 5]], IndexError, r"index: index 5 is out of bounds for dimension 0 with size 2"),
               (lambda: _x()[[-3]], IndexError, r"index -3 is out of bounds for dimension 0 with size 2"),
               (lambda: _x()[lamina.tensor([0.0, 1.0])], IndexError,
                r"tensors used as indices must be long, int or bool tensors, got float32"),
               (lambda: _x()[[0], [0], [0]], IndexError, r"too many indices for tensor of dimension 2"),
               (lambda: _x()[_long(0, 1), _long(0, 1, 2)], IndexError,
                r"shape mismatch: indexing tensors could not be broadcast together with shapes \(2,\), \(3,\)"),
               (lambda: _x()[1.5], IndexError, r"only integers, slices"),
           ]),
    OpSpec("getitem_mask", lambda x: x[x > 0], lambda a: a[a > 0], kind="view",
           errors=[
               (lambda: _x()[lamina.tensor([True, False, True])], IndexError,
                r"The shape of the mask \(3,\) at index 0 does not match the shape of the indexed tensor \(2, 3\) "
                r"at index 0"),
           ]),
    OpSpec("getitem_ellipsis", lambda x: x[..., [1, 0, 1]], lambda a: a[..., [1, 0, 1]], kind="view", min_ndim=1),
    OpSpec("getitem_broadcast", lambda x: x[np.array([[0], [-1]]), [0, 0, -1]],
           lambda a: a[np.array([[0], [-1]]), [0, 0, -1]], kind="view", min_ndim=2),
    OpSpec("setitem", lambda x: x.__setitem__([0], 1.0), None, kind="custom",
           errors=[
               (lambda: _x().__setitem__([0, 1], lamina.ones(3, 3)), RuntimeError,
                r"shape mismatch: value tensor of shape \(3, 3\) cannot be broadcast to indexing result of shape "
                r"\(2, 3\)"),
               (lambda: _x().__setitem__([0, 1], lamina.ones(3, dtype=lamina.float64)), RuntimeError,
                r"Index put requires the source and destination dtypes match"),
               (lambda: _x().__setitem__([0, 5], 1.0), IndexError,
                r"index 5 is out of bounds for dimension 0 with size 2"),
               (lambda: lamina.zeros(2, requires_grad=True).__setitem__([0], 1.0), RuntimeError,
                r"a leaf Variable that requires grad is being used in an in-place operation"),
           ]),
    OpSpec("one_hot", lambda x: F.one_hot(x), None, kind="custom",
           errors=[
               (lambda: F.one_hot(lamina.tensor([1], dtype=lamina.int32)), RuntimeError,
                r"one_hot: one_hot is only applicable to index tensor of type LongTensor"),
               (lambda: F.one_hot(_long(-1)), RuntimeError,
                r"one_hot: Class values must be non-negative"),
               (lambda: F.one_hot(_long(3), 3), RuntimeError,
                r"one_hot: Class values must be smaller than num_classes"),
               (lambda: F.one_hot(lamina.zeros(0, dtype=lamina.int64)), RuntimeError,
                r"one_hot: Can not infer total number of classes from empty tensor"),
           ]),
    OpSpec("randperm", lambda n: lamina.randperm(n), None, kind="custom",
           errors=[
               (lambda: lamina.randperm(-1), RuntimeError, r"randperm: n must be non-negative, got -1"),
               (lambda: lamina.randperm(3, dtype=lamina.bool), NotImplementedError,
                r"randperm: not implemented for 'bool'"),
               (lambda: lamina.randperm(3, requires_grad=True), RuntimeError,
                r"only Tensors of floating point dtype can require gradients"),
           ]),
]

COVERED_ELSEWHERE = []

# Specs whose name is a variant: the public function each one covers.
for _spec in SPECS:
    _spec.fn = {'sort_descending': 'sort', 'argsort_descending': 'argsort', 'topk_smallest': 'topk', 'getitem_list': '__getitem__', 'getitem_mask': '__getitem__', 'getitem_ellipsis': '__getitem__', 'getitem_broadcast': '__getitem__', 'setitem': '__setitem__', 'one_hot': '_one_hot'}.get(_spec.name, _spec.fn)
