"""lamina.load(weights_only=True) on hostile files: classes and functions that run code, __reduce__
gadgets, copyreg tricks, modules that would run on import, lamina classes called instead of
rebuilt, deep nesting and huge declared sizes. Each must fail with a CheckpointError and leave no
trace: the canary file a successful attack would create must not exist.
"""

import hashlib
import json
import os
import pickle
import struct
import subprocess
import sys

import numpy as np
import pytest

import lamina
from lamina import serialization
from lamina.serialization import (CheckpointError, add_safe_globals, clear_safe_globals, get_safe_globals,
                                  get_unsafe_globals_in_checkpoint, safe_globals)


@pytest.fixture(autouse=True)
def _empty_allowlist():
    clear_safe_globals()
    yield
    clear_safe_globals()


def _craft(path, structure, arrays=None, fmt="lamina-2"):
    """A correctly signed lamina file holding `structure` and `arrays` ({name: (dtype, np.ndarray)}):
    only the allowlist stands between it and the loader."""
    header, digests, data = {}, {}, b""
    for name, (dtype, array) in (arrays or {}).items():
        raw = np.ascontiguousarray(array).tobytes()
        header[name] = {"dtype": dtype, "shape": list(array.shape), "data_offsets": [len(data), len(data) + len(raw)]}
        digests[name] = hashlib.sha256(raw).hexdigest()
        data += raw
    header["__metadata__"] = {"format": "pt", "lamina.format": fmt, "lamina.structure": json.dumps(structure),
                              "lamina.sha256": json.dumps(digests)}
    header["__metadata__"]["lamina.header_sha256"] = serialization._header_digest(header)
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)
    return path


def _g(name):
    module, qualname = name.rsplit(".", 1)
    return {"t": "global", "m": module, "q": qualname}


def _call(name, *args, **extra):
    module, qualname = name.rsplit(".", 1)
    return {"t": "call", "m": module, "q": qualname, "a": list(args), **extra}


def _obj(name, *args, **extra):
    module, qualname = name.rsplit(".", 1)
    return {"t": "obj", "m": module, "q": qualname, "a": list(args), **extra}


def _refused(tmp_path, structure, match, arrays=None):
    canary = tmp_path / "canary"
    path = _craft(tmp_path / "evil.safetensors", structure, arrays)
    with pytest.raises(CheckpointError, match=match) as info:
        lamina.load(path)
    assert str(info.value).startswith(f"lamina.load: {path}: ")
    assert isinstance(info.value, pickle.UnpicklingError)
    assert not canary.exists()
    return str(info.value)


def _touch(tmp_path):
    return f"touch {tmp_path / 'canary'}"


# ---- globals that run code -----------------------------------------------------------------------

def test_code_running_globals_are_refused_in_every_role(tmp_path):
    cmd = _touch(tmp_path)
    cases = [
        _call("os.system", cmd), _call("posix.system", cmd), _g("os.system"),
        _call("builtins.eval", f"__import__('os').system({cmd!r})"),
        _call("builtins.exec", f"import os; os.system({cmd!r})"),
        _call("subprocess.Popen", ["touch", str(tmp_path / "canary")]),
        _obj("subprocess.Popen", ["touch", str(tmp_path / "canary")]),
        _call("subprocess.check_call", ["touch", str(tmp_path / "canary")]),
        _call("builtins.__import__", "os"), _call("builtins.getattr", _g("os.path"), "join"),
        _call("builtins.open", str(tmp_path / "canary"), "w"),
        _call("collections.OrderedDict", s=cmd, setter=["os", "system"]),
        {"t": "tensor", "k": "w", "c": ["os", "system"]},
    ]
    for structure in cases:
        message = _refused(tmp_path, structure, "refusing .*it can run commands or code",
                           {"w": ("F32", np.zeros(2, np.float32))})
        assert "add_safe_globals" not in message  # no advice to allowlist these


def test_unlisted_globals_name_the_fix(tmp_path):
    message = _refused(tmp_path, _call("shutil_like.rmtree", "/"), "weights_only=True refuses the global "
                       r"shutil_like.rmtree, which the checkpoint names but is not allowlisted")
    assert "lamina.serialization.add_safe_globals([shutil_like.rmtree])" in message
    assert "lamina.serialization.safe_globals([shutil_like.rmtree])" in message
    assert "weights_only=False" in message and "arbitrary code" in message
    message = _refused(tmp_path, [_g("a.B"), _obj("c.D")], "refuses the globals a.B, c.D")
    assert "add_safe_globals([a.B, c.D])" in message


def test_reduce_gadgets_saved_by_lamina_do_not_run(tmp_path):
    # Real gadgets, written by lamina.save itself: an attacker needs nothing more.
    canary = tmp_path / "canary"

    class System:
        def __reduce__(self):
            return (os.system, (f"touch {canary}",))

    class Popen:
        def __reduce__(self):
            return (subprocess.Popen, (["touch", str(canary)],))

    class Eval:
        def __reduce__(self):
            return (eval, (f"__import__('os').system('touch {canary}')",))

    for gadget in (System(), Popen(), Eval()):
        path = tmp_path / "gadget.safetensors"
        lamina.save({"weights": lamina.ones(2), "payload": gadget}, path)
        with pytest.raises(CheckpointError, match="refusing (posix.system|subprocess.Popen|builtins.eval)"):
            lamina.load(path)
        assert not canary.exists()
    # The files are real attacks: weights_only=False runs them, which is why it is for trusted files.
    lamina.save({"payload": System()}, tmp_path / "gadget.safetensors")
    lamina.load(tmp_path / "gadget.safetensors", weights_only=False)
    assert canary.exists()


def test_copyreg_reconstructor_tricks(tmp_path):
    # copyreg._reconstructor(cls, base, state) runs base.__new__(cls) and base.__init__(obj, state):
    # with an allowlisted base it would build arbitrary classes. It is simply not allowlisted.
    for structure in [
        _call("copyreg._reconstructor", _g("subprocess.Popen"), _g("builtins.object"), None),
        _call("copyreg._reconstructor", _g("collections.OrderedDict"), _g("builtins.dict"), {"t": "dict", "v": []}),
        _call("copyreg.__newobj__", _g("subprocess.Popen")),
        _call("copyreg._reconstructor", _g("os._wrap_close"), _g("builtins.object"), None),
    ]:
        _refused(tmp_path, structure, "(refusing|refuses the globals?) .*(copyreg|subprocess|os\\.)")
    # Even when a user allowlists copyreg's helpers, `obj` nodes build only the named class.
    with safe_globals([__import__("copyreg")._reconstructor]):
        _refused(tmp_path, _call("copyreg._reconstructor", _g("subprocess.Popen"), _g("builtins.object"), None),
                 "refusing .*subprocess.Popen")


def test_blocked_globals_cannot_be_allowlisted():
    for entry in ([os.system], [eval], [subprocess.Popen], [(os.system, "harmless.name")],
                  [(print, "os.system")], [__import__], [getattr]):
        with pytest.raises(ValueError, match="add_safe_globals: refusing .*can run commands or code"):
            add_safe_globals(entry)
    assert get_safe_globals() == []


def test_no_module_is_imported(tmp_path, monkeypatch):
    # A module whose import alone would be the attack: weights_only=True never imports anything.
    (tmp_path / "evil_on_import.py").write_text(f"import os\nos.system({_touch(tmp_path)!r})\nclass Thing:\n"
                                                "    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for structure in (_g("evil_on_import.Thing"), _obj("evil_on_import.Thing"), _call("evil_on_import.Thing")):
        _refused(tmp_path, structure, "refuses the global evil_on_import.Thing")
        assert "evil_on_import" not in sys.modules
    assert get_unsafe_globals_in_checkpoint(tmp_path / "evil.safetensors") == ["evil_on_import.Thing"]
    assert "evil_on_import" not in sys.modules and not (tmp_path / "canary").exists()
    # ...whereas weights_only=False imports it (and so runs it): the canary proves the check works.
    lamina.load(tmp_path / "evil.safetensors", weights_only=False)
    assert (tmp_path / "canary").exists()
    sys.modules.pop("evil_on_import", None)


# ---- lamina's own classes are rebuilt, never called ---------------------------------------------

def test_lamina_modules_are_never_called(tmp_path):
    linear = "lamina.nn.modules.linear.Linear"
    _refused(tmp_path, _call(linear, 10 ** 6, 10 ** 6), f"refuses the global {linear}")
    _refused(tmp_path, _obj(linear, 10 ** 6), f"lamina's {linear} at the top level is rebuilt from saved "
                                             "state only, without constructor arguments")
    _refused(tmp_path, _obj(linear, li=[1]), "rebuilt from saved state only")
    _refused(tmp_path, _obj(linear, s={"t": "dict", "v": []}, setter=["lamina.nn", "Linear"]),
             "refuses the global lamina.nn.Linear")
    # A rebuilt module is only its state: nothing from the file ran.
    out = lamina.load(_craft(tmp_path / "ok.safetensors", _obj(linear, s={"t": "dict", "v": [["in_features", 3]]})))
    assert type(out) is lamina.nn.Linear and out.in_features == 3


def test_allowlisted_callable_cannot_build_unlisted_types(tmp_path):
    # An allowlisted function may return an object of a class that is not allowlisted; its state
    # (and so its __setstate__) must not be applied.
    canary = tmp_path / "canary"
    with safe_globals([make_hazard]):
        _refused(tmp_path, _call(f"{__name__}.make_hazard", str(canary), s="armed"),
                 f"refuses to set the state of a {__name__}.Hazard .*add_safe_globals")
    assert not canary.exists()


class Hazard:
    def __init__(self, path):
        self.path = path

    def __setstate__(self, state):
        open(self.path, "w").close()  # what a dangerous __setstate__ could do


def make_hazard(path):
    return Hazard(path)


def test_objects_that_cannot_be_built_with_new(tmp_path):
    # Tensors, arrays and lamina._C types have node kinds of their own; __new__ alone would give a
    # half-built object (an uninitialised pybind11 instance), so `obj` nodes refuse them even when
    # the class is allowlisted.
    for cls in (lamina.Tensor, lamina.Generator, np.ndarray):
        with safe_globals([cls]):
            _refused(tmp_path, _obj(f"{cls.__module__}.{cls.__qualname__}"), "cannot be rebuilt with __new__")
    _refused(tmp_path, _obj("builtins.type", "X", {"t": "tuple", "v": []}, {"t": "dict", "v": []}),
             "refusing builtins.type")
    _refused(tmp_path, {"t": "tensor", "k": "w", "c": ["builtins", "dict"]}, "builtins.dict is not a tensor class",
             {"w": ("F32", np.zeros(2, np.float32))})


# ---- malformed graphs, deep nesting, huge sizes --------------------------------------------------

_W = {"w": ("F32", np.arange(4, dtype=np.float32))}


@pytest.mark.parametrize("structure, match", [
    ({"t": "ref", "i": 0}, "refers to object 0, which is not built"),
    ({"t": "list", "i": 0, "v": [{"t": "ref", "i": 1}]}, "refers to object 1"),
    ({"t": "tuple", "i": 0, "v": [{"t": "ref", "i": 0}]}, "refers to object 0, which is not built"),
    ({"t": "list", "i": 0, "v": [{"t": "list", "i": 0, "v": []}]}, "id 0 is not a new integer id"),
    ({"t": "list", "i": "0", "v": []}, "id 0 is not a new integer id"),
    ({"t": "bytes", "v": "not base64!"}, "'v' is not base64"),
    ({"t": "complex", "v": [1, "2"]}, r"'v' must be \[real, imag\]"),
    ({"t": "float", "v": "1e999"}, "bad 'float' node"),
    ({"t": "npdtype", "v": "O"}, "'v' is 'O'"),
    ({"t": "npdtype", "v": "<U999999999999"}, "'v' is"),
    ({"t": "npdtype", "v": "[('a', 'O')]"}, "'v' is"),
    ({"t": "npscalar", "dtype": "<f8", "v": "00"}, "1 bytes for a float64 scalar"),
    ({"t": "dtype", "v": "float16"}, "'v' is 'float16'"),
    ({"t": "device", "v": "cpu; rm -rf /"}, "'v' is"),
    ({"t": "global", "m": "os", "q": "system.__call__"}, "refusing os.system.__call__"),
    ({"t": "global", "m": "", "q": "x"}, "bad global name"),
    ({"t": "global", "m": "a b", "q": "x"}, "bad global name"),
    ({"t": "obj", "m": ["builtins"], "q": "dict"}, "bad global name"),
    ({"t": "tensor", "k": "w", "view": [[2 ** 40], [0], 0]}, r"view .* does not fit the 4 elements"),
    ({"t": "tensor", "k": "w", "view": [[3, 3], [1, 1], 0]}, "does not fit"),  # 9 elements from 4
    ({"t": "tensor", "k": "w", "view": [[5], [1], 0]}, "does not fit"),
    ({"t": "tensor", "k": "w", "view": [[2], [1], 3]}, "does not fit"),
    ({"t": "tensor", "k": "w", "view": [[2], [-1], 3]}, "does not fit"),
    ({"t": "tensor", "k": "w", "view": [[2 ** 62, 2 ** 62], [0, 0], 0]}, "does not fit"),
    ({"t": "tensor", "k": "w", "view": [[1] * 26, [1] * 26, 0]}, "does not fit"),
    ({"t": "tensor", "k": "w", "view": "[4]"}, "does not fit"),
    ({"t": "tensor", "k": "w", "g": "yes"}, "'g' must be a bool"),
    ({"t": "ndarray", "k": "w", "dtype": "<U1"}, "dtype '<U1' cannot be stored as F32"),
    ({"t": "ndarray", "k": "w", "dtype": "|O"}, "'dtype' is '|O'"),
    ({"t": "ndarray", "k": "w", "dtype": "<c16"}, "cannot be stored as F32"),
    ({"t": "ndarray", "k": "nope", "dtype": "<f4"}, "refers to a missing array 'nope'"),
    ({"t": "set", "v": [{"t": "list", "v": []}]}, "set item of type list is unhashable"),
    ({"t": "call", "m": "builtins", "q": "dict", "a": "x"}, "'a' must be a list"),
    ({"t": "obj", "m": "builtins", "q": "dict", "kw": [[1, 2]]}, "keyword argument names must be strings"),
    ({"t": "call", "m": "builtins", "q": "int", "a": ["9" * 5000]}, "calling builtins.int at the top level "
                                                                   "failed: ValueError"),
])
def test_malformed_structures(tmp_path, structure, match):
    _refused(tmp_path, structure, match, _W)


def test_deep_nesting(tmp_path):
    deep = 1
    for _ in range(101):
        deep = {"t": "list", "v": [deep]}
    _refused(tmp_path, deep, "nested more than 100 levels deep")
    _refused(tmp_path, json.loads("[" * 500 + "]" * 500), "unexpected value")
    path = tmp_path / "deep.safetensors"
    header = {"__metadata__": {"lamina.format": "lamina-2", "lamina.structure": "[" * 100_000,
                               "lamina.sha256": "{}"}}
    header["__metadata__"]["lamina.header_sha256"] = serialization._header_digest(header)
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text)
    with pytest.raises(CheckpointError, match="nested too deeply"):
        lamina.load(path)


def test_refusal_happens_before_tensor_data_is_read(tmp_path):
    # The allowlist is checked on the header alone: a hostile file costs no data read and no
    # allocation, even when it declares (real) gigabytes.
    path = _craft(tmp_path / "evil.safetensors", [_call("evil.run"), {"t": "tensor", "k": "w"}], _W)
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 0xFF  # corrupt the tensor: had it been read, the checksum error would come first
    path.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="refuses the global evil.run"):
        lamina.load(path)


def test_pickle_files_never_unpickled(tmp_path):
    canary = tmp_path / "canary"

    class Gadget:
        def __reduce__(self):
            return (os.system, (f"touch {canary}",))

    path = tmp_path / "model.pt"
    path.write_bytes(pickle.dumps({"w": Gadget()}, protocol=4))
    with pytest.raises(CheckpointError, match="this is a pickle.*never unpickles"):
        lamina.load(path)
    with pytest.raises(CheckpointError, match="this is a pickle"):
        lamina.load(path, weights_only=False)
    assert not canary.exists()


# ---- the allowlist API ---------------------------------------------------------------------------

class Allowed:
    pass


def test_allowlist_api():
    assert get_safe_globals() == []
    add_safe_globals([Allowed, (Allowed, "old.Allowed")])
    add_safe_globals([Allowed])  # no duplicates
    assert get_safe_globals() == [Allowed, (Allowed, "old.Allowed")]
    with safe_globals([Allowed, np.ndarray]):
        assert get_safe_globals() == [Allowed, (Allowed, "old.Allowed"), np.ndarray]
    # Leaving the block removes only what it added.
    assert get_safe_globals() == [Allowed, (Allowed, "old.Allowed")]
    clear_safe_globals()
    assert get_safe_globals() == []
    with pytest.raises(TypeError, match="expected a list"):
        add_safe_globals(Allowed)
    with pytest.raises(TypeError, match=r"\(obj, 'module.qualname'\)"):
        add_safe_globals([(Allowed, 3)])
    with pytest.raises(TypeError, match="has no __module__/__qualname__"):
        add_safe_globals([3])


def test_lamina_1_files_still_load(tmp_path):
    # The previous format: plain containers, tensor nodes without ids.
    structure = {"t": "dict", "v": [["w", {"t": "tensor", "k": "w"}], ["n", 3]]}
    out = lamina.load(_craft(tmp_path / "old.safetensors", structure, _W, fmt="lamina-1"))
    assert out["w"].tolist() == [0.0, 1.0, 2.0, 3.0] and out["n"] == 3
