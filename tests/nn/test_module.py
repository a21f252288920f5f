"""Module mechanics: registration, iteration, state_dict round trips and strict errors, hooks,
train/eval, zero_grad, to(dtype), apply, repr, containers, Parameter."""

import copy
import pickle
from collections import OrderedDict

import numpy as np
import pytest

import lamina
import lamina.nn as nn


class Scale(nn.Module):
    """y = x * w + b, elementwise (needs no functional op)."""

    def __init__(self, n):
        super().__init__()
        self.w = nn.Parameter(lamina.ones(n))
        self.b = nn.Parameter(lamina.zeros(n))
        self.register_buffer("count", lamina.zeros(1, dtype=lamina.int64))
        self.register_buffer("scratch", lamina.zeros(n), persistent=False)

    def forward(self, x):
        return x * self.w + self.b


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = Scale(3)
        self.body = nn.Sequential(Scale(3), nn.Identity(), Scale(3))
        self.head = Scale(3)

    def forward(self, x):
        return self.head(self.body(self.a(x)))


# ---- Parameter -----------------------------------------------------------------------------------

def test_parameter_is_tensor_subclass_and_shares_data():
    data = lamina.zeros(2, 3)
    p = nn.Parameter(data)
    assert isinstance(p, nn.Parameter) and isinstance(p, lamina.Tensor)
    assert p.requires_grad and p.is_leaf
    data.fill_(2.0)
    assert p.detach().numpy().tolist() == [[2.0] * 3] * 2
    assert repr(p).startswith("Parameter containing:\ntensor(")
    assert not nn.Parameter(lamina.zeros(2), requires_grad=False).requires_grad
    # ops on a Parameter give plain tensors; methods returning self keep the Parameter
    assert type(p * 2) is lamina.Tensor
    assert p.requires_grad_(True) is p


def test_parameter_deepcopy_and_pickle():
    p = nn.Parameter(lamina.randn(2, 2))
    q = copy.deepcopy(p)
    assert isinstance(q, nn.Parameter) and q.requires_grad
    np.testing.assert_array_equal(q.detach().numpy(), p.detach().numpy())
    assert q.data_ptr() != p.data_ptr()
    r = pickle.loads(pickle.dumps(p))
    assert isinstance(r, nn.Parameter)
    np.testing.assert_array_equal(r.detach().numpy(), p.detach().numpy())


# ---- registration ------------------------------------------------------------------------------

def test_registration_by_attribute():
    m = Scale(3)
    assert list(m._parameters) == ["w", "b"]
    assert list(m._buffers) == ["count", "scratch"]
    m.extra = lamina.zeros(1)  # a plain tensor is just an attribute
    assert "extra" not in m._parameters and "extra" not in m._buffers
    m.child = Scale(2)
    assert "child" in m._modules and m.child is m._modules["child"]
    # re-assigning a parameter slot with a non-parameter is an error; None is allowed
    with pytest.raises(TypeError, match="cannot assign 'Tensor' as parameter 'w'"):
        m.w = lamina.zeros(3)
    m.b = None
    assert m.b is None and "b" in m._parameters
    with pytest.raises(TypeError, match="as child module 'child'"):
        m.child = 3
    m.count = lamina.ones(1)  # buffers accept tensors
    assert m._buffers["count"].numpy().tolist() == [1.0]
    with pytest.raises(TypeError, match="as buffer 'count'"):
        m.count = 5
    del m.child, m.count, m.w
    assert "child" not in m._modules and "count" not in m._buffers and "w" not in m._parameters
    with pytest.raises(AttributeError, match="'Scale' object has no attribute 'w'"):
        m.w


def test_register_errors():
    m = Scale(2)
    with pytest.raises(KeyError, match="already exists"):
        m.register_buffer("w", lamina.zeros(1))
    with pytest.raises(KeyError, match='contain "[.]"'):
        m.register_parameter("a.b", nn.Parameter(lamina.zeros(1)))
    with pytest.raises(TypeError, match="cannot assign 'int' object to buffer"):
        m.register_buffer("x", 3)

    class Early(nn.Module):
        def __init__(self):
            self.p = nn.Parameter(lamina.zeros(1))

    with pytest.raises(AttributeError, match=r"before Module.__init__\(\) call"):
        Early()


def test_iteration_dedups_shared_modules_and_parameters():
    shared = Scale(2)
    seq = nn.Sequential(shared, shared, Scale(2))
    assert len(list(seq.modules())) == 3
    assert len(list(seq.named_modules(remove_duplicate=False))) == 4
    assert [n for n, _ in seq.named_parameters()] == ["0.w", "0.b", "2.w", "2.b"]
    assert len(list(seq.parameters())) == 4
    assert [n for n, _ in seq.named_buffers()] == ["0.count", "0.scratch", "2.count", "2.scratch"]
    assert [n for n, _ in seq.named_children()] == ["0", "2"]
    assert list(seq.parameters(recurse=False)) == []
    net = Net()
    names = [n for n, _ in net.named_modules()]
    assert names == ["", "a", "body", "body.0", "body.1", "body.2", "head"]
    assert [n for n, _ in net.named_parameters(prefix="model")][:2] == ["model.a.w", "model.a.b"]
    assert net.get_submodule("body.2") is net.body[2]
    assert net.get_parameter("body.0.w") is net.body[0].w


# ---- state_dict ----------------------------------------------------------------------------------

def test_state_dict_keys_order_and_detach():
    net = Net()
    sd = net.state_dict()
    assert isinstance(sd, OrderedDict)
    assert list(sd) == ["a.w", "a.b", "a.count", "body.0.w", "body.0.b", "body.0.count", "body.2.w", "body.2.b",
                        "body.2.count", "head.w", "head.b", "head.count"]
    assert not sd["a.w"].requires_grad and type(sd["a.w"]) is lamina.Tensor
    assert sd["a.w"].data_ptr() == net.a.w.data_ptr()  # shares memory, like PyTorch
    kept = net.state_dict(keep_vars=True)
    assert kept["a.w"] is net.a.w
    assert list(net.state_dict(prefix="m.")) [0] == "m.a.w"


def test_state_dict_round_trip():
    src, dst = Net(), Net()
    for p in src.parameters():
        p.data.copy_(lamina.randn(*p.shape))
    src.a.count.fill_(7)
    result = dst.load_state_dict(src.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    for (n1, a), (n2, b) in zip(src.state_dict().items(), dst.state_dict().items()):
        assert n1 == n2
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert dst.a.w.data_ptr() != src.a.w.data_ptr()  # copied, not aliased
    x = lamina.randn(4, 3)
    np.testing.assert_array_equal(src(x).detach().numpy(), dst(x).detach().numpy())


def test_load_state_dict_assign():
    m = Scale(3)
    w = lamina.tensor([1.0, 2.0, 3.0])
    m.load_state_dict({"w": w, "b": lamina.zeros(3), "count": lamina.tensor([2])}, assign=True)
    assert isinstance(m.w, nn.Parameter) and m.w.requires_grad and m.w.data_ptr() == w.data_ptr()
    assert m.count.item() == 2


def test_load_state_dict_strict_errors():
    net = Net()
    sd = net.state_dict()
    del sd["head.b"]
    sd["head.extra"] = lamina.zeros(1)
    with pytest.raises(RuntimeError) as info:
        net.load_state_dict(sd)
    msg = str(info.value)
    assert "Error(s) in loading state_dict for Net" in msg
    assert 'Missing key(s) in state_dict: "head.b"' in msg
    assert 'Unexpected key(s) in state_dict: "head.extra"' in msg
    missing, unexpected = net.load_state_dict(sd, strict=False)
    assert missing == ["head.b"] and unexpected == ["head.extra"]  # reported, not raised


def test_load_state_dict_shape_mismatch_raises_even_when_not_strict():
    net = Net()
    sd = net.state_dict()
    sd["a.w"] = lamina.zeros(5)
    for strict in (True, False):
        with pytest.raises(RuntimeError, match=r"size mismatch for a.w: copying a param with shape "
                                               r"lamina.Size\(\[5\]\) from checkpoint, the shape in current model is "
                                               r"lamina.Size\(\[3\]\)"):
            net.load_state_dict(sd, strict=strict)


def test_load_state_dict_casts_dtype_and_skips_non_persistent():
    m = Scale(3)
    sd = {"w": lamina.tensor([1.0, 2.0, 3.0], dtype=lamina.float64), "b": lamina.zeros(3),
          "count": lamina.tensor([4])}
    m.load_state_dict(sd)
    assert m.w.dtype == lamina.float32 and m.w.detach().numpy().tolist() == [1.0, 2.0, 3.0]
    assert "scratch" not in m.state_dict()
    with pytest.raises(RuntimeError, match="Unexpected key"):
        m.load_state_dict(dict(sd, scratch=lamina.zeros(3)))


# ---- hooks ---------------------------------------------------------------------------------------

def test_forward_hooks_order_modify_and_remove():
    m = Scale(2)
    calls = []

    def pre(mod, args):
        calls.append("pre")
        return (args[0] * 2,)

    def post(mod, args, out):
        calls.append("post")
        return out + 1

    h1 = m.register_forward_pre_hook(pre)
    h2 = m.register_forward_hook(post)
    h3 = m.register_forward_hook(lambda mod, args, out: calls.append("first"), prepend=True)
    y = m(lamina.ones(2))
    assert y.detach().numpy().tolist() == [3.0, 3.0]
    assert calls == ["pre", "first", "post"]
    for h in (h1, h2, h3):
        h.remove()
    assert m(lamina.ones(2)).detach().numpy().tolist() == [1.0, 1.0]
    with m.register_forward_pre_hook(lambda mod, args: lamina.zeros(2)):
        assert m(lamina.ones(2)).detach().numpy().tolist() == [0.0, 0.0]  # a non-tuple result is wrapped
    assert m(lamina.ones(2)).detach().numpy().tolist() == [1.0, 1.0]


def test_forward_hooks_with_kwargs():
    class Add(nn.Module):
        def forward(self, x, y=0):
            return x + y

    m = Add()
    m.register_forward_pre_hook(lambda mod, args, kwargs: (args, {"y": 10}), with_kwargs=True)
    seen = []
    m.register_forward_hook(lambda mod, args, kwargs, out: seen.append(kwargs["y"]), with_kwargs=True)
    assert m(lamina.zeros(1)).item() == 10
    assert seen == [10]


# ---- modes, grads, conversions -------------------------------------------------------------------

def test_train_eval_recurses():
    net = Net()
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    with pytest.raises(ValueError, match="boolean"):
        net.train("yes")


def test_zero_grad_and_requires_grad():
    m = Scale(3)
    m(lamina.ones(3)).sum().backward()
    assert m.w.grad is not None
    m.zero_grad(set_to_none=False)
    assert m.w.grad.numpy().tolist() == [0.0] * 3
    m.zero_grad()
    assert m.w.grad is None and m.b.grad is None
    m.requires_grad_(False)
    assert not any(p.requires_grad for p in m.parameters())


def test_to_double_keeps_parameter_identity_and_int_buffers():
    m = Scale(3)
    m(lamina.ones(3)).sum().backward()
    w = m.w
    assert m.to(lamina.float64) is m
    assert m.w is w and isinstance(m.w, nn.Parameter) and m.w.requires_grad
    assert m.w.dtype == lamina.float64 and m.w.grad.dtype == lamina.float64
    assert m.scratch.dtype == lamina.float64 and m.count.dtype == lamina.int64
    y = m(lamina.ones(3, dtype=lamina.float64))
    assert y.dtype == lamina.float64
    m.float()
    assert m.w.dtype == lamina.float32
    m.to(dtype=lamina.float64)
    assert m.b.dtype == lamina.float64
    m.to("cpu")
    with pytest.raises(TypeError, match="floating point"):
        m.to(lamina.int64)


def test_apply_visits_children_first():
    net = Net()
    order = []
    assert net.apply(lambda mod: order.append(type(mod).__name__)) is net
    assert order[-1] == "Net" and order[0] == "Scale"
    assert len(order) == 7


# ---- repr ----------------------------------------------------------------------------------------

def test_repr_nested():
    net = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 3)), ("act", nn.ReLU()),
                                     ("inner", nn.Sequential(nn.Linear(3, 1, bias=False)))]))
    assert repr(net) == ("Sequential(\n"
                         "  (fc): Linear(in_features=2, out_features=3, bias=True)\n"
                         "  (act): ReLU()\n"
                         "  (inner): Sequential(\n"
                         "    (0): Linear(in_features=3, out_features=1, bias=False)\n"
                         "  )\n"
                         ")")
    assert repr(nn.Flatten()) == "Flatten(start_dim=1, end_dim=-1)"
    assert repr(nn.Conv2d(3, 8, 3, padding=1, bias=False)) == \
        "Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False)"
    assert repr(nn.BatchNorm2d(4)) == "BatchNorm2d(4, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)"
    assert repr(nn.Dropout(0.2)) == "Dropout(p=0.2, inplace=False)"
    assert repr(nn.ModuleList()) == "ModuleList()"


# ---- containers ----------------------------------------------------------------------------------

def test_sequential_indexing_slicing_append():
    a, b, c = Scale(2), nn.Identity(), Scale(2)
    seq = nn.Sequential(a, b, c)
    assert len(seq) == 3 and seq[0] is a and seq[-1] is c
    sub = seq[1:]
    assert isinstance(sub, nn.Sequential) and list(sub) == [b, c] and list(sub._modules) == ["1", "2"]
    with pytest.raises(IndexError):
        seq[3]
    d = Scale(2)
    seq.append(d)
    assert seq[3] is d
    seq[1] = nn.ReLU()
    assert isinstance(seq[1], nn.ReLU)
    del seq[0]
    assert list(seq._modules) == ["0", "1", "2"] and seq[0].__class__ is nn.ReLU
    named = nn.Sequential(OrderedDict([("x", a), ("y", c)]))
    assert named.x is a and list(named._modules) == ["x", "y"]
    x = lamina.randn(2)
    np.testing.assert_allclose(nn.Sequential(Scale(2), Scale(2))(x).detach().numpy(), x.numpy())


def test_module_list_and_dict():
    layers = nn.ModuleList([Scale(1) for _ in range(3)])
    assert len(layers) == 3 and len(list(layers.parameters())) == 6
    layers.append(Scale(1))
    layers.insert(0, nn.Identity())
    assert isinstance(layers[0], nn.Identity) and len(layers) == 5
    assert isinstance(layers[1:3], nn.ModuleList) and len(layers[1:3]) == 2
    del layers[0]
    assert list(layers._modules) == ["0", "1", "2", "3"]
    layers += [nn.ReLU()]
    assert isinstance(layers[-1], nn.ReLU)
    with pytest.raises(IndexError):
        layers[10]
    d = nn.ModuleDict({"a": Scale(1), "b": nn.ReLU()})
    assert list(d.keys()) == ["a", "b"] and "a" in d and len(d) == 2
    d["c"] = nn.Identity()
    assert [k for k, _ in d.items()] == ["a", "b", "c"]
    assert d.pop("b").__class__ is nn.ReLU and "b" not in d
    assert [n for n, _ in nn.ModuleDict({"x": Scale(1)}).named_parameters()] == ["x.w", "x.b"]


def test_flatten_unflatten_identity():
    x = lamina.randn(2, 3, 4, 5)
    assert tuple(nn.Flatten()(x).shape) == (2, 60)
    assert tuple(nn.Flatten(0, 2)(x).shape) == (24, 5)
    assert tuple(nn.Unflatten(1, (3, 20))(nn.Flatten()(x)).shape) == (2, 3, 20)
    assert tuple(nn.Unflatten(-1, (2, -1))(lamina.zeros(3, 8)).shape) == (3, 2, 4)
    with pytest.raises(RuntimeError, match="don't multiply up"):
        nn.Unflatten(1, (7, 3))(lamina.zeros(2, 20))
    y = nn.Identity(54, unused="x")(x)
    assert y is x
    np.testing.assert_array_equal(nn.Flatten()(x).numpy(), x.numpy().reshape(2, 60))


def test_deepcopy_module():
    m = Scale(3)
    m2 = copy.deepcopy(m)
    assert m2.w is not m.w and isinstance(m2.w, nn.Parameter)
    m2.w.data.fill_(5.0)
    assert m.w.detach().numpy().tolist() == [1.0] * 3


def test_parameter_list_and_dict():
    pl = nn.ParameterList([nn.Parameter(lamina.zeros(2)), lamina.ones(3)])
    assert len(pl) == 2 and isinstance(pl[1], nn.Parameter)
    pl.append(lamina.zeros(1, 4))
    assert [n for n, _ in pl.named_parameters()] == ["0", "1", "2"]
    assert [tuple(p.shape) for p in pl] == [(2,), (3,), (1, 4)]
    holder = nn.Module()
    holder.ps = pl
    assert list(holder.state_dict()) == ["ps.0", "ps.1", "ps.2"]
    assert "(2): Parameter containing: [Parameter of size 1x4]" in repr(pl)
    pd = nn.ParameterDict({"a": lamina.zeros(2), "b": nn.Parameter(lamina.ones(1))})
    assert list(pd.keys()) == ["a", "b"] and isinstance(pd["a"], nn.Parameter) and "a" in pd
    del pd["a"]
    assert [n for n, _ in pd.named_parameters()] == ["b"] and len(pd) == 1
