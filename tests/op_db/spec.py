"""OpSpec: how to run one op, its numpy reference, and the inputs it accepts."""

from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

import lamina

FLOAT_DTYPES = ("float32", "float64")
ALL_DTYPES = ("float32", "float64", "int32", "int64", "bool")
NUMERIC = ("float32", "float64", "int32", "int64")
INTEGRAL = ("int32", "int64", "bool")

# Elementwise shapes: 0-d, empty, size-1, odd sizes that leave vector tails, multi-dim.
UNARY_SHAPES = [(), (0,), (1,), (7,), (37,), (4, 5), (2, 3, 4), (3, 0, 2)]
# Broadcasting pairs for binary ops.
BINARY_SHAPES = [((), ()), ((5,), ()), ((), (5,)), ((4, 5), (5,)), ((4, 1), (1, 5)), ((2, 1, 3), (4, 1)),
                 ((0, 3), (1, 3)), ((1,), (0,)), ((33,), (33,)), ((2, 3, 4), (2, 3, 4))]
# Broadcasting triples for ternary ops (where, clamp with tensor bounds).
TERNARY_SHAPES = [((), (), ()), ((4, 5), (5,), ()), ((4, 1), (1, 5), (4, 5)), ((2, 1, 3), (4, 1), (3,)),
                  ((0, 3), (1, 3), ()), ((33,), (33,), (33,))]
# Shapes for reductions (ndim >= 1 unless the spec says otherwise).
REDUCTION_SHAPES = [(), (1,), (7,), (4, 5), (3, 1, 4), (2, 3, 4), (0, 3), (40000,)]
# Shapes for views: 0-d, size-0, size-1 dims, and odd multi-dim shapes.
VIEW_SHAPES = [(), (0,), (1,), (6,), (4, 5), (1, 3, 1), (2, 3, 4), (3, 0, 2), (2, 1, 3, 2)]


@dataclass
class OpSpec:
    name: str                       # unique id of this spec (e.g. "sum_keepdim")
    op: Callable                    # lamina callable on tensors
    ref: Callable                   # numpy callable on arrays
    kind: str = "unary"             # unary | binary | ternary | reduction | view
    fn: Optional[str] = None        # the public lamina function this spec covers (default: name)
    dtypes: tuple = FLOAT_DTYPES    # input dtypes to test forward with
    arg_dtypes: Optional[tuple] = None  # per-argument dtype overrides (None = the tested dtype)
    domain: tuple = (-3.0, 3.0)     # inputs drawn uniformly from here (floats)
    grad: bool = True               # check first derivatives (float64 finite differences)
    gradgrad: bool = True           # and second derivatives
    atol: float = 1e-5
    rtol: float = 1e-5
    atol32: Optional[float] = None  # float32 tolerances, when looser
    rtol32: Optional[float] = None
    min_ndim: int = 0               # inputs need at least this many dims
    shapes: Optional[list] = None   # override the kind's default shapes
    avoid: Optional[Callable] = None  # mask of input values to move away from (kinks, zero divisors)
    check_dtype: bool = True        # compare result dtype with numpy's (skip for promotion quirks)
    shares_storage: bool = False    # views: the result always aliases the input
    layouts: Optional[tuple] = None  # restrict the memory layouts tested (e.g. ("contiguous",))
    errors: list = field(default_factory=list)  # (callable, exception type, message regex)

    def __post_init__(self):
        if self.fn is None:
            self.fn = self.name

    def tolerances(self, dtype):
        if dtype == "float32":
            return (self.atol32 if self.atol32 is not None else max(self.atol, 1e-5),
                    self.rtol32 if self.rtol32 is not None else max(self.rtol, 1e-4))
        return self.atol, self.rtol

    def input_dtypes(self, dtype, count):
        """The dtype of each of `count` arguments when the spec is tested with `dtype`."""
        overrides = self.arg_dtypes or ()
        return [overrides[i] if i < len(overrides) and overrides[i] else dtype for i in range(count)]

    def __repr__(self):
        return self.name


def random_array(shape, dtype, domain=(-3.0, 3.0), rng=None, avoid=None):
    """Random numpy array of a lamina dtype name, floats uniform in `domain`; `avoid` marks values
    to move away from (floats by 0.3, integers by 1)."""
    rng = rng if rng is not None else np.random.default_rng(0)
    if dtype == "bool":
        return rng.random(shape) < 0.5
    if dtype in ("int32", "int64"):
        lo, hi = int(np.floor(domain[0])), int(np.ceil(domain[1]))
        a = rng.integers(lo, max(hi, lo + 1) + 1, size=shape).astype(dtype)
        if avoid is not None:
            a = np.where(avoid(a), a + 1, a).astype(dtype)
        return a
    a = rng.uniform(domain[0], domain[1], size=shape).astype(dtype)
    if avoid is not None:
        bad = avoid(a)
        a = np.where(bad, a + 0.3, a).astype(dtype)
    return a


def to_lamina(a, requires_grad=False):
    t = lamina.tensor(a)
    if requires_grad:
        t.requires_grad_(True)
    return t
