"""lamina.save / lamina.load of whole objects: modules, optimizers, numpy values, dataclasses and
user classes, shared tensors and views, cycles; the file stays readable by the safetensors package.
"""

import collections
import dataclasses
import enum
import io
import json
import pickle
import struct

import numpy as np
import pytest

import lamina
from lamina import nn
from lamina.serialization import CheckpointError, safe_globals


def _round_trip(obj, **load_args):
    buffer = io.BytesIO()
    lamina.save(obj, buffer)
    buffer.seek(0)
    return lamina.load(buffer, **load_args)


def _header(raw):
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8:8 + n])


def _entries(raw):
    return {k: v for k, v in _header(raw).items() if k != "__metadata__"}


# ---- classes a user would define (module level: saved by name, as pickle does) -----------------

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
        self.norm = nn.BatchNorm1d(3)
        self.register_buffer("scale", lamina.tensor([2.0, 1.0, 0.5]))
        self.label = "net"

    def forward(self, x):
        return self.norm(self.body(x)) * self.scale


class Tied(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(5, 3)
        self.out = nn.Linear(3, 5, bias=False)
        self.out.weight = self.embed.weight  # weight tying: one Parameter in two modules


@dataclasses.dataclass
class Config:
    lr: float
    widths: list
    name: str = "run"


@dataclasses.dataclass(frozen=True)
class Frozen:
    seed: int
    tags: tuple


class Slotted:
    __slots__ = ("a", "b")

    def __init__(self, a, b):
        self.a, self.b = a, b


class Custom:
    """Saves a derived form of its state and rebuilds the rest in __setstate__."""

    def __init__(self, values):
        self.values = list(values)
        self.total = sum(values)

    def __getstate__(self):
        return {"values": self.values}

    def __setstate__(self, state):
        self.values = state["values"]
        self.total = sum(self.values)


def make_point(x, y):
    return Point(x, y)


class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y

    def __reduce__(self):
        return (make_point, (self.x, self.y))


class Color(enum.Enum):
    RED = 1
    GREEN = 2


Pair = collections.namedtuple("Pair", ["left", "right"])


# ---- modules -----------------------------------------------------------------------------------

def test_lamina_modules_load_by_default():
    # lamina's own Module classes are rebuilt from saved state without an allowlist (see
    # _safe_globals.lamina_class for why that is safe); the model computes the same outputs.
    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Dropout(0.1), nn.Linear(6, 2))
    model[3].bias.requires_grad_(False)
    model.eval()
    back = _round_trip(model)
    assert type(back) is nn.Sequential and [type(m) for m in back] == [type(m) for m in model]
    assert not back.training and not back[2].training
    assert type(back[0].weight) is nn.Parameter and back[0].weight.requires_grad
    assert not back[3].bias.requires_grad
    x = lamina.randn(5, 4)
    np.testing.assert_array_equal(back(x).detach().numpy(), model(x).detach().numpy())
    assert list(back.state_dict()) == list(model.state_dict())


def test_user_module_needs_allowlist_then_round_trips():
    model = Net()
    x = lamina.randn(6, 4)
    model(x)  # moves the batch-norm running stats
    model.eval()
    buffer = io.BytesIO()
    lamina.save(model, buffer)
    with pytest.raises(CheckpointError, match=r"lamina.load: .*weights_only=True refuses the global "
                                              r"test_serialization_objects.Net.*lamina.serialization."
                                              r"add_safe_globals\(\[test_serialization_objects.Net\]\)") as info:
        lamina.load(io.BytesIO(buffer.getvalue()))
    assert isinstance(info.value, pickle.UnpicklingError)  # what PyTorch raises
    with safe_globals([Net]):
        back = lamina.load(io.BytesIO(buffer.getvalue()))
    assert type(back) is Net and back.label == "net" and not back.training
    np.testing.assert_array_equal(back(x).detach().numpy(), model(x).detach().numpy())
    np.testing.assert_array_equal(back.norm.running_mean.numpy(), model.norm.running_mean.numpy())
    assert back.scale.tolist() == [2.0, 1.0, 0.5] and "scale" in dict(back.named_buffers())
    with pytest.raises(CheckpointError, match="test_serialization_objects.Net"):  # the block has ended
        lamina.load(io.BytesIO(buffer.getvalue()))
    assert type(lamina.load(io.BytesIO(buffer.getvalue()), weights_only=False)) is Net


def test_whole_model_file_has_state_dict_names(tmp_path):
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    lamina.save(model, tmp_path / "m.safetensors")
    entries = _entries((tmp_path / "m.safetensors").read_bytes())
    assert set(entries) == set(model.state_dict())
    assert entries["0.weight"]["shape"] == [4, 3] and entries["1.num_batches_tracked"]["dtype"] == "I64"


def test_safetensors_package_reads_whole_objects(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    images = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    lamina.save({"model": model, "images": images, "half": np.ones(3, np.float16), "step": 7},
                tmp_path / "ckpt.safetensors")
    loaded = st.load_file(str(tmp_path / "ckpt.safetensors"))
    assert set(loaded) == {"model." + k for k in model.state_dict()} | {"images", "half"}
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(loaded["model." + name], value.numpy())
    assert loaded["images"].dtype == np.uint8 and loaded["images"].tolist() == images.tolist()
    assert loaded["half"].dtype == np.float16


# ---- optimizers --------------------------------------------------------------------------------

def _train(model, opt, x, steps):
    for _ in range(steps):
        opt.zero_grad()
        model(x).pow(2).mean().backward()
        opt.step()


@pytest.mark.parametrize("make", [lambda p: lamina.optim.SGD(p, lr=0.1, momentum=0.9),
                                  lambda p: lamina.optim.Adam(p, lr=1e-2),
                                  lambda p: lamina.optim.AdamW(p, lr=1e-2, weight_decay=0.1)],
                         ids=["SGD", "Adam", "AdamW"])
def test_whole_optimizer_resumes_training_bit_for_bit(make):
    lamina.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
    opt = make(model.parameters())
    x = lamina.randn(16, 4)
    _train(model, opt, x, 3)
    back = _round_trip({"model": model, "opt": opt})
    model2, opt2 = back["model"], back["opt"]
    assert type(opt2) is type(opt)
    # The optimizer's parameters are the model's own objects, and its state is keyed by them.
    assert all(a is b for a, b in zip(opt2.param_groups[0]["params"], model2.parameters()))
    assert all(p in opt2.state for p in model2.parameters())
    _train(model, opt, x, 3)
    _train(model2, opt2, x, 3)
    for a, b in zip(model.parameters(), model2.parameters()):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


def test_optimizer_state_dict_round_trip():
    model = nn.Linear(3, 2)
    opt = lamina.optim.Adam(model.parameters(), lr=1e-3, betas=(0.8, 0.9))
    _train(model, opt, lamina.randn(4, 3), 2)
    state = _round_trip(opt.state_dict())
    fresh = lamina.optim.Adam(model.parameters(), lr=1.0)
    fresh.load_state_dict(state)
    assert fresh.param_groups[0]["lr"] == 1e-3 and fresh.param_groups[0]["betas"] == (0.8, 0.9)
    for a, b in zip(opt.state.values(), fresh.state.values()):
        np.testing.assert_array_equal(a["exp_avg"].numpy(), b["exp_avg"].numpy())


# ---- numpy -------------------------------------------------------------------------------------

def test_numpy_values_round_trip():
    values = {
        "f32": np.arange(6, dtype=np.float32).reshape(2, 3),
        "f16": np.array([0.5, -2.0, np.inf], np.float16),
        "u8": np.arange(250, 256, dtype=np.uint8), "i8": np.array([-128, 127], np.int8),
        "u64": np.array([2 ** 64 - 1], np.uint64), "i16": np.array([-3], np.int16),
        "c64": np.array([1 + 2j, -3.5j], np.complex64), "c128": np.array([[1 - 1j]]),
        "bool": np.array([True, False, True]), "strs": np.array(["ab", "çé", ""]),
        "bytes": np.array([b"x", b"yz"]), "dates": np.array(["2024-02-29", "1970-01-01"], "M8[D]"),
        "delta": np.array([5, -1], "m8[s]"), "scalar0d": np.array(3.25),
        "empty": np.zeros((0, 4), np.int32), "strided": np.arange(20.0).reshape(4, 5)[::2, 1::2],
        "fortran": np.asfortranarray(np.arange(6).reshape(2, 3)),
        "big_endian": np.array([1, 256], ">i4"),
        "np_scalars": [np.float32(1.5), np.int64(-2), np.bool_(True), np.float16(0.25), np.complex64(1j),
                       np.str_("hi"), np.datetime64("2020-01-01")],
        "dtypes": [np.dtype("float32"), np.dtype(">i2"), np.dtype("U3"), np.dtype(bool)],
    }
    back = _round_trip(values)
    for key in values:
        if key in ("np_scalars", "dtypes"):
            continue
        a, b = values[key], back[key]
        assert type(b) is np.ndarray and b.shape == a.shape, key
        assert b.dtype == a.dtype.newbyteorder("<") if a.dtype.byteorder == ">" else b.dtype == a.dtype, key
        np.testing.assert_array_equal(b, a)
    for a, b in zip(values["np_scalars"], back["np_scalars"]):
        assert type(b) is type(a) and b == a
    assert back["dtypes"] == [np.dtype("float32"), np.dtype("<i2"), np.dtype("U3"), np.dtype(bool)]


def test_numpy_array_identity_and_object_arrays():
    a = np.arange(3.0)
    back = _round_trip({"x": a, "y": a})
    assert back["x"] is back["y"]  # the same array twice is one array after loading, as with pickle
    # Object arrays go through numpy's own reduce: not allowlisted by default (as in PyTorch).
    objects = np.array([{"a": 1}, None], dtype=object)
    with pytest.raises(CheckpointError, match="weights_only=True refuses the globals? .*numpy"):
        _round_trip(objects)
    again = _round_trip(objects, weights_only=False)
    assert again.dtype == object and again[0] == {"a": 1} and again[1] is None


# ---- dataclasses and user classes ---------------------------------------------------------------

def test_dataclasses_and_user_classes_need_allowlist():
    objects = {"config": Config(1e-3, [64, 32]), "frozen": Frozen(7, ("a", "b")), "slotted": Slotted(1, [2]),
               "custom": Custom([1, 2, 3]), "point": Point(1.5, -2), "color": Color.GREEN,
               "pair": Pair(lamina.ones(2), "r")}
    buffer = io.BytesIO()
    lamina.save(objects, buffer)
    refused = lamina.serialization.get_unsafe_globals_in_checkpoint(io.BytesIO(buffer.getvalue()))
    assert refused == sorted(f"test_serialization_objects.{n}" for n in
                             ["Config", "Frozen", "Slotted", "Custom", "make_point", "Color", "Pair"])
    with pytest.raises(CheckpointError, match="refuses the globals test_serialization_objects.Color, "):
        lamina.load(io.BytesIO(buffer.getvalue()))
    with safe_globals([Config, Frozen, Slotted, Custom, make_point, Color, Pair]):
        back = lamina.load(io.BytesIO(buffer.getvalue()))
    assert back["config"] == Config(1e-3, [64, 32]) and back["frozen"] == Frozen(7, ("a", "b"))
    assert (back["slotted"].a, back["slotted"].b) == (1, [2])
    assert back["custom"].values == [1, 2, 3] and back["custom"].total == 6  # its __setstate__ ran
    assert type(back["point"]) is Point and (back["point"].x, back["point"].y) == (1.5, -2)
    assert back["color"] is Color.GREEN
    assert type(back["pair"]) is Pair and back["pair"].right == "r" and back["pair"].left.tolist() == [1, 1]


def _renamed(data, old, new):
    """`data` (a saved file) as if the class saved as `old` had been called `new` ("module.qualname")."""
    from lamina import serialization
    n = struct.unpack("<Q", data[:8])[0]
    header = _header(data)
    meta = header["__metadata__"]
    (om, oq), (nm, nq) = old.rsplit(".", 1), new.rsplit(".", 1)
    meta["lamina.structure"] = meta["lamina.structure"].replace(f'"m":"{om}","q":"{oq}"', f'"m":"{nm}","q":"{nq}"')
    meta["lamina.header_sha256"] = serialization._header_digest(header)
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data[8 + n:]


def test_allowlist_under_another_name():
    # (obj, "module.qualname") accepts a class under the name an older checkpoint used.
    buffer = io.BytesIO()
    lamina.save(Config(0.1, []), buffer)
    data = _renamed(buffer.getvalue(), "test_serialization_objects.Config", "old_module.Settings")
    with safe_globals([(Config, "old_module.Settings")]):
        assert lamina.load(io.BytesIO(data)) == Config(0.1, [])
    with safe_globals([Config]), pytest.raises(CheckpointError, match="refuses the global old_module.Settings"):
        lamina.load(io.BytesIO(data))


# ---- sharing, views, cycles ---------------------------------------------------------------------

def test_same_tensor_twice_is_one_object_and_tied_weights_stay_tied(tmp_path):
    t = lamina.randn(3)
    back = _round_trip({"a": t, "b": [t, t]})
    assert back["a"] is back["b"][0] is back["b"][1]
    model = Tied()
    with safe_globals([Tied]):
        lamina.save(model, tmp_path / "tied.safetensors")
        tied = lamina.load(tmp_path / "tied.safetensors")
    assert tied.out.weight is tied.embed.weight
    assert len(list(tied.parameters())) == 1
    assert list(_entries((tmp_path / "tied.safetensors").read_bytes())) == ["embed.weight"]  # stored once


def test_views_of_one_tensor_share_memory_after_loading(tmp_path):
    # Decision (as torch.save): tensors that share memory are stored once and come back sharing it.
    base = lamina.arange(12.0).reshape(3, 4)
    obj = {"base": base, "row": base[1], "col": base[:, 2], "t": base.t(), "tail": base.reshape(-1)[5:]}
    lamina.save(obj, tmp_path / "v.safetensors")
    entries = _entries((tmp_path / "v.safetensors").read_bytes())
    assert list(entries) == ["base"] and entries["base"]["shape"] == [3, 4]
    back = lamina.load(tmp_path / "v.safetensors")
    for key in obj:
        np.testing.assert_array_equal(back[key].numpy(), obj[key].numpy())
    back["base"][1, 2] = 100.0
    assert back["row"][2].item() == 100.0 and back["col"][1].item() == 100.0
    assert back["t"][2, 1].item() == 100.0 and back["tail"][1].item() == 100.0
    # Views without their base: the span they cover is stored, then sliced again.
    two = _round_trip({"a": base[0, 1:3], "b": base[2]})
    two["a"].fill_(-1.0)
    assert two["a"].tolist() == [-1.0, -1.0] and two["b"].tolist() == [8.0, 9.0, 10.0, 11.0]


def test_views_that_would_outgrow_their_data_are_copies():
    # An expanded view (stride 0) or overlapping windows hold more elements than memory: saving them
    # as views would let a file declare tensors far larger than its data, so they are copies.
    small = lamina.arange(3.0)
    wide = small.expand(4, 3)
    windows = lamina.arange(6.0).unfold(0, 4, 1)  # 3 windows of 4 over 6 elements
    back = _round_trip({"small": small, "wide": wide, "base": windows, "w2": windows[1:]})
    np.testing.assert_array_equal(back["wide"].numpy(), wide.numpy())
    np.testing.assert_array_equal(back["base"].numpy(), windows.numpy())
    back["small"].fill_(7.0)
    assert back["wide"][0, 0].item() == 0.0


def test_parameter_and_detached_alias_share_memory():
    p = nn.Parameter(lamina.ones(3))
    back = _round_trip({"p": p, "data": p.detach()})
    assert type(back["p"]) is nn.Parameter and back["p"].requires_grad and not back["data"].requires_grad
    back["data"].mul_(5.0)
    assert back["p"].tolist() == [5.0, 5.0, 5.0]


def test_shared_storage_matches_torch_semantics():
    torch = pytest.importorskip("torch")

    def facts(lib, save, load):
        base = lib.arange(6.0)
        leaf = lib.ones(2, requires_grad=True)
        obj = {"a": base, "again": base, "view": base[2:5], "leaf": leaf, "nonleaf": leaf * 3}
        buffer = io.BytesIO()
        save(obj, buffer)
        buffer.seek(0)
        out = load(buffer)
        out["a"][3] = -1.0
        return (out["a"] is out["again"], out["view"].tolist(), out["leaf"].requires_grad,
                out["nonleaf"].requires_grad, out["nonleaf"].is_leaf)

    ours = facts(lamina, lamina.save, lamina.load)
    theirs = facts(torch, torch.save, lambda f: torch.load(f, weights_only=True))
    assert ours == theirs == (True, [2.0, -1.0, 4.0], True, True, True)


def test_cycles_and_plain_containers():
    loop = [1]
    loop.append(loop)
    d = {"name": "d"}
    d["self"] = d
    values = {
        "loop": loop, "d": d, "set": {1, "a", (2, 3)}, "frozen": frozenset({1.5}), "bytes": b"\x00\xff",
        "bytearray": bytearray(b"ab"), "complex": complex(1, float("nan")), "od": collections.OrderedDict(b=1, a=2),
        "dd": collections.defaultdict(list, {"k": [1]}), "counter": collections.Counter("aab"),
        "size": lamina.Size([2, 3]), "dtype": lamina.float64, "device": lamina.device("cpu"),
        "tuple_key": {(1, "x"): 1, None: 2, 2.5: 3}, "slice": slice(1, None, 2), "types": [int, dict],
        "big": 2 ** 100, "inf": float("-inf"),
    }
    back = _round_trip(values)
    assert back["loop"][1] is back["loop"] and back["d"]["self"] is back["d"]
    for key in ("set", "frozen", "bytes", "bytearray", "od", "counter", "size", "dtype", "device",
                "tuple_key", "slice", "types", "big", "inf"):
        assert type(back[key]) is type(values[key]) and back[key] == values[key], key
    assert list(back["od"]) == ["b", "a"]
    assert type(back["dd"]) is collections.defaultdict and back["dd"]["new"] == [] and back["dd"]["k"] == [1]
    assert back["complex"].real == 1 and np.isnan(back["complex"].imag)


def test_save_errors():
    t = ([],)
    t[0].append(t)  # a tuple that contains itself: it cannot exist before its items (as in pickle)
    with pytest.raises(TypeError, match=r"lamina.save: cannot save the tuple at key '0.0': it contains "
                                        "itself"):
        lamina.save(t, io.BytesIO())
    deep = []
    for _ in range(150):
        deep = [deep]
    with pytest.raises(ValueError, match="lamina.save: the object is nested more than 100 levels deep"):
        lamina.save(deep, io.BytesIO())
    with pytest.raises(TypeError, match="weights_only must be True or False"):
        lamina.load(io.BytesIO(), weights_only=None)
    with pytest.raises(TypeError):  # weights_only is keyword-only, as in torch.load
        lamina.load(io.BytesIO(), None, False)
