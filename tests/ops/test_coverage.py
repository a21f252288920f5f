"""Every public function of lamina._C must be claimed: by an OpSpec in tests/op_db (op_db.ALL_SPECS,
through OpSpec.fn), by a family's COVERED_ELSEWHERE {name: test file} or ALIASES, or by the
NON_OP_API allow-list below (with the reason it is not an op). A new op without any of these fails
test_every_public_function_is_claimed.

KNOWN_GAPS lists ops that exist today without tests of their own, each with the family expected
to cover it. It may only shrink: test_known_gaps_are_still_gaps fails once a gap is covered, so
that its entry gets removed."""

import pathlib
import re

import pytest

import lamina
from op_db import ALIASES, ALL_SPECS, COVERED_ELSEWHERE

ROOT = pathlib.Path(__file__).resolve().parents[2]

NON_OP_API = {
    "Tensor": "the tensor class; its methods are the ops covered here",
    "dtype": "element type objects (lamina.float32, ...)",
    "device": "device descriptors",
    "Generator": "random number generator state",
    "FunctionCtx": "the ctx object of autograd.Function",
    "Node": "the grad_fn class of the autograd graph",
    "RemovableHandle": "the handle returned by hook registration",
    "default_generator": "returns the global Generator",
    "manual_seed": "seeds the global Generator",
    "seed": "seeds the global Generator non-deterministically",
    "initial_seed": "reads the global Generator's seed",
    "get_num_threads": "runtime configuration (thread pool size)",
    "set_num_threads": "runtime configuration (thread pool size)",
    "get_default_dtype": "configuration: the dtype of Python floats",
    "set_default_dtype": "configuration: the dtype of Python floats",
    "is_grad_enabled": "autograd mode query",
    "tensor": "construction from Python / numpy data (interop)",
    "as_tensor": "construction from Python / numpy data (interop)",
    "from_numpy": "construction from a numpy array, sharing memory (interop)",
}

# Public ops that have no OpSpec or dedicated test yet, and the family that owns them.
KNOWN_GAPS = {}


def public_names():
    return {name for name in dir(lamina._C) if not name.startswith("_")}


def claimed_names():
    return {s.fn for s in ALL_SPECS} | set(COVERED_ELSEWHERE) | set(ALIASES)


def test_every_public_function_is_claimed():
    unclaimed = public_names() - claimed_names() - set(NON_OP_API) - set(KNOWN_GAPS)
    assert not unclaimed, (f"public functions of lamina._C without an OpSpec, a COVERED_ELSEWHERE entry, an alias or "
                           f"a NON_OP_API reason: {sorted(unclaimed)}")


def test_known_gaps_are_still_gaps():
    missing = sorted(set(KNOWN_GAPS) - public_names())
    covered = sorted(set(KNOWN_GAPS) & claimed_names())
    assert not missing, f"KNOWN_GAPS lists names lamina._C no longer has: {missing}"
    assert not covered, f"these ops are covered now; remove them from KNOWN_GAPS: {covered}"


def test_non_op_api_exists_and_is_not_claimed_twice():
    assert not sorted(set(NON_OP_API) - public_names()), "NON_OP_API lists names lamina._C does not have"
    assert not sorted(set(NON_OP_API) & claimed_names()), "an op table claims a NON_OP_API name"


@pytest.mark.parametrize("name", sorted(claimed_names()))
def test_claimed_name_exists(name):
    """Specs name a public function or, for method-only ops (view, expand, mT, ...), a Tensor attribute."""
    assert hasattr(lamina._C, name) or hasattr(lamina.Tensor, name), \
        f"{name} is neither in lamina._C nor a Tensor attribute"


@pytest.mark.parametrize("alias,canonical", sorted(ALIASES.items()))
def test_alias_targets_are_covered(alias, canonical):
    assert canonical in {s.fn for s in ALL_SPECS} | set(COVERED_ELSEWHERE), f"{alias} aliases uncovered {canonical}"


@pytest.mark.parametrize("name,path", sorted((n, p) for n, p in COVERED_ELSEWHERE.items() if p))
def test_covered_elsewhere_points_at_a_real_test(name, path):
    file = ROOT / path
    assert file.is_file(), f"{name}: {path} does not exist"
    assert re.search(rf"\b{re.escape(name)}\b", file.read_text()), f"{name}: {path} never mentions it"
