"""Convolutions and unfold/fold: tested by hand-written tests against naive numpy references."""

SPECS = []

COVERED_ELSEWHERE = dict.fromkeys(["conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d"], "tests/nn/test_conv.py")
