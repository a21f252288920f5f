"""Random tensor contents, shared by leaves (generate.py) and generated op arguments (args.py)."""

import numpy as np

DTYPES = ["float32", "float64", "int32", "int64", "bool"]
FLOATS = ["float32", "float64"]
# Points where activations have kinks (relu at 0, relu6 at 6, hardtanh at +-1, hardsigmoid at +-3, ...)
# and where floor/round/sign change: exact hits there are where backward formulas go wrong.
KINKS = [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.0, 3.0, -3.0, 6.0]
SPECIALS = {
    "float32": [np.nan, np.inf, -np.inf, -0.0, 3e38, -3e38, 1e-40, 1e-30],
    "float64": [np.nan, np.inf, -np.inf, -0.0, 1e300, -1e300, 5e-324, 1e-300],
}
INT_EXTREMES = {"int32": [2**31 - 1, -(2**31)], "int64": [2**63 - 1, -(2**63)]}


def random_array(r, shape, dtype):
    """Values a test author would pick: small normals, integers, kink points, sometimes special values."""
    shape = tuple(shape)
    if dtype == "bool":
        return np.asarray(r.random(shape) < 0.5)
    if dtype in INT_EXTREMES:
        high = int(r.choice([3, 6, 1000]))
        a = np.asarray(r.integers(-high, high + 1, size=shape), dtype=dtype)
        if r.random() < 0.05 and a.size:
            a.flat[r.integers(a.size)] = r.choice(INT_EXTREMES[dtype])
        return a
    kind = r.random()
    if kind < 0.5:
        a = r.standard_normal(shape) * float(r.choice([1.0, 3.0, 100.0]))
    elif kind < 0.7:
        a = r.integers(-4, 5, size=shape).astype(np.float64)
    else:
        a = r.choice(KINKS, size=shape)
    a = np.asarray(a, dtype=dtype)  # 0-d stays an array, not a numpy scalar
    if r.random() < 0.25 and a.size:
        mask = np.asarray(r.random(shape) < r.uniform(0.05, 0.3))
        a[mask] = r.choice(SPECIALS[dtype], size=int(mask.sum()))
    return a
