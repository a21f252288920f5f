"""The comparison rules of compare.py that decide what counts as a disagreement."""

import numpy as np

from .compare import compare_arrays, compare_step


def grad_record(values, huge):
    g = ("tuple", [("tensor", "float64", (len(values),), False, np.array(values))])
    return {"args": "{}", "out": ("tensor", "float64", (1,), True, np.array([1.0])), "inputs": ("same", False),
            "nan_input": False, "huge_ancestry": huge, "grad": g, "grad2": None}


def test_one_sided_nan_is_skipped_only_when_asked():
    a, b = np.array([np.nan, 1.0, np.nan]), np.array([0.0, 1.0, np.nan])
    assert compare_arrays(a, b, "float64", 1) is not None
    assert compare_arrays(a, b, "float64", 1, one_sided_nan_ok=True) is None
    # Numbers that differ still differ, NaN or not elsewhere.
    assert compare_arrays(np.array([np.nan, 2.0]), np.array([0.0, 1.0]), "float64", 1, one_sided_nan_ok=True)


def test_gradients_past_the_overflow_threshold_skip_one_sided_nan():
    lam, ref = grad_record([np.nan, 2.0], True), grad_record([0.0, 2.0], True)
    assert compare_step(0, "mish", lam, ref) is None
    finding = compare_step(0, "mish", grad_record([np.nan, 2.0], False), grad_record([0.0, 2.0], False))
    assert finding is not None and finding.kind == "grad"
    finding = compare_step(0, "mish", grad_record([np.inf, 2.0], True), grad_record([0.0, 2.0], True))
    assert finding is not None and finding.kind == "grad"  # inf vs a number is still compared
