"""Results do not depend on the thread count: every elementwise and reduction spec of the op table,
on inputs large enough to be split into several parallel chunks (a 100003-element vector, a
(317, 1031) matrix and a (1031, 317) transposed view), gives the same bytes with 1, 2 and 3
threads, at every ISA level."""

import zlib

import numpy as np
import pytest

import lamina
from op_db import SPECS_BY_KIND
from op_db.spec import random_array

SPECS = [s for kind in ("unary", "binary", "ternary", "reduction") for s in SPECS_BY_KIND.get(kind, [])]
SHAPES = {"vector": (100003,), "matrix": (317, 1031), "transposed": (1031, 317)}
ARITY = {"unary": 1, "reduction": 1, "binary": 2, "ternary": 3}


def make_inputs(spec, label):
    rng = np.random.default_rng(zlib.crc32(spec.name.encode()))
    dtype = "float32" if "float32" in spec.dtypes else spec.dtypes[0]
    shape = SHAPES[label]
    tensors = []
    for i, d in enumerate(spec.input_dtypes(dtype, ARITY[spec.kind])):
        if label == "transposed" and i == 0:  # the first operand is a non-contiguous view
            a = random_array(shape[::-1], d, spec.domain, rng, spec.avoid)
            tensors.append(lamina.tensor(a).t())
        else:
            tensors.append(lamina.tensor(random_array(shape, d, spec.domain, rng, spec.avoid)))
    return tensors


def output_bytes(out):
    outs = out if isinstance(out, (tuple, list)) else [out]
    return [(str(o.dtype), tuple(o.shape), o.contiguous().numpy().tobytes()) for o in outs]


@pytest.mark.parametrize("spec", SPECS, ids=str)
def test_same_bytes_for_any_thread_count(spec, isa, threads):
    for label, shape in SHAPES.items():
        if len(shape) < spec.min_ndim:
            continue
        inputs = make_inputs(spec, label)
        results = {}
        for n in (1, 2, 3):
            threads(n)
            results[n] = output_bytes(spec.op(*inputs))
        assert results[2] == results[1] and results[3] == results[1], f"{spec.name} {label} [{isa}]"
