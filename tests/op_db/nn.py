"""nn functions with fused kernels (ops/softmax.cpp, norm.cpp, loss.cpp, dropout.cpp): their shapes
and arguments do not fit the generic elementwise/reduction suites, so each is tested by hand in
tests/nn/ (numpy references, gradcheck, thread-count determinism, errors)."""

SPECS = []

COVERED_ELSEWHERE = {
    "softmax": "tests/nn/test_softmax.py",
    "log_softmax": "tests/nn/test_softmax.py",
    "layer_norm": "tests/nn/test_norm.py",
    "group_norm": "tests/nn/test_norm.py",
    "dropout": "tests/nn/test_dropout.py",
}
