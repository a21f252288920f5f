"""Recurrent layers RNN, LSTM, GRU and the cells RNNCell, LSTMCell, GRUCell (PyTorch's parameter
names, shapes, gate order and initialisation).

Each layer and direction is one call of the fused C++ op `_C._rnn_layer` (time loop, gate math and
backward through time in C++, one autograd node); this file checks arguments, lays out the input
as packed rows (a plain batch is T equal steps) and stacks layers and directions.
"""

import math
import numbers
import warnings

from ... import _C
from ...autograd import no_grad
from .. import functional as F
from .. import init
from ..parameter import Parameter
from ..utils.rnn import PackedSequence
from .linear import _factory
from .module import Module

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]

_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}
_KERNEL_MODE = {"LSTM": "lstm", "GRU": "gru", "RNN_TANH": "rnn_tanh", "RNN_RELU": "rnn_relu"}


def _shape(t):
    return tuple(int(s) for s in t.shape)


class RNNBase(Module):
    """Shared machinery of RNN, LSTM and GRU.

    Parameters per layer k and direction (suffix "_reverse" for the backward one): weight_ih_l{k}
    (G*hidden_size, in), weight_hh_l{k} (G*hidden_size, H_out), bias_ih_l{k}, bias_hh_l{k}
    (G*hidden_size,), and for an LSTM with proj_size > 0 weight_hr_l{k} (proj_size, hidden_size);
    G = 4 (LSTM), 3 (GRU), 1 (RNN), in = input_size for layer 0 and num_directions * H_out above,
    H_out = proj_size or hidden_size. All start as U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)).
    The parameters are views into one contiguous buffer (see flatten_parameters).
    """

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__()
        if mode not in _GATES:
            raise ValueError("Unrecognized RNN mode: " + str(mode))
        name = "LSTM" if mode == "LSTM" else "GRU" if mode == "GRU" else "RNN"
        if isinstance(dropout, bool) or not isinstance(dropout, numbers.Number) or not 0 <= dropout <= 1:
            raise ValueError(f"{name}: dropout should be a number in range [0, 1] representing the probability of "
                             f"an element being zeroed, got {dropout!r}")
        if dropout > 0 and num_layers == 1:
            warnings.warn(f"{name}: dropout option adds dropout after all but last recurrent layer, so non-zero "
                          f"dropout expects num_layers greater than 1, but got dropout={dropout} and "
                          f"num_layers={num_layers}")
        for arg, value in (("input_size", input_size), ("hidden_size", hidden_size), ("num_layers", num_layers),
                           ("proj_size", proj_size)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name}: {arg} should be of type int, got: {type(value).__name__}")
        for arg, value in (("bias", bias), ("batch_first", batch_first), ("bidirectional", bidirectional)):
            if not isinstance(value, bool):
                raise TypeError(f"{name}: {arg} should be of type bool, got: {type(value).__name__}")
        if input_size <= 0:
            raise ValueError(f"{name}: input_size must be greater than zero, got {input_size}")
        if hidden_size <= 0:
            raise ValueError(f"{name}: hidden_size must be greater than zero, got {hidden_size}")
        if num_layers <= 0:
            raise ValueError(f"{name}: num_layers must be greater than zero, got {num_layers}")
        if proj_size < 0:
            raise ValueError(f"{name}: proj_size should be a positive integer or zero to disable projections, got "
                             f"{proj_size}")
        if proj_size >= hidden_size:
            raise ValueError(f"{name}: proj_size has to be smaller than hidden_size, got proj_size={proj_size} and "
                             f"hidden_size={hidden_size}")
        if proj_size and mode != "LSTM":
            raise ValueError(f"{name}: proj_size argument is only supported for LSTM, not RNN or GRU")
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        kw = _factory(device, dtype)
        gate_size = _GATES[mode] * hidden_size
        real_hidden = proj_size if proj_size > 0 else hidden_size
        directions = 2 if bidirectional else 1
        self._flat_weights_names = []
        self._all_weights = []
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else real_hidden * directions
            for direction in range(directions):
                sfx = f"_l{layer}" + ("_reverse" if direction == 1 else "")
                shapes = [("weight_ih" + sfx, (gate_size, layer_input)), ("weight_hh" + sfx, (gate_size, real_hidden))]
                if bias:
                    shapes += [("bias_ih" + sfx, (gate_size,)), ("bias_hh" + sfx, (gate_size,))]
                if proj_size > 0:
                    shapes.append(("weight_hr" + sfx, (proj_size, hidden_size)))
                for pname, shape in shapes:
                    setattr(self, pname, Parameter(_C.empty(shape, **kw)))
                names = [pname for pname, _ in shapes]
                self._flat_weights_names.extend(names)
                self._all_weights.append(names)
        self.flatten_parameters()
        self.reset_parameters()

    # ---- parameters -----------------------------------------------------------------------
    @property
    def _flat_weights(self):
        return [getattr(self, n) for n in self._flat_weights_names]

    @property
    def all_weights(self):
        """The parameters as a list per layer and direction, in PyTorch's order."""
        return [[getattr(self, n) for n in names] for names in self._all_weights]

    def reset_parameters(self):
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def flatten_parameters(self):
        """Puts every weight into one contiguous buffer (in _flat_weights_names order) and makes each
        parameter a view of it, as PyTorch's cuDNN path does. The fused CPU kernel reads each layer's
        weights directly, so this only keeps the memory layout PyTorch users expect; a no-op when the
        parameters already are such views."""
        weights = self._flat_weights
        if not weights:
            return
        first = weights[0]
        if any(w.dtype != first.dtype or w.device != first.device for w in weights):
            return  # mixed parameters (as PyTorch, leave them alone)
        item = first.element_size()
        base = first.data_ptr() - first.storage_offset() * item
        offset, flat = 0, True
        for w in weights:
            if not w.is_contiguous() or w.data_ptr() != base + offset * item or w.storage_offset() != offset:
                flat = False
                break
            offset += w.numel()
        if flat and offset == getattr(self, "_flat_numel", -1):
            return
        total = sum(w.numel() for w in weights)
        buffer = _C.empty((total,), dtype=first.dtype, device=first.device)
        offset = 0
        with no_grad():
            for w in weights:
                n = w.numel()
                view = buffer[offset:offset + n].view(_shape(w))
                view.copy_(w)
                w.data = view
                offset += n
        self.__dict__["_flat_numel"] = total

    def _apply(self, fn):
        result = super()._apply(fn)
        self.flatten_parameters()
        return result

    def __setstate__(self, state):
        super().__setstate__(state)
        self.flatten_parameters()

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s

    # ---- forward --------------------------------------------------------------------------
    def _hidden_shapes(self, batch):
        layers = self.num_layers * (2 if self.bidirectional else 1)
        h = (layers, batch, self.proj_size if self.proj_size > 0 else self.hidden_size)
        return h, (layers, batch, self.hidden_size)

    def _check_input(self, x, packed):
        name = self._get_name()
        weight = self._flat_weights[0]
        if x.dtype != weight.dtype:
            raise ValueError(f"{name}: input dtype ({x.dtype}) does not match weight dtype ({weight.dtype}). Convert "
                             f"input: input.to({weight.dtype}), or convert model: model.to({x.dtype})")
        expected = 2 if packed else 3
        if x.dim() != expected:
            raise RuntimeError(f"{name}: input must have {expected} dimensions, got {x.dim()} (shape {_shape(x)})")
        if x.shape[-1] != self.input_size:
            raise RuntimeError(f"{name}: input.size(-1) must be equal to input_size. Expected {self.input_size}, got "
                               f"{x.shape[-1]} (input shape {_shape(x)})")

    def _check_hidden(self, hx, expected, what):
        if hx is not None and _shape(hx) != tuple(expected):
            raise RuntimeError(f"{self._get_name()}: Expected {what} size {tuple(expected)}, got {list(_shape(hx))}")

    def _run(self, x2, batch_sizes, hx, cx):
        """Runs every layer and direction over packed rows x2 (N, input_size). hx (L*D, B, H_out)
        and cx (L*D, B, hidden_size) may be None (zeros). Returns (out (N, D*H_out), h_n, c_n)."""
        mode = _KERNEL_MODE[self.mode]
        directions = 2 if self.bidirectional else 1
        weights = self._flat_weights
        per = len(weights) // (self.num_layers * directions)
        h_n, c_n = [], []
        layer_input = x2
        for layer in range(self.num_layers):
            outs = []
            for d in range(directions):
                k = layer * directions + d
                w = weights[k * per:(k + 1) * per]
                w_ih, w_hh = w[0], w[1]
                b_ih, b_hh = (w[2], w[3]) if self.bias else (None, None)
                w_hr = w[-1] if self.proj_size > 0 else None
                out, h, c = _C._rnn_layer(mode, layer_input, batch_sizes, None if hx is None else hx[k],
                                          None if cx is None else cx[k], w_ih, w_hh, b_ih, b_hh, w_hr, d == 1)
                outs.append(out)
                h_n.append(h)
                c_n.append(c)
            layer_input = outs[0] if directions == 1 else _C.cat(outs, 1)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, True)
        return layer_input, _C.stack(h_n, 0), (_C.stack(c_n, 0) if self.mode == "LSTM" else None)

    def _forward(self, input, hx, cx):
        """Shared forward; hx/cx as given by the user (cx only for LSTM). Returns (output, h_n, c_n)."""
        name = self._get_name()
        lstm = self.mode == "LSTM"
        if isinstance(input, PackedSequence):
            data, batch_sizes, sorted_indices, unsorted_indices = input
            self._check_input(data, True)
            bs = [int(v) for v in batch_sizes.tolist()]
            hs, cs = self._hidden_shapes(bs[0] if bs else 0)
            for t, expected, what in ((hx, hs, "hidden[0]" if lstm else "hidden"), (cx, cs, "hidden[1]")):
                self._check_hidden(t, expected, what)
            if sorted_indices is not None:
                hx = None if hx is None else hx.index_select(1, sorted_indices)
                cx = None if cx is None else cx.index_select(1, sorted_indices)
            out, h_n, c_n = self._run(data, bs, hx, cx)
            if unsorted_indices is not None:
                h_n = h_n.index_select(1, unsorted_indices)
                c_n = None if c_n is None else c_n.index_select(1, unsorted_indices)
            return PackedSequence(out, batch_sizes, sorted_indices, unsorted_indices), h_n, c_n
        if input.dim() not in (2, 3):
            raise ValueError(f"{name}: Expected input to be 2D or 3D, got {input.dim()}D instead (shape "
                             f"{_shape(input)})")
        batched = input.dim() == 3
        states = [t for t in (hx, cx) if t is not None]
        for t in states:
            if t.dim() != (3 if batched else 2):
                kind = "batched 3-D" if batched else "unbatched 2-D"
                raise RuntimeError(f"{name}: For {kind} input, hx should also be {3 if batched else 2}-D but got "
                                   f"{t.dim()}-D tensor (shape {_shape(t)})")
        if not batched:
            input = input.unsqueeze(1)
            hx = None if hx is None else hx.unsqueeze(1)
            cx = None if cx is None else cx.unsqueeze(1)
        elif self.batch_first:
            input = input.transpose(0, 1)
        self._check_input(input, False)
        T, B = int(input.shape[0]), int(input.shape[1])
        if T == 0:
            raise RuntimeError(f"{name}: Expected sequence length to be larger than 0 in RNN, got input "
                               f"{_shape(input)}")
        hs, cs = self._hidden_shapes(B)
        self._check_hidden(hx, hs, "hidden[0]" if lstm else "hidden")
        self._check_hidden(cx, cs, "hidden[1]")
        out, h_n, c_n = self._run(input.reshape(T * B, self.input_size), [B] * T, hx, cx)
        out = out.reshape(T, B, int(out.shape[-1]))
        if not batched:
            return out.squeeze(1), h_n.squeeze(1), None if c_n is None else c_n.squeeze(1)
        if self.batch_first:
            out = out.transpose(0, 1)
        return out, h_n, c_n


class RNN(RNNBase):
    """Elman RNN: h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh) (or relu).

    RNN(input_size, hidden_size, num_layers=1, nonlinearity='tanh', bias=True, batch_first=False,
    dropout=0.0, bidirectional=False). input (T, B, input_size) (B first with batch_first), (T,
    input_size) unbatched, or a PackedSequence; h_0 (D*num_layers, B, hidden_size). Returns
    (output (T, B, D*hidden_size), h_n (D*num_layers, B, hidden_size)).
    """

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, device=None, dtype=None):
        if nonlinearity == "tanh":
            mode = "RNN_TANH"
        elif nonlinearity == "relu":
            mode = "RNN_RELU"
        else:
            raise ValueError(f"RNN: Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")
        self.nonlinearity = nonlinearity
        super().__init__(mode, input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device=device, dtype=dtype)

    def forward(self, input, hx=None):
        out, h_n, _ = self._forward(input, hx, None)
        return out, h_n


class LSTM(RNNBase):
    """LSTM with gates (i, f, g, o): c_t = f c_{t-1} + i g, h_t = o tanh(c_t), then h_t = W_hr h_t
    when proj_size > 0.

    LSTM(input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
    bidirectional=False, proj_size=0). forward(input, (h_0, c_0)) with h_0 (D*num_layers, B, H_out)
    and c_0 (D*num_layers, B, hidden_size); returns (output (T, B, D*H_out), (h_n, c_n)).
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         proj_size, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        h0 = c0 = None
        if hx is not None:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise TypeError(f"LSTM: hx should be a tuple (h_0, c_0) of tensors, got {type(hx).__name__}")
            h0, c0 = hx
            if not isinstance(input, PackedSequence) and input.dim() == 3 and (h0.dim() != 3 or c0.dim() != 3):
                raise RuntimeError(f"LSTM: For batched 3-D input, hx and cx should also be 3-D but got "
                                   f"({h0.dim()}-D, {c0.dim()}-D) tensors")
            if not isinstance(input, PackedSequence) and input.dim() == 2 and (h0.dim() != 2 or c0.dim() != 2):
                raise RuntimeError(f"LSTM: For unbatched 2-D input, hx and cx should also be 2-D but got "
                                   f"({h0.dim()}-D, {c0.dim()}-D) tensors")
        out, h_n, c_n = self._forward(input, h0, c0)
        return out, (h_n, c_n)


class GRU(RNNBase):
    """GRU with gates (r, z, n): n = tanh(W_in x + b_in + r (W_hn h + b_hn)), h' = (1 - z) n + z h.

    Same arguments and shapes as RNN (without nonlinearity)."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, device=None, dtype=None):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device=device, dtype=dtype)

    def forward(self, input, hx=None):
        out, h_n, _ = self._forward(input, hx, None)
        return out, h_n


# ---- cells -------------------------------------------------------------------------------------
class RNNCellBase(Module):
    """One time step: weight_ih (G*hidden_size, input_size), weight_hh (G*hidden_size, hidden_size),
    bias_ih / bias_hh (G*hidden_size,), all U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))."""

    def __init__(self, input_size, hidden_size, bias, num_chunks, device=None, dtype=None):
        super().__init__()
        kw = _factory(device, dtype)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        self.weight_ih = Parameter(_C.empty((num_chunks * hidden_size, input_size), **kw))
        self.weight_hh = Parameter(_C.empty((num_chunks * hidden_size, hidden_size), **kw))
        if bias:
            self.bias_ih = Parameter(_C.empty((num_chunks * hidden_size,), **kw))
            self.bias_hh = Parameter(_C.empty((num_chunks * hidden_size,), **kw))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self):
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s

    def _step(self, mode, input, hx, cx):
        """Checks and runs one step; returns (h', c') (c' None unless LSTM), unbatched kept."""
        name = self._get_name()
        if input.dim() not in (1, 2):
            raise ValueError(f"{name}: Expected input to be 1D or 2D, got {input.dim()}D instead (shape "
                             f"{_shape(input)})")
        for t in (hx, cx):
            if t is not None and t.dim() not in (1, 2):
                raise ValueError(f"{name}: Expected hidden to be 1D or 2D, got {t.dim()}D instead (shape {_shape(t)})")
            if t is not None and t.dim() != input.dim():
                raise RuntimeError(f"{name}: input {_shape(input)} and hidden {_shape(t)} must both be batched "
                                   "(2-D) or both unbatched (1-D)")
        batched = input.dim() == 2
        if not batched:
            input = input.unsqueeze(0)
            hx = None if hx is None else hx.unsqueeze(0)
            cx = None if cx is None else cx.unsqueeze(0)
        if input.dtype != self.weight_ih.dtype:
            raise ValueError(f"{name}: input dtype ({input.dtype}) does not match weight dtype ({self.weight_ih.dtype})")
        if input.shape[1] != self.input_size:
            raise RuntimeError(f"{name}: input has inconsistent input_size: got {input.shape[1]} expected "
                               f"{self.input_size} (input shape {_shape(input)})")
        B = int(input.shape[0])
        for i, t in enumerate((hx, cx)):
            if t is None:
                continue
            if t.shape[0] != B:
                raise RuntimeError(f"{name}: Input batch size {B} doesn't match hidden{i} batch size {t.shape[0]}")
            if t.shape[1] != self.hidden_size:
                raise RuntimeError(f"{name}: hidden{i} has inconsistent hidden_size: got {t.shape[1]}, expected "
                                   f"{self.hidden_size}")
        _, h, c = _C._rnn_layer(mode, input, [B], hx, cx, self.weight_ih, self.weight_hh, self.bias_ih,
                                self.bias_hh, None, False)
        if not batched:
            h = h.squeeze(0)
            c = None if c is None else c.squeeze(0)
        return h, c


class RNNCell(RNNCellBase):
    """h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (or relu). input (B, input_size) or
    (input_size,), hx (B, hidden_size) or (hidden_size,) (zeros when None)."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: Unknown nonlinearity: {nonlinearity}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias, num_chunks=1, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        return self._step("rnn_tanh" if self.nonlinearity == "tanh" else "rnn_relu", input, hx, None)[0]


class LSTMCell(RNNCellBase):
    """One LSTM step: forward(input, (h, c)) -> (h', c'), gates (i, f, g, o)."""

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=4, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        h = c = None
        if hx is not None:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise TypeError(f"LSTMCell: hx should be a tuple (h, c) of tensors, got {type(hx).__name__}")
            h, c = hx
        h, c = self._step("lstm", input, h, c)
        return h, c


class GRUCell(RNNCellBase):
    """One GRU step: h' = (1 - z) n + z h with gates (r, z, n)."""

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=3, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        return self._step("gru", input, hx, None)[0]
