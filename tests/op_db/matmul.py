"""Matrix products: their shapes (1-D/2-D/batched combinations, broadcasting, size-0 dims) do not
fit the generic elementwise suites, so each is tested by hand against np.matmul / np.einsum in
tests/ops/test_matmul.py and tests/ops/test_einsum.py (forward on every ISA level and layout,
gradcheck and gradgradcheck in float64, thread-count determinism, errors)."""

SPECS = []

COVERED_ELSEWHERE = {
    "matmul": "tests/ops/test_matmul.py",
    "mm": "tests/ops/test_matmul.py",
    "bmm": "tests/ops/test_matmul.py",
    "dot": "tests/ops/test_matmul.py",
    "mv": "tests/ops/test_matmul.py",
    "outer": "tests/ops/test_matmul.py",
    "addmm": "tests/ops/test_matmul.py",
    "baddbmm": "tests/ops/test_matmul.py",
    "einsum": "tests/ops/test_einsum.py",
    "_linear": "tests/ops/test_matmul.py",
}
