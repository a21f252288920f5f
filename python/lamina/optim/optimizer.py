"""The Optimizer base class: parameter groups, per-parameter state, zero_grad and state dicts.

Subclasses implement ``_step_group(group)``, which gathers the parameters that have a gradient and
makes ONE fused C++ call (``lamina._C._fused_<algo>``) over all of them. ``step`` runs it for every
group under ``no_grad``. State dicts follow PyTorch: state keyed by integer parameter index, groups
with ``params`` as index lists.
"""

import copy
from collections import defaultdict

from .. import _C
from ..autograd import enable_grad, no_grad


class _RequiredParameter:
    def __repr__(self):
        return "<required parameter>"


required = _RequiredParameter()


def _scalar_dtype():
    """dtype of step counters, as PyTorch: float64 if that is the default dtype, else float32."""
    return _C.dtype.float64 if _C.get_default_dtype() == _C.dtype.float64 else _C.dtype.float32


def _new_counter(value):
    return _C.tensor(float(value), dtype=_scalar_dtype())


def _number(x):
    """Hyper-parameters may be given as one-element tensors (PyTorch allows a Tensor lr)."""
    return float(x.item()) if isinstance(x, _C.Tensor) else float(x)


class Optimizer:
    """Base class of all optimizers.

    Args:
        params: an iterable of tensors, or of dicts defining parameter groups (each with a
            ``params`` entry and optional per-group hyper-parameters).
        defaults: default hyper-parameters, filled into every group that does not set them.
    """

    def __init__(self, params, defaults):
        self.defaults = defaults
        self.state = defaultdict(dict)
        self.param_groups = []
        if isinstance(params, _C.Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors or dicts, "
                            "but got Tensor")
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)

    def __repr__(self):
        lines = [self.__class__.__name__ + " ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(k for k in group if k != "params"):
                lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)

    def __getstate__(self):
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    def __setstate__(self, state):
        self.__dict__.update(state)

    # ---- parameter groups -------------------------------------------------------------------
    def add_param_group(self, param_group):
        """Adds a parameter group (a dict with ``params``); missing options take the defaults."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        params = param_group["params"]
        if isinstance(params, _C.Tensor):
            param_group["params"] = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, but the ordering "
                            "of tensors in sets will change between runs. Please use a list instead.")
        else:
            param_group["params"] = list(params)
        for p in param_group["params"]:
            if not isinstance(p, _C.Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params is {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
            if not p.is_floating_point():
                raise TypeError(f"optimizer can only optimize floating point Tensors, but one of the params has "
                                f"dtype {p.dtype}")
        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError(f"parameter group didn't specify a value of required optimization parameter {name}")
            param_group.setdefault(name, default)
        ids = [id(p) for p in param_group["params"]]
        if len(ids) != len(set(ids)):
            raise ValueError("optimizer contains a parameter group with duplicate parameters")
        existing = {id(p) for group in self.param_groups for p in group["params"]}
        if not existing.isdisjoint(ids):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    # ---- gradients and steps ----------------------------------------------------------------
    def zero_grad(self, set_to_none=True):
        """Resets the gradients of all optimized tensors (to None, or to zeros in place)."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    g = p.grad
                    if g.grad_fn is not None:
                        g.detach_()
                    else:
                        g.requires_grad_(False)
                    g.zero_()

    def step(self, closure=None):
        """Performs one optimization step; ``closure`` re-evaluates the model and returns the loss."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        with no_grad():
            for group in self.param_groups:
                self._step_group(group)
        return loss

    def _step_group(self, group):
        raise NotImplementedError(f"{type(self).__name__} does not implement a step")

    def _params_with_grad(self, group):
        """The group's parameters that have a gradient, and those gradients."""
        params, grads = [], []
        for p in group["params"]:
            g = p.grad
            if g is not None:
                params.append(p)
                grads.append(g)
        return params, grads

    def _state_list(self, params, key, make):
        """state[p][key] for each parameter, created with make(p) where missing."""
        out = []
        for p in params:
            state = self.state[p]
            value = state.get(key)
            if value is None:
                value = state[key] = make(p)
            out.append(value)
        return out

    def _step_counters(self, params):
        """state[p]['step'] for each parameter: the step count the fused update increments."""
        return self._state_list(params, "step", lambda p: _new_counter(0))

    # ---- state dicts ------------------------------------------------------------------------
    def state_dict(self):
        """{'state': {index: {...}}, 'param_groups': [{..., 'params': [indices]}]} (tensors shared)."""
        index = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for p in group["params"]:
                index.setdefault(id(p), len(index))
            packed["params"] = [index[id(p)] for p in group["params"]]
            groups.append(packed)
        state = {}
        for p, value in self.state.items():
            key = index.get(id(p)) if isinstance(p, _C.Tensor) else p
            if key is not None:
                state[key] = value
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Loads state from ``state_dict()``; tensors are copied (cast to their param's dtype)."""
        groups = self.param_groups
        saved_groups = copy.deepcopy(state_dict["param_groups"])
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        for g, s in zip(groups, saved_groups):
            if len(g["params"]) != len(s["params"]):
                raise ValueError("loaded state dict contains a parameter group that doesn't match the size of "
                                 "optimizer's group")
        id_map = {}
        for g, s in zip(groups, saved_groups):
            id_map.update(zip(s["params"], g["params"]))

        def cast(param, value, key=None):
            if isinstance(value, _C.Tensor):
                # Step counters keep their dtype; everything else takes the parameter's (PyTorch's policy).
                if key == "step":
                    return value.detach().clone()
                return value.detach().to(param.dtype).clone()
            if isinstance(value, dict):
                return {k: cast(param, v, k) for k, v in value.items()}
            if isinstance(value, (list, tuple)):
                return type(value)(cast(param, v) for v in value)
            return copy.deepcopy(value)

        state = defaultdict(dict)
        for k, v in state_dict["state"].items():
            if isinstance(k, str) and k.isdigit():  # indices that went through a text format (JSON)
                k = int(k)
            if k in id_map:
                param = id_map[k]
                state[param] = cast(param, v)
            else:
                state[k] = copy.deepcopy(v)
        new_groups = []
        for g, s in zip(groups, saved_groups):
            s["params"] = g["params"]
            new_groups.append(s)
        self.state = state
        self.param_groups = new_groups


def _check_range(label, value, low=0.0, high=None, high_open=True):
    """ValueError(f"Invalid {label}: {value}") unless low <= value (< or <=) high."""
    v = _number(value)
    ok = low <= v
    if high is not None:
        ok = ok and (v < high if high_open else v <= high)
    if not ok:
        raise ValueError(f"Invalid {label}: {value}")


def _check_unsupported(name, foreach=None, fused=None, capturable=False, differentiable=False):
    """lamina always runs the fused CPU update; PyTorch's execution switches are accepted for
    source compatibility, the modes lamina does not have are refused."""
    if capturable:
        raise NotImplementedError(f"{name}: capturable=True (CUDA graphs) is not supported")
    if differentiable:
        raise NotImplementedError(f"{name}: differentiable=True is not supported")
