"""Compares a lamina trace with a torch trace, step by step, and reports the first place they part:
once one side raised or produced a different shape, later steps ran on different inputs and say
nothing more. Exception classes may differ (only "both raise or neither" matters).
"""

from dataclasses import dataclass

import numpy as np

# (rtol, atol) per dtype; gradients get 10x more room, as they sum many products.
TOLERANCE = {"float32": (1e-4, 1e-4), "float64": (1e-7, 1e-7)}
GRAD_SCALE = 10
# Ops whose result jumps under tiny input changes (rounding, comparisons, indices, integer
# results, poles and domain edges at 0: 1/x, log, sqrt). When their inputs matched only within
# tolerance, not bit for bit, their outputs may rightly differ; such a step is compared for
# structure only, and later steps ran on different data, so the comparison stops there.
SINGULAR = {"reciprocal", "rsqrt", "sqrt", "log", "log1p", "div", "pow", "atan2"}
DISCONTINUOUS = SINGULAR | {"floor", "ceil", "round", "trunc", "sign", "frac", "isnan", "isinf", "isfinite", "logical_not",
                 "eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_xor", "floor_divide",
                 "remainder", "fmod", "div_mode", "argmax", "argmin", "max", "min", "all", "any", "where_nonzero",
                 "sort", "topk", "to"}
# Ops whose gradient jumps at a kink (relu at 0, clamp at its bounds, ...). On inputs that matched
# only within tolerance each library may be on another side of the kink; their values are still
# compared, but the gradients of this and every later step (which flow back through it) are not.
KINKED = {"relu", "leaky_relu", "relu6", "hardtanh", "hardsigmoid", "hardswish", "abs", "clamp", "elu", "celu",
          "selu", "maximum", "minimum", "amax", "amin", "max", "min", "where", "smooth_l1_loss", "huber_loss",
          "l1_loss", "max_pool1d", "max_pool2d", "adaptive_max_pool1d", "adaptive_max_pool2d", "sort", "topk",
          "softshrink", "hardshrink", "threshold", "sign", "floor", "ceil", "round", "trunc", "remainder", "fmod"
          } | SINGULAR
# lamina raising one of these where torch returns means a missing op or keyword, not a wrong answer.
UNSUPPORTED = ("AttributeError", "TypeError", "NotImplementedError")
UNSUPPORTED_DTYPE = ("not implemented for", "expected a float32 or float64 input")  # RuntimeError text


@dataclass
class Finding:
    step: int  # -1 for a leaf
    op: str
    kind: str  # unsupported, lamina-raises, torch-raises, dtype, shape, values, grad, grad2, ...
    detail: str

    def key(self):
        """What the allowlist patterns match."""
        return f"{self.op} {self.kind}: {self.detail}"


def compare_traces(program, lam, ref):
    for i, (a, b) in enumerate(zip(lam["leaves"], ref["leaves"])):
        problem = compare_value(a, b, 1)
        if problem:
            return Finding(-1, f"leaf:{program['leaves'][i]['layout']}", problem[0], problem[1])
    compare_grads_too = True
    for i, (step, a, b) in enumerate(zip(program["steps"], lam["steps"], ref["steps"])):
        finding = compare_step(i, step["op"], a, b, compare_grads_too)
        if finding == STOP:
            return None
        if finding:
            return finding
        if step["op"] in KINKED and a["inputs"][0] != b["inputs"][0]:
            compare_grads_too = False
    return None


STOP = "stop"  # compare_step: a discontinuous op on inexact inputs gave different values


def compare_step(i, op, a, b, compare_grads_too=True):
    for side in (a, b):
        if side["out"][0] == "fuzzer-error":
            return Finding(i, op, "fuzzer-error", str(side["out"][1:]))
    if a["args"] != b["args"]:
        return Finding(i, op, "args", f"lamina {a['args']} vs torch {b['args']}")
    a_err, b_err = a["out"][0] == "error", b["out"][0] == "error"
    if a_err and b_err:
        return None
    if a_err:
        missing = a["out"][1] in UNSUPPORTED or any(m in a["out"][2] for m in UNSUPPORTED_DTYPE)
        kind = "unsupported" if missing else "lamina-raises"
        return Finding(i, op, kind, f"{a['out'][1]}: {a['out'][2]}")
    if b_err:
        return Finding(i, op, "torch-raises", f"torch {b['out'][1]}: {b['out'][2]}; lamina returns")
    exact_inputs = a["inputs"][0] == b["inputs"][0]
    # Inputs that matched only within tolerance carry that tolerance: values computed from float32
    # ones (cast to float64 on the way) are compared at float32's.
    tolerance = "float32" if not exact_inputs and a["inputs"][1] else None
    problem = compare_value(a["out"], b["out"], 1, tolerance)
    if problem and problem[0] == "values" and not exact_inputs and op in DISCONTINUOUS:
        return STOP
    if problem:
        return Finding(i, op, *problem)
    if a["nan_input"] or b["nan_input"]:
        return None  # the gradient at a NaN input is arbitrary (torch's depends on each kernel's branches)
    if not compare_grads_too or (op in KINKED and not exact_inputs):
        return None
    # Past the square root of the dtype's maximum (anywhere in the step's history), a gradient's
    # products overflow: NaN on one side only is the grouping of the factors (inf * 0), not a wrong
    # derivative; such elements are not compared (values that are both numbers still are).
    one_sided_nan_ok = a.get("huge_ancestry", False) and b.get("huge_ancestry", False)
    for key in ("grad", "grad2"):
        problem = compare_grads(a[key], b[key], one_sided_nan_ok)
        if problem:
            return Finding(i, op, key, problem)
    return None


def compare_grads(a, b, one_sided_nan_ok=False):
    if a is None and all_zero(b) or b is None and all_zero(a):
        return None  # e.g. relu's second derivative: torch records a graph that yields zeros
    if (a is None) != (b is None):
        return f"lamina {'no gradient' if a is None else 'a gradient'}, torch {'none' if b is None else 'one'}"
    if a is None:
        return None
    if (a[0] == "error") != (b[0] == "error"):
        return f"lamina {a[1:] if a[0] == 'error' else 'returns'} vs torch {b[1:] if b[0] == 'error' else 'returns'}"
    if a[0] == "error":
        return None
    for k, (ga, gb) in enumerate(zip(a[1], b[1])):
        problem = compare_value(none_as_zero(ga, gb), none_as_zero(gb, ga), GRAD_SCALE,
                                one_sided_nan_ok=one_sided_nan_ok)
        if problem and problem[0] != "requires_grad":
            return f"leaf #{k} {problem[0]}: {problem[1]}"
    return None


def all_zero(grads):
    """True for gradients that are all None or zero (a graph-free answer means the same)."""
    if grads is None or grads[0] != "tuple":
        return grads is None
    return all(g == ("scalar", None) or g[0] == "tensor" and g[4] is not None and not g[4].any() for g in grads[1])


def none_as_zero(g, other):
    """An unused leaf's gradient is None in torch; zeros are an equally good answer."""
    if g == ("scalar", None) and other[0] == "tensor" and other[4] is not None:
        return ("tensor", other[1], other[2], other[3], np.zeros_like(other[4]))
    return g


def compare_value(a, b, scale, tolerance=None, one_sided_nan_ok=False):
    """None when equal, else (kind, detail). `tolerance` names the dtype whose tolerance applies to
    floating-point values (default: their own); `one_sided_nan_ok` skips elements that are NaN on
    one side only."""
    if a[0] != b[0]:
        return "structure", f"lamina {describe(a)} vs torch {describe(b)}"
    if a[0] == "tuple":
        if len(a[1]) != len(b[1]):
            return "structure", f"lamina {len(a[1])} items vs torch {len(b[1])}"
        for k, (x, y) in enumerate(zip(a[1], b[1])):
            problem = compare_value(x, y, scale, tolerance, one_sided_nan_ok)
            if problem:
                return problem[0], f"item {k}: {problem[1]}"
        return None
    if a[0] == "scalar":
        same = a[1] == b[1] or (a[1] != a[1] and b[1] != b[1])
        return None if same and type(a[1]) is type(b[1]) else ("values", f"lamina {a[1]!r} vs torch {b[1]!r}")
    if a[0] == "error":
        return None
    if a[0] == "other":
        return None if a[1] == b[1] else ("structure", f"lamina {a[1]} vs torch {b[1]}")
    _, dtype_a, shape_a, grad_a, data_a = a
    _, dtype_b, shape_b, grad_b, data_b = b
    if dtype_a != dtype_b:
        return "dtype", f"lamina {dtype_a} vs torch {dtype_b}"
    if shape_a != shape_b:
        return "shape", f"lamina {list(shape_a)} vs torch {list(shape_b)}"
    if grad_a != grad_b:
        return "requires_grad", f"lamina {grad_a} vs torch {grad_b}"
    if data_a is None or data_b is None:
        return None
    return compare_arrays(data_a, data_b, dtype_b, scale, tolerance, one_sided_nan_ok)


def compare_arrays(a, b, dtype, scale, tolerance=None, one_sided_nan_ok=False):
    if dtype in TOLERANCE:
        rtol, atol = (t * scale for t in TOLERANCE[tolerance or dtype])
        x, y = a.astype(np.float64), b.astype(np.float64)
        bad = ~np.isclose(x, y, rtol=rtol, atol=atol, equal_nan=True)
        if one_sided_nan_ok:
            bad &= ~(np.isnan(x) ^ np.isnan(y))
    else:
        bad = a != b
    if not bad.any():
        return None
    where = tuple(int(i) for i in np.argwhere(bad)[0])
    return "values", f"{int(bad.sum())}/{bad.size} differ, first at {list(where)}: lamina {a[where]!r} vs torch {b[where]!r}"


def describe(value):
    if value[0] == "tensor":
        return f"tensor {value[1]} {list(value[2])}"
    return f"{value[0]} {value[1:]!r}"[:200]
