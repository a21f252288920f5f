"""Errors that say where: an exception escaping a module's forward names the innermost module's
path (from the outermost module called, written "model") and its type, once, and keeps its type."""

import pytest

import lamina
import lamina.nn as nn
import lamina.nn.functional as F


class Shift(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.n = n
        self.b = nn.Parameter(lamina.zeros(n))

    def forward(self, x):
        return x + self.b

    def extra_repr(self):
        return f"n={self.n}"


class Raises(nn.Module):
    def __init__(self, exc):
        super().__init__()
        self.exc = exc

    def forward(self, x):
        raise self.exc


class Model(nn.Module):
    def __init__(self, last):
        super().__init__()
        self.encoder = nn.Sequential(Shift(4), nn.Identity(), last)
        self.head = Shift(4)

    def forward(self, x):
        return self.head(self.encoder(x))


def test_message_names_innermost_path_once():
    model = Model(Shift(3))
    with pytest.raises(RuntimeError) as info:
        model(lamina.zeros(2, 4))
    msg = str(info.value)
    assert msg.startswith("model.encoder.2 (Shift n=3): add: shapes (2, 4) and (3,) cannot be broadcast"), msg
    assert msg.count("model") == 1 and msg.count("Shift") == 1


def test_exception_type_and_object_kept():
    for exc in [ValueError("bad value"), IndexError("bad index"), TypeError("bad type"), KeyError("k")]:
        model = Model(Raises(exc))
        with pytest.raises(type(exc)) as info:
            model(lamina.zeros(2, 4))
        assert info.value is exc
        assert str(info.value).strip("'\"").startswith("model.encoder.2 (Raises): ")


def test_outermost_call_is_the_root():
    model = Model(Shift(3))
    with pytest.raises(RuntimeError, match=r"^model.2 \(Shift n=3\): add"):
        model.encoder(lamina.zeros(2, 4))
    with pytest.raises(RuntimeError, match=r"^model \(Shift n=3\): add"):
        Shift(3)(lamina.zeros(2, 4))


def test_error_in_parent_forward_itself():
    class Bad(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = Shift(2)

        def forward(self, x):
            y = self.inner(x)
            return y + lamina.zeros(5)

    with pytest.raises(RuntimeError, match=r"^model \(Bad\): add: shapes \(2,\) and \(5,\)"):
        Bad()(lamina.zeros(2))


def test_caught_inside_forward_is_untouched():
    class Fallback(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = Shift(3)

        def forward(self, x):
            try:
                return self.inner(x)
            except RuntimeError as e:
                self.seen = str(e)
                return x

    m = Fallback()
    m(lamina.zeros(2))
    assert m.seen.startswith("add: shapes")  # the message changes only at the outermost call
    # a second failing call is annotated normally
    with pytest.raises(RuntimeError, match=r"^model \(Shift n=3\)"):
        m.inner(lamina.zeros(2))


def test_unregistered_module_uses_call_chain():
    class Holder(nn.Module):
        def __init__(self):
            super().__init__()
            object.__setattr__(self, "hidden", [Shift(3)])  # not registered

        def forward(self, x):
            return self.hidden[0](x)

    with pytest.raises(RuntimeError, match=r"^model.<Shift> \(Shift n=3\): add"):
        Holder()(lamina.zeros(2))


def test_shared_module_named_by_first_path():
    shared = Shift(3)
    model = nn.Sequential(nn.Identity(), shared, shared)
    with pytest.raises(RuntimeError, match=r"^model.1 \(Shift n=3\)"):
        model(lamina.zeros(2))


def test_linear_mismatch_message():
    if not hasattr(F, "linear"):
        pytest.skip("F.linear is not in this branch yet")

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Sequential(nn.Linear(768, 768), nn.ReLU(), nn.Linear(768, 3072))

        def forward(self, x):
            return self.encoder(x)

    with pytest.raises(RuntimeError) as info:
        Net()(lamina.zeros(32, 1024))
    msg = str(info.value)
    assert msg.startswith("model.encoder.0 (Linear in_features=768, out_features=768, bias=True): "), msg
    assert "1024" in msg and "768" in msg
