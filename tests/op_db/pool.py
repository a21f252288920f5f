"""Pooling and padding: window ops are checked against naive numpy loops in tests/nn/ rather than
through generic specs (their inputs need at least three dims and window arguments)."""

SPECS = []

_POOL_TESTS = "tests/nn/test_pool.py"
COVERED_ELSEWHERE = {
    "max_pool1d": _POOL_TESTS,
    "max_pool2d": _POOL_TESTS,
    "max_pool1d_with_indices": _POOL_TESTS,
    "max_pool2d_with_indices": _POOL_TESTS,
    "avg_pool1d": _POOL_TESTS,
    "avg_pool2d": _POOL_TESTS,
    "adaptive_avg_pool1d": _POOL_TESTS,
    "adaptive_avg_pool2d": _POOL_TESTS,
    "adaptive_max_pool1d": _POOL_TESTS,
    "adaptive_max_pool2d": _POOL_TESTS,
    "constant_pad_nd": "tests/nn/test_pad_interpolate.py",
}
