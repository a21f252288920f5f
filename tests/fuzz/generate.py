"""Random leaves and programs, from a seed, with numpy only (the parent never imports lamina or torch).

A program is plain JSON: leaf specs (final shape, dtype, layout, requires_grad, a data seed) and steps
(op name, indices into the value pool, a seed for the op's arguments). The arguments themselves are
drawn inside each worker from the step seed and the actual input shapes (see args.py), so the parent
needs no shape inference. Leaf data comes from `leaf_data`, which both the parent and a replay use.
"""

import numpy as np

from .ops import OPS
from .values import DTYPES, FLOATS, random_array


def program_seed(seed, index):
    """Program `index` of a campaign: independent of how many programs came before it."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def random_shape(r):
    ndim = int(r.choice([0, 1, 2, 3, 4], p=[0.1, 0.25, 0.3, 0.2, 0.15]))
    return [int(r.choice([0, 1, 2, 3, 4, 5], p=[0.05, 0.2, 0.25, 0.25, 0.15, 0.1])) for _ in range(ndim)]


def leaf_spec(r, shape=None, dtype=None, grad2=False):
    """A leaf: its final shape plus how that shape is reached (a view of a differently shaped base)."""
    shape = random_shape(r) if shape is None else list(shape)
    if dtype is None:
        dtype = str(r.choice(DTYPES, p=[0.35, 0.25, 0.1, 0.15, 0.15]))
    if grad2 and dtype == "float32" and r.random() < 0.9:
        dtype = "float64"  # second derivatives are compared in float64 only
    layouts = ["contiguous", "transposed", "sliced", "expanded"]
    layout = str(r.choice(layouts, p=[0.5, 0.2, 0.15, 0.15])) if shape else "contiguous"
    spec = {"shape": shape, "dtype": dtype, "layout": layout, "data_seed": int(r.integers(2**31)),
            "requires_grad": dtype in FLOATS and r.random() < 0.6}
    if layout == "transposed" and len(shape) < 2:
        spec["layout"] = "contiguous"
    if layout == "sliced":
        spec["dim"], spec["start"] = int(r.integers(len(shape))), int(r.integers(2))
    if layout == "expanded":
        spec["dim"] = int(r.integers(len(shape)))
    return spec


def base_shape(spec):
    """The shape of the tensor that the leaf's layout turns into spec['shape']."""
    shape, layout = list(spec["shape"]), spec["layout"]
    if layout == "transposed":
        shape[0], shape[-1] = shape[-1], shape[0]
    elif layout == "sliced":
        shape[spec["dim"]] = spec["start"] + 2 * shape[spec["dim"]]
    elif layout == "expanded":
        shape[spec["dim"]] = 1
    return shape


def leaf_data(spec):
    """The base array of a leaf; workers apply the layout (see worker.make_leaf)."""
    return random_array(np.random.default_rng(spec["data_seed"]), base_shape(spec), spec["dtype"])


def generate_program(seed, max_steps=8):
    r = np.random.default_rng(seed)
    grad2 = bool(r.random() < 0.3)
    leaves = [leaf_spec(r, grad2=grad2) for _ in range(int(r.integers(1, 4)))]
    steps = []
    names = sorted(OPS)
    for _ in range(int(r.integers(3, max_steps + 1))):
        op = OPS[str(r.choice(names))]
        step = {"op": op.name, "seed": int(r.integers(2**31))}
        if op.leaves is not None and r.random() < 0.75:
            # Structured ops (conv, losses, norms, matmul) get fresh leaves of fitting shapes.
            shapes, step["hint"] = op.leaves(r)
            step["inputs"] = []
            for shape, dtype in shapes:
                step["inputs"].append(len(leaves))
                leaves.append(leaf_spec(r, shape, dtype, grad2))
        else:
            step["inputs"] = [pick_input(r, len(leaves), len(steps)) for _ in range(op.arity)]
        steps.append(step)
    # Pool indices: leaves first, then step outputs; a step may only use earlier steps, which holds
    # because leaves added by later steps are numbered by their final position only below.
    return renumber({"seed": seed, "grad2": grad2, "leaves": leaves, "steps": steps})


def pick_input(r, n_leaves, n_steps):
    """Usually the latest step's output (to build chains), else any earlier value. Encoded as
    ('L', i) or ('S', j) until renumber() knows how many leaves there are."""
    if n_steps and r.random() < 0.6:
        return ("S", n_steps - 1)
    k = int(r.integers(n_leaves + n_steps))
    return ("L", k) if k < n_leaves else ("S", k - n_leaves)


def renumber(program):
    n = len(program["leaves"])
    for step in program["steps"]:
        step["inputs"] = [i if isinstance(i, int) else (i[1] if i[0] == "L" else n + i[1])
                          for i in step["inputs"]]
    return program
