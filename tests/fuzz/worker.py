"""The worker process: imports one library (lamina or torch), then runs programs sent by the parent and
sends back a trace of every step (resolved arguments, output, gradients).

Protocol: length-prefixed pickles on stdin/stdout. fd 1 is moved to stderr at start, so anything the
library prints cannot corrupt the protocol; stderr goes to a file the parent reads after a crash.
Before each step the worker writes '@fuzz step N OP' to stderr, which names the op a crash happened in.
"""

import hashlib
import os
import pickle
import struct
import sys
import warnings

import numpy as np

from .ops import OPS

MAX_VALUES = 100_000  # larger outputs are compared by shape and dtype only


def send(stream, obj):
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(struct.pack("<Q", len(data)) + data)
    stream.flush()


def receive(stream):
    head = stream.read(8)
    if len(head) < 8:
        return None
    return pickle.loads(stream.read(struct.unpack("<Q", head)[0]))


class Meta:
    """What argument pickers may look at: shape and dtype name (the same strings in both libraries)."""

    def __init__(self, t):
        self.shape = tuple(int(s) for s in t.shape)
        self.dtype = dtype_name(t.dtype)


def dtype_name(dtype):
    return str(dtype).rsplit(".", 1)[-1]


def is_tensor(lib, value):
    return isinstance(value, lib.Tensor)


def to_lib(lib, value):
    """numpy arrays in op arguments become tensors of the library; containers are walked."""
    if isinstance(value, np.ndarray):
        return lib.from_numpy(value.copy())
    if isinstance(value, (list, tuple)):
        return type(value)(to_lib(lib, v) for v in value)
    if isinstance(value, dict):
        return {k: to_lib(lib, v) for k, v in value.items()}
    return value


def make_leaf(lib, spec, array):
    """Returns (base, leaf): gradients are taken w.r.t. the base, the program sees the leaf view."""
    base = lib.from_numpy(array.copy())
    if spec["requires_grad"]:
        base.requires_grad_()
    layout = spec["layout"]
    if layout == "transposed":
        return base, base.transpose(0, -1)
    if layout == "sliced":
        key = (slice(None),) * spec["dim"] + (slice(spec["start"], None, 2),)
        return base, base[key]
    if layout == "expanded":
        return base, base.expand(*spec["shape"])
    return base, base


def encode(lib, value):
    """A library-free description of a result: nested tuples of numpy arrays and Python scalars."""
    if is_tensor(lib, value):
        numel = int(np.prod(tuple(value.shape)))
        data = None
        if numel <= MAX_VALUES:
            value = value.detach()
            if getattr(value, "_is_zerotensor", lambda: False)():  # torch's lazy zeros have no numpy()
                value = lib.zeros(value.shape, dtype=value.dtype)
            data = np.array(value.numpy(), copy=True)
        return ("tensor", dtype_name(value.dtype), tuple(int(s) for s in value.shape), bool(value.requires_grad),
                data)
    if isinstance(value, (tuple, list)) or type(value).__name__ == "Size":  # incl. named tuples
        return ("tuple", [encode(lib, v) for v in value])
    if value is None or isinstance(value, (bool, int, float)):
        return ("scalar", value)
    return ("other", type(value).__name__, repr(value)[:200])


def error(e):
    return ("error", type(e).__name__, str(e).strip().splitlines()[0][:300] if str(e).strip() else "")


def fingerprint(lib, tensors, float32_ancestry):
    """(digest of the exact bytes, whether float32 values went into them) of a step's inputs:
    compare.py tells inputs that are bit-identical in both libraries from ones that only matched
    within tolerance, and which tolerance that was."""
    h = hashlib.sha1()
    for x in tensors:
        x = x.detach()
        if getattr(x, "_is_zerotensor", lambda: False)():
            x = lib.zeros(x.shape, dtype=x.dtype)
        a = np.ascontiguousarray(x.numpy())
        h.update(f"{a.dtype}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest(), float32_ancestry


def has_huge(lib, tensors):
    """Whether any float value is infinite or beyond the square root of its dtype's maximum: from
    there on, products in gradient formulas overflow, and whether inf meets 0 (NaN) or not depends
    on each library's grouping of its factors (compare.py)."""
    for x in tensors:
        if x.is_floating_point() and x.numel():
            a = x.detach().numpy()
            if (np.abs(a[~np.isnan(a)]) > np.sqrt(np.finfo(a.dtype).max)).any():
                return True
    return False


def tensors_in(lib, value):
    if is_tensor(lib, value):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in tensors_in(lib, v)]
    return []


def gradients(lib, out, bases, seed, second):
    """Gradients of sum(out * W) (W fixed random weights) w.r.t. the leaf bases; with `second`, also
    the gradients of sum(grad * V), i.e. a Hessian-vector product via create_graph."""
    outs = [t for t in tensors_in(lib, out) if t.is_floating_point() and t.requires_grad]
    if not outs or not bases:
        return None, None
    r = np.random.default_rng(seed + 1)

    def weights(t):
        return lib.from_numpy(np.asarray(r.standard_normal(tuple(t.shape)))).to(t.dtype)
    try:
        loss = sum((t * weights(t)).sum() for t in outs)
        grads = lib.autograd.grad(loss, bases, retain_graph=True, allow_unused=True, create_graph=second)
    except Exception as e:
        return error(e), None
    first = ("tuple", [encode(lib, g) for g in grads])
    if not second:
        return first, None
    try:
        live = [(g, weights(g)) for g in grads if g is not None and g.requires_grad]
        if not live:
            return first, None
        total = sum((g * v).sum() for g, v in live)
        return first, ("tuple", [encode(lib, g) for g in
                                 lib.autograd.grad(total, bases, retain_graph=True, allow_unused=True)])
    except Exception as e:
        return first, error(e)


def execute(lib, program, arrays):
    trace = {"leaves": [], "steps": []}
    pool, bases = [], []
    from_float32 = []  # per pool entry: whether a float32 value went into it
    huge = []  # per pool entry: whether a huge value (has_huge) went into it
    for spec, array in zip(program["leaves"], arrays):
        try:
            base, leaf = make_leaf(lib, spec, array)
            trace["leaves"].append(encode(lib, leaf))
        except Exception as e:  # a broken layout op: the leaf stays the plain base
            base = leaf = lib.from_numpy(array.copy()).requires_grad_(spec["requires_grad"])
            trace["leaves"].append(error(e))
        pool.append(leaf)
        from_float32.append(spec["dtype"] == "float32")
        huge.append(has_huge(lib, [leaf]))
        if spec["requires_grad"]:
            bases.append(base)
    for i, step in enumerate(program["steps"]):
        os.write(2, f"@fuzz step {i} {step['op']}\n".encode())
        op = OPS[step["op"]]
        inputs = [pool[k] for k in step["inputs"]]
        ancestry = any(from_float32[k] or dtype_name(pool[k].dtype) == "float32" for k in step["inputs"])
        from_float32.append(ancestry)  # the entry this step adds to the pool below
        huge.append(any(huge[k] for k in step["inputs"]))  # and its output, once computed
        r = np.random.default_rng(step["seed"])
        record = {"args": None, "out": None, "grad": None, "grad2": None,
                  "nan_input": any(x.is_floating_point() and bool(x.isnan().any()) for x in inputs),
                  "inputs": fingerprint(lib, inputs, ancestry)}
        trace["steps"].append(record)
        try:
            kw = op.args(r, [Meta(x) for x in inputs], step.get("hint", {}))
        except Exception as e:  # a fuzzer bug, reported as such by compare.py
            record["out"] = ("fuzzer-error", type(e).__name__, str(e))
            pool.append(inputs[0])
            continue
        record["args"] = repr(kw)[:2000]
        try:
            out = op.fn(lib, *inputs, **to_lib(lib, kw))
            record["out"] = encode(lib, out)
        except Exception as e:
            record["out"] = error(e)
            pool.append(inputs[0])  # the program goes on with the op's input
            continue
        outs = tensors_in(lib, out)
        huge[-1] = huge[-1] or has_huge(lib, outs)
        record["huge_ancestry"] = huge[-1]
        record["grad"], record["grad2"] = gradients(lib, out, bases, step["seed"], program["grad2"])
        pool.append(outs[step["seed"] % len(outs)] if outs else inputs[0])
    return trace


def import_library(name):
    if name == "torch":
        import torch
        torch.set_num_threads(1)  # two workers share two cores
        return torch
    import lamina
    import lamina.nn.functional  # noqa: F401
    return lamina


def main():
    protocol = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    warnings.simplefilter("ignore")
    try:
        lib = import_library(sys.argv[1])
    except Exception as e:
        send(protocol, {"ready": False, "error": repr(e)})
        return
    send(protocol, {"ready": True})
    while (request := receive(sys.stdin.buffer)) is not None:
        send(protocol, execute(lib, request["program"], request["arrays"]))


if __name__ == "__main__":
    main()
